"""The default check of every `loadtest` run: a wrong target is never a pass.

A run where most answers failed (3xx/4xx/5xx where 2xx was expected, connection errors, timeouts)
measured an app that is not the one the load describes — a profile written for the reference app
pointed at another app answers 404s fast, and a latency gate alone would pass. So `loadtest`
always checks `error_rate<50%` (and that at least one request was made), even without --check;
a breach exits 1 and names the requests that failed most, with their statuses.

A whole-run `error_rate` threshold of the user's own (--check, --slo-file, --config) replaces
this default: the user has said how many failures the run may have (a chaos test may allow more).
What "failed" means follows the load: a scenario request's `expect` (a 404 a request expects is
an answer, not a failure), a locustfile's `catch_response`, status >= 300 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .thresholds import Threshold, ThresholdResult, format_value

if TYPE_CHECKING:
    from hmb_ops.documents import Results

LIMIT = 0.5
MARK = "(default)"
EXPRESSION = f"error_rate<50% {MARK}"
TOP = 5
_HTTP = re.compile(r"^http_(\d{3})$")


@dataclass(frozen=True)
class FailingName:
    """One request name of the results and how its failures split by status (or kind)."""

    name: str
    requests: int
    failures: int
    statuses: tuple[tuple[str, int], ...]  # ("404", 120), ("3xx", 4), ("timeout", 2), most first

    def text(self) -> str:
        parts = ", ".join(f"{label} ×{count}" for label, count in self.statuses)
        return f"{self.name}: {self.failures} of {self.requests} failed ({parts})" if parts else \
            f"{self.name}: {self.failures} of {self.requests} failed"


def status_label(kind: str) -> str:
    """A failure kind as the status people look for: http_404 → 404, rate_limited_429 → 429, redirect →
    3xx (the exact 3xx is not recorded); connection, timeout and the rest keep their kind."""
    m = _HTTP.match(kind)
    if m:
        return m.group(1)
    if kind == "rate_limited_429":
        return "429"
    if kind == "redirect":
        return "3xx"
    return kind


def statuses(kinds: dict[str, int]) -> tuple[tuple[str, int], ...]:
    merged: dict[str, int] = {}
    for kind, count in kinds.items():
        if count:
            label = status_label(kind)
            merged[label] = merged.get(label, 0) + count
    return tuple(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])))


# Knock-on failures: the request was never sent because an earlier one (a login) left a variable
# unset. The request that failed first explains them, so names failing only this way come last.
KNOCK_ON = "missing_variable"


def top_failing(results: Results, n: int = TOP) -> list[FailingName]:
    """The request names with the most failures, most first (names without failures left out); names
    whose failures are all knock-on (`missing_variable`) after those with a failure of their own."""
    rows = [({k for k, c in e.failures_by_kind.items() if c} == {KNOCK_ON},
             FailingName(e.name, e.requests, e.failures, statuses(e.failures_by_kind)))
            for e in results.endpoints if e.failures]
    rows.sort(key=lambda r: (r[0], -r[1].failures, r[1].name))
    return [r for _, r in rows[:n]]


def is_default(threshold: Threshold) -> bool:
    """A check every loadtest run gets (this one, gates/oom_kills.py): its expression carries the mark."""
    return threshold.expression.endswith(MARK)


def replaced_by(thresholds: Iterable[Threshold]) -> bool:
    """True when the user gave their own whole-run error_rate threshold (it replaces the default)."""
    return any(t.metric == "error_rate" and t.endpoint is None for t in thresholds)


def check(results: Results) -> ThresholdResult:
    """The default check on these results: passes when at least one request was made and fewer than
    half failed; the failure message names the top failing requests and their statuses."""
    threshold = Threshold(expression=EXPRESSION, metric="error_rate", op="<", limit=LIMIT)
    s = results.summary
    if s.requests == 0:
        return ThresholdResult(threshold, None, False,
                               f"{threshold.name} {MARK}: no requests were made; nothing was measured")
    rate = s.failures / s.requests
    if rate < LIMIT:
        return ThresholdResult(threshold, rate, True,
                               f"{threshold.name} {MARK}: {format_value('error_rate', rate)} (ok)")
    top = "; ".join(r.text() for r in top_failing(results, 3))
    return ThresholdResult(
        threshold, rate, False,
        f"{threshold.name} {MARK}: most answers failed, {s.failures} of {s.requests} "
        f"({format_value('error_rate', rate)}); top failing: {top or 'none named'} — is --target the app this "
        "load was written for? (--scenario or --locustfile describe your own app)")
