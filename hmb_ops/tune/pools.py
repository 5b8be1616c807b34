"""The database pool of one worker process, as the plan counts it against max_connections.

Three pools tune knows (facts: ../shared/reference/field-notes-2.md section 2):
- the reference app's own pool (DB_POOL_MIN/DB_POOL_MAX, psycopg2): threads + 1 by default;
- SQLAlchemy's QueuePool / AsyncAdaptedQueuePool: pool_size + max_overflow connections at most
  (defaults 5 + 10 = 15 per engine), starting empty and growing on demand;
- asyncpg's create_pool: max_size (default 10), opening min_size (default 10) at creation.
A --pool-max declares the maximum whatever the library.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmb_ops.errors import UsageError
from hmb_ops.tune.plan import APP, DEFAULT, FLAG, TIER

REFAPP_POOL = "refapp"
SQLALCHEMY = "sqlalchemy"
ASYNCPG = "asyncpg"
POOL_LIBRARIES = (SQLALCHEMY, ASYNCPG)

SQLALCHEMY_POOL_SIZE = 5
SQLALCHEMY_MAX_OVERFLOW = 10
SQLALCHEMY_POOL_TIMEOUT_S = 30
ASYNCPG_MAX_SIZE = 10
ASYNCPG_MIN_SIZE = 10


@dataclass(frozen=True)
class PoolRequest:
    """What the user said about the pool (None: not said)."""

    library: str | None = None
    pool_max: int | None = None
    pool_min: int | None = None
    pool_size: int | None = None
    max_overflow: int | None = None
    asyncpg_max_size: int | None = None


@dataclass(frozen=True)
class WorkerPool:
    library: str
    max: int
    max_formula: str
    max_binding: str
    min: int
    min_formula: str
    min_binding: str
    pool_size: int | None = None       # SQLAlchemy only
    max_overflow: int | None = None    # SQLAlchemy only

    def to_dict(self) -> dict:
        return {"library": self.library, "max": self.max, "max_formula": self.max_formula,
                "min": self.min, "min_formula": self.min_formula, "pool_size": self.pool_size,
                "max_overflow": self.max_overflow}


def check_request(req: PoolRequest) -> None:
    """Bad combinations and values, each a UsageError naming the flags."""
    if req.library is not None and req.library not in POOL_LIBRARIES:
        raise UsageError(f"--async-pool {req.library!r} is not known",
                         hint=f"use one of: {', '.join(POOL_LIBRARIES)}")
    for flag, value, least in (("--pool-size", req.pool_size, 1), ("--max-overflow", req.max_overflow, 0),
                               ("--asyncpg-max-size", req.asyncpg_max_size, 1)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}, got {value}")
    sqlalchemy_flags = req.pool_size is not None or req.max_overflow is not None
    if sqlalchemy_flags and req.asyncpg_max_size is not None:
        raise UsageError("--pool-size/--max-overflow (SQLAlchemy) and --asyncpg-max-size are alternatives",
                         hint="give the settings of the pool your app creates")
    if req.pool_max is not None and (sqlalchemy_flags or req.asyncpg_max_size is not None):
        raise UsageError("--pool-max and the pool library's own sizes are alternatives",
                         hint="give --pool-size/--max-overflow or --asyncpg-max-size, or one --pool-max")
    if sqlalchemy_flags and req.library == ASYNCPG:
        raise UsageError("--pool-size/--max-overflow are SQLAlchemy's; --async-pool asyncpg takes --asyncpg-max-size")
    if req.asyncpg_max_size is not None and req.library == SQLALCHEMY:
        raise UsageError("--asyncpg-max-size is asyncpg's; --async-pool sqlalchemy takes --pool-size/--max-overflow")


def library_of(req: PoolRequest, *, asgi: bool) -> str:
    """Which pool the app has: said, implied by the flags, SQLAlchemy for an ASGI app, else the reference app's."""
    if req.library:
        return req.library
    if req.asyncpg_max_size is not None:
        return ASYNCPG
    if req.pool_size is not None or req.max_overflow is not None:
        return SQLALCHEMY
    return SQLALCHEMY if asgi else REFAPP_POOL


def worker_pool(req: PoolRequest, *, asgi: bool, threads: int, tier_pool_max: int | None = None,
                tier_pool_min: int | None = None, tier_name: str | None = None) -> WorkerPool:
    """The pool maximum and minimum per worker, each with its formula and binding."""
    check_request(req)
    library = library_of(req, asgi=asgi)
    size = overflow = None
    sqlalchemy_said = req.pool_size is not None or req.max_overflow is not None
    asyncpg_said = req.asyncpg_max_size is not None
    if req.pool_max is not None:
        mx, mx_formula, mx_binding = req.pool_max, "--pool-max", FLAG
    elif tier_pool_max and not (sqlalchemy_said or asyncpg_said):
        mx, mx_formula, mx_binding = tier_pool_max, f"tier {tier_name}", TIER
    elif library == SQLALCHEMY:
        size = req.pool_size if req.pool_size is not None else SQLALCHEMY_POOL_SIZE
        overflow = req.max_overflow if req.max_overflow is not None else SQLALCHEMY_MAX_OVERFLOW
        mx = size + overflow
        mx_formula = (f"SQLAlchemy pool_size + max_overflow = {size} + {overflow}"
                      + ("" if sqlalchemy_said else " (SQLAlchemy's defaults)"))
        mx_binding = FLAG if sqlalchemy_said else DEFAULT
    elif library == ASYNCPG:
        mx = req.asyncpg_max_size if req.asyncpg_max_size is not None else ASYNCPG_MAX_SIZE
        mx_formula = f"asyncpg max_size = {mx}" + ("" if asyncpg_said else " (asyncpg's default)")
        mx_binding = FLAG if asyncpg_said else DEFAULT
    else:
        mx, mx_formula, mx_binding = threads + 1, f"threads + 1 = {threads} + 1", APP

    if req.pool_min is not None:
        mn, mn_formula, mn_binding = req.pool_min, "--pool-min", FLAG
    elif library == SQLALCHEMY:
        mn, mn_formula, mn_binding = 0, "SQLAlchemy's pool starts empty and grows on demand", APP
    elif library == ASYNCPG:
        mn = min(ASYNCPG_MIN_SIZE, mx)
        mn_formula = f"asyncpg min_size = min({ASYNCPG_MIN_SIZE}, max_size {mx}): opened when the pool is created"
        mn_binding = DEFAULT
    elif tier_pool_min is not None:
        mn, mn_formula, mn_binding = tier_pool_min, f"tier {tier_name}", TIER
    else:
        mn, mn_formula, mn_binding = min(2, mx), "min(2, pool max)", DEFAULT
    if mn > mx:
        raise UsageError(f"database pool min {mn} is larger than pool max {mx}")
    return WorkerPool(library, mx, mx_formula, mx_binding, mn, mn_formula, mn_binding, size, overflow)
