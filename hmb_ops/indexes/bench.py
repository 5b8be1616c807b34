"""Each declared query without vs with its index, side by side (the seed's "10–50x faster").

"Without" is measured inside a transaction that drops the declared indexes of the query's table
(plain DROP INDEX, which is transactional) and is rolled back afterwards: the indexes come back
instantly, with no rebuild. The price is an ACCESS EXCLUSIVE lock on that table for the few
seconds of measurement, so run this on a benchmark or staging database, not in production.
On a table hmb-ops did not create (somebody's app may be using it) bench refuses before changing
anything unless the caller passes allow_table_locks (`--allow-table-locks`). It never drops, even
in that rolled-back transaction, an index that is not hmb-ops's (catalog ``owned``) unless the
caller names it in ``adopt`` (`--adopt NAME`, which marks it as hmb-ops's first, as apply does).
The declared queries run through ``explain.prepared``: their sample values are bound by the
server, never pasted into the text, so no value can end the transaction the drop lives in.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmb_ops.errors import UsageError
from hmb_ops.indexes import ddl, explain as ex
from hmb_ops.indexes.catalog import read_indexes
from hmb_ops.indexes.spec import IndexSpec


@dataclass(frozen=True)
class BenchRow:
    name: str
    index: str
    table: str
    rows: int
    without_ms: dict
    with_ms: dict
    speedup: float | None
    target_ms: float | None
    without_plan: str
    with_plan: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BenchReport:
    rows: tuple[BenchRow, ...]
    runs: int

    def to_dict(self) -> dict:
        return {"runs": self.runs, "queries": [r.to_dict() for r in self.rows]}


def _selected(spec: IndexSpec, only: tuple[str, ...]) -> list[str]:
    """The tables whose "without" run would lock them: those of the queries `only` selects."""
    tables: list[str] = []
    for ix in spec.declared:
        if any(not only or q.name in only or ix.name in only for q in ix.queries) and ix.table not in tables:
            tables.append(ix.table)
    return tables


def check_table_locks(conn, spec: IndexSpec, only: tuple[str, ...] = ()) -> None:
    """Refuse (exit 2) to lock tables hmb-ops did not create: their "without" run holds ACCESS EXCLUSIVE."""
    from hmb_ops.indexes.catalog import owned_tables

    mine = owned_tables(conn, spec.schema_name)
    foreign = [t for t in _selected(spec, only) if t not in mine]
    if foreign:
        raise UsageError(
            f"bench would hold an ACCESS EXCLUSIVE lock on {', '.join(foreign)} (schema {spec.schema_name}) while it "
            f"measures each query without its index, blocking every reader and writer of "
            f"{'that table' if len(foreign) == 1 else 'those tables'}, which hmb-ops did not create; "
            "nothing was changed",
            hint="run it on a copy or a staging database, or rerun with --allow-table-locks to accept the locks")


def _dropped_by(spec: IndexSpec, only: tuple[str, ...]) -> list[str]:
    """The declared indexes the "without" runs drop (every declared index on a selected query's table)."""
    tables = set(_selected(spec, only))
    return [ix.name for ix in spec.declared if ix.table in tables]


def check_foreign_indexes(conn, spec: IndexSpec, only: tuple[str, ...] = (), adopt: tuple[str, ...] = ()) -> None:
    """Refuse (exit 2) to drop, even in a rolled-back transaction, an index that is not hmb-ops's."""
    from hmb_ops.indexes.catalog import read_indexes

    _refuse_foreign({ix.name: ix for ix in read_indexes(conn, spec.schema_name)}, _dropped_by(spec, only), adopt)


def _refuse_foreign(live: dict, names: list[str], adopt: tuple[str, ...]) -> None:
    foreign = [n for n in names if n in live and not live[n].owned and n not in adopt]
    if foreign:
        listed = ", ".join(f"{n} (on {live[n].table})" for n in foreign)
        raise UsageError(
            f"bench measures each query without its index by dropping {listed} in a transaction it rolls back; "
            f"{'it is' if len(foreign) == 1 else 'they are'} not hmb-ops's (no hmb-ops mark, not on a table "
            "hmb-ops created), so bench will not drop "
            f"{'it' if len(foreign) == 1 else 'them'}, not even for a moment; nothing was changed",
            hint=f"rerun with --adopt {','.join(foreign)} to let hmb-ops take "
                 f"{'it' if len(foreign) == 1 else 'them'} over (marked as hmb-ops's), or bench a copy")


def _query_failed(q, exc, *, changed: bool = True) -> UsageError:
    msg = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc).strip().splitlines()[0]
    return UsageError(f"declared query {q.name!r} failed on the server: {msg}"
                      + ("" if changed else "; nothing was changed"),
                      hint="fix the query in the spec (`hmb-ops indexes verify` shows each query's status)")


# A declared query the server refuses (unknown column, bad cast, a parameter of no known type) is
# a spec error, exit 2; anything else (lost connection, lock timeout) keeps its own meaning.
# (psycopg2's error classes are flat, so the SQLSTATE class is read from pgcode: 42 and 22.)
_QUERY_CLASSES = ("42", "22")


