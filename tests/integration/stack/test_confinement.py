"""Confinement with real cgroups (root on this machine: cgroup v1, no systemd): the app's Gunicorn
really stays within its CPU and memory limits, an OOM kill is counted with its time, and groups
left by a killed run are removed. Skipped with the reason where the machine has no usable cgroups.

Apps: tests/fixtures/burn_app (burns CPU, eats memory, no database) and the shop app
(tests/fixtures/shop_app: pbkdf2 logins), neither of them the reference app.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from hmb_ops.stack.confinement import Confined, available_method, plan_confinement
from hmb_ops.stack.gunicorn import GunicornProcess

BURN_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "burn_app"
NO_DATABASE = "postgresql://hmb:unused@127.0.0.1:9/none"

METHOD, _ = available_method()
needs_cgroups = pytest.mark.skipif(METHOD not in ("cgroup-v1", "cgroup-v2"),
                                   reason=f"needs writable cgroups (root, or a delegated v2 group); here: {METHOD}")


def burn_app(box: Confined, tmp_path: Path, workers: int = 2) -> GunicornProcess:
    proc = GunicornProcess(NO_DATABASE, workers=workers, config_file=str(BURN_DIR / "gunicorn.conf.py"),
                           app="burn:app", log_dir=str(tmp_path / "burn"), wrap=box.wrap)
    return proc.start(ready_timeout=60)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of the master and its current workers (dead workers' time is in the master's children)."""
    total = 0.0
    master = psutil.Process(pid)
    for p in [master, *master.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def hammer(url: str, clients: int, seconds: float, body: bytes | None = None) -> int:
    """`clients` threads sending requests for `seconds`; the number answered."""
    done = [0]
    end = time.monotonic() + seconds

    def client():
        while time.monotonic() < end:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()
                done[0] += 1
            except OSError:
                time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0]


def cpu_share(proc: GunicornProcess, url: str, seconds: float = 4.0, clients: int = 4, body=None) -> float:
    before, t0 = tree_cpu_seconds(proc.pid), time.monotonic()
    hammer(url, clients, seconds, body)
    return (tree_cpu_seconds(proc.pid) - before) / (time.monotonic() - t0)


def in_group(box: Confined, pid: int) -> bool:
    return pid in box.group.pids()  # type: ignore[union-attr]


@needs_cgroups
def test_half_a_cpu_is_a_quota_and_the_busy_app_stays_under_it(tmp_path):
    plan = plan_confinement(0.5, None)
    assert plan.method == METHOD and plan.exact
    with Confined(plan) as box:
        proc = burn_app(box, tmp_path)
        try:
            workers = proc.worker_pids()
            assert workers and all(in_group(box, p) for p in [proc.pid, *workers])  # started inside
            # Two sync workers burning at once would take two CPUs unconfined.
            share = cpu_share(proc, proc.url + "/burn?s=1", clients=2)
        finally:
            proc.stop()
        record = box.record()
    assert record["cpu_quota_us"] == 50_000 and record["cpu_period_us"] == 100_000
    assert share <= 0.5 * 1.25, f"the app used {share:.2f} CPUs under a 0.5 CPU quota"
    assert set(record["throttling"]) == {"periods", "throttled_periods", "throttled_s"}  # on a busy host it may be 0
    assert not Path(record["cgroup"].split(", ")[0]).exists()  # removed after the block


