"""results.json: one load test run (hmb-ops loadtest, and each tier of hmb-ops capacity).

Fields added after the first release have defaults, so a results.json written before them (and a
stored baseline) still loads; such a document simply has nothing to draw for them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import SCHEMA_VERSION
from .base import DocumentModel


class Latency(DocumentModel):
    """Latency percentiles in milliseconds (0.0 everywhere when nothing was measured)."""

    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float
    mean: float


class PercentilePoint(DocumentModel):
    """One point of the HDR percentile spectrum: `percentile` % of requests took ≤ latency_ms."""

    percentile: float
    latency_ms: float


class Summary(DocumentModel):
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: Latency
    failures_by_kind: dict[str, int] = Field(default_factory=dict)
    percentile_spectrum: list[PercentilePoint] = Field(
        default_factory=list, description="HDR percentile iteration of the whole run, for a log-axis chart")


class EndpointPoint(DocumentModel):
    """One second of one endpoint; t is the end of the second in run seconds."""

    t: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failures: int


class Endpoint(DocumentModel):
    name: str
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: Latency
    failures_by_kind: dict[str, int] = Field(default_factory=dict)
    timeseries: list[EndpointPoint] = Field(default_factory=list)


class StepServer(DocumentModel):
    """Server readings averaged over a step's window (None: not sampled)."""

    cpu_percent_per_worker: float | None = None
    rss_mb_per_worker: float | None = None
    db_connections: int | None = None


class Step(DocumentModel):
    """One load step of a stepped profile, measured over its window with the ramp excluded."""

    index: int
    users: int
    start_s: float
    end_s: float
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: Latency
    server: StepServer = Field(default_factory=StepServer)


class Stage(DocumentModel):
    """A stage of the profile as planned: `users` from start_s to end_s (run seconds)."""

    index: int
    users: int
    start_s: float
    end_s: float


class TimePoint(DocumentModel):
    """One second of the whole run; t is the end of the second in run seconds."""

    t: float
    users: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float | None = None
    failures: int
    generator_cpu_percent: float | None = None


class WorkerSample(DocumentModel):
    pid: int
    cpu_percent: float
    rss_mb: float


class DbSample(DocumentModel):
    """pg_stat_activity of the run's database in one second (our own sampling connection excluded)."""

    connections: int
    active: int = 0
    idle_in_transaction: int = 0
    lock_waits: int = Field(0, description="connections waiting on a lock (wait_event_type = 'Lock')")
    by_state: dict[str, int] = Field(default_factory=dict)
    by_application: dict[str, int] = Field(default_factory=dict)


class ServerSample(DocumentModel):
    """One reading of the app server; t in run seconds, the clock of `timeseries` (below 0 while the
    generator was starting; documents written before this field was aligned count from the sampler's start)."""

    t: float
    workers: list[WorkerSample] = Field(default_factory=list)
    db_connections: int | None = None
    db_connections_active: int | None = None
    background_queue_depth: int | None = None
    worker_exits: int = Field(0, description="worker pids that vanished since the previous reading")
    restarts: int = Field(0, description="worker exits since sampling began (cumulative)")
    db: DbSample | None = None
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="scraped Prometheus families: gauge value, counter rate per second, "
                                          "histogram p95 over the second (the metric's unit); None = gap")
    gaps: list[str] = Field(default_factory=list, description="what could not be read this second, and why")


class ServerSummary(DocumentModel):
    cpu_percent_per_worker_mean: float | None = None
    cpu_percent_per_worker_max: float | None = None
    rss_mb_per_worker_max: float | None = None
    db_connections_max: int | None = None
    background_queue_depth_max: int | None = None
    worker_pids_seen: list[int] = Field(default_factory=list)
    cpu_percent_p95: float | None = Field(None, description="p95 of every worker's per-second CPU reading")
    rss_mb_max: float | None = None
    worker_restarts: int = 0
    db_connections_by_state_max: dict[str, int] = Field(default_factory=dict)
    db_lock_waits_max: int | None = None
    gap_seconds: int = Field(0, description="samples with something unreadable")


class MetricSummary(DocumentModel):
    """A scraped family over the run (per-second values; for a histogram also its whole-run p95)."""

    type: str | None = None
    samples: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    p95: float | None = None
    last: float | None = None
    note: str | None = Field(None, description="why the values are missing or not the app's (never exposed; "
                                               "an endpoint served per worker)")


class Statement(DocumentModel):
    """A statement's execution time during the run (pg_stat_statements end minus start)."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float


class Server(DocumentModel):
    """The app server of the run: the one hmb-ops started, or the one --server-pid / --metrics-url /
    a database URL described (absent when none of them was given)."""

    workers: int | None = None
    threads: int | None = None
    worker_class: str | None = None
    tier: str | None = None
    config_file: str | None = None
    samples: list[ServerSample] = Field(default_factory=list)
    summary: ServerSummary = Field(default_factory=ServerSummary)
    pid: int | None = Field(None, description="the master pid sampled (--server-pid, or the app hmb-ops started)")
    metrics_url: str | None = None
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    database_sampled: bool = False
    top_statements: list[Statement] = Field(default_factory=list)
    statements_note: str | None = Field(None, description="why top_statements is empty, when it is")


class Generator(DocumentModel):
    """The load generator's own CPU: above ~90 % of a core it, not the server, was measured."""

    processes: int
    cpu_percent_max: float
    cpu_percent_mean: float
    cpu_ms_per_request: float | None = None


