"""Procfile: one `type: command` line per process type; `web` is the one that serves HTTP."""

from __future__ import annotations

import re
from pathlib import Path

from hmb_ops.errors import ConfigError
from hmb_ops.tune.deploy.sources import Sources, StartSite

_LINE = re.compile(r"^(?P<type>[A-Za-z0-9_-]+)[ \t]*:[ \t]*(?P<cmd>.*?)[ \t]*$")


def read(path: Path, text: str) -> Sources:
    out = Sources()
    pos = 0
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(keepends=True), start=1):
        line = raw.rstrip("\r\n")
        start, pos = pos, pos + len(raw)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line.strip())
        if not m:
            raise ConfigError(f"not a `type: command` line: {line.strip()[:60]!r}", path=str(path), line=n,
                              hint="each Procfile line is `web: gunicorn app:app ...`")
        kind = m.group("type")
        if kind in seen:
            raise ConfigError(f"process type {kind!r} appears twice (first on line {seen[kind]})",
                              path=str(path), line=n)
        seen[kind] = n
        cmd_start = start + line.index(m.group("cmd")) if m.group("cmd") else start + len(line)
        out.starts.append(StartSite(path.name, n, f"{path.name} {kind}", m.group("cmd"), web=kind == "web",
                                    span=(cmd_start, cmd_start + len(m.group("cmd"))), style="plain"))
    return out