@needs_cgroups
def test_one_cpu_confines_the_shop_app(tmp_path, new_database):
    """The shop app (not the reference app): pbkdf2 logins from 6 clients stay within ~1 CPU."""
    from fixtures_shop import SHOP_ACCOUNTS_CSV, SHOP_DIR

    sys.path.insert(0, str(SHOP_DIR))
    from seed import seed

    url = new_database("shopc")
    seed(url, items=50)
    email, password = SHOP_ACCOUNTS_CSV.read_text().splitlines()[1].split(",")
    body = json.dumps({"email": email, "password": password}).encode()
    plan = plan_confinement(1, 1024 ** 3)
    with Confined(plan) as box:
        proc = GunicornProcess(url, workers=2, config_file=str(SHOP_DIR / "gunicorn.conf.py"),
                               app="shop:create_app()", log_dir=str(tmp_path / "shop"), wrap=box.wrap)
        proc.start(ready_timeout=60)
        try:
            assert in_group(box, proc.pid)
            assert os.sched_getaffinity(proc.pid) == set(plan.app_cpus or [])
            share = cpu_share(proc, proc.url + "/login", clients=6, body=body)
        finally:
            proc.stop()
        record = box.record()
    assert record["method"] == METHOD and record["cpus"] == 1 and record["memory_bytes"] == 1024 ** 3
    assert share <= 1.25, f"the shop app used {share:.2f} CPUs confined to 1"


@needs_cgroups
def test_memory_limit_kills_a_worker_and_it_is_counted(tmp_path):
    plan = plan_confinement(None, 200 * 2 ** 20)
    with Confined(plan) as box:
        proc = burn_app(box, tmp_path)
        try:
            before = set(proc.worker_pids())
            sent = time.time()
            # The worker dies mid-request: the connection closes without an answer.
            with pytest.raises((http.client.HTTPException, ConnectionError, urllib.error.URLError)):
                urllib.request.urlopen(proc.url + "/eat?mb=400", timeout=30).read()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not box.oom_kills():
                time.sleep(0.1)
            deadline = time.monotonic() + 10  # Gunicorn's arbiter replaces the killed worker
            while time.monotonic() < deadline and len(proc.worker_pids()) < 2:
                time.sleep(0.1)
            assert proc.running(), "the master survived (the OOM killer picks the big worker)"
            assert set(proc.worker_pids()) != before
            with urllib.request.urlopen(proc.url + "/health", timeout=10) as resp:
                assert resp.status == 200
        finally:
            proc.stop()
        record = box.record()
    kills = record["oom_kills"]
    assert len(kills) >= 1 and kills[0]["t"] >= 0 and kills[0]["at"].endswith("+00:00")
    # the kill's wall time lets a load run put it on its own clock (it was ~5 s off: the watch's start)
    assert sent - 1 <= kills[0]["wall"] <= time.time()
    from hmb_ops.loadtest.api import on_run_clock

    assert 0 <= on_run_clock(record, sent)["oom_kills"][0]["t"] <= 20
    log = (tmp_path / "burn" / "gunicorn.log").read_text()
    assert "SIGKILL" in log or "out of memory" in log.lower()


@needs_cgroups
def test_a_group_left_by_a_killed_run_is_removed_and_others_are_not(tmp_path):
    plan = plan_confinement(1, None)
    hierarchy = plan.hierarchy
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    parents = set(hierarchy.parents.values())  # type: ignore[attr-defined]
    left = [p / f"hmb-ops-{dead.pid}-1" for p in parents]
    alive = [p / f"hmb-ops-{os.getpid()}-999" for p in parents]  # a live owner's: in use
    foreign = [p / "not-hmb-ops-test" for p in parents]           # never hmb-ops's
    for folder in left + alive + foreign:
        folder.mkdir()
    # A process still inside the leftover (a Gunicorn a killed run left behind) is stopped with it.
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    for folder in left:
        (folder / "cgroup.procs").write_text(str(orphan.pid))
    try:
        with Confined(plan) as box:
            assert sorted(box.removed_leftovers) == sorted(str(f) for f in left)
        assert not any(f.exists() for f in left)
        assert all(f.exists() for f in alive + foreign)
        assert orphan.wait(5) is not None
        assert box.record()["removed_leftovers"] == sorted(str(f) for f in left)
    finally:
        orphan.kill()
        for folder in left + alive + foreign:
            if folder.exists():
                folder.rmdir()
