"""A plain HttpUser locustfile under `hmb-ops loadtest --locustfile` vs under plain `locust --headless`:
generator CPU per request, side by side.

    .venv/bin/python bench/locustfile_overhead.py [--users 8] [--short 8] [--long 20] [--json]

The target is a minimal WSGI app (below) under real Gunicorn (1 worker, 8 threads) on loopback.
Both tools run the same locustfile at the same users and pacing; each runs twice, `--short` and
`--long` seconds, and CPU per request is the difference between the two (CPU of the whole process
tree: hmb-ops' CLI and its generator child, or the locust process) over the difference in requests,
so start-up (importing locust, writing reports) cancels out. hmb-ops' own figure for the generator
child alone (results.json generator.cpu_ms_per_request) is printed too. Target: hmb-ops' recording
adds at most 10 % CPU per request.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HMB_OPS = [str(Path(sys.executable).with_name("hmb-ops"))]

LOCUSTFILE = '''from locust import HttpUser, constant, task


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


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


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


def run_hmb(url: str, locustfile: Path, users: int, seconds: int, work: Path) -> dict:
    config = work / f"profiles-{seconds}.yaml"
    config.write_text(PROFILE.format(users=users, duration=seconds))
    out = work / f"hmb-{seconds}"
    cmd = [*HMB_OPS, "--config", str(config), "loadtest", "--profile", "bench-locustfile", "--target", url,
           "--locustfile", str(locustfile), "--out", str(out)]
    cpu0 = _children_cpu()
    subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True)
    cpu = _children_cpu() - cpu0
    doc = json.loads((out / "results.json").read_text())
    return {"cpu_s": cpu, "requests": doc["summary"]["requests"], "failures": doc["summary"]["failures"],
            "generator_cpu_ms_per_request": doc["generator"]["cpu_ms_per_request"], "valid": doc["valid"],
            "command": "hmb-ops " + " ".join(cmd[len(HMB_OPS):])}


def run_locust(url: str, locustfile: Path, users: int, seconds: int, work: Path) -> dict:
    prefix = work / f"plain-{seconds}"
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r", "100",
           "-t", f"{seconds}s", "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"]
    cpu0 = _children_cpu()
    subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    cpu = _children_cpu() - cpu0
    with open(f"{prefix}_stats.csv") as fh:
        agg = {r["Name"]: r for r in csv.DictReader(fh)}["Aggregated"]
    return {"cpu_s": cpu, "requests": int(agg["Request Count"]), "failures": int(agg["Failure Count"]),
            "command": "locust " + " ".join(cmd[3:])}


def per_request_ms(short: dict, long: dict) -> float:
    return round((long["cpu_s"] - short["cpu_s"]) * 1000 / max(1, long["requests"] - short["requests"]), 4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--short", type=int, default=8)
    ap.add_argument("--long", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    port = _free_port()
    server = start_app(port)
    url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="hmb-bench-locustfile-") as tmp:
            work = Path(tmp)
            locustfile = work / "plain_locustfile.py"
            locustfile.write_text(LOCUSTFILE)
            runs = {"hmb_ops": [run_hmb(url, locustfile, args.users, s, work) for s in (args.short, args.long)],
                    "plain_locust": [run_locust(url, locustfile, args.users, s, work)
                                     for s in (args.short, args.long)]}
    finally:
        server.terminate()
        server.wait(timeout=10)
    hmb = per_request_ms(*runs["hmb_ops"])
    # The generator child alone (hmb-ops' recording; the parent builds the results after the run):
    # its CPU since the run started, from results.json, by the same difference.
    child = [{"cpu_s": r["generator_cpu_ms_per_request"] * r["requests"] / 1000, "requests": r["requests"]}
             for r in runs["hmb_ops"]]
    hmb_child = per_request_ms(*child)
    plain = per_request_ms(*runs["plain_locust"])
    result = {"users": args.users, "seconds": [args.short, args.long], "runs": runs,
              "hmb_ops_cpu_ms_per_request": hmb, "plain_locust_cpu_ms_per_request": plain,
              "hmb_ops_generator_child_cpu_ms_per_request": hmb_child,
              "overhead": round(hmb / plain - 1, 3) if plain else None,
              "overhead_generator_child": round(hmb_child / plain - 1, 3) if plain else None,
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"CPU per request: plain locust {plain} ms; hmb-ops generator child {hmb_child} ms "
              f"({result['overhead_generator_child']:+.1%}, target <= +10 %); hmb-ops with building the "
              f"results {hmb} ms ({result['overhead']:+.1%})")
        for tool, pair in runs.items():
            print(f"  {tool}: " + "; ".join(f"{r['requests']} requests, {r['cpu_s']:.2f} s CPU" for r in pair))
    return 0


if __name__ == "__main__":
    sys.exit(main())
