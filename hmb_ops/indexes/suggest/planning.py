"""EXPLAIN for a workload statement, never executed: the generic plan where the server has one.

- PostgreSQL 16+: ``EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON)`` plans ``$n`` statements without values.
- Older servers: ``PREPARE`` it, then ``EXPLAIN EXECUTE`` with NULL arguments under
  ``plan_cache_mode = force_generic_plan`` (what dexter does): the generic plan does not look at the
  values. pg_stat_statements keeps no sample values, so there are none to plan with.
- A statement without parameters (from a file) is planned with its own literal values.
Each EXPLAIN runs in a transaction that is rolled back, with a statement timeout.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hmb_ops.indexes import sqltext

GENERIC = "generic plan (EXPLAIN GENERIC_PLAN)"
FORCED = ("forced generic plan (PREPARE + force_generic_plan, NULL arguments: pg_stat_statements "
          "keeps no sample values)")
LITERAL = "its own literal values"


def param_count(sql: str) -> int:
    try:
        toks = sqltext.tokens(sql, params=True)
    except sqltext.NotOneExpression:
        return 0
    return max((int(t.text[1:]) for t in toks if t.kind == "param" and t.text[1:].isdigit()), default=0)


SAMPLED = ("custom plan with sample values from the planner statistics (a generic plan cannot judge a "
           "LIKE/ILIKE pattern)")


def explain(cur, sql: str, server_version: int, values: list | None = None) -> tuple[Any, str]:
    """(plan JSON, plan mode) of ``sql`` on the cursor's connection; the caller owns the transaction.

    ``values``: sample values for $1..$n, bound by the server (PREPARE, then EXPLAIN EXECUTE with the
    values as arguments, never pasted into the statement) under force_custom_plan.
    """
    n = param_count(sql)
    cur.execute("SET LOCAL statement_timeout = '20s'")
    if values is not None and n:
        name = "hmb_sg_" + uuid.uuid4().hex[:12]
        cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cur.execute(f"PREPARE {name} AS {sql}")
        args = cur.mogrify("(" + ", ".join(["%s"] * len(values)) + ")", values).decode()
        cur.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}{args}")
        plan = cur.fetchone()[0]
        cur.execute(f"DEALLOCATE {name}")
        return (plan if not isinstance(plan, str) else json.loads(plan)), SAMPLED
    if n == 0:
        cur.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql)
        mode = LITERAL
    elif server_version >= 160000:
        cur.execute("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) " + sql)
        mode = GENERIC
    else:
        name = "hmb_sg_" + uuid.uuid4().hex[:12]
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cur.execute(f"PREPARE {name} AS {sql}")
        cur.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}({', '.join(['NULL'] * n)})")
        mode = FORCED
        plan = cur.fetchone()[0]
        cur.execute(f"DEALLOCATE {name}")
        return (plan if not isinstance(plan, str) else json.loads(plan)), mode
    plan = cur.fetchone()[0]
    return (plan if not isinstance(plan, str) else json.loads(plan)), mode


def param_types_rolled_back(conn, sql: str) -> list[str]:
    """param_types on `conn`, its transaction rolled back after (the what-if backends keep none open)."""
    with conn.cursor() as cur:
        try:
            return param_types(cur, sql)
        finally:
            conn.rollback()


def param_types(cur, sql: str) -> list[str]:
    """The types the server infers for $1..$n (pg_prepared_statements.parameter_types, PG 14+)."""
    n = param_count(sql)
    if n == 0:
        return []
    name = "hmb_sg_" + uuid.uuid4().hex[:12]
    cur.execute(f"PREPARE {name} AS {sql}")
    try:
        cur.execute("SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %s", (name,))
        row = cur.fetchone()
        return list(row[0]) if row and row[0] else []
    finally:
        cur.execute(f"DEALLOCATE {name}")
