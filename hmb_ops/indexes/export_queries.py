"""The workload behind each exported index: pg_stat_statements' statements whose plan uses it.

"Most likely uses" is decided by the server, not guessed from text: each read-only statement
recorded for this database is planned with ``EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON)``
(PostgreSQL 16+: ``$n`` placeholders planned without values; EXPLAIN without ANALYZE never runs
it) in a READ ONLY transaction, and every index a plan names is credited with the statement. An
index keeps its top statements by total execution time.

Sample values: pg_stat_statements keeps no parameter values, so a ``$n`` compared with a column
(``col = $1``, ``$1 < col``, ``col ILIKE $1``, ``col = ANY($1)``) takes a common value of that
column from ``pg_stats``; a LIMIT takes 20 and an OFFSET 0. A parameter with no value found is
listed in the query's ``unsampled:`` (its value is a placeholder to review before ``verify``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hmb_ops.indexes import sqltext
from hmb_ops.indexes.spec import QuerySpec

MAX_STATEMENTS = 500        # the costliest statements looked at (by total execution time)
PER_INDEX = 3               # statements kept per index
PLAN_TIMEOUT_MS = 2000      # per EXPLAIN: a pathological statement must not stall the export
_HIDDEN = "<insufficient privilege>"
_COMPARE = frozenset({"=", "<", ">", "<=", ">=", "<>", "!=", "like", "ilike", "~~", "~~*", "@>", "<@", "&&"})
_READS = ("select", "with", "table", "values")
_WRITES = frozenset("insert update delete merge truncate into".split())

_PGSS_SQL = """
SELECT s.queryid, s.query, s.calls, s.total_exec_time, s.mean_exec_time
FROM pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY s.total_exec_time DESC
LIMIT %s
"""


@dataclass(frozen=True)
class Statement:
    queryid: int
    text: str
    calls: int
    total_ms: float
    mean_ms: float


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    return getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]


def read_statements(cur) -> tuple[list[Statement], str | None]:
    """The database's recorded statements (costliest first) and a note when some or all are missing.

    ``cur`` is inside a transaction block (the SAVEPOINT keeps it usable when the view refuses).
    """
    import psycopg2

    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if cur.fetchone() is None:
        return [], ("pg_stat_statements is not installed in this database, so no queries: entries were added "
                    "(CREATE EXTENSION pg_stat_statements; the server needs shared_preload_libraries = "
                    "'pg_stat_statements')")
    cur.execute("SAVEPOINT pgss")
    try:
        cur.execute(_PGSS_SQL, (MAX_STATEMENTS,))
        rows = cur.fetchall()
        cur.execute("RELEASE SAVEPOINT pgss")
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT pgss")
        return [], f"pg_stat_statements cannot be read ({_first_line(exc)}), so no queries: entries were added"
    hidden = sum(1 for r in rows if r[1] == _HIDDEN)
    found = [Statement(int(r[0]), r[1], int(r[2]), float(r[3]), float(r[4])) for r in rows
             if r[1] and r[1] != _HIDDEN]
    note = None
    if hidden:
        note = (f"{hidden} statement(s) of other roles are hidden from this role (<insufficient privilege>): "
                "GRANT pg_read_all_stats to it to see the whole workload")
    return found, note


def _is_read(toks: list[sqltext.Token]) -> bool:
    if not toks or toks[0].kind != "ident" or toks[0].text not in _READS:
        return False
    for t in toks:
        if t.kind == "comment" or (t.kind == "punct" and t.text == ";"):
            return False
        if t.kind == "ident" and t.text in _WRITES:
            return False
        if t.kind == "ident" and t.text.startswith("pg_"):  # catalog and monitoring reads, hmb-ops's own included
            return False
    return True


def _unprepared(stmt: Statement) -> Statement:
    """``PREPARE name [(types)] AS <query>`` (how a server-side prepared statement is recorded) -> the query."""
    try:
        toks = sqltext.tokens(stmt.text, params=True)
    except sqltext.NotOneExpression:
        return stmt
    if len(toks) < 4 or toks[0].kind != "ident" or toks[0].text != "prepare":
        return stmt
    depth = 0
    for k, t in enumerate(toks[2:], start=2):
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == "ident" and t.text == "as" and k + 1 < len(toks):
            return Statement(stmt.queryid, stmt.text[toks[k + 1].pos:].strip(), stmt.calls, stmt.total_ms,
                             stmt.mean_ms)
    return stmt


def _plan_indexes(node, found: set[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        name = node.get("Index Name")
        if name:
            found.add((node.get("Schema", ""), name))
        for value in node.values():
            _plan_indexes(value, found)
    elif isinstance(node, list):
        for value in node:
            _plan_indexes(value, found)


def _used_indexes(cur, text: str) -> set[tuple[str, str]] | None:
    """(schema, index) of every index the generic plan of ``text`` uses; None when it cannot be planned."""
    import psycopg2

    cur.execute("SAVEPOINT plan")
    try:
        cur.execute("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) " + text)
        plan = cur.fetchone()[0]
        cur.execute("RELEASE SAVEPOINT plan")
    except psycopg2.Error:
        cur.execute("ROLLBACK TO SAVEPOINT plan")
        return None
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: set[tuple[str, str]] = set()
    _plan_indexes(plan, found)
    return found


def _param_columns(toks: list[sqltext.Token]) -> dict[int, str]:
    """$n -> the column it is compared with (``col op $n`` / ``$n op col`` / ``col = ANY($n)``), read from tokens."""
    out: dict[int, str] = {}

    def column_before(k: int) -> str | None:
        return toks[k].text if k >= 0 and toks[k].kind in ("ident", "qident") else None

    for k, t in enumerate(toks):
        if t.kind != "param":
            continue
        n = int(t.text[1:])
        j = k - 1
        if j >= 1 and toks[j].text == "(" and toks[j - 1].kind == "ident" and toks[j - 1].text in ("any", "all"):
            j -= 2
        if j >= 0 and toks[j].text.lower() in _COMPARE:
            col = column_before(j - 1)
            if col and col not in ("any", "all"):
                out.setdefault(n, col)
                continue
        if k + 2 < len(toks) and toks[k + 1].text.lower() in _COMPARE and toks[k + 2].kind in ("ident", "qident"):
            out.setdefault(n, toks[k + 2].text)
    return out


def _keyword_params(toks: list[sqltext.Token]) -> dict[int, int]:
    """$n right after LIMIT or OFFSET -> a sample value (20 rows, offset 0)."""
    out = {}
    for k, t in enumerate(toks[1:], start=1):
        if t.kind == "param" and toks[k - 1].kind == "ident" and toks[k - 1].text in ("limit", "offset"):
            out[int(t.text[1:])] = 20 if toks[k - 1].text == "limit" else 0
    return out


def _column_sample(cur, schema: str, table: str, column: str, cache: dict) -> str | None:
    key = (schema, table, column)
    if key not in cache:
        cur.execute("SELECT most_common_vals::text::text[], histogram_bounds::text::text[] FROM pg_stats "
                    "WHERE schemaname = %s AND tablename = %s AND attname = %s LIMIT 1", key)
        row = cur.fetchone()
        value = None
        if row:
            mcv, hist = row
            if mcv:
                value = mcv[0]
            elif hist:
                value = hist[len(hist) // 2]
        cache[key] = value
    return cache[key]


def to_query(stmt: Statement, toks: list[sqltext.Token], samples: dict[int, object], unsampled: list[int]) -> QuerySpec:
    """The statement as a declared query: ``$n`` -> ``%(pn)s``, ``%`` -> ``%%`` (psycopg2's escaping)."""
    text = stmt.text
    pieces: list[str] = []
    at = 0
    for t in toks:
        if t.kind == "param":
            pieces.append(text[at:t.pos].replace("%", "%%"))
            pieces.append(f"%(p{t.text[1:]})s")
            at = t.end if t.end >= 0 else len(text)
    pieces.append(text[at:].replace("%", "%%"))
    sql = " ".join("".join(pieces).split())
    params = {f"p{n}": v for n, v in sorted(samples.items())}
    return QuerySpec(name=f"stmt_{stmt.queryid & 0xFFFFFFFFFFFFFFFF:016x}", sql=sql, params=params,
                     unsampled=[f"p{n}" for n in sorted(unsampled)])


def attach_queries(conn, schemas, server_version_num: int) -> tuple[int, str | None]:
    """Add ``queries:`` to the exported indexes of ``schemas`` (SchemaExport list); (statements used, note)."""
    if server_version_num < 160000:
        return 0, ("this server is older than PostgreSQL 16 (no EXPLAIN GENERIC_PLAN), so no queries: entries "
                   "were added")
    wanted = {(sx.schema, ix.name): (sx, ix) for sx in schemas for ix in sx.declared}
    credited: dict[tuple[str, str], list[tuple[Statement, list[sqltext.Token]]]] = {}
    unplannable = 0
    with conn.cursor() as cur:
        cur.execute("BEGIN READ ONLY")
        try:
            cur.execute(f"SET LOCAL statement_timeout = {PLAN_TIMEOUT_MS}")
            statements, note = read_statements(cur)
            if not statements:
                return 0, note or "pg_stat_statements holds no statements for this database yet"
            seen: set[str] = set()
            for recorded in statements:
                # Most recorded statements are writes, DDL or utility commands: skipped before lexing.
                if not recorded.text.lstrip()[:8].lower().startswith(_READS + ("prepare",)):
                    continue
                stmt = _unprepared(recorded)
                try:
                    toks = sqltext.tokens(stmt.text, params=True)
                except sqltext.NotOneExpression:
                    continue
                if not _is_read(toks) or stmt.text in seen:
                    continue
                seen.add(stmt.text)
                used = _used_indexes(cur, stmt.text)
                if used is None:
                    unplannable += 1
                    continue
                for key in used:
                    if key in wanted:
                        credited.setdefault(key, []).append((stmt, toks))
            used_statements: set[int] = set()
            cache: dict = {}
            for key, found in credited.items():
                sx, ix = wanted[key]
                found.sort(key=lambda pair: -pair[0].total_ms)
                queries = []
                for stmt, toks in found[:PER_INDEX]:
                    cols = _param_columns(toks)
                    fixed = _keyword_params(toks)
                    numbers = sorted({int(t.text[1:]) for t in toks if t.kind == "param"})
                    samples: dict[int, object] = {}
                    missing = []
                    for n in numbers:
                        value: object = fixed.get(n)
                        if value is None and n in cols:
                            value = _column_sample(cur, sx.schema, ix.table, cols[n], cache)
                        if value is None:
                            missing.append(n)
                        samples[n] = value
                    try:
                        queries.append(to_query(stmt, toks, samples, missing))
                    except ValueError:
                        continue  # not expressible as a declared query (e.g. a parameter inside a string)
                    used_statements.add(stmt.queryid)
                if queries:
                    sx.declared[sx.declared.index(ix)] = ix.model_copy(update={"queries": queries})
        finally:
            cur.execute("ROLLBACK")
    if unplannable:
        extra = f"{unplannable} recorded statement(s) could not be planned here (skipped)"
        note = f"{note}; {extra}" if note else extra
    return len(used_statements), note
