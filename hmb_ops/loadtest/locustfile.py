"""hmb-ops' behaviour and profiles for Locust's own CLI: distributed runs across several machines.

    # every machine has hmb-ops installed; the profile and where raw measurements go come from the env
    master$  HMB_PROFILE=step HMB_RAW_OUT=raw.jsonl locust -f hmb_ops/loadtest/locustfile.py \\
               --master --headless --expect-workers 4 --host http://APP:8000
    worker$  HMB_PROFILE=step locust -f hmb_ops/loadtest/locustfile.py --worker --master-host MASTER
    master$  hmb-ops loadtest --profile step --from-raw raw.jsonl --out results/

Workers send raw latencies and their own CPU to the master over Locust's own message channel; the
master appends them to HMB_RAW_OUT in the generator child's line format, which `--from-raw` turns
into the usual results folder (marked not valid if any worker's CPU saturated). Stages come from the
profile (a LoadTestShape), so -u/-r/-t are not needed. With HMB_LOCUSTFILE=path/to/your_locustfile.py
(on every machine) the users are that file's User classes instead of the built-in ones.
"""

from __future__ import annotations

import json
import os
import time

import gevent
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from hmb_ops.loadtest import behaviour
from hmb_ops.loadtest.cpu_report import CpuMeter
from hmb_ops.loadtest.profiles import build_plan

_configs = tuple(p for p in os.environ.get("HMB_OPS_CONFIG", "").split(os.pathsep) if p)
PLAN = build_plan(os.environ.get("HMB_PROFILE", "smoke"), config_files=_configs)
SPEC = {"target": os.environ.get("HMB_TARGET"), "stages": [list(s) for s in PLAN.stages],
        "spawn_rate": PLAN.spawn_rate, "think_time": list(PLAN.think_time), "mix": PLAN.mix,
        "request_timeout": PLAN.request_timeout, "arrival_rate": None, "processes": 1,
        "seeded_users": int(os.environ.get("HMB_SEEDED_USERS", "1000")),
        "password": os.environ.get("HMB_PASSWORD", "hmb-ops-demo"),
        "user_offset": os.getpid() % 997}

if os.environ.get("HMB_LOCUSTFILE"):
    from hmb_ops.loadtest import user_locustfile

    # The user's classes become this module's globals, which is where Locust looks for users; the
    # target is Locust's --host (no class may name another, see user_locustfile.host_conflict).
    _USER_CLASSES = user_locustfile.load_user_classes(os.environ["HMB_LOCUSTFILE"])
    globals().update({cls.__name__: cls for cls in _USER_CLASSES})
    user_locustfile.attach_recorder(events, behaviour.RECORDER)
    behaviour.RECORDER.ready = 10**9  # no log-in phase of ours: every spawned user is ready
else:
    HmbUser = behaviour.make_user_class(SPEC)
_ENDS = [sum(s for _, s in PLAN.stages[: i + 1]) for i in range(len(PLAN.stages))]


class HmbShape(LoadTestShape):
    def tick(self):
        elapsed = self.get_run_time()
        for (users, _), end in zip(PLAN.stages, _ENDS, strict=True):
            if elapsed < end:
                return int(users), float(PLAN.spawn_rate)
        return None


class _RawOut:
    def __init__(self, path: str):
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - written until the process exits

    def write(self, doc: dict) -> None:
        self.fh.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self.fh.flush()


@events.init.add_listener
def _on_init(environment, **_kw):
    runner = environment.runner
    meter = CpuMeter()  # this machine and process: sent with each interval

    def drain() -> dict:
        return {**behaviour.RECORDER.drain(), "cpu": meter.reading()}

    if isinstance(runner, WorkerRunner):
        def flush():
            while True:
                gevent.sleep(1.0)
                runner.send_message("hmb_data", drain())

        gevent.spawn(flush)
        environment.events.test_stop.add_listener(lambda **_k: runner.send_message("hmb_data", drain()))
        return
    out = _RawOut(os.environ.get("HMB_RAW_OUT", "hmb-raw.jsonl"))
    environment.events.test_start.add_listener(
        lambda **_k: out.write({"type": "started", "t": time.time(), "target": environment.host}))
    environment.events.quitting.add_listener(lambda **_k: out.write({"type": "done", "t": time.time()}))
    if isinstance(runner, MasterRunner):
        ready_by_worker: dict = {}

        def on_data(msg, **_k):
            ready_by_worker[msg.node_id] = int(msg.data.get("ready", 0))
            out.write({"type": "interval", **msg.data,
                       "users": min(runner.user_count, sum(ready_by_worker.values()))})

        runner.register_message("hmb_data", on_data)
    else:  # a plain local run: this process is the generator
        def flush_local():
            while True:
                gevent.sleep(1.0)
                data = drain()
                out.write({"type": "interval", **data, "users": min(runner.user_count, data["ready"])})

        gevent.spawn(flush_local)
