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

from hmb_ops.errors import StateDirError
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


def run_load(req: LoadRequest, *, progress: Callable[[dict], None] | None = None) -> Results:
    """Run one load test and return the results document (also written to out_dir/results.json;
    `out_dir` names the folder).

    Without req.target the database, data, indexes and the reference app are brought up first and
    torn down after, also on failure or SIGINT/SIGTERM. An interrupted run still returns (and
    writes) its partial results with `interrupted: true` and `valid: false`.
    """
    from hmb_ops.loadtest.orchestrate import check_target

    plan = build_plan(req.profile, config_files=tuple(req.config_files), users=req.users,
                      spawn_rate=req.spawn_rate, duration=req.duration, arrival_rate=req.arrival_rate,
                      processes=req.processes, stages=req.stages)
    target = check_target(req.target, req.allow_remote) if req.target else None
    out_dir = Path(req.out_dir).absolute() if req.out_dir else default_out_dir(req.state_dir, req.profile)
    created = not out_dir.exists()
    _make_dir(out_dir)
    try:
        return _run(req, plan, target, out_dir, progress)
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a run that never started leaves nothing behind
        raise


def _run(req: LoadRequest, plan, target: str | None, out_dir: Path, progress) -> Results:
    from hmb_ops.loadtest.orchestrate import Stack, probe
    from hmb_ops.loadtest.results import build_document
    from hmb_ops.loadtest.runner import _Signals, run_generator
    from hmb_ops.loadtest.sampling import ServerSampler

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
            if signals.caught:
                raise KeyboardInterrupt
            spec = {"target": target, "stages": [list(s) for s in plan.stages], "spawn_rate": plan.spawn_rate,
                    "think_time": list(plan.think_time), "mix": plan.mix, "request_timeout": plan.request_timeout,
                    "arrival_rate": plan.arrival_rate, "processes": plan.processes, "duration": plan.duration,
                    "seeded_users": (stack.seeded_users if stack else None) or DEFAULT_SEEDED_USERS,
                    "password": DEFAULT_PASSWORD, "master_port": free_port() if plan.processes > 1 else None,
                    "user_offset": int(time.time()) % 997}
            sampler = None
            if stack is not None and stack.app is not None:
                sampler = ServerSampler(stack.app.worker_pids, stack.database_url, target)
                sampler.start()
            started_iso = datetime.now(UTC).isoformat(timespec="seconds")
            note(f"load: {plan.profile} against {target} for {plan.duration:g} s")
            try:
                collected = run_generator(plan, spec, out_dir / "generator", progress=progress, signals=signals)
            finally:
                if sampler is not None:
                    sampler.stop()
            config = {"users": plan.max_users, "spawn_rate": plan.spawn_rate, "duration_s": plan.duration,
                      "arrival_rate": plan.arrival_rate, "stages": [list(s) for s in plan.stages],
                      "think_time": list(plan.think_time), "mix": plan.mix,
                      "app_env": (stack.server_info.get("app_env") if stack else None) or (req.app_env or {}),
                      "with_indexes": req.with_indexes if stack else None,
                      "seed_scale": req.seed_scale if stack else None}
            server = None
            if stack is not None:
                server = {k: v for k, v in stack.server_info.items() if k != "app_env"}
            doc = build_document(plan=plan, collected=collected, target=target, tier=(stack.server_info.get("tier")
                                 if stack else req.tier), started_iso=started_iso, server=server,
                                 server_samples=sampler.samples if sampler else None, config=config,
                                 out_dir=str(out_dir))
        write_outputs(doc, out_dir)
    return doc


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
    started_iso = datetime.fromtimestamp(got.started_at, UTC).isoformat(timespec="seconds")
    out = _make_dir(Path(out_dir).absolute() if out_dir else default_out_dir(state_dir, profile))
    doc = build_document(plan=plan, collected=got, target=target, tier=None, started_iso=started_iso, server=None,
                         server_samples=None, config={"users": plan.max_users, "spawn_rate": plan.spawn_rate,
                                                      "duration_s": plan.duration, "arrival_rate": None,
                                                      "stages": [list(s) for s in plan.stages],
                                                      "distributed": True,
                                                      "generator_cpu": "not sampled: check each worker machine"},
                         out_dir=str(out))
    write_outputs(doc, out)
    return doc


def load_results(path) -> Results:
    """A results.json (or the folder holding it), validated; corrupt or missing → ConfigError (exit 2)."""
    from hmb_ops.documents import read_results

    return read_results(path)
