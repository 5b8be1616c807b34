"""Validate the spec and normalise its definitions through PostgreSQL itself, changing nothing.

Three gates, in order; an index that fails one never reaches the next, and every problem of every
index is collected so the user sees them all at once:

1. Offline (``spec.text_problems``): each expression and predicate is ONE balanced expression,
   each name one name. Until this holds, no text of that index is sent to the server.
2. READ ONLY transaction: tables, columns, access methods from the catalog; every function the
   text calls is looked up in pg_proc and a function with no IMMUTABLE variant is refused before
   anything could execute it (pg_terminate_backend, set_config, pg_sleep, nextval, now, ...);
   then the server's own parser and analyzer prove each text is one valid expression over its
   table: ``EXPLAIN SELECT (<expr>) FROM ONLY <table> WHERE (<pred>)`` (EXPLAIN without ANALYZE
   only plans; constant folding evaluates IMMUTABLE functions only).
3. Scratch build in a transaction that is always rolled back and that the spec cannot end: empty
   TEMPORARY copies of the tables (``LIKE``, ``ON COMMIT DROP``: they live in this session's
   pg_temp schema and cannot outlive the transaction or the connection) and every declared index
   on them. PostgreSQL then decides what no text comparison can (operator classes, collations,
   IMMUTABLE after overload resolution), and ``pg_get_indexdef`` of the scratch index is the
   normalised form compared with the live index's (so ``LOWER(email)`` or an explicit ``ASC`` is
   not drift). Each statement with spec text runs inside ``DO ... EXECUTE`` in an explicit
   transaction block, where the server refuses COMMIT/ROLLBACK ("EXECUTE of transaction commands
   is not implemented"), a second wall behind the lexer. The empty tables mean no expression is
   ever evaluated on a row.

``read_only=True`` (plan, status, verify): the session's transactions default to READ ONLY and
declared extensions that are not installed are not created, even in the rolled-back scratch
transaction; indexes that need such an extension are checked when ``apply`` runs (it creates the
extension inside the rolled-back validation first).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field

from hmb_ops.indexes import ddl, sqltext
from hmb_ops.indexes.catalog import LiveIndex, canonical_definition, read_indexes
from hmb_ops.indexes.spec import IndexDef, IndexSpec, shown_name, text_problems

_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
_LINE = re.compile(r"\(line (\d+)\)$")


@dataclass(frozen=True)
class Normalized:
    problems: tuple[str, ...] = ()
    canonical: dict = field(default_factory=dict)           # declared name -> canonical definition
    scratch: tuple[LiveIndex, ...] = ()                     # the declared indexes as PostgreSQL built them
    missing_extensions: tuple[str, ...] = ()                # declared, available, not installed
    first_line: int | None = None                           # spec line of the first problem, when known
    pending: dict = field(default_factory=dict)             # declared name -> why it is checked at apply


def structural_problems(spec: IndexSpec) -> list[str]:
    """Problems visible without a database: duplicate names."""
    problems = []
    counts = Counter(ix.name for ix in spec.declared)
    for name, n in sorted(counts.items()):
        if n > 1:
            problems.append(f"{name}: declared {n} times (index names must be unique)")
    return problems


_KIND_PROBLEMS = {
    "p": "is a partitioned table: CREATE INDEX CONCURRENTLY cannot build on it; declare the index on "
         "each partition instead",
    "v": "is a view, not a table: a view cannot be indexed (a materialized view can)",
    "f": "is a foreign table: PostgreSQL cannot index it",
}


def _not_a_table(schema: str, table: str, kind: str | None) -> str:
    if kind is None:
        return f"unknown table {schema}.{table}"
    return f"{schema}.{table} " + _KIND_PROBLEMS.get(kind, "is not a table (an index, sequence or type)")


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    return getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]


def _literal(text: str) -> str:
    # standard_conforming_strings is checked to be on before this is used: '' is the only escape.
    return "'" + text.replace("'", "''") + "'"


def _confined(cur, statement: str) -> None:
    """Run one statement through PL/pgSQL EXECUTE inside the caller's transaction block.

    There the server refuses transaction control, so even text that slipped past the lexer could
    not commit: everything stays inside the transaction we roll back.
    """
    tag = "hmb_" + uuid.uuid4().hex
    while tag in statement:
        tag = "hmb_" + uuid.uuid4().hex
    cur.execute(f"DO ${tag}$BEGIN EXECUTE {_literal(statement)}; END${tag}$")


def _index_index(spec: IndexSpec, ix: IndexDef) -> int:
    return next(i for i, d in enumerate(spec.declared) if d is ix)


def _function_problems(cur, checks: dict[str, list[tuple[str, list[sqltext.Token]]]]) -> dict[str, str]:
    """name -> problem for indexes whose text calls a function with no IMMUTABLE variant."""
    wanted: dict[str, list[tuple[str, tuple[str | None, str]]]] = {}
    names: set[str] = set()
    for ix_name, items in checks.items():
        for where, toks in items:
            for fn in sqltext.function_names(toks):
                wanted.setdefault(ix_name, []).append((where, fn))
                names.add(fn[1])
    if not names:
        return {}
    cur.execute("SELECT n.nspname, p.proname, p.provolatile, pg_function_is_visible(p.oid) "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY(%s)",
                (sorted(names),))
    rows = cur.fetchall()
    out: dict[str, str] = {}
    for ix_name, calls in wanted.items():
        for where, (schema, name) in calls:
            kinds = {vol for nsp, pro, vol, visible in rows
                     if pro == name and (nsp == schema if schema is not None else visible)}
            if kinds and "i" not in kinds:
                label = " or ".join(_VOLATILITY.get(k, k) for k in sorted(kinds, reverse=True))
                shown = f"{schema}.{name}" if schema else name
                out[ix_name] = (f"functions in index {where} must be marked IMMUTABLE: {shown}() is {label} "
                                "(refused before anything ran)")
                break
    return out


def normalize(conn, spec: IndexSpec, *, read_only: bool = True) -> Normalized:
    """Run the checks on ``conn`` (its transactions are always rolled back here; nothing persists)."""
    import psycopg2
    import psycopg2.errors
    from psycopg2 import errorcodes, sql as S

    text = text_problems(spec)
    problems: list[str] = [str(p) for p in text]
    lines: list[int] = [p.line for p in text if p.line]
    problems += structural_problems(spec)
    blocked = {p.index for p in text}
    canonical: dict[str, str] = {}
    scratch: list[LiveIndex] = []
    missing_ext: list[str] = []
    pending: dict[str, str] = {}
    schema_ok = not any(p.index == "schema" for p in text)

    def problem(ix: IndexDef, message: str) -> None:
        ln = spec.line_of("declared", _index_index(spec, ix))
        problems.append(f"{shown_name(ix.name)}: {message}" + (f" (line {ln})" if ln else ""))
        if ln:
            lines.append(ln)

    was_autocommit = conn.autocommit
    conn.autocommit = True
    in_txn = False
    try:
        with conn.cursor() as cur:
            # Gate 2: READ ONLY. Nothing below can write, whatever the text says.
            cur.execute("BEGIN READ ONLY")
            in_txn = True
            cur.execute("SHOW standard_conforming_strings")
            if cur.fetchone()[0] != "on":
                raise _environment("standard_conforming_strings is off on this server; hmb-ops refuses to "
                                   "send spec text it cannot delimit exactly")
            cur.execute("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s", (spec.schema_name,))
            kinds = {r[0]: r[1] for r in cur.fetchall()}
            # Only a plain table or a materialized view takes CREATE INDEX CONCURRENTLY; anything
            # else would pass the plan and fail half-way through apply.
            tables = {n for n, k in kinds.items() if k in ("r", "m")}
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
            cur.execute("SELECT EXISTS (SELECT 1 FROM pg_language WHERE lanname = 'plpgsql')")
            has_plpgsql = cur.fetchone()[0]

            ok: list[IndexDef] = []
            texts: dict[str, list[tuple[str, list[sqltext.Token]]]] = {}
            for ix in spec.declared:
                if ix.name in blocked or not schema_ok:
                    continue
                mine = []
                if ix.table not in tables:
                    mine.append(_not_a_table(spec.schema_name, ix.table, kinds.get(ix.table)))
                else:
                    for part in ix.columns:
                        if part.column is not None and part.column not in columns.get(ix.table, set()):
                            mine.append(f"unknown column {ix.table}.{part.column}")
                    for col in ix.include:
                        if col not in columns.get(ix.table, set()):
                            mine.append(f"unknown column {ix.table}.{col} (in include)")
                if ix.method not in methods:
                    mine.append(f"unknown access method {ix.method!r} (available: {', '.join(sorted(methods))})")
                for m in mine:
                    problem(ix, m)
                if not mine:
                    ok.append(ix)
                    texts[ix.name] = ([("expression", sqltext.check_expression(p.expression))
                                       for p in ix.columns if p.expression is not None]
                                      + ([("predicate", sqltext.check_expression(ix.where))] if ix.where else []))
            refused = _function_problems(cur, texts)
            for ix in list(ok):
                if ix.name in refused:
                    problem(ix, refused[ix.name])
                    ok.remove(ix)
            # The server's parser and analyzer: one valid expression over that very table.
            for ix in list(ok):
                exprs = [p.expression for p in ix.columns if p.expression is not None]
                if not exprs and not ix.where:
                    continue
                stmt = S.SQL("EXPLAIN (COSTS OFF) SELECT {} FROM ONLY {}.{}{}").format(
                    S.SQL(", ").join(S.SQL("(" + e + ")") for e in exprs) if exprs else S.SQL("1"),
                    S.Identifier(spec.schema_name), S.Identifier(ix.table),
                    S.SQL(" WHERE (" + ix.where + ")") if ix.where else S.SQL("")).as_string(conn)
                cur.execute("SAVEPOINT hmb_check")
                try:
                    _confined(cur, stmt) if has_plpgsql else cur.execute(stmt)
                    cur.execute("RELEASE SAVEPOINT hmb_check")
                except psycopg2.Error as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT hmb_check")
                    problem(ix, _first_line(exc))
                    ok.remove(ix)
            cur.execute("ROLLBACK")
            in_txn = False

            # Gate 3: the scratch build, on temporary tables, always rolled back.
            dupes = {n for n, c in Counter(ix.name for ix in spec.declared).items() if c > 1}
            build = [ix for ix in ok if ix.name not in dupes]
            if build:
                cur.execute("BEGIN READ WRITE")
                in_txn = True
                if not read_only:
                    for ext in missing_ext:
                        cur.execute("SAVEPOINT ext")
                        try:
                            cur.execute(S.SQL("CREATE EXTENSION {}").format(S.Identifier(ext)))
                            cur.execute("RELEASE SAVEPOINT ext")
                        except psycopg2.Error as exc:
                            cur.execute("ROLLBACK TO SAVEPOINT ext")
                            problems.append(f"extension {ext}: cannot be created: {_first_line(exc)}")
                for table in sorted({ix.table for ix in build}):
                    try:
                        cur.execute(S.SQL("CREATE TEMPORARY TABLE {} (LIKE {}.{}) ON COMMIT DROP").format(
                            S.Identifier(table), S.Identifier(spec.schema_name), S.Identifier(table)))
                    except psycopg2.errors.InsufficientPrivilege as exc:
                        from hmb_ops.errors import EnvironmentUnusable

                        raise EnvironmentUnusable(
                            f"cannot check the spec: {_first_line(exc)} (the check builds the declared indexes on "
                            "empty temporary copies of the tables, rolled back)",
                            hint="GRANT TEMPORARY ON DATABASE to this role, and SELECT on the tables") from None
                cur.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
                temp_schema = cur.fetchone()[0]
                for ix in build:
                    cur.execute("SAVEPOINT ix")
                    try:
                        stmt = ddl.create_index_sql(ix, "pg_temp", concurrently=False)
                        _confined(cur, stmt) if has_plpgsql else cur.execute(stmt)
                        cur.execute("RELEASE SAVEPOINT ix")
                    except psycopg2.Error as exc:
                        cur.execute("ROLLBACK TO SAVEPOINT ix")
                        if (read_only and missing_ext
                                and exc.pgcode in (errorcodes.UNDEFINED_OBJECT, errorcodes.UNDEFINED_FUNCTION)):
                            pending[ix.name] = (f"needs extension {', '.join(missing_ext)} (not installed): "
                                                f"{_first_line(exc)}; checked by apply")
                        else:
                            problem(ix, _first_line(exc))
                built = read_indexes(conn, temp_schema)
                for live in built:
                    canonical[live.name] = canonical_definition(live.definition, live.unique)
                scratch = built
                cur.execute("ROLLBACK")
                in_txn = False
    finally:
        if in_txn and not conn.closed:
            try:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass
        if not conn.closed:
            conn.autocommit = was_autocommit
    for ix in spec.declared:
        if ix.name in pending:
            canonical[ix.name] = canonical_definition(ddl.create_index_sql(ix, spec.schema_name, concurrently=False),
                                                      ix.unique)
    # In file order: problems without a line (extensions, duplicates) first, then by spec line.
    problems.sort(key=lambda p: int(hit.group(1)) if (hit := _LINE.search(p)) else 0)
    return Normalized(problems=tuple(problems), canonical=canonical, scratch=tuple(scratch),
                      missing_extensions=tuple(missing_ext), first_line=min(lines) if lines else None,
                      pending=pending)


def _environment(message: str):
    from hmb_ops.errors import EnvironmentUnusable

    return EnvironmentUnusable(message, hint="SET standard_conforming_strings = on for this database")
