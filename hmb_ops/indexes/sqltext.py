"""Prove that a piece of spec text is ONE SQL expression (or one identifier) before any SQL runs.

Why an in-house lexer and not a parser library: the best-known Python binding of PostgreSQL's own
parser (pglast) is GPL-3.0-or-later and hmb-ops is MIT, so it cannot be a dependency; sqlglot
(MIT) parses a dialect approximation, not the grammar of the server in front of us. What must be
proven here is small and exact: the text is one balanced run of tokens with no top-level
statement end, no comment that could hide the rest of a wrapper, and nothing that closes the
parentheses we put around it. That only needs PostgreSQL's *lexical* rules (strings with E''
and dollar quoting, quoted identifiers, nested comments, parameters), which are stable across
versions. Whether the text is a valid expression over the table is then decided by the server's
own parser and analyzer (``EXPLAIN SELECT (<expr>) FROM ONLY <table>`` in a READ ONLY
transaction, see normalize.py). The lexer must come first: psycopg2 speaks the simple query
protocol, which runs every statement of a string, so the server can only be asked once the text
is known to be a single expression.

The lexer assumes ``standard_conforming_strings = on`` (the default since PostgreSQL 9.1):
normalize.py checks that before sending any spec text, because with it off a backslash inside
'...' would end strings differently than here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT_START = re.compile(r"[A-Za-z_\u0080-\U0010ffff]")
_IDENT_CONT = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]")
_OP_CHARS = set("+-*/<>=~!@#%^&|`?")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")

# Reserved words that never belong in an index expression or predicate: they start a subquery or
# belong to query clauses (and, being reserved, cannot be a bare column name: "order" still works
# quoted). Rejected at any depth. Unreserved statement words (delete, set, load, start...) are
# legitimate column names; without ';' they cannot start a statement, so they are left to the
# server's parser.
_NEVER = frozenset("""
select table into union intersect except returning having limit offset fetch window order group
where create grant do analyze analyse lateral
""".split())
# Words that end an expression when they appear outside parentheses (inside a function call they
# are part of its syntax: extract(year FROM x), substring(x FOR 2), json_value(... DEFAULT ... ON ERROR)).
_NOT_AT_TOP = frozenset("from for on using default as asc desc nulls".split())


@dataclass(frozen=True)
class Token:
    kind: str       # ident | qident | string | number | op | punct | comment
    text: str       # source text; for ident: lower-cased, for qident: the unquoted name
    pos: int


class NotOneExpression(ValueError):
    """The text is not a single expression; the message says what was found and where."""


def _fail(text: str, pos: int, what: str) -> NotOneExpression:
    snippet = text[max(0, pos - 10): pos + 10].replace("\n", " ")
    return NotOneExpression(f"{what} at character {pos + 1} (near {snippet!r})")


def tokens(text: str) -> list[Token]:
    """PostgreSQL's lexical structure, enough to know where strings, names, comments and statements end."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r\f\v":
            i += 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end + 1
            out.append(Token("comment", text[i:end], i))
            i = end
            continue
        if text.startswith("/*", i):
            end = _block_comment_end(text, i)
            out.append(Token("comment", text[i:end], i))
            i = end
            continue
        if c == "\x00":
            raise _fail(text, i, "a NUL character")
        # Prefixed strings and identifiers: E'..', B'..', X'..', N'..', U&'..', U&".."
        low = text[i:i + 3].lower()
        if low.startswith("u&") and i + 2 < n and text[i + 2] in "'\"":
            end = _quoted(text, i + 2, text[i + 2], backslash=False)
            out.append(Token("string" if text[i + 2] == "'" else "qident", text[i:end], i))
            i = end
            continue
        if c in "eEbBxXnN" and i + 1 < n and text[i + 1] == "'" and not _continues_ident(out, text, i):
            end = _quoted(text, i + 1, "'", backslash=c in "eE")
            out.append(Token("string", text[i:end], i))
            i = end
            continue
        if c == "'":
            end = _quoted(text, i, "'", backslash=False)
            out.append(Token("string", text[i:end], i))
            i = end
            continue
        if c == '"':
            end = _quoted(text, i, '"', backslash=False)
            name = text[i + 1:end - 1].replace('""', '"')
            if not name:
                raise _fail(text, i, "an empty quoted identifier")
            out.append(Token("qident", name, i))
            i = end
            continue
        if c == "$":
            m = re.match(r"\$[0-9]+", text[i:])
            if m:
                raise _fail(text, i, f"a parameter ({m.group(0)})")
            m = _DOLLAR_TAG.match(text, i)
            if m:
                close = text.find(m.group(0), m.end())
                if close < 0:
                    raise _fail(text, i, f"an unterminated dollar-quoted string ({m.group(0)})")
                end = close + len(m.group(0))
                out.append(Token("string", text[i:end], i))
                i = end
                continue
            raise _fail(text, i, "a stray '$'")
        if _IDENT_START.match(c):
            j = i + 1
            while j < n and _IDENT_CONT.match(text[j]):
                j += 1
            out.append(Token("ident", text[i:j].lower(), i))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "._"
                             or (text[j] in "+-" and text[j - 1] in "eE" and not text[i:j].lower().startswith("0x"))):
                if text[j] == "." and text.startswith("..", j):
                    break
                j += 1
            out.append(Token("number", text[i:j], i))
            i = j
            continue
        if c == ":" and text.startswith("::", i):
            out.append(Token("punct", "::", i))
            i += 2
            continue
        if c in "()[],;:.":
            out.append(Token("punct", c, i))
            i += 1
            continue
        if c in _OP_CHARS:
            j = i
            while j < n and text[j] in _OP_CHARS:
                if text.startswith("--", j) or text.startswith("/*", j):
                    break  # a comment starts here, even inside a run of operator characters
                j += 1
            out.append(Token("op", text[i:j], i))
            i = j
            continue
        raise _fail(text, i, f"an unexpected character {c!r}")
    return out


