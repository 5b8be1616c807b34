"""Tokens, settings, request helpers and the background pool, without a database."""

from __future__ import annotations

import threading
import time

import pytest

from hmb_ops.refapp import auth
from hmb_ops.refapp.background import BackgroundJobs
from hmb_ops.refapp.settings import Settings

SECRET = b"unit-secret"


def test_token_round_trip():
    token = auth.issue(42, SECRET, 60, now=1000)
    assert auth.verify(token, SECRET, now=1059) == 42


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
    (lambda t: "x" + t, "signature"),
    (lambda t: t.replace(".", ""), "malformed"),
    (lambda t: "a.b.c", "malformed"),
    (lambda t: "", "malformed"),
])
def test_token_tampered(mutate, reason):
    token = auth.issue(7, SECRET, 60, now=1000)
    with pytest.raises(auth.InvalidToken, match=reason):
        auth.verify(mutate(token), SECRET, now=1001)


def test_token_expired_and_wrong_secret():
    token = auth.issue(7, SECRET, 60, now=1000)
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.verify(token, SECRET, now=1060)
    with pytest.raises(auth.InvalidToken, match="signature"):
        auth.verify(token, b"other", now=1001)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bearer_header_rejected(header):
    with pytest.raises(auth.InvalidToken):
        auth.bearer(header)


def test_bcrypt_cost_is_what_was_asked():
    hashed = auth.hash_password("pw", 4)
    assert auth.hash_cost(hashed) == 4
    assert auth.check_password("pw", hashed)
    assert not auth.check_password("nope", hashed)
    assert not auth.check_password("pw", "not-a-hash")


def test_settings_defaults_and_errors():
    key = {"HMB_REFAPP_TOKEN_SECRET": "k" * 32}
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:p@h/d", **key})
    assert (s.pool_min, s.pool_max, s.pool_timeout, s.statement_timeout_ms) == (2, 5, 5.0, 30000)
    assert s.background_mode == "thread" and s.background_workers == 4
    assert s.token_secret == b"k" * 32
    assert Settings.from_env({"DB_POOL_MIN": "9", "DB_POOL_MAX": "3", **key}).pool_min == 3
    with pytest.raises(ValueError, match="BACKGROUND_MODE"):
        Settings.from_env({"BACKGROUND_MODE": "fork", **key})
    with pytest.raises(ValueError, match="DB_POOL_MAX"):
        Settings.from_env({"DB_POOL_MAX": "many", **key})
    with pytest.raises(ValueError, match="BCRYPT_ROUNDS"):
        Settings.from_env({"BCRYPT_ROUNDS": "40", **key})


def test_background_queue_full_runs_inline_and_counts_rejected():
    jobs = BackgroundJobs(workers=1, queue_size=1)
    gate = threading.Event()
    ran: list[str] = []
    assert jobs.submit("t", gate.wait) == "queued"          # occupies the only worker
    deadline = time.monotonic() + 5
    while jobs._queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.submit("t", lambda: ran.append("q")) == "queued"   # fills the queue
    caller = threading.current_thread().name
    assert jobs.submit("t", lambda: ran.append(threading.current_thread().name)) == "rejected"
    assert ran == [caller]                                   # ran inline, in the caller
    gate.set()
    assert jobs.shutdown(5)
    assert ran == [caller, "q"]


def test_background_shutdown_drains_queue():
    jobs = BackgroundJobs(workers=1, queue_size=100)
    done: list[int] = []
    for i in range(20):
        jobs.submit("t", lambda i=i: (time.sleep(0.01), done.append(i)))
    assert jobs.shutdown(10)
    assert done == list(range(20))
    # After shutdown new work still happens (inline) instead of being lost.
    assert jobs.submit("t", lambda: done.append(99)) == "inline"
    assert done[-1] == 99


def test_background_failed_job_does_not_kill_worker():
    jobs = BackgroundJobs(workers=1, queue_size=10)
    done: list[int] = []
    jobs.submit("t", lambda: 1 / 0)
    jobs.submit("t", lambda: done.append(1))
    assert jobs.shutdown(5)
    assert done == [1]


def test_inline_mode_runs_in_request_thread():
    jobs = BackgroundJobs(workers=2, queue_size=10, mode="inline")
    seen: list[str] = []
    assert jobs.submit("t", lambda: seen.append(threading.current_thread().name)) == "inline"
    assert seen == [threading.current_thread().name]


def test_wsgi_target_imports_and_checks_without_database(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["HMB_REFAPP_TOKEN_SECRET"] = "k" * 32  # needed: the app refuses to load without one
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "hmb_ops.refapp.wsgi:app"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_runner_port_in_use_is_port_in_use_error():
    import socket

    from hmb_ops.errors import PortInUse
    from hmb_ops.stack.gunicorn import GunicornProcess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = GunicornProcess("postgresql://u:p@127.0.0.1:1/x", port=port)
        with pytest.raises(PortInUse, match=str(port)):
            proc.start()
        assert not proc.running()


def test_runner_reports_gunicorn_dying_at_start(tmp_path):
    from hmb_ops.errors import EnvironmentUnusable
    from hmb_ops.stack.gunicorn import GunicornProcess

    proc = GunicornProcess("postgresql://u:p@127.0.0.1:1/x", env={"BACKGROUND_MODE": "bogus"},
                           log_dir=str(tmp_path), workers=1)
    with pytest.raises(EnvironmentUnusable, match="gunicorn"):
        proc.start(ready_timeout=30)
    assert not proc.running()
