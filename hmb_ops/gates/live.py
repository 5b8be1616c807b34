"""--abort-on-fail: thresholds evaluated every second on the run so far (like k6's abortOnFail).

The load generator calls a LiveJudge once a second with a view of the run so far: `elapsed_s`,
`summary` and `endpoints` (blocks with the fields of the results' summary and endpoints) and
`server` (the results' server block so far, or None). The first marked threshold found breached
stops the run; the message says when and which. Lower bounds on totals (`rps`, `requests`) are
only judged at the end; a value not sampled yet is not a breach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import thresholds as th


class LiveJudge:
    def __init__(self, thresholds: Iterable[th.Threshold]):
        self.thresholds = [t for t in thresholds if t.metric not in th.NOT_LIVE]

    def __bool__(self) -> bool:
        return bool(self.thresholds)

    def __call__(self, view: Any) -> str | None:
        for t in self.thresholds:
            if t.scoped:
                actual = th.scoped_value(t.metric, view.server)
            else:
                stats = view.endpoints.get(t.endpoint) if t.endpoint else view.summary
                if stats is None or not stats.requests:
                    continue
                actual = th.metric_value(t.metric, stats)
            if actual is None:
                continue
            if not th.OPERATORS[t.op](actual, t.limit):
                return (f"aborted at t={view.elapsed_s:.0f}s: {t.name} breached "
                        f"({th.format_value(t.metric, actual)})")
        return None


def abort_thresholds(thresholds: Iterable[th.Threshold], abort_all: bool) -> list[th.Threshold]:
    """The thresholds that stop a run: those marked with `!`, or all with --abort-on-fail."""
    return [t for t in thresholds if abort_all or t.abort]
