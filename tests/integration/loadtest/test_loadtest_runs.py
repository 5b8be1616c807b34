"""Real load runs: Locust children against the reference app under Gunicorn on real PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from hmb_ops.loadtest.api import LoadRequest, load_results, run_load


def _run_in_thread(req: LoadRequest) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def go():
        try:
            box["doc"] = run_load(req)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            box["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def test_closed_run_measures_every_endpoint_of_the_mix_without_failures(app, tmp_path):
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=4, duration=4, out_dir=str(tmp_path / "r")))
    assert doc.summary.failures == 0, doc.summary.failures_by_kind
    names = {e.name for e in doc.endpoints}
    assert {"GET /api/feed", "GET /api/jobs", "GET /api/messages/unread-count", "POST /api/auth/login"} <= names
    assert doc.summary.requests == sum(e.requests for e in doc.endpoints) > 20
    assert 3 <= len(doc.timeseries) <= 6 and doc.timeseries[-1].users in (0, 4)
    assert doc.valid is True and doc.server is None and doc.target == app.url
    assert load_results(doc.out_dir).summary == doc.summary
    # ids learned from the feed are used: post pages are real pages, not 404s
    assert any(e.name == "GET /api/posts/<id>" and e.requests > 0 for e in doc.endpoints)


def test_open_model_holds_the_rate_and_reports_offered_vs_achieved(app, tmp_path):
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=8, duration=3, arrival_rate=40,
                               out_dir=str(tmp_path / "r")))
    assert doc.model == "open" and doc.offered_rps == 40.0
    om = doc.open_model
    # duration_s is rounded to ms: 40 × 3.2249 s schedules 128 slots, 40 × 3.225 would say 129
    assert abs(om.scheduled - 40 * doc.duration_s) <= 1
    # the schedule is a ceiling: never more sends than slots (log-ins run outside the schedule)
    assert 0 < om.sent <= om.scheduled + 1 and om.dropped == max(0, om.scheduled - om.sent)
    assert doc.achieved_rps > 0 and doc.summary.failures == 0


BUSY = ("profiles:\n  busy:\n    users: 8\n    spawn_rate: 8\n    duration: 6\n    think_time: [0, 0]\n"
        "    mix: {feed: 3, jobs: 2, unread_count: 1}\n")


@pytest.mark.slow
def test_a_gunicorn_worker_killed_mid_run_is_counted_with_its_time(app, tmp_path):
    # No think time: every user always has a request in flight, so the kill must break some.
    (tmp_path / "busy.yaml").write_text(BUSY)
    req = LoadRequest(profile="busy", target=app.url, config_files=(str(tmp_path / "busy.yaml"),),
                      out_dir=str(tmp_path / "r"))
    thread, box = _run_in_thread(req)
    time.sleep(3.0)
    victim = app.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    thread.join(timeout=60)
    assert not thread.is_alive() and "error" not in box
    doc = box["doc"]
    started = doc.timeseries
    # the run completed: load kept flowing after the kill
    assert doc.duration_s >= 5 and sum(r.rps for r in started[-2:]) > 0
    failing_seconds = [r.t for r in started if r.failures]
    kinds = doc.summary.failures_by_kind
    assert doc.summary.failures >= 1, kinds
    assert kinds["connection"] + sum(v for k, v in kinds.items() if k.startswith("http_5")) >= 1
    assert failing_seconds and min(failing_seconds) >= 2  # errors sit at the kill, not at the start
    assert victim not in app.worker_pids() and killed_at


def test_full_stack_run_samples_the_server_and_leaves_nothing_running(seeded_url, tmp_path):
    req = LoadRequest(profile="ci", users=4, duration=4, database_url=seeded_url, tier="small",
                      state_dir=str(tmp_path / "state"), out_dir=str(tmp_path / "r"),
                      app_env={"BACKGROUND_MODE": "inline"})
    doc = run_load(req)
    assert doc.summary.failures == 0, doc.summary.failures_by_kind
    server = doc.server
    assert server.workers >= 1 and server.samples
    seen = server.summary.worker_pids_seen
    assert seen and all(w.rss_mb > 5 for s in server.samples for w in s.workers)
    assert server.summary.db_connections_max >= 1
    assert server.summary.background_queue_depth_max is not None
    assert doc.steps[0].server.db_connections >= 1
    assert doc.config["app_env"]["BACKGROUND_MODE"] == "inline" and doc.tier == "small"
    assert not any(psutil.pid_exists(p) for p in seen)
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "timeseries.csv").exists()
