"""A ramping arrival rate: one request rate per stage of the profile (the open model), its send
schedule and its per-stage account of scheduled, sent, dropped and late sends.

    hmb-ops loadtest --profile step --arrival-rate 20,50,100,200   # one rate per stage

Like k6's ramping-arrival-rate, the rate moves between stages and each stage's users are the pool
that sends it; unlike k6 the rate steps at a stage boundary instead of ramping linearly, so every
stage is a window at one offered rate (the same windows the results' steps use). A send the pool
could not make in its stage is dropped; one made over 10 ms after its slot is late.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from hmb_ops.errors import UsageError

MAX_RATE = 100000.0
AFTER_LAST_STAGE_S = 1e9  # no more slots: the users wait until the run stops them


def parse_rates(text: str | None) -> tuple[float, ...] | None:
    """'50' or '20,50,100' → rates; anything else is a usage error (exit 2)."""
    if text is None:
        return None
    try:
        rates = tuple(float(part) for part in str(text).split(","))
    except ValueError:
        raise UsageError(f"--arrival-rate {text!r} is not a rate or a comma list of rates",
                         hint="e.g. --arrival-rate 50, or one rate per stage: --arrival-rate 20,50,100") from None
    for r in rates:
        if not (0 <= r <= MAX_RATE) or math.isnan(r):
            raise UsageError(f"--arrival-rate {r:g} is out of range; use 0..{MAX_RATE:g} per stage")
    if not any(r > 0 for r in rates):
        raise UsageError("--arrival-rate: at least one stage needs a rate above 0")
    return rates


def check_stages(rates: Sequence[float], stages: Sequence[tuple[int, float]]) -> None:
    if len(rates) != len(stages):
        raise UsageError(f"--arrival-rate gives {len(rates)} rates but the profile has {len(stages)} stages",
                         hint="give one rate per stage, or a single rate for the whole run")


def mean_rate(rates: Sequence[float], stages: Sequence[tuple[int, float]]) -> float:
    total = sum(s for _, s in stages)
    return sum(r * s for r, (_, s) in zip(rates, stages, strict=True)) / total if total else 0.0


class StagedSchedule:
    """Intended send times for piecewise-constant rates, shared by the users of one process (the
    same `next_slot()` as a constant-rate schedule). `share` is this process's part of the rate."""

    def __init__(self, stages: Sequence[Sequence[float]], share: float = 1.0):
        self.rates = [float(r) * share for r, _ in stages]
        self.ends: list[float] = []
        end = 0.0
        for _, seconds in stages:
            end += float(seconds)
            self.ends.append(end)
        self.start: float | None = None
        self.i = 0
        self.t = 0.0  # the next slot, in seconds after the start

    def next_slot(self) -> float:
        if self.start is None:
            self.start = time.perf_counter()
        while self.i < len(self.rates):
            rate, end = self.rates[self.i], self.ends[self.i]
            if rate > 0 and self.t < end:
                slot = self.t
                self.t += 1.0 / rate
                return self.start + slot
            self.t = end  # the next stage starts at its own beginning, whatever the last interval was
            self.i += 1
        return self.start + AFTER_LAST_STAGE_S


def open_model(*, offered: float | None, rates: Sequence[float] | None, stages: Sequence[tuple[int, float]],
               seconds: dict, duration: float):
    """The results' open_model: whole run, and per stage when the rate ramps; None in the closed model.

    `seconds` are the run's Second records (slots dispatched and late sends per second of the run)."""
    from hmb_ops.documents.results import OpenModel, OpenModelStage

    if not offered:
        return None
    sent = sum(s.slots for s in seconds.values())
    late = sum(s.late for s in seconds.values())
    if not rates:
        scheduled = int(offered * duration)
        return OpenModel(scheduled=scheduled, sent=sent, dropped=max(0, scheduled - sent), late=late)
    parts, start = [], 0.0
    for i, (rate, (_, length)) in enumerate(zip(rates, stages, strict=True)):
        end = start + length
        ran = max(0.0, min(end, duration) - start)  # an interrupted run scheduled only what it ran
        in_stage = [s for k, s in seconds.items() if start <= k < end]
        s_sent = sum(s.slots for s in in_stage)
        s_scheduled = int(rate * ran)
        parts.append(OpenModelStage(index=i, rate=rate, start_s=start, end_s=end, scheduled=s_scheduled,
                                    sent=s_sent, dropped=max(0, s_scheduled - s_sent),
                                    late=sum(s.late for s in in_stage)))
        start = end
    scheduled = sum(p.scheduled for p in parts)
    return OpenModel(scheduled=scheduled, sent=sent, dropped=sum(p.dropped for p in parts), late=late, stages=parts)


def schedule_for(spec: dict) -> StagedSchedule | None:
    """The generator child's ramping schedule for this process, or None (a constant rate or none)."""
    stages = spec.get("arrival_stages")
    if not stages:
        return None
    return StagedSchedule(stages, 1.0 / max(1, int(spec.get("processes") or 1)))
