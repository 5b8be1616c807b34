"""The load generator child: `python -m hmb_ops.loadtest.worker SPEC.json [--worker PORT INDEX]`.

It runs Locust headless (local runner, or master + worker children for --processes) and writes
one JSON line per interval to stdout: raw latencies (µs, base64 uint32 arrays) and failure counts
per endpoint, plus the current user count. The parent turns those into HDR histograms; this
process never touches PostgreSQL. SIGTERM/SIGINT stop the users, flush the last interval and exit.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402 - after monkey.patch_all(), which must run first
from locust.env import Environment  # noqa: E402 - after monkey.patch_all()

from hmb_ops.errors import ExitStatus  # noqa: E402 - after monkey.patch_all()
from hmb_ops.loadtest import behaviour  # noqa: E402 - after monkey.patch_all()
from hmb_ops.loadtest.cpu_report import CpuMeter  # noqa: E402 - after monkey.patch_all()

if TYPE_CHECKING:
    from locust.runners import LocalRunner, MasterRunner

INTERVAL_S = 1.0
_out = sys.stdout


def emit(doc: dict) -> None:
    _out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    _out.flush()


def _quiet_locust() -> None:
    import logging

    logging.getLogger().handlers.clear()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)


def _drain(meter: CpuMeter) -> dict:
    """One interval: the measurements, plus this process's own CPU (see cpu_report)."""
    return {**behaviour.RECORDER.drain(), "cpu": meter.reading()}


def _flush_loop(send, meter: CpuMeter) -> None:
    while True:
        gevent.sleep(INTERVAL_S)
        send(_drain(meter))


def _environment(spec: dict, shape=None) -> Environment:
    """Locust's environment for the spec: the built-in users, or the classes of the user's
    locustfile (with Locust's global events, which its listeners were registered on)."""
    if spec.get("locustfile"):
        import locust

        from hmb_ops.loadtest import user_locustfile

        classes = user_locustfile.prepare(spec, locust.events, behaviour.RECORDER)
        return Environment(user_classes=classes, shape_class=shape, events=locust.events, stop_timeout=0)
    return Environment(user_classes=[behaviour.make_user_class(spec)], shape_class=shape, events=None,
                       stop_timeout=0)


def run_local_or_master(spec: dict) -> int:
    shape = behaviour.make_shape(spec["stages"], spec["spawn_rate"])
    env = _environment(spec, shape)
    meter = CpuMeter("master" if int(spec.get("processes") or 1) > 1 else "local")
    processes = int(spec.get("processes") or 1)
    children: list[subprocess.Popen] = []
    runner: MasterRunner | LocalRunner
    if processes > 1:
        runner = env.create_master_runner("127.0.0.1", int(spec["master_port"]))

        ready_by_worker: dict = {}

        def on_data(msg, **_kw):
            ready_by_worker[msg.node_id] = int(msg.data.get("ready", 0))
            emit({"type": "interval", **msg.data, "users": min(runner.user_count, sum(ready_by_worker.values()))})

        runner.register_message("hmb_data", on_data)
        for i in range(processes):
            children.append(subprocess.Popen(
                [sys.executable, "-m", "hmb_ops.loadtest.worker", spec["spec_path"], "--worker",
                 str(spec["master_port"]), str(i)], stdout=subprocess.DEVNULL))
        emit({"type": "workers", "pids": [c.pid for c in children]})
        deadline = time.monotonic() + 30
        while runner.worker_count < processes and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if runner.worker_count < processes:
            emit({"type": "error", "message": f"only {runner.worker_count} of {processes} Locust workers connected"})
            runner.quit()
            return ExitStatus.ENVIRONMENT
    else:
        runner = env.create_local_runner()
        gevent.spawn(_flush_loop, lambda d: emit({"type": "interval", **d,
                                                  "users": min(runner.user_count, d["ready"])}), meter)
    env.events.init.fire(environment=env, runner=runner, web_ui=None)  # a locustfile's init listeners

    stopping = {"flag": False}

    def on_signal(*_a):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    emit({"type": "started", "t": time.time()})
    runner.start_shape()
    bound = time.monotonic() + float(spec["duration"]) + 30
    gevent.sleep(0.5)
    while not stopping["flag"] and time.monotonic() < bound:
        if runner.state in ("stopped", "stopping") or (runner.shape_greenlet is not None and runner.shape_greenlet.dead
                                                       and runner.user_count == 0):
            break
        gevent.sleep(0.1)
    runner.stop()
    if processes > 1:
        gevent.sleep(INTERVAL_S * 2)  # workers flush their last interval on test_stop
    else:
        emit({"type": "interval", **_drain(meter), "users": 0})
    runner.quit()
    for c in children:
        try:
            c.wait(timeout=10)
        except subprocess.TimeoutExpired:
            c.kill()
    emit({"type": "done", "t": time.time()})
    return ExitStatus.OK


def run_worker(spec: dict, port: int, index: int) -> int:
    spec = {**spec, "user_offset": int(spec.get("user_offset", 0)) + index * 7919}
    env = _environment(spec)
    runner = env.create_worker_runner("127.0.0.1", port)
    env.events.init.fire(environment=env, runner=runner, web_ui=None)
    meter = CpuMeter(f"worker-{index}")

    def send(data: dict) -> None:
        runner.send_message("hmb_data", data)

    gevent.spawn(_flush_loop, send, meter)

    @env.events.test_stop.add_listener
    def _final(**_kw):
        send(_drain(meter))

    signal.signal(signal.SIGTERM, lambda *_a: runner.quit())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when to stop
    runner.greenlet.join()
    return ExitStatus.OK


def main(argv: list[str]) -> int:
    _quiet_locust()
    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    spec["spec_path"] = argv[0]
    from hmb_ops.loadtest.user_locustfile import LocustfileError

    try:
        if len(argv) >= 4 and argv[1] == "--worker":
            return run_worker(spec, int(argv[2]), int(argv[3]))
        return run_local_or_master(spec)
    except LocustfileError as exc:  # checked before the run; changed on disk since
        emit({"type": "error", "message": str(exc)})
        return ExitStatus.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
