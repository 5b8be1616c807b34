"""The JSON path subset captures use: `$`, `.key`, `["key"]`, `[0]`, `[-1]`, `[*]` — parsed at load time."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]|\[\*\]|\[["']([^"']*)["']\]|\.\*""")

Step = tuple[str, Any]  # ("key", name) | ("index", n) | ("all", None)


def parse(path: str) -> tuple[Step, ...]:
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with $ (e.g. $.token, $.items[0].id, $.items[*].id)")
    steps: list[Step] = []
    pos = 1
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"JSON path {path!r}: cannot read {path[pos:pos + 20]!r}; "
                             "supported: .key, [\"key\"], [0], [-1], [*]")
        if m.group(1) is not None:
            steps.append(("key", m.group(1)))
        elif m.group(2) is not None:
            steps.append(("index", int(m.group(2))))
        elif m.group(3) is not None:
            steps.append(("key", m.group(3)))
        else:
            steps.append(("all", None))
        pos = m.end()
    return tuple(steps)


def find(doc: Any, steps: tuple[Step, ...]) -> list[Any]:
    """Every value the path reaches (in document order); [] when nothing matches."""
    current = [doc]
    for kind, arg in steps:
        nxt = []
        for node in current:
            if kind == "key":
                if isinstance(node, dict) and arg in node:
                    nxt.append(node[arg])
            elif kind == "index":
                if isinstance(node, list) and -len(node) <= arg < len(node):
                    nxt.append(node[arg])
            elif isinstance(node, list):
                nxt.extend(node)
            elif isinstance(node, dict):
                nxt.extend(node.values())
        current = nxt
        if not current:
            return []
    return [v for v in current if v is not None]
