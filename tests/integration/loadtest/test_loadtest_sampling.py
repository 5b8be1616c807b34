"""Server and database sampling for any target, against a real Gunicorn serving the reference app
(its real /metrics) on the real PostgreSQL; gaps when a process or an endpoint goes away mid-run."""

from __future__ import annotations

import csv
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import ClassVar

import pytest

from hmb_ops.loadtest.api import LoadRequest, run_load

FAMILIES = ("hmb_request_duration_seconds", "hmb_requests_total", "hmb_db_pool_connections")


def test_target_run_samples_the_process_tree_the_metrics_and_the_database(app, seeded_url, tmp_path):
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=4, duration=5, out_dir=str(tmp_path / "r"),
                               server_pid=app.pid, metrics_url=app.url + "/metrics", metrics=FAMILIES,
                               database_url=seeded_url))
    server = doc.server
    assert server is not None and server.pid == app.pid and server.database_sampled
    live = [s for s in server.samples if s.t >= 0]
    assert len(live) >= 3
    assert set(server.summary.worker_pids_seen) == set(app.worker_pids())  # 2 workers, not the master
    assert all(w.rss_mb > 5 for s in live for w in s.workers)
    assert server.summary.cpu_percent_p95 is not None and server.summary.worker_restarts == 0
    # the app's own histogram: a p95 per second from bucket deltas, and one over the whole run
    hist = server.metrics["hmb_request_duration_seconds"]
    assert hist.type == "histogram" and hist.samples >= 2 and 0 < hist.p95 < 5
    assert server.metrics["hmb_requests_total"].max > 1  # a counter becomes requests per second
    assert server.metrics["hmb_db_pool_connections"].max >= 1
    # pg_stat_activity: the app's pooled connections by state and application, ours left out
    dbs = [s.db for s in live if s.db is not None]
    assert dbs and max(d.connections for d in dbs) >= 1
    assert all("hmb-ops-sampler" not in d.by_application for d in dbs)
    assert server.summary.db_connections_by_state_max
    assert server.statements_note == "pg_stat_statements is not installed in this database"
    assert server.summary.gap_seconds == 0, [s.gaps for s in server.samples if s.gaps]
    # the time series CSV carries the server columns
    with open(tmp_path / "r" / "timeseries.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert any(r["server_cpu_percent"] for r in rows) and any(r["db_connections"] for r in rows)
    assert "metric:hmb_request_duration_seconds" in rows[0]
    # the gates read the same block
    from hmb_ops.gates import thresholds as th

    results = th.evaluate_all(th.parse_all(["server.cpu_percent.p95<100000", "server.rss_mb.max<1",
                                            "db.connections.max<80", "metric.hmb_request_duration_seconds.p95<5s"]),
                              doc)
    assert [r.passed for r in results] == [True, False, True, True], [r.message for r in results]


def test_a_worker_killed_mid_run_counts_as_a_restart(app, tmp_path):
    before = set(app.worker_pids())
    victim = min(before)

    def kill_later():
        time.sleep(3.5)
        os.kill(victim, signal.SIGKILL)

    threading.Thread(target=kill_later, daemon=True).start()
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=2, duration=6, out_dir=str(tmp_path / "r"),
                               server_pid=app.pid))
    assert doc.server.summary.worker_restarts >= 1
    seen = set(doc.server.summary.worker_pids_seen)
    assert seen - before, seen  # Gunicorn's replacement was sampled too
    assert max(s.worker_exits for s in doc.server.samples) >= 1


SHORT_SERVER = """
import http.server, os, sys, threading
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
threading.Timer(2.5, lambda: os._exit(0)).start()
srv.serve_forever()
"""


def _wait_listening(port: int, proc) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the short-lived server did not start")


def test_a_server_pid_exiting_mid_run_is_a_marked_gap_and_the_run_goes_on(tmp_path):
    from hmb_ops.ports import free_port

    port = free_port()
    short = subprocess.Popen([sys.executable, "-c", SHORT_SERVER, str(port)], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, short)
        doc = run_load(LoadRequest(profile="health", target=f"http://127.0.0.1:{port}", users=2, duration=5,
                                   out_dir=str(tmp_path / "r"), server_pid=short.pid))
    finally:
        short.wait(10)
    gaps = [g for s in doc.server.samples for g in s.gaps]
    assert any(f"process {short.pid} has exited" in g for g in gaps)
    assert doc.summary.requests > 0 and doc.duration_s >= 4
    assert any(s.workers for s in doc.server.samples)  # sampled while it lived


def test_a_pid_that_is_not_the_targets_server_is_refused(app, hmb, tmp_path):
    """pid 1 (the whole machine), hmb-ops' own parent, a process serving nothing: exit 2, what to give."""
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid, message in ((1, "--server-pid 1 is the init process"),
                             (os.getpid(), "is hmb-ops itself or the shell that started it"),
                             (idle.pid, f"nothing in its process tree listens on port {app.url.rsplit(':', 1)[1]}")):
            out = tmp_path / f"r{pid}"
            res = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--duration", "3", "--out", str(out),
                       "--server-pid", str(pid)])
            assert res.returncode == 2 and message in res.stderr, res.stderr
            assert "give the pid of the Gunicorn or Uvicorn master serving --target" in res.stderr
            assert "Traceback" not in res.stderr and not out.exists()
    finally:
        idle.kill()
        idle.wait()


