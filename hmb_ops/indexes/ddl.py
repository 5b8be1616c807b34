"""SQL text for index statements, built without a database so plans stay plain, testable data.

Built from the spec's structure, never by pasting text: every name (schema, table, index, column,
INCLUDE column, operator class, collation, access method, extension) is quoted the way
``psycopg2.sql.Identifier`` / ``quote_ident`` would when it needs it (plain lower-case names that
are not keywords stay bare, so the printed plan reads like hand-written SQL; the function is pure
because plans are data built without a connection). Expressions and predicates are the only SQL
text, and only after ``spec.text_problems`` proved each one is a single balanced expression; each
is wrapped in its own parentheses so it cannot reach the statement around it.
"""

from __future__ import annotations

import re

from hmb_ops.indexes.spec import IndexDef, KeyPart

_BARE = re.compile(r"^[a-z_][a-z0-9_$]*$")
# Reserved words that cannot be bare column or table names (PostgreSQL's "reserved" category).
_RESERVED = frozenset("""
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
create current_catalog current_date current_role current_time current_timestamp current_user default
deferrable desc distinct do else end except false fetch for foreign from grant group having in initially
intersect into lateral leading limit localtime localtimestamp not null offset on only or order placing
primary references returning select session_user some symmetric system_user table then to trailing true
union unique user using variadic when where window with authorization binary collation concurrently
cross current_schema freeze full ilike inner is isnull join left like natural notnull outer overlaps
right similar tablesample verbose
between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping
inout int integer interval json least national nchar none normalize nullif numeric out overlay position
precision real row setof smallint substring time timestamp treat trim values varchar xmlattributes
""".split())


def quote_ident(name: str) -> str:
    if _BARE.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _opclass(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split("."))


def key_sql(part: KeyPart) -> str:
    text = quote_ident(part.column) if part.column is not None else f"({part.expression})"
    if part.collation:
        text += " COLLATE " + quote_ident(part.collation)
    if part.opclass:
        text += " " + _opclass(part.opclass)
    if part.order:
        text += " " + part.order.upper()
    if part.nulls:
        text += " NULLS " + part.nulls.upper()
    return text


def create_index_sql(ix: IndexDef, schema: str, *, name: str | None = None, concurrently: bool = True,
                     table_schema: str | None = None) -> str:
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] name ON schema.table USING method (...) — never IF NOT EXISTS."""
    parts = ["CREATE"]
    if ix.unique:
        parts.append("UNIQUE")
    parts.append("INDEX")
    if concurrently:
        parts.append("CONCURRENTLY")
    parts.append(quote_ident(name or ix.name))
    parts.append("ON " + qualified(table_schema or schema, ix.table))
    parts.append("USING " + quote_ident(ix.method))
    parts.append("(" + ", ".join(key_sql(k) for k in ix.columns) + ")")
    if ix.include:
        parts.append("INCLUDE (" + ", ".join(quote_ident(c) for c in ix.include) + ")")
    if not ix.nulls_distinct:
        parts.append("NULLS NOT DISTINCT")
    if ix.storage:
        parts.append("WITH (" + ", ".join(f"{quote_ident(k)} = {_storage_value(v)}" for k, v in ix.storage.items())
                     + ")")
    if ix.where:
        parts.append(f"WHERE ({ix.where})")
    return " ".join(parts)


def _storage_value(value: int | float | bool | str) -> str:
    """A storage parameter's value as SQL: on/off, a number, or an escaped string literal (data, never text)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return repr(value)
    return quote_literal(value)


def drop_index_sql(schema: str, name: str, *, concurrently: bool = True) -> str:
    return f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}{qualified(schema, name)}"


def rename_index_sql(schema: str, old: str, new: str) -> str:
    return f"ALTER INDEX {qualified(schema, old)} RENAME TO {quote_ident(new)}"


# The ownership mark: a comment travels with the index through renames and pg_dump, needs no
# table of hmb-ops's own in the user's schema (nor CREATE on that schema) and is visible to anyone
# looking at the index (psql \di+). The mark names the index's own table, because a comment is
# copied too: `CREATE TABLE t2 (LIKE t INCLUDING ALL)` gives t2's new indexes t's comments, and a
# mark believed without its table would hand the user's copy to --drop-undeclared.
MARK_PREFIX = "hmb-ops:"
_MARK_TEXT = re.compile(r"[^A-Za-z0-9 ._()/,:=-]")
# The spec part carries no parentheses, so the mark's last "(" starts it and the table before it is exact.
_MARK_SPEC = re.compile(r"[^A-Za-z0-9 ._/,:=-]")
_MARK = re.compile(r"hmb-ops: (?:built by indexes apply|adopted by indexes apply --adopt) on (.+) "
                   r"\(spec [A-Za-z0-9 ._/,:=-]*\)", re.DOTALL)


def mark_text(what: str, schema: str, table: str, source: str, *, built: str | None = None) -> str:
    """The comment that marks an index of schema.table as hmb-ops's.

    `what` and `source` keep a plain set of characters; the table is quoted exactly (quote_ident),
    so the mark names one table and no other. ``built`` (a UTC time, usage.built_stamp) records
    when it was built: how old the index is when `status` judges whether it is unused.
    """
    stamp = f", built {_MARK_SPEC.sub('_', built)}" if built else ""
    return (f"{MARK_PREFIX} {_MARK_TEXT.sub('_', what)} on {qualified(schema, table)} "
            f"(spec {_MARK_SPEC.sub('_', source)[:100]}{stamp})")


def mark_table(comment: str | None) -> str | None:
    """The qualified table a mark names (as quote_ident renders it), or None: no current mark."""
    m = _MARK.fullmatch(comment or "")
    return m.group(1) if m else None


def quote_literal(text: str) -> str:
    """A string literal read the same whatever standard_conforming_strings says (E'' with \\ and '' escaped)."""
    if "\x00" in text:
        raise ValueError("a string literal cannot hold a NUL character")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def comment_index_sql(schema: str, name: str, text: str) -> str:
    """COMMENT ON INDEX with `text` as an escaped literal (the table name in a mark is any identifier)."""
    return f"COMMENT ON INDEX {qualified(schema, name)} IS {quote_literal(text)}"


def analyze_sql(schema: str, table: str) -> str:
    return f"ANALYZE {qualified(schema, table)}"


def create_extension_sql(name: str) -> str:
    return f"CREATE EXTENSION {quote_ident(name)}"


def temp_name(name: str, suffix: str) -> str:
    """A sibling name for an online replace, kept under PostgreSQL's 63-byte limit."""
    return f"{name[: 63 - len(suffix) - 1]}_{suffix}"


def is_cic_broken(server_version_num: int) -> bool:
    """PostgreSQL 14.0–14.3 can silently corrupt indexes built CONCURRENTLY (fixed in 14.4)."""
    return 140000 <= server_version_num < 140004
