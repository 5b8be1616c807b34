"""The workload: the statements that cost the most, from pg_stat_statements or a file of statements/log.

Only statements that read or filter rows are kept (SELECT, WITH, UPDATE, DELETE): an index can
serve them. Everything else (INSERT, DDL, SET, EXPLAIN, hmb-ops's own PREPAREs) is not workload.
A statement sqlglot cannot parse is skipped and counted, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hmb_ops.errors import ConfigError, EnvironmentUnusable
from hmb_ops.indexes import sqltext
from hmb_ops.indexes.suggest.model import Skipped, Statement

_KEEP = ("select", "with", "update", "delete")
_INSUFFICIENT = "<insufficient privilege>"
# A PostgreSQL server log line carrying a statement (log_statement or log_min_duration_statement):
#   ... LOG:  duration: 1.2 ms  statement: SELECT ...   /   ... LOG:  statement: SELECT ...
#   ... LOG:  duration: 0.1 ms  execute <unnamed>: SELECT ...
_LOG_LINE = re.compile(r"\b(?:LOG|ERROR|STATEMENT):\s+(?:duration: [\d.]+ ms\s+)?"
                       r"(?:statement|execute [^:]*):\s?(?P<sql>.*)$")

NO_STATEMENTS_HINT = ("create the extension (CREATE EXTENSION pg_stat_statements, with "
                      "shared_preload_libraries = 'pg_stat_statements'), or give the statements with "
                      "--queries FILE (a file of SQL statements or a PostgreSQL log)")


@dataclass
class Workload:
    statements: list[Statement]
    skipped: list[Skipped]
    source: str
    notes: list[str] = field(default_factory=list)


def first_word(sql: str) -> str:
    m = re.match(r"\s*\(*\s*([A-Za-z]+)", sql)
    return m.group(1).lower() if m else ""


def parses(sql: str) -> str | None:
    """None when sqlglot parses the text as one statement; else the parser's first complaint."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        trees = sqlglot.parse(sql, dialect="postgres")
    except (ParseError, TokenError) as exc:
        return str(exc).splitlines()[0][:200]
    except Exception as exc:  # noqa: BLE001 - sqlglot raises a few other errors on odd input: still "cannot parse"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        return f"{len(trees)} statements"
    return None


