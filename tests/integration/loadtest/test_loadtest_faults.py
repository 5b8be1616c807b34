"""Faults under load: the database restarted mid-run (our own server, never the session's), and
Locust's own master/worker mode."""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from locustfile_helpers import run_distributed

from hmb_ops.loadtest.api import LoadRequest, run_load

BUSY = ("profiles:\n  busy:\n    users: 6\n    spawn_rate: 6\n    duration: 12\n    think_time: [0, 0.05]\n"
        "    mix: {feed: 3, jobs: 2, unread_count: 1, health: 1}\n")


@pytest.fixture
def own_server(tmp_path):
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path / "own-state")
    status, _ = server.up()
    try:
        yield server, status.url
    finally:
        server.down()


def _restart_same_port(server) -> None:
    # EmbeddedServer.restart() re-picks its port with a plain bind(), which fails while the app's
    # old connections sit in TIME_WAIT, so the server would come back elsewhere; pg_ctl restart
    # reuses the recorded options (and port), like a real database restart.
    port = server._port()
    res = server._run([str(server._bin("pg_ctl")), "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60",
                       "-m", "fast", "restart"], timeout=90)
    assert res.returncode == 0, res.stderr
    server._wait_accepting(port)


@pytest.mark.slow
def test_database_restarted_mid_run(own_server, tmp_path):
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.stack.gunicorn import GunicornProcess

    server, url = own_server
    ensure_seeded(url, scale="small")
    (tmp_path / "busy.yaml").write_text(BUSY)
    box: dict = {}
    with GunicornProcess(url, workers=2, threads=4, log_dir=str(tmp_path / "app"),
                         env={"DB_POOL_TIMEOUT": "1", "DB_STATEMENT_TIMEOUT_MS": "2000"}) as app:
        app.start(ready_timeout=60)
        req = LoadRequest(profile="busy", target=app.url, config_files=(str(tmp_path / "busy.yaml"),),
                          out_dir=str(tmp_path / "r"))
        t = threading.Thread(target=lambda: box.setdefault("doc", run_load(req)), daemon=True)
        t.start()
        time.sleep(3)
        restarted_at = time.time()
        _restart_same_port(server)
        t.join(timeout=90)
        assert not t.is_alive()
    doc = box["doc"]
    ts = doc.timeseries
    failing = [r.t for r in ts if r.failures]
    assert doc.summary.failures >= 1, doc.summary.failures_by_kind
    assert failing and min(failing) >= 2 and restarted_at
    kinds = {k for k, v in doc.summary.failures_by_kind.items() if v}
    assert kinds & {"http_503", "http_500", "connection", "timeout"}
    # the app recovered: the last seconds carry load again without failures
    assert ts[-2].rps > 0 and ts[-2].failures == 0
    # /health (no database) kept answering through the restart
    health = next(e for e in doc.endpoints if e.name == "GET /health")
    assert health.requests > 0


@pytest.mark.slow
def test_locust_master_and_workers_with_processes(seeded_url, app, tmp_path):
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=6, duration=5, processes=2,
                               out_dir=str(tmp_path / "r")))
    assert doc.generator.processes == 2
    assert doc.summary.requests > 20 and doc.summary.failures == 0
    assert max(r.users for r in doc.timeseries) == 6
    assert not [p for p in psutil.process_iter(["cmdline"])
                if "hmb_ops.loadtest.worker" in " ".join(p.info["cmdline"] or [])
                and str(tmp_path) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.slow
def test_locust_cli_master_and_worker_with_our_locustfile_then_from_raw(app, tmp_path, hmb):
    """The README's several-machines form, on one machine: locust --master + two locust --worker."""
    import json
    import os

    profile = tmp_path / "p.yaml"
    profile.write_text("profiles:\n  dist:\n    spawn_rate: 10\n    stages: [{users: 2, duration: 3}, "
                       "{users: 4, duration: 3}]\n    think_time: [0, 0.1]\n    mix: {feed: 2, jobs: 1}\n")
    raw = tmp_path / "raw.jsonl"
    env = {**os.environ, "HMB_PROFILE": "dist", "HMB_OPS_CONFIG": str(profile), "HMB_RAW_OUT": str(raw)}
    run_distributed(app.url, env, tmp_path, workers=2)
    res = hmb(["--config", str(profile), "loadtest", "--profile", "dist", "--from-raw", str(raw),
               "--out", str(tmp_path / "out"), "--json"])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"] == app.url and doc["summary"]["requests"] > 10 and doc["summary"]["failures"] == 0
    assert [s["users"] for s in doc["steps"]] == [2, 4]
    assert {e["name"] for e in doc["endpoints"]} >= {"GET /api/feed", "GET /api/jobs"}
    assert doc["generator"]["processes"] == 2  # the two workers that reported, not 1


@pytest.mark.slow
def test_own_gunicorn_config_and_a_run_without_the_declared_indexes(seeded_url, tmp_path):
    from hmb_ops.db.connect import connection
    from hmb_ops.indexes.api import ensure_indexes, load_spec

    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 2\nworker_class = 'sync'\ntimeout = 30\n")
    try:
        doc = run_load(LoadRequest(profile="ci", users=3, duration=3, database_url=seeded_url,
                                   state_dir=str(tmp_path / "state"), out_dir=str(tmp_path / "r"),
                                   app_config_file=str(conf), with_indexes=False))
        assert doc.summary.requests > 0 and doc.summary.failures == 0
        assert doc.server.workers == 2 and doc.server.config_file == str(conf)
        assert doc.config["with_indexes"] is False
        declared = set(load_spec().by_name())
        with connection(seeded_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            present = {r[0] for r in cur.fetchall()}
        assert declared and not (declared & present)
    finally:
        ensure_indexes(seeded_url)
