"""The chosen configuration as an ordinary plan: the formula's plan for the pick's thread count with
the measured worker count in place of the computed one (budgets recomputed), so `--out` writes it
like any other plan and `--explain` shows where the number came from."""

from __future__ import annotations

from dataclasses import replace

from hmb_ops.tune.budget import DB_USABLE_FRACTION, DEPLOY_COPIES, connection_budget
from hmb_ops.tune.plan import PlanValue, TunePlan

MEASURED = "measurement"


def with_workers(plan: TunePlan, workers: int, formula: str) -> TunePlan:
    items = tuple(PlanValue("workers", workers, formula, MEASURED,
                            "web worker processes, chosen by tune --search (WEB_CONCURRENCY overrides at run time)")
                  if i.name == "workers" else i for i in plan.items)
    budgets = {k: dict(v) if isinstance(v, dict) else v for k, v in plan.budgets.items()}
    v = {i.name: i.value for i in items}
    pool, background = int(v.get("db_pool_max") or 0), int(v.get("background_workers") or 0)
    db = budgets.get("db_connections")
    if isinstance(db, dict) and pool:
        conn = connection_budget(db.get("max_connections"))
        db.update(per_release=workers * pool + background, peak_during_deploy=conn.peak(workers, pool, background),
                  ok=conn.fits(workers, pool, background),
                  formula=f"({workers} workers × pool max {pool} + {background} background) × {DEPLOY_COPIES} "
                          f"≤ {DB_USABLE_FRACTION:g} × max_connections")
    mem = budgets.get("memory")
    if isinstance(mem, dict) and "worker_bytes" in mem:
        planned = mem["master_bytes"] + workers * mem["worker_bytes"]
        mem.update(planned_bytes=planned, ok=planned <= mem["usable_bytes"])
    return replace(plan, items=items, budgets=budgets)