class OpenModelStage(DocumentModel):
    """One stage of a ramping arrival rate: its rate and what happened to its scheduled sends."""

    index: int
    rate: float = Field(description="requests per second scheduled during the stage")
    start_s: float
    end_s: float
    scheduled: int
    sent: int
    dropped: int = Field(description="scheduled sends never dispatched (no user free, or the run ended)")
    late: int = Field(description="sends dispatched over 10 ms after their scheduled time")


class OpenModel(DocumentModel):
    """Open-model runs: requests scheduled by the arrival rate vs sent, dropped and late."""

    scheduled: int
    sent: int
    dropped: int
    late: int
    stages: list[OpenModelStage] = Field(default_factory=list,
                                         description="per stage, when the rate ramps (--arrival-rate R1,R2,...)")


class OomKill(DocumentModel):
    """A process of the app killed by its memory limit (a worker, which Gunicorn replaces)."""

    at: str = Field(description="UTC time the kill was seen (ISO 8601)")
    t: float = Field(description="seconds on the run's clock, as timeseries and server.samples (negative: "
                                 "before the load started)")
    count: int = Field(description="the group's cumulative OOM-kill count after this kill")


class Confinement(DocumentModel):
    """How the app's Gunicorn (master and workers) was confined (docs/confinement.md)."""

    method: str = Field(description="cgroup-v2, cgroup-v1, systemd-run, affinity, or none (no limit asked)")
    cpus: float | None = Field(None, description="the CPU limit applied (a CFS quota when fractional)")
    memory_bytes: int | None = Field(None, description="the memory limit applied (None: not enforced)")
    exact: bool = Field(description="true when the app ran under exactly the limits asked")
    requested_cpus: float | None = None
    requested_memory_bytes: int | None = None
    host_cpus: int | None = None
    app_cpus: list[int] | None = Field(None, description="CPUs the app was pinned to")
    other_cpus: list[int] | None = Field(None, description="CPUs left to PostgreSQL and the load generator")
    isolated: bool = Field(False, description="PostgreSQL and the generator ran on CPUs the app did not use")
    warnings: list[str] = Field(default_factory=list)
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    cgroup: str | None = None
    oom_kills: list[OomKill] = Field(default_factory=list)
    memory_failcnt: int | None = Field(None, description="times the memory limit was hit (reclaim, then OOM)")
    throttling: dict[str, int | float] | None = Field(None, description="CFS periods, throttled periods and seconds")
    removed_leftovers: list[str] = Field(default_factory=list, description="groups of killed runs removed first")


class DataState(DocumentModel):
    """Which data the run started from (docs/confinement.md, "The same data every run")."""

    reset: bool = Field(description="the run database was recreated from the seeded template before the run")
    database: str | None = Field(None, description="the database the app used (name only)")
    template: str | None = None
    reset_seconds: float | None = None
    changes_user_database: bool = Field(False, description="the run wrote to a database that is not hmb-ops's")
    note: str | None = None


class CheckRecord(DocumentModel):
    """One check the run was judged on: a threshold (the default wrong-target check included) or a
    baseline comparison."""

    kind: Literal["threshold", "baseline"]
    name: str
    passed: bool
    message: str
    metric: str
    limit: float
    actual: float | None = Field(None, description="the measured value (threshold), or the ratio (baseline)")
    expression: str | None = Field(None, description="the threshold as written")
    op: str | None = None
    endpoint: str | None = None
    abort: bool = Field(False, description="marked for --abort-on-fail")
    default: bool = Field(False, description="a check every loadtest run gets (hmb_ops/gates/most_failed.py)")
    baseline: float | None = Field(None, description="the baseline's value (baseline comparisons)")
    current: float | None = Field(None, description="this run's value (baseline comparisons)")


class VerdictRecord(DocumentModel):
    """What the run was judged on and the outcome, as `loadtest` judged it (its exit code)."""

    passed: bool
    headline: str
    exit_code: int
    checks: list[CheckRecord] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    allow_invalid: bool = False
    refused_invalid: bool = Field(False, description="checks refused because the results are not valid")
    baseline_path: str | None = None
    notes: list[str] = Field(default_factory=list)


class Results(DocumentModel):
    """results.json of one load test run."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["loadtest"] = "loadtest"
    profile: str
    target: str
    tier: str | None = None
    started_at: str
    duration_s: float
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    model: str = Field(description="'closed' (users with think time) or 'open' (arrival rate)")
    offered_rps: float | None = None
    achieved_rps: float
    summary: Summary
    endpoints: list[Endpoint] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    timeseries: list[TimePoint] = Field(default_factory=list)
    server: Server | None = None
    generator: Generator
    config: dict[str, Any] = Field(default_factory=dict)
    interrupted: bool = False
    open_model: OpenModel | None = None
    aborted: str | None = Field(None, description="--abort-on-fail: when and on which threshold the run stopped")
    out_dir: str | None = Field(None, description="the folder the run wrote its files to")
    confinement: Confinement | None = Field(None, description="how the app's Gunicorn was confined (CPU, memory)")
    data: DataState | None = Field(None, description="the data the run started from, or that it changed a user's")
    verdict: VerdictRecord | None = Field(None, description="the checks the run was judged on and the outcome")