def _block_comment_end(text: str, start: int) -> int:
    """PostgreSQL block comments nest: /* a /* b */ c */ is one comment."""
    depth, j, n = 0, start, len(text)
    while j < n:
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise _fail(text, start, "an unterminated comment")


def _continues_ident(out: list[Token], text: str, i: int) -> bool:
    return i > 0 and bool(_IDENT_CONT.match(text[i - 1])) and bool(out) and out[-1].kind == "ident" \
        and out[-1].pos + len(out[-1].text) == i


def _quoted(text: str, start: int, quote: str, *, backslash: bool) -> int:
    """Index just past the closing quote of the literal that opens at ``start``."""
    j, n = start + 1, len(text)
    while j < n:
        ch = text[j]
        if backslash and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and text[j + 1] == quote:  # doubled quote stands for itself
                j += 2
                continue
            return j + 1
        j += 1
    kind = "identifier" if quote == '"' else "string"
    raise _fail(text, start, f"an unterminated quoted {kind}")


def check_expression(text: str) -> list[Token]:
    """Raise NotOneExpression unless ``text`` is one balanced expression; return its tokens."""
    if not isinstance(text, str) or not text.strip():
        raise NotOneExpression("empty")
    toks = tokens(text)
    stack: list[Token] = []
    pairs = {")": "(", "]": "["}
    for t in toks:
        if t.kind == "comment":
            # Never needed in a spec item, and `--` is how text hides the rest of a wrapper.
            raise _fail(text, t.pos, "a comment")
        if t.kind == "punct":
            if t.text == ";":
                raise _fail(text, t.pos, "';' (one expression only, not several statements)")
            if t.text in "([":
                stack.append(t)
            elif t.text in ")]":
                if not stack:
                    raise _fail(text, t.pos, f"an unbalanced {t.text!r}")
                if stack[-1].text != pairs[t.text]:
                    raise _fail(text, t.pos, f"{t.text!r} closing {stack[-1].text!r}")
                stack.pop()
            elif t.text == "," and not stack:
                raise _fail(text, t.pos, "',' outside parentheses (one expression only)")
        elif t.kind == "ident":
            if t.text in _NEVER:
                raise _fail(text, t.pos, f"the keyword {t.text.upper()} (not part of an index expression; "
                                         "quote it if it is a column name)")
            if t.text in _NOT_AT_TOP and not stack:
                raise _fail(text, t.pos, f"the keyword {t.text.upper()} outside parentheses "
                                         "(it would end the expression)")
    if stack:
        raise _fail(text, stack[-1].pos, f"an unclosed {stack[-1].text!r}")
    return toks


