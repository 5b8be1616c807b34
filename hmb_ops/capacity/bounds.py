"""What bounded a confined run: the plan's own limits, or something outside the app.

A plan's figure is that plan's capacity only when the app reached its limits. When the CPU quota
was never throttled and the workers together used well under the plan's CPUs, the SLO broke
because of something outside the app (PostgreSQL and the load generator on the other CPU, other
load on the host): the figure is a lower bound set by this host, and two plans of different sizes
come out equal. Worker restarts (Gunicorn's max_requests) leave a worker short for a few seconds;
one inside the step that set the knee moves the knee, so restarts are counted per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import Results

# Below this share of its CPU limit, never throttled, the app was not what stopped the load.
REACHED_SHARE = 0.8


def restarts_per_step(results: Results) -> dict[int, int]:
    """Worker exits the server sampler saw inside each step's window (step index → count)."""
    samples = results.server.samples if results.server else []
    counts: dict[int, int] = {}
    for st in results.steps:
        if not samples:
            continue
        counts[st.index] = sum(s.worker_exits for s in samples if st.start_s <= s.t < st.end_s)
    return counts


def app_cpu_peak(results: Results, workers: int | None) -> float | None:
    """The highest step mean of the app's CPU, in % of one CPU (all workers), or None when not sampled."""
    per_worker = [s.server.cpu_percent_per_worker for s in results.steps
                  if s.server.cpu_percent_per_worker is not None]
    if not per_worker or not workers:
        return None
    return max(per_worker) * workers


def host_bound(confinement: dict | None, cpu_peak: float | None) -> str | None:
    """The warning for a confined run whose app never reached its CPU limit, or None."""
    if not confinement or cpu_peak is None:
        return None
    cpus = confinement.get("cpus")
    if not isinstance(cpus, (int, float)) or cpus <= 0 or confinement.get("method") in (None, "none"):
        return None
    throttled = (confinement.get("throttling") or {}).get("throttled_periods")
    share = cpu_peak / (cpus * 100)
    if share >= REACHED_SHARE or (isinstance(throttled, (int, float)) and throttled > 0):
        return None
    never = " and was never throttled" if throttled == 0 else ""
    of_limit = "" if cpus == 1 else f" ({share:.0%} of the limit)"
    return (f"the app used at most {cpu_peak:.0f} % of its {cpus:g} CPU{'' if cpus == 1 else 's'}"
            f"{of_limit}{never}; the figure is bounded by the host (PostgreSQL, the load "
            "generator, other load), not the plan: a lower bound, not the plan's capacity")
