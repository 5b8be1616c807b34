"""Capacity per tier: run the stepped profile under each tier's tuned config, then analyse.

`analyse` is pure (a results document in, a TierCapacity out) so every rule is testable on
hand-written documents; `run_capacity` only adds the load runs (engineer D's `run_load`) and the
chart. The report is the public hmb_ops.documents.CapacityDocument (capacity.json). All input is
validated before the first run starts: a typo in the SLO or the users model
must not cost a ten-minute sweep.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hmb_ops.errors import EnvironmentUnusable, HmbOpsError, UsageError
from hmb_ops.gates import thresholds as th

from . import bounds, knee as kn, usl
from .users import UsersEstimate, UsersModel, users_supported

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, CapacityTier, Results, Step, StepServer

MAX_TIERS = 8


@dataclass(frozen=True)
class TierCapacity:
    tier: str
    results_path: str | None
    profile: str
    valid: bool
    invalid_reasons: tuple[str, ...]
    workers: int | None
    threads: int | None
    steps: tuple[Step, ...]
    knee: kn.Knee
    fit: usl.UslFit
    users: UsersEstimate
    at_knee: StepServer | None  # server readings at the knee step: CPU %/worker, RSS MB/worker, DB connections
    plan: dict | None = None            # documents.capacity.PlanInfo fields, when measured as a plan
    confinement: dict | None = None     # the run's results.json confinement record
    confinement_note: str | None = None
    data_state: dict | None = None      # the run's results.json data record (template reset, or not)
    restarts: dict[int, int] | None = None  # worker exits per step index (None: server not sampled)
    worker_restarts: int | None = None  # worker exits in the whole run
    app_cpu_max: float | None = None    # highest step mean of the app's CPU, % of one CPU

    @property
    def host_bound(self) -> str | None:
        if all((v.error_rate or 0.0) >= 1.0 or kn.NO_ANSWER in v.breaches
               for v in self.knee.steps):
            return None  # nothing succeeded: an idle app says nothing about what bounded it
        return bounds.host_bound(self.confinement, self.app_cpu_max)

    def knee_restart(self) -> str | None:
        """A warning when a worker restart fell in the step that set the knee (or the one that broke it)."""
        if not self.restarts or self.knee.index is None:
            return None
        hit = [v for v in self.knee.steps[self.knee.index:self.knee.index + 2] if self.restarts.get(v.index)]
        if not hit:
            return None
        where = ", ".join(f"{v.users:g} users ({self.restarts[v.index]})" for v in hit)
        return (f"worker restart(s) inside the step(s) that set the knee: {where}; a restarting worker "
                "(Gunicorn max_requests) leaves the app short for seconds, so the knee may be low")

    @property
    def sustainable_rps(self) -> float:
        return self.knee.sustainable_rps

    def to_document(self) -> CapacityTier:
        from hmb_ops.documents import CapacityTier, KneeSummary, UslSummary
        from hmb_ops.documents.capacity import PlanInfo

        k, at = self.knee.step, self.at_knee
        check = usl.cross_check(self.fit, self.knee.crossing_users if self.knee.crossing_users is not None
                                else (k.users if k else None), self.sustainable_rps)
        knee = KneeSummary(**self.knee.to_dict())
        if self.restarts is not None:
            restarts = self.restarts
            knee = knee.model_copy(update={"steps": [v.model_copy(update={"worker_restarts": restarts.get(v.index, 0)})
                                                     for v in knee.steps]})
        return CapacityTier(
            tier=self.tier, results=self.results_path, profile=self.profile, valid=self.valid,
            invalid_reasons=list(self.invalid_reasons), workers=self.workers, threads=self.threads,
            sustainable_rps=self.sustainable_rps, knee_users=k.users if k else None,
            p95_ms_at_knee=k.p95_ms if k else None, error_rate_at_knee=k.error_rate if k else None,
            cpu_percent_per_worker=at.cpu_percent_per_worker if at else None,
            rss_mb_per_worker=at.rss_mb_per_worker if at else None, db_connections=at.db_connections if at else None,
            users_supported=round(self.users.registered_users),
            concurrent_users_supported=round(self.users.concurrent_users, 1), headroom=self.users.headroom,
            knee=knee, usl=UslSummary(**self.fit.to_dict(), **check.to_dict()),
            plan=PlanInfo(**self.plan) if self.plan else None, confinement=self.confinement,
            confinement_note=self.confinement_note, data_state=self.data_state,
            worker_restarts=self.worker_restarts, app_cpu_percent_max=self.app_cpu_max, host_bound=self.host_bound,
            knee_restart=self.knee_restart())


def confinement_of(results: Results) -> tuple[dict | None, str]:
    """The run's confinement record (engineer B1's `results.confinement`) and one line about it."""
    rec = getattr(results, "confinement", None)
    if rec is not None and hasattr(rec, "model_dump"):
        rec = rec.model_dump()
    if not rec:
        return None, ("not confined: the app shared this machine's CPUs and memory with PostgreSQL and the load "
                      "generator, so the figure is not the tier's or plan's own")
    if not isinstance(rec, dict):
        return None, "confinement record unreadable"
    method, exact = rec.get("method"), rec.get("exact")
    cpus, mem = rec.get("cpus"), rec.get("memory_bytes")
    what = f"{cpus:g} CPU" if isinstance(cpus, (int, float)) else "CPUs not limited"
    what += f", {mem / 2**20:.0f} MiB" if isinstance(mem, (int, float)) else ", memory not limited"
    if method in (None, "none"):
        return rec, "not confined (no limit applied): " + "; ".join(rec.get("warnings") or []) or "not confined"
    note = f"confined by {method} to {what}" + ("" if exact else " (NOT exact: " + (
        "; ".join(rec.get("warnings") or []) or "the limits asked could not be applied") + ")")
    if rec.get("isolated"):
        note += "; PostgreSQL and the load generator on other CPUs"
    elif exact:  # exact limits, but a warning still matters (e.g. no CPU to spare for PostgreSQL)
        note += "".join(f"; warning: {w}" for w in rec.get("warnings") or [])
    kills = rec.get("oom_kills") or []
    if kills:
        note += (f"; {len(kills)} app process(es) killed by the memory limit, the first at "
                 f"{kills[0].get('t', 0):.0f} s ({kills[0].get('at')})")
    return rec, note


def analyse(results: Results, slo: list[th.Threshold], model: UsersModel, *, target_users: int | None = None,
            tier: str | None = None, results_path: str | None = None) -> TierCapacity:
    steps = list(results.steps)
    knee = kn.find_knee(steps, slo)
    fit = usl.fit_steps(steps)
    at_knee = None
    if knee.step is not None:
        at_knee = next((s.server for s in steps if s.index == knee.step.index), None)
    server = results.server
    confinement, note = confinement_of(results)
    data = getattr(results, "data", None)
    workers = server.workers if server else None
    return TierCapacity(tier=tier or results.tier or "?", results_path=results_path, profile=results.profile,
                        valid=results.valid, invalid_reasons=tuple(results.invalid_reasons),
                        workers=server.workers if server else None, threads=server.threads if server else None,
                        steps=tuple(steps), knee=knee, fit=fit,
                        users=users_supported(model, knee.sustainable_rps, target_users), at_knee=at_knee,
                        confinement=confinement, confinement_note=note,
                        data_state=data.model_dump() if data is not None and hasattr(data, "model_dump") else data,
                        restarts=bounds.restarts_per_step(results) if server and server.samples else None,
                        worker_restarts=server.summary.worker_restarts if server and server.samples else None,
                        app_cpu_max=bounds.app_cpu_peak(results, workers))


def parse_tiers(text: str) -> list[str]:
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not names:
        raise UsageError("--tiers: give at least one tier name, e.g. --tiers small,default")
    if len(names) != len(set(names)):
        raise UsageError(f"--tiers {text}: a tier is named twice")
    if len(names) > MAX_TIERS:
        raise UsageError(f"--tiers: at most {MAX_TIERS} tiers per run")
    return names


def parse_steps(text: str | None, step_seconds: float | None) -> tuple[tuple[int, float], ...] | None:
    """`--steps 10,20,40 --step-seconds 20` → stages ((10, 20), (20, 20), (40, 20)); None = the profile's."""
    if text is None:
        if step_seconds is not None:
            raise UsageError("--step-seconds needs --steps")
        return None
    try:
        users = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--steps {text}: expected comma-separated user counts, e.g. 10,20,40") from None
    if not users or any(u < 1 for u in users):
        raise UsageError(f"--steps {text}: user counts must be whole numbers of at least 1")
    if users != sorted(users):
        raise UsageError(f"--steps {text}: user counts must increase")
    seconds = 30.0 if step_seconds is None else float(step_seconds)
    if not 1 <= seconds <= 3600:
        raise UsageError(f"--step-seconds {step_seconds}: must be between 1 and 3600")
    return tuple((u, seconds) for u in users)


