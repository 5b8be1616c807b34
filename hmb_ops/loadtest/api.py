"""What other areas call: one load run as data (LoadRequest → results document), and reading results back.

    doc = run_load(LoadRequest(profile="step", tier="small", stages=((10, 20), (20, 20))))
    doc.steps[i].latency_ms.p95, doc.out_dir          # a hmb_ops.documents.Results

The parent process never imports locust: the generator runs in child processes
(`python -m hmb_ops.loadtest.worker`), which send raw latencies back over a pipe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hmb_ops.errors import StateDirError, UsageError
from hmb_ops.loadtest.profiles import build_plan
from hmb_ops.loadtest.results import write_outputs
from hmb_ops.ports import free_port

if TYPE_CHECKING:
    from hmb_ops.documents import Results

DEFAULT_PASSWORD = "hmb-ops-demo"
DEFAULT_SEEDED_USERS = 1000


@dataclass(frozen=True)
class LoadRequest:
    profile: str = "smoke"
    tier: str | None = None
    target: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None
    arrival_rate: float | None = None
    processes: int | None = None
    out_dir: str | None = None
    allow_remote: bool = False
    config_files: tuple[str, ...] = ()
    database_url: str | None = None
    state_dir: str = ".hmb-ops"
    app_env: dict[str, str] | None = None
    app_workers: int | None = None
    app_threads: int | None = None
    app_worker_class: str | None = None
    app_config_file: str | None = None
    seed_scale: str = "small"
    with_indexes: bool = True
    stages: tuple | None = None
    server_pid: int | None = None            # sample this process tree (--target runs)
    metrics_url: str | None = None           # scrape this Prometheus endpoint (--target runs)
    metrics: tuple[str, ...] = ()            # the families to keep (added to the reference app's own)
    locustfile: str | None = None     # a user's locustfile: its User classes instead of the built-in ones
    arrival_rates: tuple[float, ...] | None = None  # one rate per stage: a ramping open model (loadtest.arrival)
    scenario: str | None = None       # a scenario file (docs/scenarios.md); None: the reference app's
    # The app's limits (hmb_ops.stack.confinement; docs/confinement.md): None = not limited.
    app_cpus: float | None = None
    app_memory_bytes: int | None = None
    require_confinement: bool = False  # exit 3 instead of measuring a plan that cannot be emulated
    reset_data: bool = True            # embedded default: start from the seeded template (hmb_ops.db.template)


def default_out_dir(state_dir: str | Path, profile: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = Path(state_dir).absolute() / "results" / f"{stamp}-{profile}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _make_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"cannot create the results folder {path}: {exc.strerror or exc}",
                            hint="choose another --out or --state-dir") from None
    return path


def run_load(req: LoadRequest, *, progress: Callable[[dict], None] | None = None,
             abort: Callable | None = None) -> Results:
    """Run one load test and return the results document (also written to out_dir/results.json;
    `out_dir` names the folder).

    Without req.target the database, data, indexes and the reference app are brought up first and
    torn down after, also on failure or SIGINT/SIGTERM. An interrupted run still returns (and
    writes) its partial results with `interrupted: true` and `valid: false`. `abort` (a
    hmb_ops.gates.live.LiveJudge) is asked once a second about the run so far; a message stops the
    run and is kept as `aborted`.
    """
    from hmb_ops.loadtest.orchestrate import check_target

    plan = build_plan(req.profile, config_files=tuple(req.config_files), users=req.users,
                      spawn_rate=req.spawn_rate, duration=req.duration, arrival_rate=req.arrival_rate,
                      processes=req.processes, stages=req.stages, scenario=req.scenario)
    if req.arrival_rates:
        from dataclasses import replace

        from hmb_ops.loadtest import arrival

        if req.arrival_rate:
            raise UsageError("give one arrival rate, or one per stage, not both")
        arrival.check_stages(req.arrival_rates, plan.stages)
        plan = replace(plan, arrival_rate=arrival.mean_rate(req.arrival_rates, plan.stages))
    target = check_target(req.target, req.allow_remote) if req.target else None
    for warning in check_sampling(req):  # --server-pid, --metrics-url: exit 2 before anything starts
        if progress is not None:
            progress({"phase": "setup", "message": warning})
    user_classes = None
    if req.locustfile:
        from hmb_ops.loadtest.user_locustfile import check_in_child

        # a bad file is exit 2 before anything starts
        user_classes = [c["name"] for c in check_in_child(req.locustfile, target)]
    out_dir = Path(req.out_dir).absolute() if req.out_dir else default_out_dir(req.state_dir, req.profile)
    created = not out_dir.exists()
    _make_dir(out_dir)
    try:
        return _run(req, plan, target, out_dir, progress, abort, user_classes)
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a run that never started leaves nothing behind
        raise


def check_sampling(req: LoadRequest) -> list[str]:
    """Before anything starts: --server-pid and --metrics-url must name something we can read (exit 2).
    Returns warning lines (a chosen --metric family the endpoint does not expose now)."""
    from hmb_ops.errors import UsageError
    from hmb_ops.loadtest.process_sampler import check_pid
    from hmb_ops.loadtest.prom_scrape import check_metrics_url, check_url, missing_note

    if not req.target and (req.server_pid is not None or req.metrics_url):
        raise UsageError("--server-pid and --metrics-url describe the app at --target",
                         hint="without --target hmb-ops starts the reference app and samples it itself")
    if req.metrics and not req.metrics_url and req.target:
        raise UsageError("--metric names a family to scrape from --metrics-url, which is missing")
    if req.server_pid is not None:
        check_pid(req.server_pid, req.target)
    if req.metrics_url:
        url = check_metrics_url(req.metrics_url, req.allow_remote)
        note = missing_note(url, tuple(req.metrics), check_url(url, req.metrics))
        return [note] if note else []
    return []


def _sampler(req: LoadRequest, stack, target: str):
    """The server sampler of this run and the server block's fields, or (None, None)."""
    from hmb_ops.loadtest.process_sampler import ProcessTree
    from hmb_ops.loadtest.prom_scrape import Scraper
    from hmb_ops.loadtest.sampling import REFERENCE_METRICS, ServerSampler

    if stack is not None:
        if stack.app is None:
            return None, None
        families = tuple(dict.fromkeys(REFERENCE_METRICS + tuple(req.metrics)))
        info = {k: v for k, v in stack.server_info.items() if k != "app_env"}
        info.update(pid=stack.app.pid, metrics_url=target + "/metrics", database_sampled=True)
        optional = tuple(f for f in REFERENCE_METRICS if f not in req.metrics)
        return ServerSampler(processes=ProcessTree(stack.app.pid), database_url=stack.database_url,
                             scraper=Scraper(target + "/metrics", families, optional=optional)), info
    if req.server_pid is None and not req.metrics_url and not req.database_url:
        return None, None
    info = {"pid": req.server_pid, "metrics_url": req.metrics_url, "database_sampled": bool(req.database_url)}
    return ServerSampler(processes=ProcessTree(req.server_pid) if req.server_pid is not None else None,
                         database_url=req.database_url,
                         scraper=Scraper(req.metrics_url, tuple(req.metrics)) if req.metrics_url else None), info


