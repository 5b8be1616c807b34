"""One verdict over a results document: thresholds, baseline comparisons and validity together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import baseline as bl, thresholds as th

if TYPE_CHECKING:
    from hmb_ops.documents import Results


@dataclass(frozen=True)
class Verdict:
    profile: str | None
    valid: bool
    invalid_reasons: tuple[str, ...]
    allow_invalid: bool
    thresholds: tuple[th.ThresholdResult, ...] = ()
    comparisons: tuple[bl.Comparison, ...] = ()
    baseline_path: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    aborted: str | None = None  # --abort-on-fail stopped the run: a failure whatever the final values say

    @property
    def checked(self) -> bool:
        return bool(self.thresholds or self.comparisons or self.aborted)

    @property
    def refused_invalid(self) -> bool:
        """Checks never pass on a run that measured its own generator instead of the server."""
        return self.checked and not self.valid and not self.allow_invalid

    @property
    def failures(self) -> list[str]:
        out = [r.message for r in self.thresholds if not r.passed]
        out += [c.message for c in self.comparisons if not c.passed]
        if self.aborted:
            out.insert(0, self.aborted)
        if self.refused_invalid:
            out.insert(0, "results not valid: " + "; ".join(self.invalid_reasons or ("no reason given",)))
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def headline(self) -> str:
        if not self.checked:
            return "no checks requested"
        n = len(self.thresholds) + len(self.comparisons) + (1 if self.aborted else 0)
        if self.passed:
            extra = " (results marked not valid, allowed by --allow-invalid)" if not self.valid else ""
            return f"PASS: {n} check{'s' if n != 1 else ''} passed{extra}"
        return f"FAIL: {len(self.failures)} of {n + (1 if self.refused_invalid else 0)} checks failed"

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checked": self.checked, "valid": self.valid,
                "invalid_reasons": list(self.invalid_reasons), "allow_invalid": self.allow_invalid,
                "refused_invalid": self.refused_invalid, "headline": self.headline(),
                "thresholds": [r.to_dict() for r in self.thresholds],
                "baseline": {"path": self.baseline_path, "comparisons": [c.to_dict() for c in self.comparisons]}
                if self.baseline_path else None,
                "failures": self.failures, "notes": list(self.notes), "aborted": self.aborted}


def judge(results: Results, thresholds: Iterable[th.Threshold] = (), *, baseline: Results | None = None,
          baseline_path: str | None = None, latency_tolerance: float = bl.DEFAULT_LATENCY_TOLERANCE,
          throughput_tolerance: float = bl.DEFAULT_THROUGHPUT_TOLERANCE,
          allow_invalid: bool = False) -> Verdict:
    """Evaluate everything; raises UsageError (exit 2) for unknown endpoints or a foreign baseline."""
    results_t = tuple(th.evaluate_all(thresholds, results))
    comparisons: tuple[bl.Comparison, ...] = ()
    notes: list[str] = []
    if baseline is not None:
        comparisons = tuple(bl.compare(results, baseline, latency_tolerance=latency_tolerance,
                                       throughput_tolerance=throughput_tolerance, baseline_path=baseline_path))
        if baseline.tier != results.tier:
            notes.append(f"baseline tier '{baseline.tier}' differs from this run's '{results.tier}'")
        if not baseline.valid:
            notes.append("the baseline itself was marked not valid")
    return Verdict(profile=results.profile, valid=results.valid,
                   invalid_reasons=tuple(results.invalid_reasons), allow_invalid=allow_invalid,
                   thresholds=results_t, comparisons=comparisons, baseline_path=baseline_path,
                   notes=tuple(notes), aborted=results.aborted)


def to_record(verdict: Verdict):
    """The verdict as results.json stores it (documents.results.VerdictRecord): what `report` renders
    later without re-judging, so its JUnit and Markdown say what the run's exit code said."""
    from hmb_ops.documents.results import CheckRecord, VerdictRecord

    from .most_failed import is_default

    checks = [CheckRecord(kind="threshold", name=r.threshold.name, passed=r.passed, message=r.message,
                          metric=r.threshold.metric, limit=r.threshold.limit, actual=r.actual,
                          expression=r.threshold.expression, op=r.threshold.op, endpoint=r.threshold.endpoint,
                          abort=r.threshold.abort, default=is_default(r.threshold))
              for r in verdict.thresholds]
    checks += [CheckRecord(kind="baseline", name=c.name, passed=c.passed, message=c.message, metric=c.metric,
                           limit=c.limit, actual=c.ratio, baseline=c.baseline, current=c.current)
               for c in verdict.comparisons]
    return VerdictRecord(passed=verdict.passed, headline=verdict.headline(), exit_code=verdict.exit_code,
                         checks=checks, failures=verdict.failures, allow_invalid=verdict.allow_invalid,
                         refused_invalid=verdict.refused_invalid, baseline_path=verdict.baseline_path,
                         notes=list(verdict.notes))


def from_record(results: Results) -> Verdict | None:
    """The Verdict a results document stored (None when it stored none: written before, or by hand)."""
    record = results.verdict
    if record is None:
        return None
    thresholds = tuple(th.ThresholdResult(
        th.Threshold(expression=c.expression or c.name, metric=c.metric, op=c.op or "<", limit=c.limit,
                     endpoint=c.endpoint, abort=c.abort), c.actual, c.passed, c.message)
        for c in record.checks if c.kind == "threshold")
    comparisons = tuple(bl.Comparison(metric=c.metric, baseline=c.baseline, current=c.current, ratio=c.actual,
                                      limit=c.limit, passed=c.passed, message=c.message)
                        for c in record.checks if c.kind == "baseline")
    return Verdict(profile=results.profile, valid=results.valid, invalid_reasons=tuple(results.invalid_reasons),
                   allow_invalid=record.allow_invalid, thresholds=thresholds, comparisons=comparisons,
                   baseline_path=record.baseline_path, notes=tuple(record.notes), aborted=results.aborted)