def conditions(*, profile: str, stages, seed_scale: str) -> dict:
    try:
        from hmb_ops.resources import detect

        res = detect()
        cpus: float | None = res.cpus
        memory = res.to_dict()["memory"]
    except Exception:  # noqa: BLE001 - conditions are informative; a detection quirk must not stop the analysis
        cpus, memory = os.cpu_count(), None
    return {"machine": platform.node() or "unknown", "platform": platform.platform(terse=True),
            "cpus": cpus, "memory": memory, "python": platform.python_version(), "profile": profile,
            "stages": [list(s) for s in stages] if stages else "profile default", "seed_scale": seed_scale,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}


@dataclass(frozen=True)
class CapacityRequest:
    tiers: tuple[str, ...]
    slo: tuple[str, ...]
    model: UsersModel
    target_users: int | None = None
    profile: str = "step"
    stages: tuple | None = None
    out_dir: str | None = None
    state_dir: str = ".hmb-ops"
    database_url: str | None = None
    config_files: tuple[str, ...] = ()
    seed_scale: str = "small"
    scenario: str | None = None  # a scenario file each step runs; None: the reference app's
    locustfile: str | None = None  # a user's locustfile each step runs instead (loadtest.user_locustfile)
    plans: tuple[str, ...] = ()    # hosting plans (hmb_ops/configs/plans.yaml) measured as tiers, instead of tiers
    plans_file: str | None = None  # the user's plans, added to / overriding the shipped ones
    confine: bool = True           # run the app under each tier's/plan's CPU and memory limits
    require_confinement: bool = False  # exit 3 rather than measure a tier that cannot be emulated exactly
    reset_data: bool = True        # embedded default: each run starts from the seeded template


