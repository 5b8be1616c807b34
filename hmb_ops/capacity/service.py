"""What `hmb-ops capacity` does, as one call: resolve the inputs, run or read, analyse, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hmb_ops.errors import UsageError
from hmb_ops.gates.slo import shipped_slo

from . import knee as kn
from .runner import CapacityRequest, analyse, default_out_dir, finish, parse_steps, parse_tiers, run_capacity
from .users import UsersModel, load_model


def capacity(*, tiers: str, slo: tuple[str, ...], users_model: str | None, target_users: int | None,
             profile: str, steps: str | None, step_seconds: float | None, seed_scale: str | None,
             results_files: tuple[str, ...], out_dir: str | None, state_dir: str, database_url: str | None,
             config_files: tuple[str, ...], progress: Callable[[str], None] | None = None,
             scenario: str | None = None, locustfile: str | None = None, plans: str | None = None,
             plans_file: str | None = None, requests_per_user_hour: float | None = None,
             peak_factor: float | None = None, confine: bool = True, require_confinement: bool = False,
             reset_data: bool = True):
    expressions = tuple(slo) or shipped_slo(config_files).checks
    if not expressions:
        raise UsageError("no SLO: give --slo 'p95<100ms' or a 'thresholds: checks:' list in a --config file "
                         "(the shipped hmb_ops/configs/slo.yaml and --config files leave it empty)")
    slo_t = kn.slo_for_steps(expressions)
    model = with_overrides(load_model(config_files, users_model), requests_per_user_hour, peak_factor)
    stages = parse_steps(steps, step_seconds)
    plan_names: tuple[str, ...] = ()
    if plans is not None:
        from hmb_ops.plans import load_plans, parse_plan_names

        plan_names = tuple(parse_plan_names(plans, load_plans(config_files, plans_file)))
    elif plans_file:
        raise UsageError("--plans-file adds plans for --plans", hint="add --plans NAME,NAME")
    if results_files:
        if plan_names and len(plan_names) != len(results_files):
            raise UsageError(f"--results names {len(results_files)} file(s) and --plans {len(plan_names)} plan(s)",
                             hint="with both, give one plan per results file, in the same order: the plan each "
                                  "run was measured as")
        return _from_results(results_files, slo_t, model, target_users, out_dir, state_dir, seed_scale,
                             plan_names=plan_names, config_files=tuple(config_files), plans_file=plans_file)
    seed_scale = seed_scale or "small"
    if require_confinement and not confine:
        raise UsageError("--no-confine cannot go with --require-confinement")
    req = CapacityRequest(tiers=() if plan_names else tuple(parse_tiers(tiers)), plans=plan_names,
                          plans_file=plans_file, slo=expressions, model=model, target_users=target_users,
                          profile=profile, stages=stages, out_dir=out_dir, state_dir=state_dir,
                          database_url=database_url, config_files=tuple(config_files), seed_scale=seed_scale,
                          scenario=scenario, locustfile=locustfile, confine=confine,
                          require_confinement=require_confinement, reset_data=reset_data)
    return run_capacity(req, progress=progress)


def _from_results(files, slo_t, model, target_users, out_dir, state_dir, seed_scale, *, plan_names=(),
                  config_files=(), plans_file=None):
    """Analyse stepped runs already made; with plan names, each run is priced as that plan (in order).
    The data scale is what --seed-scale says, else what the results record (config.seed_scale, when
    every file agrees), else unknown."""
    from hmb_ops.documents import read_results

    caps = []
    docs = [(f, read_results(f)) for f in files]
    if seed_scale is None:
        seed_scale = recorded_seed_scale([doc for _f, doc in docs])
    for f, doc in docs:
        if not doc.steps:
            raise UsageError(f"{f}: these results have no load steps (profile '{doc.profile}')",
                             hint="capacity needs a stepped run, e.g. hmb-ops loadtest --profile step")
    names = [doc.tier or Path(f).parent.name for f, doc in docs]
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = f"{name} ({Path(docs[i][0]).parent.name})"
    infos: list[dict | None] = [None] * len(docs)
    if plan_names:
        from hmb_ops.plans import load_plans

        from .plan_cost import plan_info

        catalog = load_plans(config_files, plans_file)
        names, infos = list(plan_names), [plan_info(n, catalog) for n in plan_names]
    for (f, doc), name, info in zip(docs, names, infos, strict=True):
        cap = analyse(doc, slo_t, model, target_users=target_users, tier=name, results_path=str(f))
        caps.append(replace(cap, plan=info) if info else cap)
    out = Path(out_dir) if out_dir else default_out_dir(state_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The machine that measured is not necessarily this one: say only what the files say.
    conds = {"source": "existing results", "files": [str(f) for f, _ in docs],
             "profile": docs[0][1].profile, "measured_at": docs[0][1].started_at}
    return finish(caps, slo_t, model, target_users, out, conds, seed_scale=seed_scale)


def recorded_seed_scale(docs) -> str | None:
    """The data scale the runs recorded (loadtest writes config.seed_scale when it seeded the data),
    when every run names the same one; None when one does not record it or they differ."""
    scales = {(doc.config or {}).get("seed_scale") for doc in docs}
    return scales.pop() if len(scales) == 1 and None not in scales else None


def with_overrides(model: UsersModel, requests_per_user_hour: float | None, peak_factor: float | None) -> UsersModel:
    """--requests-per-user-hour and --peak-factor over the file's users model (exit 2 when out of range)."""
    if requests_per_user_hour is None and peak_factor is None:
        return model
    if requests_per_user_hour is not None and not 0 < requests_per_user_hour <= 1_000_000:
        raise UsageError(f"--requests-per-user-hour {requests_per_user_hour:g}: must be above 0 "
                         "(and at most 1,000,000)")
    if peak_factor is not None and not 1 <= peak_factor <= 24:
        raise UsageError(f"--peak-factor {peak_factor:g}: must be between 1 (flat traffic) and 24 (one busy hour)")
    update = {}
    if requests_per_user_hour is not None:
        update["requests_per_user_hour"] = requests_per_user_hour
    if peak_factor is not None:
        update["peak_to_average"] = peak_factor
    return model.model_copy(update=update)


def nothing_measured(doc) -> str | None:
    """Why the capacity command must exit 1: a tier or plan none of whose steps recorded a completed
    request has no figure at all (a 0.0 req/s 'capacity' would read as a measurement). None: all measured."""
    empty = [t.tier for t in doc.tiers if t.knee.steps and all(kn.NO_ANSWER in s.breaches for s in t.knee.steps)]
    failed = [t.tier for t in doc.tiers if t.tier not in empty and t.knee.steps
              and all(kn.NO_ANSWER in s.breaches or (s.error_rate or 0.0) >= 1.0 for s in t.knee.steps)]
    if not empty and not failed:
        return None
    what = "plan" if any(t.plan for t in doc.tiers) else "tier"
    why = []
    if empty:
        why.append(f"{what} {', '.join(empty)}: no step recorded a completed request")
    if failed:
        why.append(f"{what} {', '.join(failed)}: every request failed in every step")
    return ("; ".join(why) + ", so nothing was measured (see each results.json; with --scenario or --locustfile, "
            "the file must fit the reference app capacity starts)")