def on_run_clock(confinement: dict | None, started_at: float | None) -> dict | None:
    """The confinement record with each OOM kill's `t` on the run's clock (the time series' and the
    server samples'), not the memory watch's, which starts seconds earlier with the app."""
    if not confinement or not started_at:
        return confinement
    kills = [{**k, "t": round(k["wall"] - started_at, 2)} if k.get("wall") else k
             for k in confinement.get("oom_kills") or []]
    return {**confinement, "oom_kills": kills}


def _think_note(plan) -> str | None:
    """One line when a profile's think time replaces the one the user's scenario file gave."""
    if plan.scenario_think is None:
        return None
    return (f"think time: profile {plan.profile}'s {_span(plan.think_time)} replaces the scenario's own "
            f"{_span(plan.scenario_think)} (a profile without think_time keeps the scenario's)")


def _span(think) -> str:
    lo, hi = think
    return f"{lo:g} s" if lo == hi else f"{lo:g}-{hi:g} s"


def _run(req: LoadRequest, plan, target: str | None, out_dir: Path, progress, abort,
         user_classes: list[str] | None = None) -> Results:
    from hmb_ops.loadtest.live import LiveView
    from hmb_ops.loadtest.orchestrate import Stack, probe
    from hmb_ops.loadtest.results import build_document, with_sampling
    from hmb_ops.loadtest.runner import _Signals, run_generator

    def note(message: str) -> None:
        if progress is not None:
            progress({"phase": "setup", "message": message})

    with _Signals() as signals:
        stack = Stack(req, out_dir, note=note, should_stop=lambda: signals.caught is not None) if not target else None
        with stack if stack is not None else _Null():
            if stack is not None:
                target = stack.url
            assert target is not None  # the caller's --target, or the URL of the app the stack started
            probe(target)
            if req.target and not req.locustfile and plan.scenario is None:
                _check_reference_login(plan, target)
            if signals.caught:
                raise KeyboardInterrupt
            rates = req.arrival_rates or plan.stage_rates  # one per stage: --arrival-rate R1,R2,… or the profile's
            spec = {"target": target, "stages": [list(s) for s in plan.stages], "spawn_rate": plan.spawn_rate,
                    "think_time": list(plan.think_time), "mix": plan.mix, "request_timeout": plan.request_timeout,
                    "arrival_rate": plan.arrival_rate, "processes": plan.processes, "duration": plan.duration,
                    "seeded_users": (stack.seeded_users if stack else None) or DEFAULT_SEEDED_USERS,
                    "password": DEFAULT_PASSWORD, "master_port": free_port() if plan.processes > 1 else None,
                    # the reference app's seeded users: each run starts at another one
                    "user_offset": int(time.time()) % 997 if plan.scenario is None else 0,
                    "scenario": str(Path(plan.scenario).absolute()) if plan.scenario else None,
                    "locustfile": str(Path(req.locustfile).absolute()) if req.locustfile else None,
                    "arrival_stages": ([[r, s] for r, (_, s) in zip(rates, plan.stages, strict=True)]
                                       if rates else None)}
            sampler, server = _sampler(req, stack, target)
            if sampler is not None:
                sampler.mark_start()
                sampler.start()
            on_second = None
            if abort:
                view = LiveView(sampler, server)

                def on_second(got):
                    return abort(view.update(got))
            started_iso = datetime.now(UTC).isoformat(timespec="seconds")
            think_note = None if req.locustfile else _think_note(plan)
            if think_note:
                note(think_note)
            note(f"load: {plan.profile} against {target} for {plan.duration:g} s")
            try:
                collected = run_generator(plan, spec, out_dir / "generator", progress=progress, signals=signals,
                                          on_second=on_second)
            finally:
                if sampler is not None:
                    sampler.stop()
            config = {"users": plan.max_users, "spawn_rate": plan.spawn_rate, "duration_s": plan.duration,
                      "arrival_rate": plan.arrival_rate, "stages": [list(s) for s in plan.stages],
                      # a locustfile's own classes ran (their wait_time, their tasks): no profile mix or think
                      "think_time": None if req.locustfile else list(plan.think_time),
                      "think_time_source": "locustfile" if req.locustfile else plan.think_source,
                      "think_time_replaced": list(plan.scenario_think) if plan.scenario_think and not req.locustfile
                      else None,
                      "think_time_note": think_note,
                      "mix": None if req.locustfile else plan.mix,
                      "scenario": None if req.locustfile else plan.scenario_name,
                      "scenario_file": plan.scenario,
                      "locustfile": req.locustfile,
                      "user_classes": user_classes,
                      "arrival_rates": list(rates) if rates else None,
                      "app_env": (stack.server_info.get("app_env") if stack else None) or (req.app_env or {}),
                      "with_indexes": req.with_indexes if stack else None,
                      "seed_scale": req.seed_scale if stack else None}
            if sampler is not None and server is not None:
                server = with_sampling(server, sampler)
            elif stack is not None:
                server = {k: v for k, v in stack.server_info.items() if k != "app_env"}
            doc = build_document(plan=plan, collected=collected, target=target, tier=(stack.server_info.get("tier")
                                 if stack else req.tier), started_iso=started_iso, server=server,
                                 server_samples=sampler.samples if sampler else None, config=config,
                                 out_dir=str(out_dir))
            if stack is not None:  # how the app was confined and which data it started from
                from hmb_ops.documents.results import Confinement, DataState

                confinement, data = on_run_clock(stack.confinement_record(), collected.started_at), stack.data_record
                doc = doc.model_copy(update={"confinement": Confinement.model_validate(confinement) if confinement
                                             else None, "data": DataState.model_validate(data) if data else None})
        write_outputs(doc, out_dir)
    return doc


