"""Resource tiers declared in hmb_ops/configs/tiers.yaml (section ``tiers``) plus user files."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, RootModel, field_validator

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.resources import field_cpus, field_size, format_size
from hmb_ops.settings import StrictModel, load_section


class Tier(StrictModel):
    description: str = ""
    cpus: float
    memory: int
    workers: int | None = Field(default=None, ge=1, le=512)
    threads: int | None = Field(default=None, ge=1, le=256)
    background_workers: int = Field(default=4, ge=0, le=256)
    db_pool_min: int | None = Field(default=None, ge=0, le=1000)
    db_pool_max: int | None = Field(default=None, ge=1, le=1000)
    worker_class: str | None = None
    timeout: int | None = Field(default=None, ge=1, le=3600)

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, v):
        # The CLI's own parser, so 1e400 (infinity), .nan and 5000 get the same bounded message as
        # --cpus instead of overflowing the plan later.
        return field_cpus(v)

    @field_validator("memory", mode="before")
    @classmethod
    def _size(cls, v):
        return field_size(v)

    def to_dict(self, name: str) -> dict:
        return {"name": name, "description": self.description, "cpus": self.cpus,
                "memory_bytes": self.memory, "memory": format_size(self.memory),
                "workers": self.workers, "threads": self.threads,
                "background_workers": self.background_workers,
                "db_pool_min": self.db_pool_min, "db_pool_max": self.db_pool_max,
                "worker_class": self.worker_class, "timeout": self.timeout}


class Tiers(RootModel[dict[str, Tier]]):
    model_config = {"frozen": True}


def load_tiers(config_files: Iterable[str] = ()) -> dict[str, Tier]:
    tiers = load_section("tiers", Tiers, user_files=tuple(config_files), shipped_name="tiers.yaml").root
    if not tiers:
        raise ConfigError("no tiers are defined",
                          hint="neither the shipped hmb_ops/configs/tiers.yaml nor a --config file "
                               "has a 'tiers' mapping")
    return tiers


def get_tier(name: str, config_files: Iterable[str] = ()) -> Tier:
    tiers = load_tiers(config_files)
    if name not in tiers:
        raise UsageError(f"unknown tier '{name}'",
                         hint=f"known tiers: {', '.join(sorted(tiers))}; add your own with --config FILE")
    return tiers[name]