def only_catalogs(sql: str) -> bool:
    """True when every table the statement names is a system catalog or view (pg_*, information_schema)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, dialect="postgres")
    except Exception:  # noqa: BLE001 - parse problems are reported by parses(); here: not provably catalogs
        return False
    tables = list(tree.find_all(exp.Table))
    return bool(tables) and all(t.name.startswith("pg_") or t.db in ("pg_catalog", "information_schema")
                                for t in tables if t.name)


def _keep(sql: str, source: str, skipped: list[Skipped], out: list[Statement], **stats) -> None:
    text = sql.strip().rstrip(";").strip()
    if not text or first_word(text) not in _KEEP:
        return
    problem = parses(text)
    if problem is None and len(split_statements(text)) != 1:
        problem = "more than one statement"  # the project's lexer has the last word: EXPLAIN gets one statement
    if problem is not None:
        skipped.append(Skipped("unparseable", text[:500], problem))
        return
    if only_catalogs(text):
        return  # monitoring and tools' own catalog queries (hmb-ops's too) are not the app's workload
    out.append(Statement(id=len(out) + 1, sql=text, source=source, **stats))


# -- pg_stat_statements ------------------------------------------------------------------------------
_PSS_SQL = """
SELECT query, sum(calls)::bigint, sum(total_exec_time), sum(total_exec_time) / greatest(sum(calls), 1)
FROM {view}
WHERE dbid = %s AND calls >= %s {toplevel}
GROUP BY query
ORDER BY {order} DESC
LIMIT %s
"""


def _extension_schema(cur) -> str | None:
    cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_stat_statements'")
    row = cur.fetchone()
    return row[0] if row else None


def from_pg_stat_statements(url: str, *, top: int, min_calls: int) -> Workload:
    """The top statements by total and by mean time of the current database.

    The extension may be created in another database of the same server (the embedded server
    creates it in its default database): the view shows every database's statements, so it is read
    there, filtered to this database's oid.
    """
    import psycopg2

    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse

    with connection(url, autocommit=True, application_name="hmb-ops indexes suggest") as conn, conn.cursor() as cur:
        cur.execute("SELECT oid, datname FROM pg_database WHERE datname = current_database()")
        dboid, dbname = cur.fetchone()
        schema = _extension_schema(cur)
        rows = None
        if schema is None:
            rows = _from_other_database(url, dbname, dboid, top=top, min_calls=min_calls)
            if rows is None:
                raise EnvironmentUnusable(f"pg_stat_statements is not available in database {dbname!r}",
                                          hint=NO_STATEMENTS_HINT)
        else:
            try:
                rows = _read(cur, schema, dboid, top=top, min_calls=min_calls)
            except psycopg2.Error as exc:
                raise _read_error(exc, parse(url).masked) from None
    return _workload(rows)


def _from_other_database(url: str, dbname: str, dboid: int, *, top: int, min_calls: int):
    import psycopg2

    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse

    if dbname == "postgres":
        return None
    try:
        with connection(parse(url).with_database("postgres").url, autocommit=True,
                        application_name="hmb-ops indexes suggest") as conn, conn.cursor() as cur:
            schema = _extension_schema(cur)
            if schema is None:
                return None
            try:
                return _read(cur, schema, dboid, top=top, min_calls=min_calls)
            except psycopg2.Error as exc:
                raise _read_error(exc, parse(url).masked) from None
    except EnvironmentUnusable as exc:
        if "pg_stat_statements" in exc.message:
            raise
        return None


def _read(cur, schema: str, dboid: int, *, top: int, min_calls: int) -> list[tuple]:
    from psycopg2 import sql as psql

    view = psql.SQL("{}.pg_stat_statements").format(psql.Identifier(schema)).as_string(cur)
    cur.execute("SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'toplevel'",
                (view,))
    toplevel = "AND toplevel" if cur.fetchone() else ""
    seen: dict[str, tuple] = {}
    for order in ("sum(total_exec_time)", "sum(total_exec_time) / greatest(sum(calls), 1)"):
        cur.execute(_PSS_SQL.format(view=view, toplevel=toplevel, order=order), (dboid, min_calls, top))
        for row in cur.fetchall():
            seen.setdefault(row[0], row)
    return list(seen.values())


def _read_error(exc, masked: str) -> EnvironmentUnusable:
    text = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0]
    if "permission denied" in text:
        return EnvironmentUnusable(f"no privilege to read pg_stat_statements on {masked}: {text}",
                                   hint="grant pg_read_all_stats to this role, or give --queries FILE")
    return EnvironmentUnusable(f"pg_stat_statements cannot be read on {masked}: {text}", hint=NO_STATEMENTS_HINT)


def _workload(rows: list[tuple]) -> Workload:
    out: list[Statement] = []
    skipped: list[Skipped] = []
    hidden = 0
    rows = sorted(rows, key=lambda r: -(r[2] or 0))
    for query, calls, total, mean in rows:
        if query is None or query.strip() == _INSUFFICIENT:
            hidden += 1
            continue
        _keep(query, "pg_stat_statements", skipped, out, calls=int(calls), total_ms=round(float(total), 3),
              mean_ms=round(float(mean), 3))
    if hidden and not out and not skipped:
        raise EnvironmentUnusable(f"pg_stat_statements shows {hidden} statement(s) as <insufficient privilege> "
                                  "and none this role may read",
                                  hint="grant pg_read_all_stats to this role, or give --queries FILE")
    skipped += [Skipped("insufficient_privilege", _INSUFFICIENT, "statement of another role")] * hidden
    notes = [(f"{hidden} statement(s) of other roles are hidden from this role (<insufficient privilege>): grant "
             "it pg_read_all_stats to include them")] if hidden else []
    return Workload(out, skipped, "pg_stat_statements", notes)


# -- a file ------------------------------------------------------------------------------------------
def from_file(path: str | Path) -> Workload:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read --queries file {p}: {exc.strerror or exc}",
                          hint="give a readable file of SQL statements or a PostgreSQL log") from None
    pieces = _log_statements(text)
    if pieces is None:
        pieces = split_statements(text)
    out: list[Statement] = []
    skipped: list[Skipped] = []
    counts: dict[str, int] = {}
    for piece in pieces:
        key = " ".join(piece.split()).rstrip(";")
        counts[key] = counts.get(key, 0) + 1
    for key, n in counts.items():
        _keep(key, "file", skipped, out, calls=n)
    out.sort(key=lambda s: -s.calls)
    for i, s in enumerate(out, 1):
        s.id = i
    return Workload(out, skipped, str(p))


def _log_statements(text: str) -> list[str] | None:
    """Statements of a PostgreSQL log (continuation lines start with a tab); None when it is no log."""
    found: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        m = _LOG_LINE.search(line)
        if m:
            if current is not None:
                found.append("\n".join(current))
            current = [m.group("sql")]
        elif current is not None and line.startswith(("\t", " ")):
            current.append(line.strip())
        elif current is not None:
            found.append("\n".join(current))
            current = None
    if current is not None:
        found.append("\n".join(current))
    return found or None


def split_statements(text: str) -> list[str]:
    """Split at top-level ';' (not inside strings, quoted names or comments), by the project's lexer."""
    try:
        toks = sqltext.tokens(text, params=True)
    except sqltext.NotOneExpression:
        # an unterminated string or comment: hand the pieces to the parser, which will say so
        return [p for p in text.split(";") if p.strip()]
    out: list[str] = []
    start = 0
    for t in toks:
        if t.kind == "punct" and t.text == ";":
            out.append(text[start:t.pos])
            start = t.end if t.end > 0 else t.pos + 1
    out.append(text[start:])
    return [s for s in (_strip_comments(x) for x in out) if s.strip()]


def _strip_comments(text: str) -> str:
    try:
        toks = sqltext.tokens(text, params=True)
    except sqltext.NotOneExpression:
        return text
    parts: list[str] = []
    last = 0
    for t in toks:
        if t.kind == "comment":
            parts.append(text[last:t.pos])
            last = t.end if t.end > 0 else len(text)
    parts.append(text[last:])
    return "".join(parts).strip()