def function_names(toks: list[Token]) -> list[tuple[str | None, str]]:
    """(schema or None, name) of every ``name(`` call in the tokens, in order, without repeats.

    A name right after ``::`` or ``AS`` is a type with a modifier (``numeric(10,2)``), not a call.
    Keywords that look like calls (coalesce, cast) are simply not found in pg_proc later.
    """
    found: list[tuple[str | None, str]] = []
    for k, t in enumerate(toks):
        if t.kind not in ("ident", "qident"):
            continue
        if k + 1 >= len(toks) or toks[k + 1].text != "(" or toks[k + 1].kind != "punct":
            continue
        schema = None
        if k >= 2 and toks[k - 1].text == "." and toks[k - 1].kind == "punct" and toks[k - 2].kind in ("ident", "qident"):
            schema = toks[k - 2].text
            before = toks[k - 3] if k >= 3 else None
        else:
            before = toks[k - 1] if k >= 1 else None
        if before is not None and ((before.kind == "punct" and before.text == "::")
                                   or (before.kind == "ident" and before.text == "as")):
            continue
        key = (schema, t.text)
        if key not in found:
            found.append(key)
    return found


def check_name(value: str, what: str = "name") -> str:
    """One identifier that hmb-ops will quote: non-empty, printable, at most 63 bytes."""
    if not isinstance(value, str) or not value.strip():
        raise NotOneExpression(f"empty {what}")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in value):
        raise NotOneExpression(f"{what} {value!r} holds a control character")
    if len(value.encode("utf-8")) > 63:
        raise NotOneExpression(f"{what} {value!r} is longer than PostgreSQL's 63-byte limit")
    return value


def check_qualified_name(value: str, what: str) -> tuple[str, ...]:
    """``name`` or ``schema.name`` of plain identifier parts (an operator class)."""
    parts = value.split(".") if isinstance(value, str) else [value]
    if not 1 <= len(parts) <= 2 or not all(isinstance(p, str) and _PLAIN_NAME.match(p) for p in parts):
        raise NotOneExpression(f"{what} {value!r} is not a name (letters, digits, _ and $; optionally schema.name)")
    return tuple(parts)


def check_statement(text: str) -> None:
    """A declared query: one statement (SELECT/WITH/TABLE/VALUES), no ';' between statements.

    A trailing ';' is tolerated; verify runs the query in a READ ONLY transaction as well.
    """
    toks = [t for t in tokens(text) if t.kind != "comment"] if isinstance(text, str) else []
    if not toks:
        raise NotOneExpression("empty")
    if toks[-1].kind == "punct" and toks[-1].text == ";":
        toks = toks[:-1]
    for t in toks:
        if t.kind == "punct" and t.text == ";":
            raise _fail(text, t.pos, "';' (one statement only)")
    if toks[0].kind != "ident" or toks[0].text not in ("select", "with", "table", "values"):
        raise NotOneExpression("not a query (it must start with SELECT, WITH, TABLE or VALUES)")
    for t in toks:
        # verify and bench run the query repeatedly: it must only read (a data-modifying CTE,
        # SELECT ... INTO or FOR UPDATE would write or lock); the server also runs it READ ONLY.
        if t.kind == "ident" and t.text in _WRITES:
            raise _fail(text, t.pos, f"the keyword {t.text.upper()} (a declared query must only read; "
                                     "quote it if it is a column name)")


_WRITES = frozenset("insert update delete merge truncate into".split())
