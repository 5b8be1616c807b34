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
where create grant do analyze analyse lateral values exists
""".split())
# Words that end an expression when they appear outside parentheses (inside a function call they
# are part of its syntax: extract(year FROM x), substring(x FOR 2), json_value(... DEFAULT ... ON ERROR)).
_NOT_AT_TOP = frozenset("from for on using default as asc desc nulls".split())


@dataclass(frozen=True)
class Token:
    kind: str       # ident | qident | string | number | op | punct | comment | param
    text: str       # source text; for ident: lower-cased, for qident: the unquoted name
    pos: int
    end: int = -1   # index just past the token in the source text


class NotOneExpression(ValueError):
    """The text is not a single expression; the message says what was found and where."""


def _fail(text: str, pos: int, what: str) -> NotOneExpression:
    snippet = text[max(0, pos - 10): pos + 10].replace("\n", " ")
    return NotOneExpression(f"{what} at character {pos + 1} (near {snippet!r})")


def tokens(text: str, *, params: bool = False) -> list[Token]:
    """PostgreSQL's lexical structure, enough to know where strings, names, comments and statements end.

    ``params``: accept ``$1``-style parameters (the text hmb-ops prepares for a declared query);
    spec expressions never have them.
    """
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if out and out[-1].end < 0:
            last = out[-1]
            out[-1] = Token(last.kind, last.text, last.pos, i)

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
            # U&"pg\005fterminate\005fbackend" is pg_terminate_backend to the server but not to a
            # name check (and UESCAPE can change the escape character): refused, not decoded.
            raise _fail(text, i, "U& escapes are not accepted; write the name plainly")
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
            if m and params:
                out.append(Token("param", m.group(0), i))
                i += len(m.group(0))
                continue
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
    if out and out[-1].end < 0:
        last = out[-1]
        out[-1] = Token(last.kind, last.text, last.pos, i)
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
        if (k >= 2 and toks[k - 1].text == "." and toks[k - 1].kind == "punct"
                and toks[k - 2].kind in ("ident", "qident")):
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


_QUERY_START = ("select", "with", "table", "values")
_INSIDE = {"string": "inside a string (quoted or dollar-quoted)", "qident": "inside a quoted identifier",
           "comment": "inside a comment"}


def pyformat_params(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of every psycopg2 ``%(name)s`` placeholder, read as psycopg2 reads them
    (``%%`` is a literal ``%`` and never starts a placeholder)."""
    found: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("%%", i):
            i += 2
            continue
        m = _PYFORMAT.match(text, i) if text[i] == "%" else None
        if m:
            found.append((m.group(1), i, m.end()))
            i = m.end()
            continue
        i += 1
    return found


def check_statement(text: str) -> list[Token]:
    """A declared query: one statement (SELECT/WITH/TABLE/VALUES), no ';' between statements, no comment.

    Every ``%(name)s`` must stand where a value can (a top-level token): inside a string, a quoted
    identifier, a dollar quote or a comment it would be pasted into SQL text, which is how a
    sample value once ended a comment and ran statements. A trailing ';' is tolerated.
    """
    if not isinstance(text, str) or not text.strip():
        raise NotOneExpression("empty")
    toks = tokens(text)
    for name, start, _end in pyformat_params(text):
        for t in toks:
            if t.kind in _INSIDE and t.pos <= start < t.end:
                raise _fail(text, start, f"the parameter %({name})s {_INSIDE[t.kind]} (a parameter must "
                                         "stand where a value goes, never in quotes or a comment: its sample "
                                         "value is bound as data, not pasted)")
    _one_query(text, toks)
    return toks


def _one_query(text: str, toks: list[Token]) -> list[Token]:
    for t in toks:
        if t.kind == "comment":
            raise _fail(text, t.pos, "a comment (not accepted in a declared query)")
    if toks and toks[-1].kind == "punct" and toks[-1].text == ";":
        toks = toks[:-1]
    if not toks:
        raise NotOneExpression("empty")
    for t in toks:
        if t.kind == "punct" and t.text == ";":
            raise _fail(text, t.pos, "';' (one statement only)")
    if toks[0].kind != "ident" or toks[0].text not in _QUERY_START:
        raise NotOneExpression("not a query (it must start with SELECT, WITH, TABLE or VALUES)")
    for t in toks:
        # verify and bench run the query repeatedly: it must only read (a data-modifying CTE,
        # SELECT ... INTO or FOR UPDATE would write or lock); the server also runs it READ ONLY.
        if t.kind == "ident" and t.text in _WRITES:
            raise _fail(text, t.pos, f"the keyword {t.text.upper()} (a declared query must only read; "
                                     "quote it if it is a column name)")
    return toks


def prepared_statement(text: str) -> tuple[str, list[str]]:
    """The declared query as the server will PREPARE it: ``%(name)s`` -> ``$n``, ``%%`` -> ``%``.

    Returns the text and the parameter names in ``$n`` order. The result is lexed again and must
    be exactly one query with no comment and no ';' at all (the trailing one is cut off): this is
    the text sent, so this is the check that counts, whatever the spec loader let through.
    """
    check_statement(text)
    order: list[str] = []
    parts: list[str] = []
    i = 0
    spots = {start: (name, end) for name, start, end in pyformat_params(text)}
    while i < len(text):
        if i in spots:
            name, end = spots[i]
            if name not in order:
                order.append(name)
            parts.append(f"${order.index(name) + 1}")
            i = end
        elif text.startswith("%%", i):
            parts.append("%")
            i += 2
        else:
            parts.append(text[i])
            i += 1
    out = "".join(parts)
    toks = _one_query(out, tokens(out, params=True))
    return out[:toks[-1].end].strip(), order


_PYFORMAT = re.compile(r"%\((\w+)\)s")
_WRITES = frozenset("insert update delete merge truncate into".split())
