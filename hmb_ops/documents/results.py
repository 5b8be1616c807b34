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


class ServerSample(DocumentModel):
    """One reading of the app server; t in run seconds, the clock of `timeseries` (below 0 while the
    generator was starting; documents written before this field was aligned count from the sampler's start)."""

    t: float
    workers: list[WorkerSample] = Field(default_factory=list)
    db_connections: int | None = None
    db_connections_active: int | None = None
    background_queue_depth: int | None = None


class ServerSummary(DocumentModel):
    cpu_percent_per_worker_mean: float | None = None
    cpu_percent_per_worker_max: float | None = None
    rss_mb_per_worker_max: float | None = None
    db_connections_max: int | None = None
    background_queue_depth_max: int | None = None
    worker_pids_seen: list[int] = Field(default_factory=list)


class Server(DocumentModel):
    """The app server hmb-ops started for the run (absent when --target named someone else's)."""

    workers: int | None = None
    threads: int | None = None
    worker_class: str | None = None
    tier: str | None = None
    config_file: str | None = None
    samples: list[ServerSample] = Field(default_factory=list)
    summary: ServerSummary = Field(default_factory=ServerSummary)


class Generator(DocumentModel):
    """The load generator's own CPU: above ~90 % of a core it, not the server, was measured."""

    processes: int
    cpu_percent_max: float
    cpu_percent_mean: float
    cpu_ms_per_request: float | None = None


class OpenModel(DocumentModel):
    """Open-model runs: requests scheduled by the arrival rate vs sent, dropped and late."""

    scheduled: int
    sent: int
    dropped: int
    late: int


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
    out_dir: str | None = Field(None, description="the folder the run wrote its files to")
