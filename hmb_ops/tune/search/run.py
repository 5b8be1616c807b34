"""Measure the candidates: each one served by a real Gunicorn with the plan's config for its shape,
loaded by a short stepped run (loadtest's run_load against the loopback URL), judged by capacity's
knee at the SLO; rounds interleave (round 2 measures the contenders in reverse order) so a drift in
the machine's load hits every candidate alike. After every measurement search.json is rewritten,
so Ctrl-C leaves the partial results and no server behind."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hmb_ops.documents.search import SearchCandidate, SearchDocument, SearchMeasurement
from hmb_ops.errors import UsageError

from . import DEFAULT_STEP_SECONDS, DEFAULT_STEP_USERS
from .grid import Candidate
from .pick import choose, summarise

DEFAULT_STEPS = tuple((u, DEFAULT_STEP_SECONDS) for u in DEFAULT_STEP_USERS)
DEFAULT_TIME_BUDGET_S = 165.0   # the whole search stays under 3 minutes on the 2-CPU bench machine
CONTENDERS = 3                  # later rounds re-measure the best of round 1 (and the formula's choice)
REFAPP = "hmb_ops.refapp.wsgi:app"


@dataclass(frozen=True)
class SearchRequest:
    app: str
    worker_class: str
    slo: tuple[str, ...]
    steps: tuple[tuple[int, float], ...] = DEFAULT_STEPS
    rounds: int = 2
    profile: str = "step"
    scenario: str | None = None
    locustfile: str | None = None
    config_files: tuple[str, ...] = ()
    database_url: str | None = None   # the --database-url flag (None: configured, else the embedded one)
    state_dir: str = ".hmb-ops"
    out_dir: str | None = None        # where search.json and each run's results go
    seed_scale: str = "small"
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    app_config_file: str | None = None  # a foreign app's own Gunicorn config (its hooks, its paths)
    confine_cpus: float | None = None   # a tier's or plan's limits: each candidate runs inside them
    confine_memory_bytes: int | None = None


def default_out_dir(state_dir: str) -> Path:
    return Path(state_dir).absolute() / "search" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _serve(cand: Candidate, req: SearchRequest, plan, database_url: str, work: Path, wrap=None):
    """A started GunicornProcess for this candidate: the plan's gunicorn.conf.py and environment for
    its shape, the worker count and class on the command line."""
    from hmb_ops.stack.gunicorn import GunicornProcess
    from hmb_ops.tune.render import render_all, tier_environment

    work.mkdir(parents=True, exist_ok=True)
    config = req.app_config_file
    env = dict(tier_environment(plan)) if req.app == REFAPP else {}
    if config is None:
        files = render_all(plan)
        name = next(n for n in files if n.endswith(".py"))
        (work / name).write_text(files[name], encoding="utf-8")
        config = str(work / name)
    env.update(WEB_CONCURRENCY=str(cand.workers), WEB_THREADS=str(cand.threads))
    if cand.pool_max:
        env["DB_POOL_MAX"] = str(cand.pool_max)
    target = req.app
    if req.app == REFAPP:
        from hmb_ops.stack.app import app_target

        target = app_target(cand.worker_class)
    proc = GunicornProcess(database_url, app=target, config_file=config, workers=cand.workers,
                           threads=cand.threads if cand.threaded else None, worker_class=cand.worker_class,
                           env={k: v for k, v in env.items() if "SECRET" not in k}, log_dir=str(work), wrap=wrap)
    return proc.start(ready_timeout=60)


class Stopper:
    """Stops a measured server in the background while the next one starts (Gunicorn's graceful
    stop is seconds of waiting, not of work); `join` before the next load and at the end."""

    def __init__(self):
        self._threads: list = []

    def stop(self, proc) -> None:
        import threading

        t = threading.Thread(target=proc.stop, name="hmb-search-stop", daemon=True)
        t.start()
        self._threads.append(t)

    def join(self) -> None:
        for t in self._threads:
            t.join()
        self._threads.clear()


def measure(cand: Candidate, round_no: int, req: SearchRequest, plan, database_url: str, out: Path,
            slo, stopper: Stopper | None = None, confined=None) -> SearchMeasurement:
    """One short stepped run against this candidate; KeyboardInterrupt when the user stopped it."""
    from hmb_ops.capacity.knee import find_knee
    from hmb_ops.loadtest.api import LoadRequest, run_load

    run_dir = out / f"{cand.label}-round{round_no}"
    proc = _serve(cand, req, plan, database_url, run_dir / "app", wrap=confined.wrap if confined else None)
    ok = False
    try:
        if stopper is not None:
            stopper.join()  # the previous server is gone before this one is loaded
        doc = run_load(LoadRequest(profile=req.profile, target=proc.url, stages=req.steps, scenario=req.scenario,
                                   locustfile=req.locustfile, config_files=req.config_files,
                                   out_dir=str(run_dir), state_dir=req.state_dir))
        ok = not doc.interrupted
    finally:
        if ok and stopper is not None:
            stopper.stop(proc)
        else:
            proc.stop()  # interrupted or failed: gone before anything else happens
    if doc.interrupted:
        raise KeyboardInterrupt
    knee = find_knee(list(doc.steps), slo)
    k = knee.step
    served = [v.rps for v in knee.steps if v.errors_ok]
    return SearchMeasurement(round=round_no, sustainable_rps=round(knee.sustainable_rps, 2),
                             peak_rps=round(max(served, default=0.0), 2),
                             knee_users=k.users if k else None, p95_ms=k.p95_ms if k else None,
                             error_rate=k.error_rate if k else None, slo_held_throughout=knee.slo_held_throughout,
                             reason=knee.reason, valid=k is not None,
                             results=str(Path(doc.out_dir or run_dir) / "results.json"))


def _conditions(req: SearchRequest) -> dict:
    from hmb_ops.resources import detect

    try:
        cpus: float | None = detect().cpus
    except Exception:  # noqa: BLE001 - informative only
        cpus = os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"machine": platform.node() or "unknown", "cpus": cpus, "load_average_at_start": load,
            "profile": req.profile, "scenario": req.scenario, "seed_scale": req.seed_scale,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _order(round_no: int, cands: list[Candidate], docs: dict[str, SearchCandidate]) -> list[Candidate]:
    """Round 1: every candidate that fits, in grid order (the formula's choice first). Later rounds:
    round 1's best, the formula's choice, then the next best two."""
    runnable = [c for c in cands if c.skipped is None]
    if round_no == 1:
        return runnable
    def first(c: Candidate) -> tuple[float, float]:
        ms = docs[c.label].measurements
        return (ms[0].sustainable_rps, ms[0].peak_rps) if ms else (-1.0, -1.0)

    ranked = sorted(runnable, key=first, reverse=True)
    formula = [c for c in runnable if c.formula]
    # The two the conclusion hinges on first (round 1's best, then the formula's choice: round 1 ran
    # the formula first), then the next contenders: a time budget that cuts the round short still
    # leaves the pick-versus-formula comparison with two rounds each.
    keep: list[Candidate] = []
    for c in ranked[:1] + formula + ranked[1:CONTENDERS]:
        if c not in keep:
            keep.append(c)
    return keep


def run_search(req: SearchRequest, cands: list[Candidate], plans: Callable[[int], object], *,
               formula_reason: str = "", progress: Callable[[str], None] | None = None) -> SearchDocument:
    """Measure, choose, write search.json (after every measurement too); KeyboardInterrupt after the
    partial document is written when the user stopped it."""
    from hmb_ops.capacity.knee import slo_for_steps

    if req.rounds < 1 or req.rounds > 5:
        raise UsageError(f"--search-rounds {req.rounds}: between 1 and 5")
    slo = slo_for_steps(req.slo)
    say = progress or (lambda _m: None)
    out = Path(req.out_dir).absolute() if req.out_dir else default_out_dir(req.state_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    docs = {c.label: SearchCandidate(label=c.label, worker_class=c.worker_class, workers=c.workers, threads=c.threads,
                                     db_pool_max=c.pool_max, formula=c.formula, skipped=c.skipped) for c in cands}
    formula_label = next(c.label for c in cands if c.formula)
    conds = _conditions(req)

    def document(interrupted: bool = False) -> SearchDocument:
        choice = choose(list(docs.values()), formula_reason=formula_reason)
        summed = [summarise(d, choice.ranked_by) for d in docs.values()]
        return SearchDocument(app=req.app, worker_class=cands[0].worker_class, slo=[t.name for t in slo],
                              steps=[[u, s] for u, s in req.steps], rounds=req.rounds, candidates=summed,
                              pick=choice.pick.label if choice.pick else None, formula=formula_label,
                              ranked_by=choice.ranked_by,
                              noise=choice.noise, gap=choice.gap, within_noise=choice.within_noise,
                              explanation=list(choice.explanation), interrupted=interrupted,
                              elapsed_s=round(time.monotonic() - started, 1), conditions=conds, out_dir=str(out))

    def save(doc: SearchDocument) -> SearchDocument:
        path = out / "search.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(doc.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return doc

    for c in cands:
        if c.skipped:
            say(f"skip {c.label}: {c.skipped}")
    if all(c.skipped for c in cands):
        save(document())
        raise UsageError("no candidate of the search grid fits the memory and connection budgets: "
                         + "; ".join(f"{c.label}: {c.skipped}" for c in cands),
                         hint="give a smaller --search-grid, a smaller --pool-max or the real --max-connections")
    stopper = Stopper()
    with ExitStack() as stack:
        stack.callback(stopper.join)
        confined = _confinement(req, stack, conds, say)
        database_url = _database(req, stack, say)
        if confined is not None and database_url:
            _pin_database(confined, req, database_url)
        per_run: list[float] = []
        try:
            for round_no in range(1, req.rounds + 1):
                order = _order(round_no, cands, docs)
                for i, cand in enumerate(order):
                    elapsed = time.monotonic() - started
                    typical = max(per_run) if per_run else 0.0
                    if round_no > 1 and elapsed + typical > req.time_budget_s:
                        say(f"round {round_no}: stopped at {elapsed:.0f} s to stay within the "
                            f"{req.time_budget_s:.0f} s budget ({len(order) - i} measurement(s) left out)")
                        break
                    say(f"round {round_no}: measuring {cand.label} ({cand.worker_class})")
                    t0 = time.monotonic()
                    m = measure(cand, round_no, req, plans(cand.threads), database_url, out, slo, stopper,
                                confined)
                    per_run.append(time.monotonic() - t0)
                    d = docs[cand.label]
                    docs[cand.label] = d.model_copy(update={"measurements": [*d.measurements, m]})
                    say(f"round {round_no}: {cand.label}: {m.sustainable_rps:.1f} req/s sustainable, peak "
                        f"{m.peak_rps:.1f} ({m.reason})")
                    save(document())
                else:
                    continue
                break
        except KeyboardInterrupt:
            save(document(interrupted=True))
            say(f"interrupted: partial results in {out / 'search.json'}")
            raise
    return save(document())


def _confinement(req: SearchRequest, stack: ExitStack, conds: dict, say: Callable[[str], None]):
    """A tier's or plan's CPU and memory limits around every candidate (hmb_ops.stack.confinement);
    None when the plan is for this machine as it is."""
    if req.confine_cpus is None and req.confine_memory_bytes is None:
        return None
    from hmb_ops.stack.confinement import Confined, console_line, plan_confinement

    plan = plan_confinement(req.confine_cpus, req.confine_memory_bytes)
    for w in plan.warnings:
        say(f"warning: {w}")
    confined = stack.enter_context(Confined(plan))
    conds["confinement"] = plan.record()
    line = console_line(plan.record())
    if line:
        say(line)
    return confined


def _pin_database(confined, req: SearchRequest, database_url: str) -> None:
    """The embedded PostgreSQL off the app's CPUs (a server that is not ours is left alone)."""
    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.resolve import configured_url

    if configured_url(req.database_url) is not None:
        return
    pid = EmbeddedServer(req.state_dir).pid()
    if pid is not None:
        confined.pin_outside(pid)


def _database(req: SearchRequest, stack: ExitStack, say: Callable[[str], None]) -> str:
    """The reference app's database with its seed data and indexes (started when embedded); a foreign
    app's is its own: DATABASE_URL as configured, never seeded or changed by the search."""
    from hmb_ops.db.resolve import configured_url, database_for_run

    if req.app != REFAPP:
        configured = configured_url(req.database_url)
        return configured[0] if configured else os.environ.get("DATABASE_URL", "")
    url, started = stack.enter_context(database_for_run(req.database_url, req.state_dir))
    if started:
        say("started the embedded PostgreSQL (stopped again after the search)")
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes

    ensure_seeded(url, scale=req.seed_scale)
    ensure_indexes(url)
    return url