def default_out_dir(state_dir: str, kind: str = "capacity") -> Path:
    """`<state dir>/<kind>/<UTC timestamp>/`: where capacity and claims runs keep their files."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(state_dir) / kind / stamp


def check_seed_scale(scale: str) -> None:
    from hmb_ops.db.seed import SCALES

    if scale not in SCALES:
        raise UsageError(f"--seed-scale {scale}: unknown data scale", hint=f"scales: {', '.join(SCALES)}")


def validate(req: CapacityRequest) -> list[th.Threshold]:
    """Everything that can be wrong before a run: SLO, tier names, profile (exit 2)."""
    slo = kn.slo_for_steps(req.slo)
    check_seed_scale(req.seed_scale)
    from hmb_ops.tune.tiers import get_tier

    if req.plans:
        from hmb_ops.plans import load_plans, parse_plan_names

        parse_plan_names(",".join(req.plans), load_plans(req.config_files, req.plans_file))
    for name in req.tiers:
        get_tier(name, req.config_files)
    try:
        from hmb_ops.loadtest.profiles import get_profile
    except ImportError:
        return slo
    prof = get_profile(req.profile, req.config_files, req.scenario)
    if req.scenario:
        from hmb_ops.loadtest.scenario.load import load_scenario

        load_scenario(req.scenario, mix=prof.mix)  # a bad scenario is exit 2 before any tier starts
    if req.scenario and req.locustfile:
        raise UsageError("give --scenario or --locustfile, not both")
    if req.locustfile:
        from hmb_ops.loadtest.user_locustfile import check_in_child

        check_in_child(req.locustfile, None)  # a bad locustfile is exit 2 before any tier starts
    if not prof.stages and not req.stages:
        raise UsageError(f"profile '{req.profile}' has no stages: capacity needs a stepped profile",
                         hint="use --profile step, or give --steps 10,20,40")
    return slo


def load_progress(say: Callable[[str], None] | None, label: str, every_s: float = 10.0):
    """Turn run_load's progress events into a line every `every_s` seconds of load (quiet logs in CI)."""
    if say is None:
        return None
    last = {"t": -every_s}

    def on_event(event: dict) -> None:
        if "message" in event:
            say(f"{label}: {event['message']}")
        elif "elapsed_s" in event and event["elapsed_s"] - last["t"] >= every_s:
            last["t"] = event["elapsed_s"]
            say(f"{label}: t={event['elapsed_s']:.0f}s/{event.get('duration_s') or 0:.0f}s "
                f"{event.get('users')} users {event.get('rps', 0):.0f} req/s p95 {event.get('p95_ms', 0):.1f} ms")

    return on_event