def _check_reference_login(plan, target: str) -> None:
    """The reference scenario against a --target: one real login first (exit 3 on a foreign app)."""
    from hmb_ops.loadtest.scenario.load import load_scenario
    from hmb_ops.loadtest.scenario.preflight import check_first_step

    compiled = load_scenario(None, mix=plan.mix, overrides={"password": DEFAULT_PASSWORD})
    check_first_step(compiled, target, timeout=min(plan.request_timeout, 10.0))


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def results_from_raw(raw_path, *, profile: str, config_files: tuple[str, ...] = (), out_dir: str | None = None,
                     state_dir: str = ".hmb-ops") -> Results:
    """Results of a distributed run driven by Locust's own CLI (see locustfile.py) from its raw lines."""
    import json

    from hmb_ops.errors import ConfigError
    from hmb_ops.loadtest.results import build_document
    from hmb_ops.loadtest.runner import Collected

    plan = build_plan(profile, config_files=tuple(config_files))
    got = Collected()
    target = "unknown"
    try:
        lines = Path(raw_path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read raw measurements: {exc.strerror or exc}", path=str(raw_path)) from None
    for n, line in enumerate(lines, 1):
        try:
            msg = json.loads(line)
            kind = msg["type"]
            if kind == "started" and got.started_at is None:
                got.started_at, target = float(msg["t"]), msg.get("target") or target
            elif kind == "interval":
                got.ingest(msg)
            elif kind == "done":
                got.ended_at = float(msg["t"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("not a raw measurement line from hmb_ops/loadtest/locustfile.py",
                              path=str(raw_path), line=n) from None
    if got.started_at is None:
        raise ConfigError("no 'started' line: was the run started?", path=str(raw_path))
    if got.ended_at is None:
        got.ended_at = got.started_at + (max(got.seconds) + 1 if got.seconds else 0)
    if got.cpu_reports:  # each worker's own CPU, sent with its measurements (cpu_report)
        got.generator = got.reported_cpu()
        # The processes are the Locust workers that reported (one id each), not the profile's count.
        got.processes = len(got.generator.processes_seen)
    started_iso = datetime.fromtimestamp(got.started_at, UTC).isoformat(timespec="seconds")
    out = _make_dir(Path(out_dir).absolute() if out_dir else default_out_dir(state_dir, profile))
    doc = build_document(plan=plan, collected=got, target=target, tier=None, started_iso=started_iso, server=None,
                         server_samples=None, config={"users": plan.max_users, "spawn_rate": plan.spawn_rate,
                                                      "duration_s": plan.duration, "arrival_rate": None,
                                                      "stages": [list(s) for s in plan.stages],
                                                      "distributed": True,
                                                      "generator_cpu": ("reported by each worker" if got.cpu_reports
                                                                        else "not reported by the workers")},
                         out_dir=str(out))
    write_outputs(doc, out)
    return doc


def load_results(path) -> Results:
    """A results.json (or the folder holding it), validated; corrupt or missing → ConfigError (exit 2)."""
    from hmb_ops.documents import read_results

    return read_results(path)
