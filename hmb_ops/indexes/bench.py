"""Each declared query without vs with its index, side by side (the seed's "10–50x faster").

"Without" is measured inside a transaction that drops the declared indexes of the query's table
(plain DROP INDEX, which is transactional) and is rolled back afterwards: the indexes come back
instantly, with no rebuild. The price is an ACCESS EXCLUSIVE lock on that table for the few
seconds of measurement, so run this on a benchmark or staging database, not in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmb_ops.indexes import ddl
from hmb_ops.indexes import explain as ex
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


def bench(url: str, spec: IndexSpec, *, runs: int = 50, only: tuple[str, ...] = (), apply_first: bool = True,
          budget_s: float = 20.0, timeout: int | None = None, progress=None) -> BenchReport:
    from hmb_ops.db.connect import connect

    if apply_first:
        from hmb_ops.indexes.plan import PlanOptions
        from hmb_ops.indexes.service import apply

        apply(url, spec, PlanOptions(create_extensions=True, allow_replace=True), wait=True)
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
                    with_plan = "; ".join(ex.scan_nodes(ex.explain(cur, q, generic=False)))
                    with_ms = ex.summarize(ex.time_query(cur, q, runs=runs, budget_s=budget_s))
                conn.commit()
                with conn.cursor() as cur:
                    cur.execute("SET LOCAL lock_timeout = '10s'")
                    for name in same_table:
                        cur.execute(ddl.drop_index_sql(spec.schema_name, name, concurrently=False))
                    # From here on the transaction (rolled back below) may only read.
                    cur.execute("SET LOCAL transaction_read_only = on")
                    without_plan = "; ".join(ex.scan_nodes(ex.explain(cur, q, generic=False)))
                    without_ms = ex.summarize(ex.time_query(cur, q, runs=runs, budget_s=budget_s))
                conn.rollback()
                speed = (round(without_ms["p50"] / with_ms["p50"], 1)
                         if with_ms.get("p50") and without_ms.get("p50") else None)
                out.append(BenchRow(q.name, ix.name, ix.table, table_rows.get(ix.table, 0), without_ms, with_ms,
                                    speed, q.target_ms, without_plan, with_plan))
    finally:
        conn.close()
    return BenchReport(rows=tuple(out), runs=runs)