def run_capacity(req: CapacityRequest, *, progress: Callable[[str], None] | None = None,
                 run_load=None) -> CapacityDocument:
    slo = validate(req)
    if run_load is None:
        from hmb_ops.loadtest.api import run_load
    from hmb_ops.loadtest.api import LoadRequest

    out = Path(req.out_dir) if req.out_dir else default_out_dir(req.state_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiers: list[TierCapacity] = []
    notes: list[str] = []
    names, config_files, plan_infos = req.tiers, tuple(req.config_files), {}
    if req.plans:
        from hmb_ops.plans import load_plans, plans_config_file

        from .plan_cost import plan_info

        catalog = load_plans(req.config_files, req.plans_file)
        # Each plan runs as a tier of its own (its CPUs and memory), so tune and the confinement
        # treat it exactly like a shipped tier.
        config_files = config_files + (str(plans_config_file(catalog, req.plans, out, req.config_files)),)
        names = req.plans
        plan_infos = {n: plan_info(n, catalog) for n in names}
    what = "plan" if req.plans else "tier"
    limits: dict[str, tuple[float | None, int | None]] = {}
    if req.confine:
        from hmb_ops.stack.confinement import tier_limits

        # Each tier or plan runs under its own CPUs and memory (engineer B1's confinement); the
        # limits are read before the first run so an unknown name costs no run.
        limits = {n: tier_limits(n, config_files) for n in names}
        _check_limits(limits, require=req.require_confinement)
    for name in names:
        if progress:
            progress(f"{what} {name}: running profile '{req.profile}'")
        tier_dir = out / name
        cpus, memory = limits.get(name, (None, None))
        doc = run_load(LoadRequest(profile=req.profile, tier=name, out_dir=str(tier_dir),
                                   config_files=config_files, database_url=req.database_url,
                                   state_dir=str(req.state_dir), seed_scale=req.seed_scale,
                                   stages=req.stages, scenario=req.scenario, locustfile=req.locustfile,
                                   app_cpus=cpus, app_memory_bytes=memory,
                                   require_confinement=req.require_confinement, reset_data=req.reset_data),
                       progress=load_progress(progress, f"{what} {name}"))
        path = str(Path(doc.out_dir or tier_dir) / "results.json")
        cap = analyse(doc, slo, req.model, target_users=req.target_users, tier=name, results_path=path)
        if name in plan_infos:
            cap = replace(cap, plan=plan_infos[name])
        answered = any(kn.NO_ANSWER not in v.breaches for v in cap.knee.steps)
        if not cap.valid and answered:  # nothing answered at all: nothing_measured says why (exit 1)
            notes.append(f"{what} {name}: results not valid ({'; '.join(cap.invalid_reasons)}); "
                         "its capacity is a lower bound measured on a saturated generator")
        if progress:
            progress(f"{what} {name}: {cap.knee.reason}; {cap.confinement_note}")
        tiers.append(cap)
    return finish(tiers, slo, req.model, req.target_users, out,
                  conditions(profile=req.profile, stages=req.stages, seed_scale=req.seed_scale), notes,
                  seed_scale=req.seed_scale)


def _check_limits(limits: dict[str, tuple[float | None, int | None]], *, require: bool) -> None:
    """Every tier's or plan's limits judged before the first run starts, so no run is wasted: a
    limit this machine cannot emulate exactly is exit 3 with --require-confinement, and a memory
    limit below one worker and its master at rest is exit 2 (engineer B1's checks, run early)."""
    from hmb_ops.stack.confinement import check_memory, plan_confinement

    for name, (cpus, memory) in limits.items():
        try:
            plan = plan_confinement(cpus, memory, require=require)
        except HmbOpsError as exc:
            raise type(exc)(f"{name}: {exc.message}", hint=exc.hint) from None
        if require and cpus is not None and not plan.other_cpus:
            # Exact limits are not enough: with no CPU to spare, PostgreSQL and the generator run on
            # the app's CPUs and the figure is not the plan's (docs/capacity.md promises exit 3 here).
            raise EnvironmentUnusable(
                f"{name}: confinement is impossible here: the plan's {cpus:g} CPU(s) leave no CPU of this host's "
                f"{len(plan.host_cpus)} for PostgreSQL and the load generator",
                hint="drop --require-confinement to measure anyway with a warning, or run on a machine with more CPUs")
    lowest = min((m for _c, m in limits.values() if m is not None), default=None)
    if lowest is not None:
        from hmb_ops.stack.confinement.rss import reference_worker_memory

        worker, master, source = reference_worker_memory()
        for name, (_cpus, memory) in limits.items():
            if memory is not None:
                try:
                    check_memory(memory, worker, master, source)
                except HmbOpsError as exc:
                    raise type(exc)(f"{name}: {exc.message}", hint=exc.hint) from None


def finish(tiers: list[TierCapacity], slo: list[th.Threshold], model: UsersModel, target_users: int | None,
           out: Path | None, conds: dict, notes: list[str] | None = None, *,
           seed_scale: str | None = None) -> CapacityDocument:
    """Assemble the report; write capacity.json and capacity.png into `out` when given."""
    from hmb_ops.documents import CapacityDocument, UsersAssumptions

    from .users import required_rps

    target = int(target_users or model.registered_users)
    base = users_supported(model, 0.0, target)
    # One target and one model for every tier, whatever each analysis was given.
    tiers = [replace(t, users=users_supported(model, t.sustainable_rps, target)) for t in tiers]
    notes = list(notes or [])
    for t in tiers:
        if not t.fit.ok:
            notes.append(f"{'plan' if t.plan else 'tier'} {t.tier}: {t.fit.reason}")
    from .data_scale import data_scale
    from .plan_cost import price_plans

    assumed = {**model.model_dump(), "requests_per_user_hour": model.user_hour_rate,
               "peak_to_average": model.peak_factor}
    rows = [t.to_document() for t in tiers]
    rows, cheapest, why = price_plans(rows, required_rps(model, target))
    data = data_scale(seed_scale, max((r.users_supported for r in rows), default=0))
    report = CapacityDocument(tiers=rows, slo=[s.name for s in slo],
                              users_model=UsersAssumptions(**assumed), target_users=target,
                              target_rps=required_rps(model, target), assumptions=base.assumptions(),
                              conditions=conds, out_dir=str(out) if out else None, notes=notes, data=data,
                              cheapest_plan=cheapest, cheapest_reason=why)
    if out is not None:
        from hmb_ops.report.chart import capacity_chart

        chart_path = out / "capacity.png"
        chart_path.write_bytes(capacity_chart(report))
        report = report.model_copy(update={"chart": str(chart_path)})
        (out / "capacity.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report
