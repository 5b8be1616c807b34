"""The data a recommendation produces: every value with its formula and the constraint that bound it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hmb_ops.resources import Resources

REFAPP = "hmb_ops.refapp.wsgi:app"

# Binding constraints, as shown in --explain.
CPU = "CPU"
MEMORY = "memory"
DB = "database connections"
TIER = "tier"
APP = "app profile"
PLATFORM = "platform"
DEFAULT = "default"
FLAG = "flag"


@dataclass(frozen=True)
class PlanValue:
    name: str
    value: Any
    formula: str
    binding: str
    reason: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "formula": self.formula,
                "binding": self.binding, "reason": self.reason}


@dataclass(frozen=True)
class AppProfile:
    """What the recommendation must know about the app (the reference app's defaults)."""

    app: str = REFAPP
    worker_class: str | None = None
    threads: int | None = None
    worker_memory_bytes: int | None = None
    worker_memory_source: str = ""
    master_memory_bytes: int | None = None
    # None = unknown: then preloading is not assumed safe.
    opens_db_at_import: bool | None = None
    pool_min: int | None = None
    pool_max: int | None = None
    pool_timeout_s: int = 5
    statement_timeout_ms: int = 30000
    max_connections: int | None = None
    max_connections_source: str = ""
    background_workers: int | None = None
    # The app's own pool (SQLAlchemy, asyncpg) as declared; empty: the reference app's DB_POOL_* pool.
    pool_library: str | None = None
    pool_size: int | None = None
    max_overflow: int | None = None
    asyncpg_max_size: int | None = None

    @property
    def pool(self):
        from hmb_ops.tune.pools import PoolRequest

        return PoolRequest(library=self.pool_library, pool_max=self.pool_max, pool_min=self.pool_min,
                           pool_size=self.pool_size, max_overflow=self.max_overflow,
                           asyncpg_max_size=self.asyncpg_max_size)

    def pool_flags(self) -> tuple[str, ...]:
        """The pool's library flags as given, for the regenerate command (--pool-max/--pool-min are
        plan values bound by their flag and found there)."""
        words: list[str] = []
        for flag, value in (("--async-pool", self.pool_library), ("--pool-size", self.pool_size),
                            ("--max-overflow", self.max_overflow), ("--asyncpg-max-size", self.asyncpg_max_size)):
            if value is not None:
                words += [flag, str(value)]
        return tuple(words)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TunePlan:
    tier: str | None
    app: str
    resources: Resources
    items: tuple[PlanValue, ...]
    budgets: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # Flags not visible as a plan value bound by a flag (the pool library's own sizes).
    regenerate_flags: tuple[str, ...] = ()
    # PgBouncer in front of the database (hmb_ops.tune.pgbouncer.PgBouncerPlan), when planned.
    pgbouncer: Any = None

    @property
    def values(self) -> dict[str, Any]:
        return {i.name: i.value for i in self.items}

    def item(self, name: str) -> PlanValue:
        for i in self.items:
            if i.name == name:
                return i
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "tier": self.tier,
            "app": self.app,
            "resources": self.resources.to_dict(),
            "values": self.values,
            "explain": [i.to_dict() for i in self.items],
            "budgets": self.budgets,
            "warnings": list(self.warnings),
            "pgbouncer": self.pgbouncer.to_dict() if self.pgbouncer is not None else None,
        }