class _Metrics(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_a):
        pass

    def do_GET(self):
        body = b"# TYPE queue_depth gauge\nqueue_depth 7\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_metrics_endpoint_going_away_mid_run_is_a_marked_gap(app, tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/metrics"

    def stop_later():
        time.sleep(2.5)
        srv.shutdown()
        srv.server_close()

    threading.Thread(target=stop_later, daemon=True).start()
    doc = run_load(LoadRequest(profile="ci", target=app.url, users=2, duration=5, out_dir=str(tmp_path / "r"),
                               metrics_url=url, metrics=("queue_depth",)))
    values = [s.metrics.get("queue_depth") for s in doc.server.samples]
    assert 7.0 in values and values[-1] is None
    assert any("did not answer" in g for s in doc.server.samples for g in s.gaps)
    assert doc.server.metrics["queue_depth"].max == 7.0


class _PerWorker(http.server.BaseHTTPRequestHandler):
    """Two Gunicorn workers each serving their own prometheus_client counter: scrapes alternate."""

    served: ClassVar[list[int]] = [0]

    def log_message(self, *_a):
        pass

    def do_GET(self):
        n = self.served[0] = self.served[0] + 1
        value = 1000 + 10 * n if n % 2 else 100 + 10 * n  # worker A far ahead of worker B
        body = f"# TYPE app_requests_total counter\napp_requests_total {value}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_per_worker_endpoint_and_a_missing_family_are_said_not_silent(app, hmb, tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PerWorker)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    try:
        res = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--users", "2", "--duration", "5",
                   "--out", str(tmp_path / "r"), "--metrics-url", url, "--metric", "app_requests_total",
                   "--metric", "app_nope"])
    finally:
        srv.shutdown()
        srv.server_close()
    assert res.returncode == 0, res.stderr[-2000:]
    # before the run: the typo'd family, with what the endpoint has
    assert f"warning: --metric app_nope: {url} does not expose it (it has: app_requests" in res.stderr
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    nope, counter = doc["server"]["metrics"]["app_nope"], doc["server"]["metrics"]["app_requests_total"]
    assert nope["samples"] == 0 and nope["note"].startswith("not exposed by")
    assert any("app_nope not in the answer" in g for smp in doc["server"]["samples"] for g in smp["gaps"])
    # counters falling between scrapes: per-process, said on the console and in the JSON
    assert "looks per-process" in counter["note"] and "PROMETHEUS_MULTIPROC_DIR" in counter["note"]
    assert "warning: metric app_requests_total: went backwards" in res.stderr


@pytest.mark.parametrize("args, message", [
    (["--server-pid", "999999"], "--server-pid 999999: no such process"),
    (["--metrics-url", "{url}/health"], "not Prometheus text"),
    (["--metrics-url", "http://10.1.2.3:9/metrics"], "refusing to scrape 10.1.2.3"),
    (["--check", "server.cpu_percent.p95<70"], "the server is not sampled in this run"),
    (["--metrics-url", "{url}/metrics", "--metric", "hmb_requests_total", "--check", "metric.nope.max<1"],
     "metric family 'nope' is not scraped"),
    (["--abort-on-fail"], "--abort-on-fail needs a threshold"),
])
def test_bad_sampling_input_is_exit_2_before_the_run(app, hmb, tmp_path, args, message):
    out = tmp_path / "r"
    args = [a.replace("{url}", app.url) for a in args]
    res = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--duration", "3", "--out", str(out), *args])
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_abort_on_fail_stops_the_run_saves_results_and_says_when(app, hmb, tmp_path):
    out = tmp_path / "r"
    started = time.monotonic()
    res = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--users", "2", "--duration", "40",
               "--out", str(out), "--server-pid", str(app.pid), "--check", "p95<0.5ms!",
               "--check", "server.rss_mb.max<100000"])
    took = time.monotonic() - started
    assert res.returncode == 1, res.stderr
    assert took < 30  # stopped long before its 40 s
    doc = json.loads((out / "results.json").read_text())
    assert doc["aborted"].startswith("aborted at t=") and "p95<0.5ms breached" in doc["aborted"]
    assert doc["duration_s"] < 20
    assert "aborted at t=" in res.stderr


def test_server_metric_gates_from_the_cli_pass_and_fail_with_exit_codes(app, seeded_url, hmb, tmp_path):
    """One run judged on server, database and metric gates: those that hold are listed as ok, the one
    that cannot hold fails the run (exit 1). (All passing with exit 0: tests/e2e/anyapp/test_anyapp_runs.py.)"""
    bad = hmb(["--database-url", seeded_url, "loadtest", "--profile", "ci", "--target", app.url, "--users", "2",
               "--duration", "4", "--server-pid", str(app.pid), "--metrics-url", app.url + "/metrics",
               "--metric", "hmb_request_duration_seconds", "--metric", "hmb_db_pool_connections",
               "--check", "server.rss_mb.max<1.5GB", "--check", "db.connections.max<80",
               "--check", "metric.hmb_db_pool_connections.max<1000",
               "--check", "metric.hmb_request_duration_seconds.p95<5s",
               "--check", "metric.hmb_request_duration_seconds.p95<0.1ms", "--out", str(tmp_path / "bad")])
    assert bad.returncode == 1, bad.stderr
    for line in ("ok   server.rss_mb.max<1536MB", "ok   db.connections.max<80", "ok   metric.hmb_db_pool_connections",
                 "ok   metric.hmb_request_duration_seconds.p95<5s"):
        assert line in bad.stderr, line
    assert "FAIL metric.hmb_request_duration_seconds.p95<0.0001s" in bad.stderr and "breached" in bad.stderr
    summary = (tmp_path / "bad" / "summary.md").read_text()
    assert "### Server" in summary and "DB connections max" in summary
