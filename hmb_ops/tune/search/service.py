"""`tune --search` as one call: the formula's plan, the grid and its budgets, the measurements, the
chosen configuration as a plan (what `tune --out` writes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hmb_ops.errors import UsageError

from . import grid as gridmod
from .plan import with_workers
from .run import DEFAULT_STEPS, DEFAULT_TIME_BUDGET_S, REFAPP, SearchRequest, run_search


@dataclass(frozen=True)
class SearchOutcome:
    document: object   # hmb_ops.documents.SearchDocument
    plan: object       # hmb_ops.tune.plan.TunePlan: the pick's, or the formula's when nothing was picked
    formula_plan: object


def search(formula_plan, plan_kwargs: dict, *, slo: tuple[str, ...], grid: str | None = None,
           steps: tuple[tuple[int, float], ...] | None = None, rounds: int = 2, scenario: str | None = None,
           locustfile: str | None = None, database_url: str | None = None, state_dir: str = ".hmb-ops",
           out_dir: str | None = None, app_config_file: str | None = None,
           time_budget_s: float = DEFAULT_TIME_BUDGET_S, confine: bool = True,
           progress: Callable[[str], None] | None = None) -> SearchOutcome:
    """`formula_plan` is what tune computed; `plan_kwargs` rebuild it for another thread count."""
    from hmb_ops.tune.api import plan_for

    values = formula_plan.values
    worker_class = str(values["worker_class"])
    threaded = worker_class == "gthread"
    if not threaded and worker_class not in _EVENT_LOOP and not _is_asgi(worker_class):
        raise UsageError(f"--search measures gthread or ASGI (Uvicorn) workers, not {worker_class}",
                         hint="use --worker-class gthread or uvicorn_worker.UvicornWorker")
    app = formula_plan.app
    if app != REFAPP and not (scenario or locustfile):
        raise UsageError(f"--search on {app} needs the traffic to measure it with",
                         hint="give --scenario FILE (docs/scenarios.md) or --locustfile FILE")
    formula = (int(values["workers"]), int(values["threads"]) if threaded else 1)
    pairs = gridmod.parse_grid(grid, threaded) if grid else gridmod.default_grid(
        formula_plan.resources.cpus, threaded, formula)
    base = {k: v for k, v in plan_kwargs.items() if k not in ("threads", "measure_memory", "measure_with")}
    mem = formula_plan.budgets.get("memory") or {}
    if base.get("worker_memory") is None and mem.get("worker_bytes"):
        base["worker_memory"] = int(mem["worker_bytes"])  # what tune measured (or estimated), not measured again
    cache: dict[int, object] = {}

    def plan_with_threads(t: int):
        if t not in cache:
            cache[t] = formula_plan if t == formula[1] else plan_for(**base, threads=t if threaded else None)
        return cache[t]

    cands = gridmod.candidates(pairs, worker_class, formula, plan_with_threads)
    w_item = formula_plan.item("workers")
    reason = f"workers: {w_item.formula} ({w_item.binding})"
    req = SearchRequest(app=app, worker_class=worker_class, slo=tuple(slo), steps=tuple(steps or DEFAULT_STEPS),
                        rounds=rounds, scenario=scenario, locustfile=locustfile,
                        config_files=tuple(plan_kwargs.get("config_files") or ()), database_url=database_url,
                        state_dir=state_dir, out_dir=out_dir, time_budget_s=time_budget_s,
                        app_config_file=app_config_file, **_limits(formula_plan, confine))
    doc = run_search(req, cands, plan_with_threads, formula_reason=reason, progress=progress)
    if doc.pick is None:
        return SearchOutcome(doc, formula_plan, formula_plan)
    picked = next(c for c in doc.candidates if c.label == doc.pick)
    how = (f"measured by tune --search: {picked.mean_rps:.1f} req/s sustainable at the SLO "
           f"(formula's {doc.formula}: {w_item.formula})")
    chosen = with_workers(plan_with_threads(picked.threads), picked.workers, how)
    if hasattr(formula_plan, "regenerate_flags"):  # the files' regenerate line says what the user ran
        import dataclasses

        chosen = dataclasses.replace(chosen, regenerate_flags=formula_plan.regenerate_flags)
    return SearchOutcome(doc, chosen, formula_plan)


def _limits(plan, confine: bool) -> dict:
    """A plan for a tier, a hosting plan or a declared machine is measured inside its CPUs and memory;
    a plan for this machine as detected runs on the machine as it is."""
    res = plan.resources
    declared = plan.tier is not None or not res.cpus_source or res.cpus_source.startswith(("declared", "tier", "plan"))
    if not confine or not declared:
        return {}
    return {"confine_cpus": float(res.cpus), "confine_memory_bytes": int(res.memory_bytes)}


_EVENT_LOOP = ("uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker", "uvicorn.workers.UvicornWorker",
               "uvicorn.workers.UvicornH11Worker")


def _is_asgi(worker_class: str) -> bool:
    from hmb_ops.tune.worker_classes import is_asgi

    return is_asgi(worker_class)
