"""The CLI face of server sampling and --abort-on-fail (`loadtest`): options and the checks before a run.

`@sampling_options` adds --server-pid, --metrics-url, --metric and --abort-on-fail and hands the
command one `sampling: SamplingOptions`. `prepare` decides before anything starts what it can: a
server.*/db.*/metric.* threshold on something this run will not sample is exit 2; it returns the
LoadRequest fields and the live judge for thresholds marked to abort (None when there are none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

import click


@dataclass(frozen=True)
class SamplingOptions:
    server_pid: int | None = None
    metrics_url: str | None = None
    metrics: tuple[str, ...] = ()
    abort_on_fail: bool = False

    def request_fields(self) -> dict:
        return {"server_pid": self.server_pid, "metrics_url": self.metrics_url, "metrics": self.metrics}


def sampling_options(fn: Callable) -> Callable:
    @click.option("--server-pid", type=int, metavar="PID",
                  help="Sample this process tree during the run (the Gunicorn or Uvicorn master serving "
                       "--target): CPU and RSS per worker, worker restarts; see docs/sampling.md.")
    @click.option("--metrics-url", metavar="URL",
                  help="Scrape this Prometheus endpoint every second (loopback unless --allow-remote).")
    @click.option("--metric", "metrics", multiple=True, metavar="NAME",
                  help="A metric family to keep from --metrics-url (repeatable): gauge value, counter rate, "
                       "histogram p95 per second.")
    @click.option("--abort-on-fail", is_flag=True,
                  help="Evaluate every --check each second during the run and stop at the first breach "
                       "(exit 1, results saved); 'EXPR!' marks a single check.")
    @wraps(fn)
    def wrapper(*args, server_pid=None, metrics_url=None, metrics=(), abort_on_fail=False, **kwargs):
        return fn(*args, sampling=SamplingOptions(server_pid, metrics_url, tuple(metrics), abort_on_fail), **kwargs)

    return wrapper


def prepare(sampling: SamplingOptions, gates, *, target: str | None, database_url: str | None):
    """Before the run: exit 2 for thresholds on what will not be sampled; the live judge or None."""
    from hmb_ops.gates.flow import resolve_thresholds
    from hmb_ops.gates.thresholds import check_sampled

    thresholds = resolve_thresholds(gates) if gates.requested else []
    if target:
        check_sampled(thresholds, server=sampling.server_pid is not None, database=bool(database_url),
                      families=sampling.metrics if sampling.metrics_url else ())
    else:
        from hmb_ops.loadtest.sampling import REFERENCE_METRICS

        check_sampled(thresholds, server=True, database=True, families=REFERENCE_METRICS + sampling.metrics)
    from hmb_ops.gates.live import LiveJudge, abort_thresholds

    judge = LiveJudge(abort_thresholds(thresholds, sampling.abort_on_fail))
    if sampling.abort_on_fail and not thresholds:
        from hmb_ops.errors import UsageError

        raise UsageError("--abort-on-fail needs a threshold to watch", hint="add --check EXPR (e.g. 'p95<200ms')")
    return judge if judge else None
