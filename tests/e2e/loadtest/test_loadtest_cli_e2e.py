"""`hmb-ops loadtest` as a user runs it: bad input, silent targets, gates, JSON, Ctrl-C, the smoke run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from cli_helpers import INTERRUPTIBLE_CLI, error_line

REPO = Path(__file__).resolve().parents[3]

@pytest.mark.parametrize("args, needle", [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--users", "0"], "--users 0 is out of range"),
    (["--users", "-5"], "--users -5 is out of range"),
    (["--users", "many"], "--users"),
    (["--users", "999999"], "out of range"),
    (["--duration", "forever"], "is not a duration"),
    (["--duration", "0"], "--duration 0 is out of range"),
    (["--duration", "48h"], "out of range"),
    (["--spawn-rate", "0"], "--spawn-rate 0 is out of range"),
    (["--processes", "0"], "--processes 0 is out of range"),
    (["--profile", "spike", "--spawn-rate", "2"], "spawn_rate must be above"),
    (["--target", "http://192.0.2.10:8000"], "only loopback targets"),
    (["--target", "not a url"], "--target must be an http"),
    (["--check", "p95 <<< 3"], "malformed threshold"),
])
def test_bad_input_exits_2_with_one_line_and_nothing_left(hmb, tmp_path, args, needle):
    out = tmp_path / "out"
    res = hmb(["--state-dir", str(tmp_path / "state"), "loadtest", "--out", str(out), *args], timeout=60)
    assert res.returncode == 2, res.stderr
    assert needle in error_line(res)
    assert not out.exists() and not (tmp_path / "state" / "postgres").exists()


def test_malformed_profile_file_exits_2_naming_file_and_line(hmb, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("profiles:\n  mine:\n    users: 3\n    spawn_rate: 3\n    duration: 5\n    mix: {feeed: 1}\n")
    res = hmb(["--config", str(bad), "loadtest", "--profile", "mine", "--target", "http://127.0.0.1:9"])
    assert res.returncode == 2
    line = error_line(res)
    assert f"{bad}:6" in line and "feeed" in line


def test_a_target_that_does_not_answer_exits_3_fast(hmb, tmp_path):
    # A listening socket that never accepts: the kernel completes the handshake, nobody answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        port = silent.getsockname()[1]
        for target in (f"http://127.0.0.1:{port}", "http://127.0.0.1:9"):
            res = hmb(["loadtest", "--target", target, "--out", str(tmp_path / "o")], timeout=60)
            assert res.returncode == 3, res.stderr
            assert "does not answer" in error_line(res)
    finally:
        silent.close()


@pytest.fixture(scope="module")
def served(module_database, tmp_path_factory):
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes
    from hmb_ops.stack.gunicorn import GunicornProcess

    ensure_seeded(module_database, scale="small")
    ensure_indexes(module_database)
    proc = GunicornProcess(module_database, workers=2, threads=4,
                           log_dir=str(tmp_path_factory.mktemp("app")))
    proc.start(ready_timeout=60)
    yield module_database, proc
    proc.stop()


def test_checks_pass_and_fail_with_junit_and_json(hmb, served, tmp_path):
    _url, app = served
    out = tmp_path / "ok"
    res = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--users", "3", "--duration", "3",
               "--out", str(out), "--check", "error_rate<1%", "--check", "p99<5000ms", "--json"],
              env={"CI": "true"})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1 and doc["summary"]["requests"] > 0 and doc["out_dir"] == str(out)
    assert (out / "junit.xml").exists() and (out / "summary.md").exists()
    assert json.loads((out / "results.json").read_text())["summary"] == doc["summary"]
    # the --json document carries the verdict results.json stores (error_rate<1% replaced the default)
    assert doc["verdict"]["passed"] and doc["verdict"]["exit_code"] == 0
    assert [c["name"] for c in doc["verdict"]["checks"]] == ["error_rate<1%", "p99<5000ms"], doc["verdict"]
    assert json.loads((out / "results.json").read_text())["verdict"] == doc["verdict"]
    bad = hmb(["loadtest", "--profile", "ci", "--target", app.url, "--users", "2", "--duration", "2",
               "--out", str(tmp_path / "fail"), "--check", "p50<0.001ms"], env={"CI": "true"})
    assert bad.returncode == 1, bad.stderr
    assert "FAIL" in bad.stderr and (tmp_path / "fail" / "junit.xml").exists()


def _children_of_run(out_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(out_dir) in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
def test_ctrl_c_saves_partial_results_and_stops_everything(served, tmp_path):
    url, _app = served
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    env["CI"] = "true"
    proc = subprocess.Popen([*INTERRUPTIBLE_CLI, "--database-url", url,
                             "--state-dir", str(tmp_path / "state"), "loadtest", "--profile", "ci",
                             "--duration", "60", "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        started = False
        while time.monotonic() < deadline:
            if (out / "generator" / "generator-spec.json").exists():
                gunicorn = [p for p in _children_of_run(out) if "gunicorn" in " ".join(p.cmdline())]
                if gunicorn:
                    started = True
                    break
            time.sleep(0.2)
        assert started, "the run did not start"
        time.sleep(4)
        assert _children_of_run(out)  # gunicorn master and workers, the locust child
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "partial results" in stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["interrupted"] is True and doc["valid"] is False
    assert any("interrupted by SIGINT" in r for r in doc["invalid_reasons"])
    assert doc["summary"]["requests"] > 0 and doc["duration_s"] < 60
    time.sleep(0.5)
    assert _children_of_run(out) == []


@pytest.mark.slow
def test_smoke_profile_from_scratch_on_the_embedded_database(hmb, tmp_path):
    """Done when: `hmb-ops loadtest --profile smoke` gives a results folder and a clean summary."""
    state = tmp_path / "state"
    res = hmb(["--state-dir", str(state), "loadtest", "--profile", "smoke"], env={"CI": "true"}, timeout=240)
    assert res.returncode == 0, res.stderr
    # the summary is report's console view: the run's facts, then latency per endpoint under a TOTAL row
    assert re.search(r"error rate\s*│\s*0\.00%", res.stdout) and "TOTAL" in res.stdout, res.stdout
    folders = list((state / "results").iterdir())
    assert len(folders) == 1
    doc = json.loads((folders[0] / "results.json").read_text())
    assert doc["summary"]["failures"] == 0 and doc["summary"]["requests"] > 50 and doc["valid"]
    assert doc["duration_s"] >= 19 and doc["server"]["samples"]
    assert {"results.json", "timeseries.csv", "report.html"} <= {p.name for p in folders[0].iterdir()}
    # the embedded server it started for the run is stopped again, as is everything else
    from hmb_ops.db.embedded import EmbeddedServer

    assert not EmbeddedServer(state).status().running
    assert _children_of_run(state) == []
