"""The choice: the best mean sustainable throughput at the SLO, next to the formula's, with the
noise measured between rounds (the same candidate measured twice) said out loud.

When some candidate never met the SLO at any step (a slow or busy machine, a tight SLO) there is
no throughput "at the SLO" to compare it by: the candidates are then ranked by their peak throughput
with errors under the limit, and the explanation says so first."""

from __future__ import annotations

from dataclasses import dataclass

from hmb_ops.documents.search import SearchCandidate

# Below this, two short runs on a shared machine are never told apart (the floor of the noise).
NOISE_FLOOR = 0.03
AT_SLO, PEAK = "sustainable_rps", "peak_rps"


@dataclass(frozen=True)
class Choice:
    pick: SearchCandidate | None
    formula: SearchCandidate
    noise: float | None
    gap: float | None
    within_noise: bool | None
    explanation: tuple[str, ...]
    ranked_by: str = AT_SLO


def _values(c: SearchCandidate, by: str) -> list[float]:
    if by == AT_SLO:
        return [m.sustainable_rps for m in c.measurements if m.valid]
    return [m.peak_rps for m in c.measurements if m.peak_rps > 0]


def summarise(c: SearchCandidate, by: str = AT_SLO) -> SearchCandidate:
    """Mean and spread of a candidate's rounds by the ranking measure."""
    values = _values(c, by)
    if not values:
        return c.model_copy(update={"mean_rps": None, "spread": None})
    mean = sum(values) / len(values)
    spread = (max(values) - min(values)) / mean if len(values) > 1 and mean > 0 else None
    return c.model_copy(update={"mean_rps": mean, "spread": spread})


def ranking(candidates: list[SearchCandidate]) -> str:
    """At the SLO when every measured candidate met it in at least one round; else by peak throughput.

    A candidate that met the SLO in one lucky run while the others never did would win on noise
    alone (seen on a machine at load average 15: one 3x2 run at 170 req/s, every other run of every
    candidate breaching at the first step), so a partial SLO picture is not ranked at the SLO."""
    measured = [c for c in candidates if c.measurements]
    return AT_SLO if measured and all(_values(c, AT_SLO) for c in measured) else PEAK


def noise_of(candidates: list[SearchCandidate]) -> float | None:
    """The largest round-to-round spread of any candidate measured more than once (never below the floor)."""
    spreads = [c.spread for c in candidates if c.spread is not None]
    return max([NOISE_FLOOR, *spreads]) if spreads else None


def _rounds(c: SearchCandidate, by: str) -> str:
    return ", ".join(f"{v:.0f}" for v in _values(c, by)) or "no valid round"


def choose(candidates: list[SearchCandidate], *, formula_reason: str = "") -> Choice:
    """`candidates` as measured (summarise is applied here, by the ranking measure)."""
    by = ranking(candidates)
    candidates = [summarise(c, by) for c in candidates]
    formula = next(c for c in candidates if c.formula)
    measured = [c for c in candidates if c.mean_rps is not None and c.mean_rps > 0]
    noise = noise_of(candidates)
    what = "sustainable at the SLO" if by == AT_SLO else "at peak (errors under the limit)"
    lines: list[str] = []
    if by == PEAK and measured:
        met = sum(1 for c in candidates for m in c.measurements if m.valid)
        runs = sum(len(c.measurements) for c in candidates)
        lines.append(f"the SLO was met in {met} of {runs} runs, not by every candidate: ranked by peak throughput "
                     "with errors under the limit instead (loosen --slo or lower --search-steps to rank at the SLO)")
    if not measured:
        lines.append("no candidate answered without errors at any step: nothing to choose; the formula's plan stands")
        return Choice(None, formula, noise, None, None, tuple(lines), by)
    # Highest mean; on a tie (same req/s to 0.1) the fewer processes, which costs less memory.
    pick = max(measured, key=lambda c: (round(c.mean_rps or 0, 1), -c.workers, -c.threads))
    lines.append(f"pick {pick.label} ({pick.worker_class}): {pick.mean_rps:.1f} req/s {what} "
                 f"(rounds: {_rounds(pick, by)})")
    f_rps = formula.mean_rps
    why = f" — {formula_reason}" if formula_reason else ""
    if not f_rps:
        lines.append(f"formula's choice {formula.label}{why}: no valid measurement "
                     f"({formula.skipped or 'no step it could be read from'})")
        return Choice(pick, formula, noise, None, None, tuple(lines), by)
    lines.append(f"formula's choice {formula.label}{why}: {f_rps:.1f} req/s (rounds: {_rounds(formula, by)})")
    gap = ((pick.mean_rps or 0) - f_rps) / f_rps
    if pick.label == formula.label:
        lines.append("the formula's choice measured best: the search confirms it")
        return Choice(pick, formula, noise, 0.0, True, tuple(lines), by)
    if noise is None:
        lines.append(f"{pick.label} measured {gap:+.1%} against {formula.label}, from one round each: "
                     "the noise is unknown (use --search-rounds 2 or more)")
        return Choice(pick, formula, noise, gap, None, tuple(lines), by)
    within = gap <= noise
    single = [c.label for c in (pick, formula) if len(_values(c, by)) < 2]
    if single:  # the noise then comes from other candidates' rounds, not from these two
        lines.append(f"{' and '.join(single)} measured in one round only: the noise below is estimated from "
                     "the candidates measured twice")
    if within:
        lines.append(f"within noise: {pick.label} is {gap:+.1%} against {formula.label}, and the same candidate "
                     f"varies by up to {noise:.1%} between rounds here — the formula's choice is as good as "
                     "this machine can tell")
    else:
        lines.append(f"{pick.label} beats {formula.label} by {gap:+.1%}, more than the {noise:.1%} the same "
                     "candidate varies between rounds: headroom the formula leaves")
    return Choice(pick, formula, noise, gap, within, tuple(lines), by)
