"""Validate the spec and normalise its definitions through PostgreSQL itself.

Inside ONE transaction that is always rolled back: create a scratch schema, an empty copy of each
declared table (``LIKE``: same columns, types, collations), the declared extensions that are not
installed yet, and every declared index on those copies. PostgreSQL then decides what no text
comparison can: unknown columns, non-immutable predicates or expressions, unknown access methods
and operator classes. ``pg_get_indexdef`` of the scratch index is the normalised form, compared
with the live index's own ``pg_get_indexdef`` (so ``LOWER(email)`` or an explicit ``ASC`` is not
drift). Nothing persists: the transaction is rolled back even on success.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from hmb_ops.indexes import ddl
from hmb_ops.indexes.catalog import LiveIndex, canonical_definition, read_indexes
from hmb_ops.indexes.spec import IndexSpec


@dataclass(frozen=True)
class Normalized:
    problems: tuple[str, ...] = ()
    canonical: dict = field(default_factory=dict)           # declared name -> canonical definition
    scratch: tuple[LiveIndex, ...] = ()                     # the declared indexes as PostgreSQL built them
    missing_extensions: tuple[str, ...] = ()                # declared, available, not installed


def structural_problems(spec: IndexSpec) -> list[str]:
    """Problems visible without a database: duplicate names."""
    problems = []
    counts = Counter(ix.name for ix in spec.declared)
    for name, n in sorted(counts.items()):
        if n > 1:
            problems.append(f"{name}: declared {n} times (index names must be unique)")
    return problems


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    msg = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    return msg


def normalize(conn, spec: IndexSpec) -> Normalized:
    """Run the checks; ``conn`` must not be in autocommit (its transaction is rolled back here)."""
    import psycopg2

    problems = structural_problems(spec)
    scratch_schema = f"hmb_ops_scratch_{uuid.uuid4().hex[:8]}"
    canonical: dict[str, str] = {}
    scratch: list[LiveIndex] = []
    missing_ext: list[str] = []
    was_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')", (spec.schema_name,))
            tables = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND a.attnum > 0 AND NOT a.attisdropped", (spec.schema_name,))
            columns: dict[str, set[str]] = {}
            for table, col in cur.fetchall():
                columns.setdefault(table, set()).add(col)
            cur.execute("SELECT name, installed_version IS NOT NULL FROM pg_available_extensions")
            available = dict(cur.fetchall())
            for ext in spec.extensions:
                if ext not in available:
                    problems.append(f"extension {ext}: not available on this server")
                elif not available[ext]:
                    missing_ext.append(ext)
            cur.execute("SELECT amname FROM pg_am WHERE amtype = 'i'")
            methods = {r[0] for r in cur.fetchall()}

            per_index_ok: dict[str, bool] = {}
            for ix in spec.declared:
                mine = []
                if ix.table not in tables:
                    mine.append(f"{ix.name}: unknown table {spec.schema_name}.{ix.table}")
                else:
                    for part in ix.columns:
                        if part.column is not None and part.column not in columns.get(ix.table, set()):
                            mine.append(f"{ix.name}: unknown column {ix.table}.{part.column}")
                    for col in ix.include:
                        if col not in columns.get(ix.table, set()):
                            mine.append(f"{ix.name}: unknown column {ix.table}.{col} (in include)")
                if ix.method not in methods:
                    mine.append(f"{ix.name}: unknown access method {ix.method!r} "
                                f"(available: {', '.join(sorted(methods))})")
                problems.extend(mine)
                per_index_ok[ix.name] = not mine

            cur.execute(f"CREATE SCHEMA {ddl.quote_ident(scratch_schema)}")
            for ext in missing_ext:
                cur.execute("SAVEPOINT ext")
                try:
                    cur.execute(ddl.create_extension_sql(ext))
                    cur.execute("RELEASE SAVEPOINT ext")
                except psycopg2.Error as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT ext")
                    problems.append(f"extension {ext}: cannot be created: {_first_line(exc)}")
            for table in sorted({ix.table for ix in spec.declared if ix.table in tables}):
                cur.execute(f"CREATE TABLE {ddl.qualified(scratch_schema, table)} "
                            f"(LIKE {ddl.qualified(spec.schema_name, table)})")
            dupes = {n for n, c in Counter(ix.name for ix in spec.declared).items() if c > 1}
            for ix in spec.declared:
                if not per_index_ok[ix.name] or ix.name in dupes:
                    continue
                cur.execute("SAVEPOINT ix")
                try:
                    cur.execute(ddl.create_index_sql(ix, scratch_schema, concurrently=False))
                    cur.execute("RELEASE SAVEPOINT ix")
                except psycopg2.Error as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT ix")
                    problems.append(f"{ix.name}: {_first_line(exc)}")
            built = read_indexes(conn, scratch_schema)
            for live in built:
                canonical[live.name] = canonical_definition(live.definition, live.unique)
            scratch = built
    finally:
        conn.rollback()
        conn.autocommit = was_autocommit
    return Normalized(problems=tuple(problems), canonical=canonical, scratch=tuple(scratch),
                      missing_extensions=tuple(missing_ext))
