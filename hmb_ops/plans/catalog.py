"""The plan catalog: hmb_ops/configs/plans.yaml, then --config files, then --plans-file (by name).

Every entry is validated on its own so an error names the file and line it came from (exit 2): a
missing field, an unknown key, a negative price, a web plan naming a database plan that does not
exist. Prices are data with a source and the date of that source, never constants in code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.resources import field_cpus, field_size, format_size
from hmb_ops.settings import StrictModel, load_yaml, parse_model
from hmb_ops.settings.loader import MAX_SECTION_ENTRIES, load_shipped_yaml
from hmb_ops.settings.shipped import shipped_exists

SHIPPED = "plans.yaml"
SECTION = "plans"
MAX_PLANS_PER_RUN = 8


class Plan(StrictModel):
    provider: str = Field(min_length=1)
    kind: Literal["web", "postgres"]
    cpus: float | None = None
    memory: int | None = None
    price_usd_month: float | None = Field(ge=0, le=1_000_000)   # required: null only with price_note
    source: str = Field(min_length=1)
    checked_on: dt.date
    max_connections: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str = ""
    price_note: str | None = None
    database: str | None = None
    tier: str | None = None
    notes: str | None = None

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, v):
        return v if v is None else field_cpus(v)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v):
        return v if v is None else field_size(v)

    @model_validator(mode="after")
    def _complete(self):
        if self.kind == "web" and (self.cpus is None or self.memory is None):
            raise ValueError("a web plan needs cpus and memory")
        if self.kind == "postgres" and self.max_connections is None:
            raise ValueError("a postgres plan needs max_connections")
        if self.kind == "web" and self.max_connections is not None:
            raise ValueError("max_connections belongs to a postgres plan: name it with database: PLAN")
        if self.price_usd_month is None and not self.price_note:
            raise ValueError("price_usd_month is null: say why in price_note (e.g. 'self-hosted')")
        return self

    def to_dict(self, name: str) -> dict:
        return {"name": name, "provider": self.provider, "kind": self.kind, "description": self.description,
                "cpus": self.cpus, "memory_bytes": self.memory,
                "memory": format_size(self.memory) if self.memory else None,
                "price_usd_month": self.price_usd_month, "price_note": self.price_note,
                "max_connections": self.max_connections, "database": self.database, "tier": self.tier,
                "source": self.source, "checked_on": self.checked_on.isoformat(), "notes": self.notes}


def _entries(data, source: str, lines: dict, *, required: bool) -> dict[str, tuple[dict, str, dict]]:
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=source, line=1)
    if SECTION not in data:
        if required:
            raise ConfigError("no 'plans' mapping", path=source, line=1,
                              hint="a plans file looks like: plans: {my-plan: {provider: ..., kind: web, ...}}")
        return {}
    part = data[SECTION]
    if not isinstance(part, dict):
        raise ConfigError("'plans' must be a mapping of plan name to plan", path=source, line=lines.get((SECTION,)))
    if len(part) > MAX_SECTION_ENTRIES:
        raise ConfigError(f"more than {MAX_SECTION_ENTRIES:,} plans", path=source, line=lines.get((SECTION,)))
    out = {}
    for name, entry in part.items():
        if not isinstance(name, str) or not name.strip() or "," in name:
            raise ConfigError(f"plan name {name!r} must be a non-empty word without commas", path=source,
                              line=lines.get((SECTION, name)))
        out[name] = (entry, source, lines)
    return out


def load_plans(config_files: Iterable[str] = (), plans_file: str | None = None) -> dict[str, Plan]:
    """Shipped plans < plans in --config files < --plans-file; a later entry replaces one by name."""
    raw: dict[str, tuple[dict, str, dict]] = {}
    if shipped_exists(SHIPPED):
        data, lines, source = load_shipped_yaml(SHIPPED)
        raw.update(_entries(data, source, lines, required=False))
    for f in config_files:
        data, lines = load_yaml(f)
        raw.update(_entries(data, str(Path(f)), lines, required=False))
    if plans_file:
        data, lines = load_yaml(plans_file)
        raw.update(_entries(data, str(Path(plans_file)), lines, required=True))
    plans: dict[str, Plan] = {}
    for name, (entry, source, lines) in raw.items():
        if not isinstance(entry, dict):
            raise ConfigError("a plan is a mapping of fields", path=source, line=lines.get((SECTION, name)),
                              field=f"plans.{name}")
        try:
            plans[name] = parse_model(entry, Plan, source=source, lines=lines, prefix=(SECTION, name))
        except ConfigError as exc:
            if "Value error, " in exc.message:  # pydantic's prefix on model-level checks: noise to a user
                raise ConfigError(exc.message.replace("Value error, ", ""), hint=exc.hint) from None
            raise
    for name, plan in plans.items():
        _check_links(name, plan, plans, raw[name], config_files)
    return plans


def _check_links(name: str, plan: Plan, plans: dict[str, Plan], where, config_files) -> None:
    _entry, source, lines = where
    if plan.database is not None:
        db = plans.get(plan.database)
        if db is None or db.kind != "postgres":
            raise ConfigError(f"database '{plan.database}' is not a postgres plan", path=source,
                              line=lines.get((SECTION, name, "database")), field=f"plans.{name}.database",
                              hint="name a plan with kind: postgres")
    if plan.tier is not None:
        from hmb_ops.tune.tiers import load_tiers

        if plan.tier not in load_tiers(config_files):
            raise ConfigError(f"tier '{plan.tier}' is not defined", path=source,
                              line=lines.get((SECTION, name, "tier")), field=f"plans.{name}.tier",
                              hint="name a tier of hmb_ops/configs/tiers.yaml or a --config file")


def _unknown(name: str, plans: dict[str, Plan], kind: str | None) -> UsageError:
    names = sorted(n for n, p in plans.items() if kind is None or p.kind == kind)
    return UsageError(f"unknown plan '{name}'",
                      hint=f"plans: {', '.join(names)}; list them with `hmb-ops capacity plans`, "
                           "add your own with --plans-file FILE")


def get_plan(name: str, config_files: Iterable[str] = (), plans_file: str | None = None, *,
             kind: str | None = "web") -> Plan:
    plans = load_plans(config_files, plans_file)
    plan = plans.get(name)
    if plan is None or (kind is not None and plan.kind != kind):
        raise _unknown(name, plans, kind)
    return plan


def parse_plan_names(text: str, plans: dict[str, Plan]) -> list[str]:
    """`render-starter,render-standard` → names, each a web plan of the catalog (exit 2 otherwise)."""
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not names:
        raise UsageError("--plans: give at least one plan name, e.g. --plans render-starter,render-standard")
    if len(names) != len(set(names)):
        raise UsageError(f"--plans {text}: a plan is named twice")
    if len(names) > MAX_PLANS_PER_RUN:
        raise UsageError(f"--plans: at most {MAX_PLANS_PER_RUN} plans per run")
    for n in names:
        if n not in plans or plans[n].kind != "web":
            raise _unknown(n, plans, "web")
    return names
