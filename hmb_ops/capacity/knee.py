"""The knee of a stepped run: the highest load step that met the SLO with errors under the limit.

Every step is judged by the same threshold expressions as a whole run (per-endpoint ones cannot
judge a step: steps carry no per-endpoint data). When the SLO names no error-rate threshold the
default limit (`error_rate<1%`) is added, because a step that answers fast by failing is not
sustainable.

The sustainable throughput is read where the SLO breaks, not at the knee step's own window:
- where: the latency limit the next step breached is met at the straight-line crossing of that
  metric between the knee step and the next one (p95 grows about linearly with users once the
  server is saturated). A coarse two-minute run and a fine sweep then read the same load, instead
  of the coarse one stopping at its last passing step, up to a whole step below. A breach that is
  not a latency limit (errors, throughput) keeps the knee step's load.
- what: a least-squares line through the knee step and its neighbours (one each side, when their
  errors are under the limit), read at that load. On a shared machine one 20-second window varies
  by ±10 % from the next; the line keeps the local trend (rising or flat) and averages that noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hmb_ops.errors import UsageError
from hmb_ops.gates import thresholds as th

if TYPE_CHECKING:
    from hmb_ops.documents import Step

DEFAULT_ERROR_LIMIT = "error_rate<1%"
NO_ANSWER = "no request completed in this step (nothing was measured)"


@dataclass(frozen=True)
class StepVerdict:
    index: int
    users: float
    rps: float
    p95_ms: float | None
    error_rate: float | None
    passed: bool
    breaches: tuple[str, ...]
    errors_ok: bool = True         # the error-rate part of the SLO held (its throughput counts as served)

    def to_dict(self) -> dict:
        return {"index": self.index, "users": self.users, "rps": self.rps, "p95_ms": self.p95_ms,
                "error_rate": self.error_rate, "passed": self.passed, "breaches": list(self.breaches)}


@dataclass(frozen=True)
class Knee:
    slo: tuple[str, ...]
    steps: tuple[StepVerdict, ...]
    index: int | None              # position in `steps` of the knee, None when no step passed
    reason: str                    # one line: how the knee was found or why there is none
    slo_held_throughout: bool      # every step passed: the real capacity is above the last step
    non_monotonic: bool            # a lower step failed while a higher one passed (noisy run)
    rps_from: tuple[int, ...] = ()  # positions in `steps` the sustainable throughput was read from
    crossing_users: float | None = None  # load where the SLO breaks; None when it held at every step

    @property
    def step(self) -> StepVerdict | None:
        return None if self.index is None else self.steps[self.index]

    @property
    def sustainable_rps(self) -> float:
        if self.step is None:
            return 0.0
        pts = [(self.steps[i].users, self.steps[i].rps) for i in self.rps_from] or [(self.step.users, self.step.rps)]
        at = self.step.users if self.crossing_users is None else self.crossing_users
        return local_line_at(pts, at)

    def to_dict(self) -> dict:
        st = self.step
        return {"slo": list(self.slo), "step_index": st.index if st else None,
                "users": st.users if st else None, "sustainable_rps": self.sustainable_rps,
                "knee_step_rps": st.rps if st else None, "slo_crossing_users": self.crossing_users,
                "rps_from_users": [self.steps[i].users for i in self.rps_from],
                "p95_ms": st.p95_ms if st else None, "error_rate": st.error_rate if st else None,
                "reason": self.reason, "slo_held_throughout": self.slo_held_throughout,
                "non_monotonic": self.non_monotonic, "steps": [s.to_dict() for s in self.steps]}


def slo_for_steps(expressions: Iterable[str]) -> list[th.Threshold]:
    """Parse the SLO for judging steps; add the default error limit when none is given."""
    parsed = th.parse_all(expressions)
    for t in parsed:
        if t.endpoint is not None:
            raise UsageError(f"SLO '{t.expression}': per-endpoint thresholds cannot judge a load step",
                             hint="steps carry totals only; use whole-run metrics such as 'p95<100ms'")
    if not any(t.metric == "error_rate" for t in parsed):
        parsed.append(th.parse(DEFAULT_ERROR_LIMIT))
    return parsed


def local_line_at(points: list[tuple[float, float]], x: float) -> float:
    """The least-squares line through `points`, read at `x` (never below zero)."""
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else 0.0
    return max(0.0, my + slope * (x - mx))


def _neighbourhood(verdicts: list[StepVerdict], knee: int) -> tuple[int, ...]:
    around = [i for i in (knee - 1, knee + 1) if 0 <= i < len(verdicts) and verdicts[i].errors_ok]
    return tuple(sorted([knee, *around]))


def _crossing(slo: list[th.Threshold], nxt_results: list, knee: Step, nxt: Step, lo: float, hi: float) -> float:
    """The load between the knee step (`lo` users) and the next (`hi`) where the SLO breaks."""
    at = hi
    for t, r in zip(slo, nxt_results, strict=True):
        if r.passed:
            continue
        a, b = th.metric_value(t.metric, knee), th.metric_value(t.metric, nxt)
        if t.metric not in th.LATENCY_METRICS or t.op not in ("<", "<=") or a is None or b is None or b <= a:
            return lo
        at = min(at, lo + (t.limit - a) / (b - a) * (hi - lo))
    return min(hi, max(lo, at))


def find_knee(steps: list[Step], slo: list[th.Threshold]) -> Knee:
    verdicts: list[StepVerdict] = []
    judged: list[list] = []  # each step's threshold results, kept for the SLO crossing
    ordered = sorted(steps, key=lambda s: (s.users, s.index))
    for st in ordered:
        results = [th.evaluate(t, st) for t in slo]
        judged.append(results)
        breaches = tuple(r.message for r in results if not r.passed)
        errors_ok = all(r.passed for t, r in zip(slo, results, strict=True) if t.metric == "error_rate")
        if st.requests <= 0 and st.rps <= 0:
            # A step nothing answered measured nothing: its zero latency and zero errors are no
            # evidence the SLO held (a stuck generator or a scenario that cannot run here).
            breaches, errors_ok = (NO_ANSWER,), False
        verdicts.append(StepVerdict(index=st.index, users=float(st.users), rps=st.rps, p95_ms=st.latency_ms.p95,
                                    error_rate=st.error_rate, passed=not breaches, breaches=breaches,
                                    errors_ok=errors_ok))
    names = tuple(t.name for t in slo)
    if not verdicts:
        return Knee(names, (), None, "the results have no load steps (run a stepped profile such as 'step')",
                    False, False)
    passing = [i for i, v in enumerate(verdicts) if v.passed]
    if all(v.breaches == (NO_ANSWER,) for v in verdicts):
        return Knee(names, tuple(verdicts), None,
                    f"no step recorded a completed request ({len(verdicts)} steps): nothing was measured, "
                    "so there is no capacity figure", False, False)
    if not passing:
        first = verdicts[0]
        return Knee(names, tuple(verdicts), None,
                    f"no step met the SLO; already at {first.users:g} users: {'; '.join(first.breaches)}",
                    False, False)
    knee = passing[-1]
    non_monotonic = any(not v.passed for v in verdicts[:knee])
    held = knee == len(verdicts) - 1
    k = verdicts[knee]
    crossing = None if held else _crossing(slo, judged[knee + 1], ordered[knee], ordered[knee + 1], k.users,
                                           verdicts[knee + 1].users)
    result = Knee(names, tuple(verdicts), knee, "", held, non_monotonic, _neighbourhood(verdicts, knee), crossing)
    rps = result.sustainable_rps
    read = ""
    if len(result.rps_from) >= 2 and result.sustainable_rps != k.rps:
        where = (f"{crossing:.1f} users, where the SLO breaks" if crossing not in (None, k.users)
                 else f"{k.users:g} users")
        read = (f"; read at {where}, off a line through the steps at "
                f"{', '.join(f'{verdicts[i].users:g}' for i in result.rps_from)} users "
                f"(the knee step's own window: {k.rps:.1f} req/s)")
    if held:
        reason = (f"the SLO held at every step up to {k.users:g} users: capacity is at least "
                  f"{rps:.1f} req/s{read} (add higher steps to find the knee)")
    else:
        nxt = verdicts[knee + 1]
        reason = (f"highest step meeting the SLO: {k.users:g} users; {rps:.1f} req/s sustainable{read}; "
                  f"next step ({nxt.users:g} users) breached: {'; '.join(nxt.breaches)}")
    if non_monotonic:
        reason += " (a lower step failed: the run is noisy, consider a longer step duration)"
    return replace(result, reason=reason)
