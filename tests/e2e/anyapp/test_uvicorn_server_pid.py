"""`--server-pid` on Uvicorn (issue #13): a plain ASGI app (tests/fixtures/asgi_app) served by
`uvicorn --workers 2` and by Gunicorn with `-k uvicorn_worker.UvicornWorker`, loaded from a scenario
file through the CLI. The samples show CPU and RSS per worker (two workers: Uvicorn's multiprocessing
resource tracker is not one), and a worker killed mid-run is a restart whose replacement is sampled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from hmb_ops.ports import free_port

APP_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "asgi_app"
SCENARIO = """scenario:
  name: asgi-work
  requests:
    - {name: GET /work, path: /work, query: {n: "20000"}, weight: 3}
    - {name: GET /health, path: /health, weight: 1}
"""
SERVERS = {
    "uvicorn": ["-m", "uvicorn", "asgi_app:app", "--workers", "2", "--host", "127.0.0.1", "--port", "{port}",
                "--log-level", "warning"],
    "gunicorn": ["-m", "gunicorn", "-w", "2", "-k", "uvicorn_worker.UvicornWorker", "-b", "127.0.0.1:{port}",
                 "--log-level", "warning", "asgi_app:app"],
}


def _workers(pid: int) -> list[int]:
    return [c.pid for c in psutil.Process(pid).children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline())]


@pytest.fixture(params=sorted(SERVERS))
def asgi_server(request, tmp_path):
    """(url, master pid) of the ASGI app under the parametrized server, two workers up."""
    port = free_port()
    cmd = [sys.executable] + [a.format(port=port) for a in SERVERS[request.param]]
    log = open(tmp_path / f"{request.param}.log", "wb")  # noqa: SIM115 - closed after the server exits
    proc = subprocess.Popen(cmd, cwd=APP_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    pass
                if len(_workers(proc.pid)) == 2:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (tmp_path / f"{request.param}.log").read_text()
                raise AssertionError(f"{request.param} did not start: {log_text}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_server_pid_samples_each_uvicorn_worker_and_counts_a_killed_one_as_a_restart(asgi_server, hmb, tmp_path):
    url, pid = asgi_server
    before = set(_workers(pid))
    helpers = {c.pid for c in psutil.Process(pid).children(recursive=True)} - before  # uvicorn: resource tracker
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    killed: list[int] = []

    def kill_later():
        # Kill the worker the load reached (its CPU time grows: an idle worker uses next to none) once
        # the sampler has seen it for a couple of seconds. Each simulated user keeps one connection, and
        # the kernel may hand all of them to one worker, so the victim is whichever one works, not a
        # fixed pid; and the CLI's start-up time varies a lot, so this waits on the workers, not a clock.
        procs = {p: psutil.Process(p) for p in before}
        idle = {p: sum(pr.cpu_times()[:2]) for p, pr in procs.items()}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [p for p, pr in procs.items() if sum(pr.cpu_times()[:2]) >= idle[p] + 0.15]
            if busy:
                time.sleep(2.5)
                killed.append(busy[0])
                os.kill(busy[0], signal.SIGKILL)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_later, daemon=True)
    killer.start()
    res = hmb(["loadtest", "--target", url, "--scenario", str(scenario), "--profile", "ci", "--users", "4",
               "--spawn-rate", "50", "--duration", "14s", "--server-pid", str(pid), "--out", str(tmp_path / "r"),
               "--json"])
    assert res.returncode == 0, res.stderr
    killer.join(timeout=5)
    assert killed, "the load never reached a worker"
    victim = killed[0]
    doc = json.loads(res.stdout)
    server = doc["server"]
    assert server["pid"] == pid
    assert {e["name"] for e in doc["endpoints"]} == {"GET /work", "GET /health"}
    full = [s for s in server["samples"] if len(s["workers"]) == 2]
    assert len(full) >= 3 and all(len(s["workers"]) <= 2 for s in server["samples"])  # never the helper
    for s in full:
        for w in s["workers"]:
            # the killed worker may be sampled once more as it dies, with nothing resident
            assert (w["rss_mb"] > 5 or w["pid"] == victim) and w["cpu_percent"] >= 0
    assert server["summary"]["cpu_percent_per_worker_max"] > 0
    assert server["summary"]["worker_restarts"] >= 1
    seen = set(server["summary"]["worker_pids_seen"])
    assert victim in seen and seen - before, seen  # the replacement worker was sampled too
    assert not seen & helpers
