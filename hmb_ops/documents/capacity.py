"""capacity.json: the sustainable load and users per tier (hmb-ops capacity)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import SCHEMA_VERSION
from .base import DocumentModel


class StepJudgement(DocumentModel):
    """One load step judged by the SLO."""

    index: int
    users: float
    rps: float
    p95_ms: float | None = None
    error_rate: float | None = None
    passed: bool
    breaches: list[str] = Field(default_factory=list)


class KneeSummary(DocumentModel):
    """The knee: the highest step that met the SLO, and the throughput read where the SLO breaks."""

    slo: list[str] = Field(default_factory=list)
    step_index: int | None = None
    users: float | None = None
    sustainable_rps: float
    knee_step_rps: float | None = None
    slo_crossing_users: float | None = None
    rps_from_users: list[float] = Field(default_factory=list)
    p95_ms: float | None = None
    error_rate: float | None = None
    reason: str
    slo_held_throughout: bool
    non_monotonic: bool
    steps: list[StepJudgement] = Field(default_factory=list)


class UslSummary(DocumentModel):
    """The Universal Scalability Law fit over the steps (a cross-check on the knee)."""

    points: int
    ok: bool
    reason: str
    sigma: float | None = None
    kappa: float | None = None
    lambda_: float | None = Field(None, alias="lambda")
    n_max: float | None = None
    x_max: float | None = None
    r_squared: float | None = None
    quality: str = "none"


class UsersAssumptions(DocumentModel):
    """The users model that turns requests per second into registered users."""

    registered_users: int
    daily_active_share: float
    sessions_per_day: float
    peak_hour_share: float
    session_minutes: float
    requests_per_active_minute: float


class CapacityTier(DocumentModel):
    tier: str
    results: str | None = Field(None, description="the tier's results.json")
    profile: str
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    workers: int | None = None
    threads: int | None = None
    sustainable_rps: float
    knee_users: float | None = None
    p95_ms_at_knee: float | None = None
    error_rate_at_knee: float | None = None
    cpu_percent_per_worker: float | None = None
    rss_mb_per_worker: float | None = None
    db_connections: int | None = None
    users_supported: int
    concurrent_users_supported: float
    headroom: float | None = None
    knee: KneeSummary
    usl: UslSummary


class CapacityDocument(DocumentModel):
    """capacity.json."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["capacity"] = "capacity"
    slo: list[str] = Field(default_factory=list)
    target_users: int
    target_rps: float
    users_model: UsersAssumptions
    assumptions: list[str] = Field(default_factory=list)
    conditions: dict[str, Any] = Field(default_factory=dict)
    tiers: list[CapacityTier]
    chart: str | None = None
    out_dir: str | None = None
    notes: list[str] = Field(default_factory=list)
