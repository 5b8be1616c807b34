"""Templates (`/items/{{ item_id }}`): parsed once at load time into literal text and variable names.

Rendering is a lookup per variable and one join: no eval, no Jinja, no str.format on user text.
A template that is exactly one `{{ x }}` renders the value itself, so in a JSON body the captured
value keeps its type (an id stays a number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Characters left as they are in a path value (RFC 3986 pchar and '/'); ? # space and the rest are escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class TemplateError(ValueError):
    pass


def text_of(value: Any) -> str:
    """A value as it appears inside text: JSON spelling for true/false/null, lists and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _quote_path(value: Any) -> str:
    return quote(text_of(value), safe=_PATH_SAFE)


def _quote_query(value: Any) -> str:
    return quote(text_of(value), safe="")


ESCAPES: dict[str, Callable[[Any], str]] = {"text": text_of, "path": _quote_path, "query": _quote_query}


class Template:
    """Literal pieces around variable names: lits[0] + v0 + lits[1] + … + lits[n]."""

    __slots__ = ("const", "escape", "lits", "names", "single")

    def __init__(self, lits: list[str], names: list[str], escape: str = "text"):
        self.lits, self.names, self.escape = tuple(lits), tuple(names), escape
        self.const = lits[0] if not names else None
        self.single = names[0] if len(names) == 1 and lits == ["", ""] else None

    def render(self, ns: Mapping[str, Any]) -> str:
        """Text; KeyError names a variable that has no value."""
        if self.const is not None:
            return self.const
        esc = ESCAPES[self.escape]
        lits, out = self.lits, [self.lits[0]]
        for i, name in enumerate(self.names):
            out.append(esc(ns[name]))
            out.append(lits[i + 1])
        return "".join(out)

    def value(self, ns: Mapping[str, Any]) -> Any:
        """The value itself when the template is one variable (JSON bodies), else text."""
        if self.single is not None:
            return ns[self.single]
        return self.render(ns)


def parse(text: Any, constants: Mapping[str, Any] | None = None, *, escape: str = "text") -> Template:
    """Parse `text` (a YAML scalar) into a Template; constants are folded in as literal text.

    A `{{` or `}}` that is not a well-formed `{{ name }}` or `{{ feeder.column }}` is an error.
    """
    if not isinstance(text, str):
        return Template([text_of(text)], [], escape)
    constants = constants or {}
    esc = ESCAPES[escape]
    lits, names = [""], []
    pos = 0
    for m in _VAR.finditer(text):
        lits[-1] += _check_literal(text[pos:m.start()])
        name = m.group(1)
        if name in constants:
            lits[-1] += esc(constants[name])
        else:
            names.append(name)
            lits.append("")
        pos = m.end()
    lits[-1] += _check_literal(text[pos:])
    return Template(lits, names, escape)


def single_constant(text: Any, constants: Mapping[str, Any]) -> tuple[bool, Any]:
    """(True, value) when text is exactly `{{ c }}` naming a constant (a JSON value keeps its type)."""
    if isinstance(text, str):
        m = _VAR.fullmatch(text.strip()) if text.strip() == text else None
        if m and m.group(1) in constants:
            return True, constants[m.group(1)]
    return False, None


def _check_literal(piece: str) -> str:
    if "{{" in piece or "}}" in piece:
        at = piece.find("{{") if "{{" in piece else piece.find("}}")
        raise TemplateError(f"bad template near {piece[at:][:30]!r}: use {{{{ name }}}} or {{{{ feeder.column }}}}")
    return piece
