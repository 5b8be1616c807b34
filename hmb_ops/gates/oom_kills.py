"""The second default check of every `loadtest` run: no worker killed by the memory limit.

A confined run (--memory, a tier, a plan) whose workers were OOM-killed measured an app that kept
losing workers: Gunicorn restarted them, so answers still came and the figures looked plausible,
and the run exited 0 as valid. `server.oom_kills==0` fails such a run (exit 1) and says when the
kills happened, on the run's clock. A `server.restarts` threshold of the user's own replaces it:
the user has said how many worker exits the run may have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .most_failed import MARK
from .thresholds import Threshold, ThresholdResult

if TYPE_CHECKING:
    from hmb_ops.documents import Results

EXPRESSION = f"server.oom_kills==0 {MARK}"


def replaced_by(thresholds: Iterable[Threshold]) -> bool:
    return any(t.metric.startswith("server.restarts.") for t in thresholds)


def check(results: Results) -> ThresholdResult | None:
    """None when the run was not confined by memory (nothing to count)."""
    conf = results.confinement
    if conf is None or conf.memory_bytes is None:
        return None
    threshold = Threshold(expression=EXPRESSION, metric="server.oom_kills", op="==", limit=0)
    kills = conf.oom_kills
    if not kills:
        return ThresholdResult(threshold, 0, True, f"{threshold.name} {MARK}: 0 (ok)")
    when = ", ".join(f"t={k.t:g} s" for k in kills[:5]) + (" …" if len(kills) > 5 else "")
    return ThresholdResult(
        threshold, float(len(kills)), False,
        f"{threshold.name} {MARK}: {len(kills)} worker{'s' if len(kills) != 1 else ''} killed by the memory limit "
        f"({when}); the figures include their restarts — give more memory, fewer workers or threads")