def _is_query_error(exc) -> bool:
    return (getattr(exc, "pgcode", None) or "")[:2] in _QUERY_CLASSES


def _check_queries(conn, spec: IndexSpec, only: tuple[str, ...]) -> None:
    """PREPARE (parse and analyse, never run) every selected query before anything changes."""
    import psycopg2

    with conn.cursor() as cur:
        for ix in spec.declared:
            for q in ix.queries:
                if only and q.name not in only and ix.name not in only:
                    continue
                try:
                    with ex.prepared(cur, q):
                        pass
                except psycopg2.Error as exc:
                    if not _is_query_error(exc):
                        raise
                    raise _query_failed(q, exc, changed=False) from None


def _measure(cur, q, runs: int, budget_s: float) -> tuple[str, dict]:
    """The query's scan nodes and timing summary; a query the server refuses is a spec error."""
    import psycopg2

    try:
        plan = "; ".join(ex.scan_nodes(ex.explain(cur, q, generic=False)))
        return plan, ex.summarize(ex.time_query(cur, q, runs=runs, budget_s=budget_s))
    except psycopg2.Error as exc:
        if not _is_query_error(exc):
            raise
        raise _query_failed(q, exc) from None


def bench(url: str, spec: IndexSpec, *, runs: int = 50, only: tuple[str, ...] = (), apply_first: bool = True,
          budget_s: float = 20.0, timeout: int | None = None, progress=None,
          allow_table_locks: bool = False, adopt: tuple[str, ...] = ()) -> BenchReport:
    from hmb_ops.db.connect import connect
    from hmb_ops.indexes.service import _connect, inspect

    unknown = sorted(set(adopt) - {ix.name for ix in spec.declared})
    if unknown:
        raise UsageError(f"--adopt names {', '.join(unknown)}, which the spec does not declare; nothing was changed",
                         hint="bench only drops declared indexes; `hmb-ops indexes status` lists them")
    # Before the apply below, so a refused bench changes nothing; after the (read-only) spec
    # validation, so a broken spec (a declared query included) is reported as such first.
    check = _connect(url, "bench", timeout, read_only=True)
    try:
        inspect(check, spec, read_only=True)
        if not allow_table_locks:
            check_table_locks(check, spec, only)
        check_foreign_indexes(check, spec, only, adopt)
        _check_queries(check, spec, only)
    finally:
        check.close()
    if apply_first:
        from hmb_ops.db.seed import may_create_extensions
        from hmb_ops.indexes.plan import PlanOptions
        from hmb_ops.indexes.service import apply

        # An extension is created unasked only in a database hmb-ops has to itself (else exit 2,
        # with `indexes apply --create-extensions` as the consent), as load runs do.
        create = may_create_extensions(url, spec.extensions)
        apply(url, spec, PlanOptions(create_extensions=create, allow_replace=True, adopt=tuple(adopt)), wait=True)
    conn = connect(url, autocommit=False, timeout=timeout, application_name="hmb-ops indexes bench")
    out: list[BenchRow] = []
    try:
        with conn.cursor() as cur:
            for table in spec.tables():
                cur.execute(ddl.analyze_sql(spec.schema_name, table))
            cur.execute("SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND relkind = 'r'", (spec.schema_name,))
            table_rows = dict(cur.fetchall())
        conn.commit()
        for ix in spec.declared:
            same_table = [d.name for d in spec.declared if d.table == ix.table]
            for q in ix.queries:
                if only and q.name not in only and ix.name not in only:
                    continue
                if progress:
                    progress({"event": "bench", "query": q.name, "index": ix.name})
                with conn.cursor() as cur:
                    # The declared query only reads: READ ONLY makes the server hold it to that.
                    cur.execute("SET TRANSACTION READ ONLY")
                    with_plan, with_ms = _measure(cur, q, runs, budget_s)
                conn.commit()
                with conn.cursor() as cur:
                    cur.execute("SET LOCAL lock_timeout = '10s'")
                    # Checked again inside the transaction that drops: the catalog may have changed
                    # since the check above (an index of the user's created under a declared name).
                    live = {i.name: i for i in read_indexes(conn, spec.schema_name)}
                    _refuse_foreign(live, same_table, adopt)
                    for name in same_table:
                        if name in live:
                            cur.execute(ddl.drop_index_sql(spec.schema_name, name, concurrently=False))
                    # From here on the transaction (rolled back below) may only read.
                    cur.execute("SET LOCAL transaction_read_only = on")
                    without_plan, without_ms = _measure(cur, q, runs, budget_s)
                conn.rollback()
                speed = (round(without_ms["p50"] / with_ms["p50"], 1)
                         if with_ms.get("p50") and without_ms.get("p50") else None)
                out.append(BenchRow(q.name, ix.name, ix.table, table_rows.get(ix.table, 0), without_ms, with_ms,
                                    speed, q.target_ms, without_plan, with_plan))
    finally:
        conn.close()
    return BenchReport(rows=tuple(out), runs=runs)
