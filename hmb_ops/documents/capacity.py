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
    worker_restarts: int | None = Field(None, description="worker exits inside the step (None: not sampled)")


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
    used_as_cross_check: bool = Field(False, description="R² reached the good-fit threshold, so the fit cross-checks "
                                                         "the knee")
    good_fit_r2: float | None = Field(None, description="the R² threshold for a cross-check")
    predicted_rps_at_knee: float | None = Field(None, description="the fit's throughput at the knee's load")
    cross_check: str | None = Field(None, description="the cross-check in words, or why there is none")


class UsersAssumptions(DocumentModel):
    """The users model that turns requests per second into registered users."""

    registered_users: int
    daily_active_share: float
    sessions_per_day: float
    peak_hour_share: float
    session_minutes: float
    requests_per_active_minute: float
    requests_per_user_hour: float | None = Field(None, description="requests per registered user per hour (day "
                                                                   "average), stated or implied")
    peak_to_average: float | None = Field(None, description="peak-hour traffic / the day's average, stated or implied")


class DataScale(DocumentModel):
    """The data the runs measured against, and whether it is far below the users claimed."""

    scale: str
    seeded_users: int | None = None
    claimed_users: int | None = Field(None, description="the most users supported any tier or plan claims")
    far_below: bool = False
    message: str | None = None
    larger_scale: str | None = None
    seed_command: str | None = None


class PlanInfo(DocumentModel):
    """The hosting plan a tier row was measured as (hmb_ops/configs/plans.yaml or --plans-file)."""

    name: str
    provider: str
    cpus: float
    memory_bytes: int
    price_usd_month: float | None = None
    price_note: str | None = None
    database: str | None = None
    database_max_connections: int | None = None
    source: str
    checked_on: str
    notes: str | None = None


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
    plan: PlanInfo | None = Field(None, description="set when measured with --plans")
    cost_per_1000_users: float | None = Field(None, description="plan price per month / (users supported / 1,000)")
    meets_target: bool | None = Field(None, description="the SLO held at the target's peak-hour req/s")
    cheapest: bool = Field(False, description="the cheapest priced plan that meets the target within the SLO")
    confinement: dict[str, Any] | None = Field(None, description="how the app was confined (the run's "
                                                                 "results.json confinement), None when it was not")
    confinement_note: str | None = None
    data_state: dict[str, Any] | None = Field(None, description="which data the run started from (the run's "
                                                                "results.json data: template reset or not)")
    worker_restarts: int | None = Field(None, description="worker exits in the whole run (None: not sampled)")
    app_cpu_percent_max: float | None = Field(None, description="highest step mean of the app's CPU, % of one CPU")
    host_bound: str | None = Field(None, description="set when the app never reached its CPU limit: the figure is "
                                                     "bounded by the host, not the plan")
    knee_restart: str | None = Field(None, description="set when a worker restart fell in the step that set the knee")


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
    data: DataScale | None = None
    cheapest_plan: str | None = Field(None, description="with --plans: the cheapest plan that meets the target")
    cheapest_reason: str | None = None
    chart: str | None = None
    out_dir: str | None = None
    notes: list[str] = Field(default_factory=list)
