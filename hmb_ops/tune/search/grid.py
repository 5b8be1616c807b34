"""The candidates `tune --search` measures: a small grid around the formula's choice, each checked
against the memory and connection budgets first (budget.py, the plan's own figures). A candidate
that does not fit is kept in the document with the reason and never started."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from hmb_ops.errors import UsageError
from hmb_ops.tune.budget import candidate_problem

MAX_CANDIDATES = 12


@dataclass(frozen=True)
class Candidate:
    worker_class: str
    workers: int
    threads: int
    pool_max: int | None
    formula: bool = False
    skipped: str | None = None

    @property
    def threaded(self) -> bool:
        return self.worker_class == "gthread"

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads}" if self.threaded else f"{self.workers}w"


def default_grid(cpus: float, threaded: bool, formula: tuple[int, int]) -> list[tuple[int, int]]:
    """The formula's pick and its neighbours: fewer threads with more workers, and fewer workers.

    gthread on 2 CPUs: 4x4 (formula), 3x2, 4x2, 5x1, 6x1 — the shapes the seed's own
    measurements compared (4×4 at 445–480 req/s against 3×2 at 529 and 5×1 at 572).
    An event-loop worker has no threads: only the worker count varies.
    """
    c = max(1.0, cpus)
    if not threaded:
        counts = sorted({max(1, math.floor(f * c)) for f in (1, 1.5, 2, 2.5, 3)} | {formula[0]})
        return [(w, 1) for w in counts]
    shapes = [formula, (math.floor(1.5 * c), 2), (math.floor(2 * c), 2), (math.floor(2.5 * c), 1),
              (math.floor(3 * c), 1)]
    out: list[tuple[int, int]] = []
    for w, t in shapes:
        if w >= 1 and (w, t) not in out:
            out.append((w, t))
    return out


def parse_grid(text: str, threaded: bool) -> list[tuple[int, int]]:
    """`--search-grid 3x2,4x4,5x1` (workers x threads; for an event-loop worker class `2,3,4`)."""
    pairs: list[tuple[int, int]] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        m = re.fullmatch(r"(\d+)(?:\s*[x×]\s*(\d+))?", part)
        if not m:
            raise UsageError(f"--search-grid {text}: {part!r} is not WORKERSxTHREADS (e.g. 3x2) or WORKERS")
        w, t = int(m.group(1)), int(m.group(2) or 1)
        if not (1 <= w <= 64 and 1 <= t <= 64):
            raise UsageError(f"--search-grid {text}: {part!r} is out of range (1–64 workers, 1–64 threads)")
        if not threaded and t != 1:
            raise UsageError(f"--search-grid {text}: {part!r} gives threads, but this worker class runs one event "
                             "loop per worker and no threads", hint="give worker counts only, e.g. 2,3,4")
        if (w, t) not in pairs:
            pairs.append((w, t))
    if not pairs:
        raise UsageError("--search-grid: give at least one candidate, e.g. 3x2,4x4,5x1")
    if len(pairs) > MAX_CANDIDATES:
        raise UsageError(f"--search-grid: at most {MAX_CANDIDATES} candidates (each one is a load run)")
    return pairs


def candidates(pairs: list[tuple[int, int]], worker_class: str, formula: tuple[int, int],
               plan_with_threads: Callable[[int], object]) -> list[Candidate]:
    """Each pair as a Candidate, its pool from the plan for its thread count, skipped when over budget.
    The formula's own choice is always in the grid (the search reports against it)."""
    if formula not in pairs:
        pairs = [formula, *pairs]
    plans: dict[int, object] = {}
    out = []
    for w, t in pairs:
        plan = plans.get(t)
        if plan is None:
            plan = plans[t] = plan_with_threads(t)
        pool = plan.values.get("db_pool_max")  # type: ignore[attr-defined]
        out.append(Candidate(worker_class, w, t, int(pool) if pool else None, formula=(w, t) == formula,
                             skipped=candidate_problem(plan, w, t)))
    return out
