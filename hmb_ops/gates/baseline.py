"""Regression against a stored results document, with ratio tolerances.

Latency may grow up to `latency_tolerance` × the baseline (default 1.2) and throughput may fall to
`throughput_tolerance` × the baseline (default 0.8). The comparisons are made on the summary; a
baseline is only comparable when it ran the same profile (a different load shape measures a
different thing), so another profile is bad input (exit 2), not a failed check.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hmb_ops.errors import UsageError

if TYPE_CHECKING:
    from hmb_ops.documents import Results

DEFAULT_LATENCY_TOLERANCE = 1.2
DEFAULT_THROUGHPUT_TOLERANCE = 0.8
LATENCY_KEYS = ("p95", "p99")


@dataclass(frozen=True)
class Comparison:
    metric: str          # "p95", "p99" (ms) or "rps"
    baseline: float | None
    current: float | None
    ratio: float | None  # current / baseline
    limit: float         # the allowed ratio: max for latency, min for throughput
    passed: bool
    message: str

    @property
    def name(self) -> str:
        return f"baseline {self.metric}"

    def to_dict(self) -> dict:
        return {"name": self.name, "metric": self.metric, "baseline": self.baseline,
                "current": self.current, "ratio": self.ratio, "limit": self.limit,
                "passed": self.passed, "message": self.message}


def check_tolerances(latency: float, throughput: float) -> None:
    if not latency >= 1.0:
        raise UsageError(f"--tolerance-latency {latency}: must be at least 1.0 (1.2 = may grow 20 %)")
    if not 0.0 < throughput <= 1.0:
        raise UsageError(f"--tolerance-throughput {throughput}: must be in (0, 1] (0.8 = may fall 20 %)")


def same_profile(profile: str, baseline: Results, baseline_path: str | None = None) -> None:
    """`profile` is the profile of the results compared (known before a run: checked up front)."""
    cur, base = profile, baseline.profile
    if cur != base:
        where = f" ({baseline_path})" if baseline_path else ""
        raise UsageError(f"baseline{where} is from profile '{base}', these results are from profile '{cur}'",
                         hint="compare runs of the same profile; save a new baseline with --save-baseline")


def compare(results: Results, baseline: Results, *, latency_tolerance: float = DEFAULT_LATENCY_TOLERANCE,
            throughput_tolerance: float = DEFAULT_THROUGHPUT_TOLERANCE,
            baseline_path: str | None = None) -> list[Comparison]:
    check_tolerances(latency_tolerance, throughput_tolerance)
    same_profile(results.profile, baseline, baseline_path)
    cur_sum, base_sum = results.summary, baseline.summary
    out: list[Comparison] = []
    for key in LATENCY_KEYS:
        b = getattr(base_sum.latency_ms, key)
        c = getattr(cur_sum.latency_ms, key)
        out.append(_compare_one(key, b, c, latency_tolerance, higher_is_worse=True))
    out.append(_compare_one("rps", base_sum.rps, cur_sum.rps, throughput_tolerance, higher_is_worse=False))
    return out


def _compare_one(metric: str, base, cur, limit: float, *, higher_is_worse: bool) -> Comparison:
    unit = "ms" if metric != "rps" else " req/s"
    if base is None or cur is None:
        return Comparison(metric, base, cur, None, limit, False, f"baseline {metric}: value missing")
    base, cur = float(base), float(cur)
    if base <= 0:
        # Nothing to scale against: only an equal-or-better current value can pass.
        passed = cur <= base if higher_is_worse else cur >= base
        ratio = None
    else:
        ratio = cur / base
        passed = ratio <= limit if higher_is_worse else ratio >= limit
    bound = f"≤ {limit:g}×" if higher_is_worse else f"≥ {limit:g}×"
    shown = f"{ratio:.2f}×" if ratio is not None else "n/a"
    msg = (f"baseline {metric}: {cur:.1f}{unit} vs {base:.1f}{unit} = {shown} (allowed {bound})"
           f"{'' if passed else ' regression'}")
    return Comparison(metric, base, cur, ratio, limit, passed, msg)


def save(results: Results, path: str | os.PathLike) -> Path:
    """Write the results document as a baseline, atomically (a half-written baseline is worse than none)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".baseline-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(results.model_dump_json(indent=2) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
