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
        }
