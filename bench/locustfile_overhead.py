"""A plain HttpUser locustfile under `hmb-ops loadtest --locustfile` vs under plain `locust --headless`:
generator CPU per request, side by side, measured inside the generator process itself.

    .venv/bin/python bench/locustfile_overhead.py [--rounds 7] [--users 8] [--warmup 3] [--measure 10] [--json]

The target is a minimal WSGI app (below) under real Gunicorn (1 worker, 8 threads) on loopback.
Both tools run the very same locustfile. Besides its user, the locustfile holds the meter: it
counts requests on Locust's request event and, `--warmup` seconds after the first request, reads
the process's own CPU counters (getrusage: user + system, every thread) and the count; `--measure`
seconds later it reads them again and writes the difference to a file. So the figure is the CPU per
request of the process that generates the load (hmb-ops' generator child, or the locust process)
in its steady state: no start-up, no report writing, no wall time. The runs are interleaved (the
order of the tools rotates by round, so a drift in the shared machine's load hits each), and each
round pairs the tools' figures. The third tool is hmb-ops'
generator child alone, started with the spec the CLI wrote, without the CLI process beside it on the
same cores. Printed: every round's overhead, the median and the spread (min..max), for both, and
the load average. Target: hmb-ops' recording adds at most 10 % CPU per request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HMB_OPS = [str(Path(sys.executable).with_name("hmb-ops"))]

LOCUSTFILE = '''import json, os, resource, time

import gevent
from locust import HttpUser, constant, events, task

WARMUP, MEASURE, OUT = float(os.environ["BENCH_WARMUP"]), float(os.environ["BENCH_MEASURE"]), os.environ["BENCH_OUT"]
count = [0]


@events.request.add_listener
def _count(**_kw):
    count[0] += 1


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _meter():
    while count[0] == 0:
        gevent.sleep(0.05)
    gevent.sleep(WARMUP)
    c0, n0, t0 = _cpu(), count[0], time.monotonic()
    gevent.sleep(MEASURE)
    c1, n1, t1 = _cpu(), count[0], time.monotonic()
    with open(OUT, "w") as fh:
        json.dump({"cpu_s": c1 - c0, "requests": n1 - n0, "seconds": t1 - t0}, fh)


gevent.spawn(_meter)


class PlainUser(HttpUser):
    wait_time = constant(0.02)

    @task
    def item(self):
        self.client.get("/items/1", name="GET /items/{id}")
'''

PROFILE = """profiles:
  bench-locustfile:
    users: {users}
    spawn_rate: 100
    duration: {duration}
    mix: {{health: 1}}
