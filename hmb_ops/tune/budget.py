"""The database connection budget, written once: what `tune` plans with and what `tune check` checks.

Every release may hold up to (workers × pool max + background workers) connections; zero-downtime
deploys run the old and the new release side by side, so the peak is that times DEPLOY_COPIES. The
peak must stay within DB_USABLE_FRACTION of max_connections: the rest is left for migrations,
psql sessions, monitoring and PostgreSQL's reserved superuser slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DB_USABLE_FRACTION = 0.8
DEPLOY_COPIES = 2          # zero-downtime deploys run the old and the new release side by side
PG_DEFAULT_MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class ConnectionBudget:
    max_connections: int
    budget: int  # ⌊DB_USABLE_FRACTION × max_connections⌋: what all releases together may hold

    def peak(self, workers: int, pool: int, background: int) -> int:
        """Connections at most during a deploy: (workers × pool + background) × DEPLOY_COPIES."""
        return (workers * pool + background) * DEPLOY_COPIES

    def fits(self, workers: int, pool: int, background: int) -> bool:
        return self.peak(workers, pool, background) <= self.budget

    def max_workers(self, pool: int, background: int) -> int:
        """The most workers with this pool that fit (negative when even the background does not)."""
        return (self.budget // DEPLOY_COPIES - background) // pool

    def max_pool(self, workers: int, background: int) -> int:
        """The largest pool per worker that fits with this many workers (0 when none does)."""
        return max(0, (self.budget // DEPLOY_COPIES - background) // max(1, workers))


def connection_budget(max_connections: int | None) -> ConnectionBudget:
    """The budget for a server with this max_connections (PostgreSQL's default when not known)."""
    conn = PG_DEFAULT_MAX_CONNECTIONS if max_connections is None else max_connections
    return ConnectionBudget(conn, math.floor(DB_USABLE_FRACTION * conn))


def candidate_problem(plan, workers: int, threads: int = 1) -> str | None:
    """Why a configuration other than the plan's does not fit the plan's budgets (None: it fits).

    For `tune --search` (hmb_ops.tune.search.grid): each candidate (workers × threads) is judged by the
    same rules as the plan.
    The pool per worker follows the plan's: threads + 1 for the reference app's pool when the plan
    derived it from threads, else the plan's pool max (an async pool does not grow with threads).
    """
    if workers < 1 or threads < 1:
        return f"{workers} workers × {threads} threads: both must be at least 1"
    db = plan.budgets["db_connections"]
    mem = plan.budgets["memory"]
    pool_item = plan.item("db_pool_max")
    pool = threads + 1 if pool_item.formula.startswith("threads + 1") else int(pool_item.value)
    background = int(plan.values["background_workers"])
    connections = connection_budget(db["max_connections"])
    if not connections.fits(workers, pool, background):
        return (f"database connections: ({workers} workers × pool {pool} + {background} background) × "
                f"{DEPLOY_COPIES} during deploys = {connections.peak(workers, pool, background)} "
                f"> budget {connections.budget} "
                f"({DB_USABLE_FRACTION:g} × max_connections {connections.max_connections})")
    planned = mem["master_bytes"] + workers * mem["worker_bytes"]
    if planned > mem["usable_bytes"]:
        mib = 2 ** 20
        return (f"memory: master {mem['master_bytes'] // mib} MiB + {workers} × {mem['worker_bytes'] // mib} MiB "
                f"= {planned // mib} MiB > {mem['usable_bytes'] // mib} MiB usable")
    return None
