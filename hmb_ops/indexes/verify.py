"""Prove the declared indexes exist, are valid and match, and that their queries use them in time."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hmb_ops.indexes import explain as ex
from hmb_ops.indexes.plan import IndexState
from hmb_ops.indexes.spec import IndexDef, IndexSpec, QuerySpec

SMALL_TABLE_ROWS = 10_000  # below this a sequential scan is a legitimate plan, not a failure


@dataclass(frozen=True)
class QueryCheck:
    name: str
    index: str
    table: str
    status: str            # uses_index | usable_not_chosen | not_chosen | other_index | not_usable | error
    plan_mode: str | None  # generic | custom | seqscan_off
    used_indexes: tuple[str, ...]
    reason: str
    latency_ms: dict
    target_ms: float | None
    within_target: bool | None
    ok: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["used_indexes"] = list(self.used_indexes)
        return d


@dataclass(frozen=True)
class VerifyReport:
    indexes: tuple[IndexState, ...]
    queries: tuple[QueryCheck, ...]

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.indexes) and all(q.ok for q in self.queries)

    def failures(self) -> list[str]:
        out = [f"{s.name}: {s.status}" for s in self.indexes if s.status != "ok"]
        out += [f"{q.name}: {q.status}" + ("" if q.within_target is not False else
                                           f" (p95 {q.latency_ms.get('p95')} ms > target {q.target_ms} ms)")
                for q in self.queries if not q.ok]
        return out

    def to_dict(self) -> dict:
        return {"ok": self.ok, "failures": self.failures(),
                "indexes": [s.to_dict() for s in self.indexes], "queries": [q.to_dict() for q in self.queries]}


def _usable_alone(conn, schema: str, ix: IndexDef, q: QuerySpec) -> bool:
    """On a small table: would the planner use this index if it were the only one? Changes nothing.

    A TEMPORARY copy of the table (this session's pg_temp, ``ON COMMIT DROP``, in a transaction
    that is rolled back) carries only the declared index; pg_temp comes first when the query's
    unqualified table name is resolved, so the query is planned against the copy. The user's
    table is only read (no lock beyond a reader's), the only write is to temporary objects, and
    the index DDL is the one normalize built and checked (run confined, like there).
    """
    import psycopg2
    from psycopg2 import sql as S

    from hmb_ops.indexes.ddl import create_index_sql
    from hmb_ops.indexes.normalize import _confined

    conn.rollback()
    try:
        with conn.cursor() as cur:
            # The session defaults to READ ONLY; this one transaction may create temporary objects.
            cur.execute("SET TRANSACTION READ WRITE")
            cur.execute("SET LOCAL lock_timeout = '200ms'")
            cur.execute(S.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT * FROM ONLY {}.{}").format(
                S.Identifier(ix.table), S.Identifier(schema), S.Identifier(ix.table)))
            _confined(cur, create_index_sql(ix, "pg_temp", concurrently=False))
            cur.execute(S.SQL("ANALYZE pg_temp.{}").format(S.Identifier(ix.table)))
            cur.execute("SET LOCAL enable_seqscan = off")
            return ix.name in ex.indexes_in_plan(ex.explain(cur, q, generic=False))
    except psycopg2.Error:
        return False
    finally:
        conn.rollback()


def check_query(conn, ix: IndexDef, q: QuerySpec, *, rows: int, generic_ok: bool, runs: int,
                small_rows: int = SMALL_TABLE_ROWS, schema: str = "public") -> QueryCheck:
    import psycopg2

    used: list[str] = []
    mode = None
    reason = ""
    status = "not_usable"
    try:
        with conn.cursor() as cur:
            plans = []
            if generic_ok:
                try:
                    plans.append(("generic", ex.explain(cur, q, generic=True)))
                except psycopg2.Error:
                    conn.rollback()  # GENERIC_PLAN cannot type every parameter; the custom plan still can
            plans.append(("custom", ex.explain(cur, q, generic=False)))
            for m, p in plans:
                names = ex.indexes_in_plan(p)
                used = names
                if ix.name in names:
                    status, mode = "uses_index", m
                    reason = "; ".join(ex.scan_nodes(p))
                    break
            if status != "uses_index":
                chosen = "; ".join(ex.scan_nodes(plans[-1][1])) or "no table scan"
                cur.execute("SET LOCAL enable_seqscan = off")
                forced = ex.explain(cur, q, generic=False)
                conn.rollback()
                if ix.name in ex.indexes_in_plan(forced):
                    small = rows < small_rows
                    status = "usable_not_chosen" if small else "not_chosen"
                    mode = "seqscan_off"
                    reason = (f"{ix.table} has ~{rows} rows; the planner prefers: {chosen}"
                              + (" (fine on a table this small)" if small else ""))
                else:
                    others = [n for n in ex.indexes_in_plan(forced) if n != ix.name]
                    status = "other_index" if others else "not_usable"
                    reason = (f"the planner uses {', '.join(others)} instead of {ix.name}: {chosen}" if others else
                              f"plan does not use {ix.name} even with enable_seqscan=off: {chosen}")
                    if others and rows < small_rows and _usable_alone(conn, schema, ix, q):
                        status = "usable_not_chosen"
                        reason = (f"{ix.table} has ~{rows} rows; the planner prefers {', '.join(others)} "
                                  f"({chosen}); {ix.name} is used when it is the only index")
            samples = ex.time_query(cur, q, runs=runs) if runs > 0 else []
        conn.rollback()
    except psycopg2.Error as exc:
        conn.rollback()
        msg = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc).splitlines()[0]
        return QueryCheck(q.name, ix.name, ix.table, "error", None, (), f"query failed: {msg}", {}, q.target_ms,
                          None, False)
    lat = ex.summarize(samples) if samples else {}
    within = None if q.target_ms is None or not lat else lat["p95"] <= q.target_ms
    ok = status in ("uses_index", "usable_not_chosen") and within is not False
    return QueryCheck(q.name, ix.name, ix.table, status, mode, tuple(used), reason, lat, q.target_ms, within, ok)


def verify(url: str, spec: IndexSpec, *, runs: int = 20, timeout: int | None = None,
           small_rows: int = SMALL_TABLE_ROWS) -> VerifyReport:
    from psycopg2 import sql as S

    from hmb_ops.db.connect import connect
    from hmb_ops.indexes.service import make_plan

    plan = make_plan(url, spec, timeout=timeout)
    # Every transaction of this session is READ ONLY: verify plans and times the declared queries
    # and changes nothing (statistics included: `apply` analyzes the tables it built on).
    conn = connect(url, autocommit=False, timeout=timeout, application_name="hmb-ops indexes verify",
                   options="-c default_transaction_read_only=on")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND relkind = 'r'", (spec.schema_name,))
            rows = dict(cur.fetchall())
            cur.execute("SHOW server_version_num")
            generic_ok = int(cur.fetchone()[0]) >= 160000
            # Quoted names: a schema "Sales" must stay "Sales", not fold to sales.
            path = S.SQL(", ").join([S.Identifier(spec.schema_name), S.Identifier("public")]).as_string(conn)
            cur.execute("SELECT set_config('search_path', %s, false)", (path,))
        conn.commit()
        states = {s.name: s for s in plan.indexes}
        checks = []
        for ix in spec.declared:
            for q in ix.queries:
                if states[ix.name].status != "ok":
                    checks.append(QueryCheck(q.name, ix.name, ix.table, "not_usable", None, (),
                                             f"index {ix.name} is {states[ix.name].status}", {}, q.target_ms,
                                             None, False))
                    continue
                checks.append(check_query(conn, ix, q, rows=rows.get(ix.table, 0), generic_ok=generic_ok,
                                          runs=runs, small_rows=small_rows, schema=spec.schema_name))
    finally:
        conn.close()
    return VerifyReport(indexes=plan.indexes, queries=tuple(checks))