"""


def app(environ, start_response):
    """Any path: a small JSON answer (the app should cost the generator nothing to parse)."""
    body = b'{"id": 1, "title": "item"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _free_port() -> int:
    sys.path.insert(0, str(REPO))
    from hmb_ops.ports import free_port

    return free_port()


def start_app(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "8", "-k", "gthread",
                             "-b", f"127.0.0.1:{port}", "--chdir", str(Path(__file__).parent),
                             "locustfile_overhead:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the bench app did not start")


def _metered(cmd: list[str], env: dict, meter: Path, timeout: float) -> dict:
    meter.unlink(missing_ok=True)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if not meter.exists():
        raise SystemExit(f"no measurement from: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    got = json.loads(meter.read_text())
    got["cpu_ms_per_request"] = round(got["cpu_s"] * 1000 / max(1, got["requests"]), 4)
    got["rps"] = round(got["requests"] / got["seconds"], 1)
    return got


def run_hmb(url: str, locustfile: Path, users: int, duration: int, env: dict, work: Path) -> dict:
    config = work / "profiles.yaml"
    config.write_text(PROFILE.format(users=users, duration=duration))
    cmd = [*HMB_OPS, "--config", str(config), "loadtest", "--profile", "bench-locustfile", "--target", url,
           "--locustfile", str(locustfile), "--out", str(work / "hmb-out")]
    got = _metered(cmd, env, work / "meter.json", duration + 120)
    got["command"] = "hmb-ops " + " ".join(cmd[len(HMB_OPS):])
    return got


def run_locust(url: str, locustfile: Path, users: int, duration: int, env: dict, work: Path) -> dict:
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r", "100",
           "-t", f"{duration}s", "--host", url, "--only-summary", "--loglevel", "ERROR"]
    got = _metered(cmd, env, work / "meter.json", duration + 120)
    got["command"] = "locust " + " ".join(cmd[3:])
    return got


def run_child(spec: Path, env: dict, duration: int, work: Path) -> dict:
    """hmb-ops' generator child alone (the process that runs Locust and records), without the CLI
    process beside it: the spec is the one the CLI wrote for its own run."""
    cmd = [sys.executable, "-m", "hmb_ops.loadtest.worker", str(spec)]
    got = _metered(cmd, env, work / "meter.json", duration + 120)
    got["command"] = "python -m hmb_ops.loadtest.worker <the CLI's generator-spec.json>"
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after the first request before measuring")
    ap.add_argument("--measure", type=float, default=10.0, help="seconds measured")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    duration = int(args.warmup + args.measure + 4)  # start-up of the users and a margin before the end
    port = _free_port()
    server = start_app(port)
    url = f"http://127.0.0.1:{port}"
    rounds: list[dict] = []
    load = [os.getloadavg()]
    try:
        with tempfile.TemporaryDirectory(prefix="hmb-bench-locustfile-") as tmp:
            work = Path(tmp)
            locustfile = work / "plain_locustfile.py"
            locustfile.write_text(LOCUSTFILE)
            env = {**os.environ, "BENCH_WARMUP": str(args.warmup), "BENCH_MEASURE": str(args.measure),
                   "BENCH_OUT": str(work / "meter.json")}
            spec = work / "child-spec.json"
            tools = ["hmb_ops", "plain_locust", "hmb_ops_child"]
            for i in range(args.rounds):
                got = {}
                for tool in tools[i % 3:] + tools[:i % 3]:  # rotating order: drift hits every tool
                    if tool == "hmb_ops_child" and not spec.exists():
                        continue  # needs the spec of an hmb-ops run (the first round starts with none)
                    if tool == "hmb_ops":
                        got[tool] = run_hmb(url, locustfile, args.users, duration, env, work)
                        spec.write_bytes((work / "hmb-out" / "generator" / "generator-spec.json").read_bytes())
                    elif tool == "plain_locust":
                        got[tool] = run_locust(url, locustfile, args.users, duration, env, work)
                    else:
                        got[tool] = run_child(spec, env, duration, work)
                plain_ms = got["plain_locust"]["cpu_ms_per_request"]
                got["overhead"] = round(got["hmb_ops"]["cpu_ms_per_request"] / plain_ms - 1, 4)
                if "hmb_ops_child" in got:
                    got["overhead_child"] = round(got["hmb_ops_child"]["cpu_ms_per_request"] / plain_ms - 1, 4)
                rounds.append(got)
                load.append(os.getloadavg())
    finally:
        server.terminate()
        server.wait(timeout=10)
    overheads = [r["overhead"] for r in rounds]
    child_overheads = [r["overhead_child"] for r in rounds if "overhead_child" in r]
    hmb = statistics.median(r["hmb_ops"]["cpu_ms_per_request"] for r in rounds)
    plain = statistics.median(r["plain_locust"]["cpu_ms_per_request"] for r in rounds)
    result = {"users": args.users, "warmup_s": args.warmup, "measure_s": args.measure, "rounds": rounds,
              "overhead_per_round": overheads, "overhead_median": round(statistics.median(overheads), 4),
              "overhead_min": min(overheads), "overhead_max": max(overheads),
              "hmb_ops_cpu_ms_per_request_median": round(hmb, 4),
              "plain_locust_cpu_ms_per_request_median": round(plain, 4),
              "overhead_child_per_round": child_overheads,
              "overhead_child_median": round(statistics.median(child_overheads), 4) if child_overheads else None,
              "load_average_1min": [round(x[0], 2) for x in load],
              "commands": [rounds[0]["hmb_ops"]["command"], rounds[0]["plain_locust"]["command"]]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"generator CPU per request, steady state, {args.users} users, {args.rounds} interleaved rounds: "
              f"plain locust {plain:.4f} ms, hmb-ops {hmb:.4f} ms (medians)")
        print("hmb-ops overhead per round: " + ", ".join(f"{o:+.1%}" for o in overheads))
        print(f"median {result['overhead_median']:+.1%}, spread {min(overheads):+.1%} .. {max(overheads):+.1%} "
              f"(target <= +10 %); load average (1 min) {result['load_average_1min']}")
        if child_overheads:
            print("the generator child alone (no CLI process beside it), per round: "
                  + ", ".join(f"{o:+.1%}" for o in child_overheads)
                  + f"; median {result['overhead_child_median']:+.1%}, spread {min(child_overheads):+.1%} .. "
                  f"{max(child_overheads):+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
