"""Prometheus metrics of the reference app, correct across Gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (the runner creates one per run) every worker writes its values
to files there and /metrics aggregates all of them; gauges use `livesum` so a worker that exits
stops counting. Without it (a single process, the Flask test client) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
                    1.0, 2.5, 5.0, 10.0, 30.0)
_JOB_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("hmb_requests", "HTTP requests by route pattern, method and status",
                   ["route", "method", "status"])
REQUEST_DURATION = Histogram("hmb_request_duration_seconds", "Server time per request",
                             ["route", "method"], buckets=_LATENCY_BUCKETS)
POOL_CONNECTIONS = Gauge("hmb_db_pool_connections", "Database pool connections by state",
                         ["state"], multiprocess_mode="livesum")
POOL_WAIT = Histogram("hmb_db_pool_wait_seconds", "Time spent waiting for a pooled connection",
                      buckets=_LATENCY_BUCKETS)
POOL_TIMEOUTS = Counter("hmb_db_pool_timeouts", "Checkouts that gave up waiting (answered 503)")
DB_ERRORS = Counter("hmb_db_errors", "Requests that failed because of the database", ["kind"])
QUEUE_DEPTH = Gauge("hmb_background_queue_depth", "Background jobs waiting in the queue",
                    multiprocess_mode="livesum")
JOBS = Counter("hmb_background_jobs", "Background jobs by outcome (rejected: queue full, ran inline)",
               ["outcome"])
JOB_LATENCY = Histogram("hmb_background_job_latency_seconds", "Background job latency, enqueue to done",
                        ["job"], buckets=_JOB_BUCKETS)


def render() -> tuple[bytes, str]:
    """The /metrics body: every live worker's values when in multiprocess mode."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_dead(pid: int) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)
