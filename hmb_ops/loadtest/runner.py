"""Run the generator child, collect its raw measurements, and stop it on time or on a signal.

The parent never imports locust. The child writes JSON lines; we keep raw latencies per second and
per endpoint (uint32 µs arrays, a few MB even for long runs) so every window — whole run, endpoint,
step, second — gets its own exact HDR histogram at the end.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.loadtest import histogram
from hmb_ops.loadtest.profiles import RunPlan
from hmb_ops.loadtest.sampling import GeneratorSampler

START_TIMEOUT_S = 60.0   # importing locust and connecting workers
STOP_GRACE_S = 15.0


@dataclass
class Second:
    values: dict[str, array] = field(default_factory=dict)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    users: int = 0
    late: int = 0
    sent: int = 0
    slots: int = 0


@dataclass
class Collected:
    started_at: float | None = None     # wall time the shape started
    ended_at: float | None = None
    seconds: dict[int, Second] = field(default_factory=dict)
    interrupted: str | None = None      # signal name when stopped by the user
    aborted: str | None = None          # --abort-on-fail: when and which threshold stopped the run
    problems: list[str] = field(default_factory=list)
    generator: Any = None               # GeneratorSampler, or cpu_report's ReportedCpu / MergedCpu
    processes: int = 1
    cpu_reports: list[dict] = field(default_factory=list)  # each process's own CPU, per interval

    def ingest(self, msg: dict) -> Second | None:
        if self.started_at is None:
            return None
        idx = max(0, int(msg["t"] - self.started_at - 0.5))
        sec = self.seconds.setdefault(idx, Second())
        for name, enc in msg.get("v", {}).items():
            sec.values.setdefault(name, array("I")).extend(histogram.decode_values(enc))
        for name, kinds in msg.get("f", {}).items():
            into = sec.failures.setdefault(name, {})
            for kind, n in kinds.items():
                into[kind] = into.get(kind, 0) + int(n)
        sec.users = max(sec.users, int(msg.get("users", 0)))
        sec.late += int(msg.get("late", 0))
        sec.sent += int(msg.get("sent", 0))
        sec.slots += int(msg.get("slots", 0))
        cpu = msg.get("cpu")
        if isinstance(cpu, dict) and "percent" in cpu:
            self.cpu_reports.append({"t": float(msg["t"]), "id": str(cpu.get("id")),
                                     "percent": float(cpu["percent"]), "cpu_s": float(cpu.get("cpu_s") or 0.0)})
        return sec

    def reported_cpu(self):
        """The CPU the generator processes reported themselves (cpu_report.ReportedCpu)."""
        from hmb_ops.loadtest.cpu_report import ReportedCpu

        reported = ReportedCpu(self.cpu_reports)
        if self.started_at is not None:
            reported.mark_start(self.started_at)
        return reported


class _Signals:
    """SIGINT/SIGTERM set a flag while a run is in progress (main thread only)."""

    def __init__(self):
        self.caught: str | None = None
        self._old: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame):
        self.caught = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_generator(plan: RunPlan, spec: dict, work_dir: Path, *, progress: Callable | None = None,
                  signals: _Signals | None = None,
                  on_second: Callable[[Collected], str | None] | None = None) -> Collected:
    """Start the Locust child, read its intervals until it is done, the deadline passes or a signal."""
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_path = work_dir / "generator-spec.json"
    spec_path.write_text(json.dumps(spec))
    log = open(work_dir / "generator.log", "wb")  # noqa: SIM115 - the child's stderr; closed once it has exited
    proc = subprocess.Popen([sys.executable, "-m", "hmb_ops.loadtest.worker", str(spec_path)],
                            stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None  # stdout=PIPE

    def reader():
        for raw in stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    got = Collected(processes=plan.processes)
    got.generator = GeneratorSampler(proc.pid)
    got.generator.start()
    start_deadline = time.monotonic() + START_TIMEOUT_S
    end_deadline: float | None = None
    stop_sent_at: float | None = None
    last_check = 0.0
    done = False
    try:
        while not done:
            now = time.monotonic()
            if signals is not None and signals.caught and stop_sent_at is None:
                got.interrupted = signals.caught
                _kill_group(proc, signal.SIGTERM)
                stop_sent_at = now
            if stop_sent_at is None and ((got.started_at is None and now > start_deadline)
                                         or (end_deadline is not None and now > end_deadline)):
                got.problems.append("the generator did not finish in time and was stopped")
                _kill_group(proc, signal.SIGTERM)
                stop_sent_at = now
            if stop_sent_at is not None and now - stop_sent_at > STOP_GRACE_S:
                _kill_group(proc, signal.SIGKILL)
                break
            try:
                raw = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if raw is None:
                break
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "started":
                got.started_at = float(msg["t"])
                got.generator.mark_start()
                end_deadline = time.monotonic() + plan.duration + 30
            elif kind == "interval":
                sec = got.ingest(msg)
                if sec is not None and progress is not None:
                    progress(_live_row(got, plan))
                if on_second is not None and stop_sent_at is None and now - last_check >= 1.0:
                    last_check = now
                    got.aborted = on_second(got)  # a message when a threshold marked for abort is breached
                    if got.aborted:
                        _kill_group(proc, signal.SIGTERM)
                        stop_sent_at = now
            elif kind == "error":
                got.problems.append(str(msg.get("message")))
            elif kind == "done":
                got.ended_at = float(msg["t"])
                done = True
    finally:
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        _kill_group(proc, signal.SIGKILL)  # Locust worker children, if any outlived the master
        got.generator.stop()
        log.close()
    if got.cpu_reports:
        from hmb_ops.loadtest.cpu_report import MergedCpu

        got.generator = MergedCpu(got.generator, got.reported_cpu())
    if got.ended_at is None:
        got.ended_at = time.time()
        if got.started_at is not None and not got.interrupted and not got.problems:
            got.problems.append(f"the load generator exited early (exit code {proc.returncode}); "
                                f"see {work_dir / 'generator.log'}")
    if got.started_at is None and not got.interrupted:
        tail = (work_dir / "generator.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentUnusable(f"the load generator did not start: {tail[0]}",
                                  hint=f"see {work_dir / 'generator.log'}")
    return got


def _live_row(got: Collected, plan: RunPlan) -> dict:
    """Progress for the live view: elapsed, users, last complete second's RPS and p95."""
    last = max(got.seconds) if got.seconds else 0
    sec = got.seconds.get(last - 1) or got.seconds.get(last) or Second()
    values = [v for arr in sec.values.values() for v in arr]
    failures = sum(n for kinds in sec.failures.values() for n in kinds.values())
    p95 = 0.0
    if values:
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))] / 1000.0
    elapsed = time.time() - (got.started_at or time.time())
    return {"elapsed_s": round(elapsed, 1), "duration_s": plan.duration, "users": sec.users,
            "rps": float(sec.sent), "p95_ms": round(p95, 2), "failures": failures,
            "total_requests": sum(s.sent for s in got.seconds.values())}
