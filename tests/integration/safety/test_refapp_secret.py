"""No guessable tokens (issue #11 item 3), against real Gunicorn, the real CLI and the real database.

- The reference app refuses to start without a real HMB_REFAPP_TOKEN_SECRET (unset, empty, the
  placeholder `tune` writes, too short): one line that says what to set, non-zero exit.
- `app serve` and `loadtest` hand it the key of their state folder (0600 in a 0700 folder), the
  same across restarts, different between folders, and never printed anywhere.
- A token signed with the key the app used to derive from the database URL is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.ports import free_port
from hmb_ops.private_files import TOKEN_SECRET_ENV, TOKEN_SECRET_PLACEHOLDER
from hmb_ops.refapp import auth
from hmb_ops.refapp.secret import secret_path
from hmb_ops.stack.gunicorn import GunicornProcess

from cli_helpers import error_line, stop_serve

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "a long enough password"
SHORT = "short-key-" + "q" * 12
GOOD = "integration-secret-of-at-least-32-characters"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def base_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR", TOKEN_SECRET_ENV)}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def app_db(module_database):
    """The reference schema and one account (no seed: a login is all these tests need)."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import create_schema

    with connection(module_database) as conn:
        create_schema(conn)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO users (email, hashed_password, username) VALUES (%s, %s, 'one')",
                        ("one@example.test", auth.hash_password(PASSWORD, 4)))
        conn.commit()
    return module_database


def call(base: str, method: str, path: str, *, body=None, token: str | None = None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def login(base: str) -> str:
    status, doc = call(base, "POST", "/api/auth/login", body={"email": "one@example.test", "password": PASSWORD})
    assert status == 200, doc
    return doc["token"]


# -- the app outside hmb-ops: plain Gunicorn ----------------------------------------------------------
@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
@pytest.mark.parametrize("value, phrase", [(None, "is not set"), ("", "is empty"),
                                           (TOKEN_SECRET_PLACEHOLDER, "placeholder"),
                                           (SHORT, "shorter than 32 characters")],
                         ids=["unset", "empty", "placeholder", "short"])
def test_plain_gunicorn_refuses_to_start_without_a_real_secret(tmp_path, value, phrase, preload):
    env = base_env(DATABASE_URL="postgresql://hmb@127.0.0.1:9/none")
    if value is not None:
        env[TOKEN_SECRET_ENV] = value
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1",
           "hmb_ops.refapp.wsgi:app"] + (["--preload"] if preload else [])
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    # The reason, whole on one line (Gunicorn prints it bare for a worker, after the exception's
    # name for --preload).
    reasons = [ln for ln in output.splitlines()
               if f"{TOKEN_SECRET_ENV} " in ln and phrase in ln and "secrets.token_urlsafe(32)" in ln]
    assert reasons, output
    if value:
        assert value not in output


def test_plain_gunicorn_with_a_secret_serves_and_signs_with_it(app_db, tmp_path):
    port = free_port()
    env = base_env(DATABASE_URL=app_db, **{TOKEN_SECRET_ENV: GOOD})
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                             "hmb_ops.refapp.wsgi:app"], env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        token = login(base)
        assert call(base, "GET", "/api/feed", token=token)[0] == 200
        assert call(base, "GET", "/api/feed", token=auth.issue(1, GOOD.encode(), 60))[0] == 200
        old_key = hashlib.sha256(b"hmb-refapp-token:" + app_db.encode()).digest()
        assert call(base, "GET", "/api/feed", token=auth.issue(1, old_key, 60))[0] == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert GOOD not in out


def test_runner_reports_the_apps_reason_for_a_weak_secret(tmp_path):
    proc = GunicornProcess("postgresql://hmb@127.0.0.1:9/none", workers=1, env={TOKEN_SECRET_ENV: SHORT},
                           log_dir=str(tmp_path))
    with pytest.raises(EnvironmentUnusable) as caught:
        proc.start(ready_timeout=30)
    text = caught.value.one_line()
    assert f"gunicorn exited at start: {TOKEN_SECRET_ENV} is shorter than 32 characters" in text
    assert SHORT not in text and not proc.running()


# -- hmb-ops's own runs: `app serve` -----------------------------------------------------------------
def serve(state: Path, url: str, *args: str, **extra_env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", "--json", "--state-dir", str(state),
                             "app", "serve", "--port", str(port), "--workers", "1", "--threads", "2", *args],
                            env=base_env(DATABASE_URL=url, **extra_env), cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    return proc, read_json(proc)


def read_json(proc) -> dict:
    """The JSON document `app serve --json` prints once the app answers (indented, several lines)."""
    text = ""
    while True:
        line = proc.stdout.readline()
        assert line, (text, proc.communicate(timeout=60))
        text += line
        if line.rstrip() == "}":
            return json.loads(text)


def everything_written(state: Path) -> str:
    texts = []
    for path in state.rglob("*"):
        if path.is_file() and "secrets" not in path.parts and "postgres" not in path.parts:
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_app_serve_uses_one_private_secret_per_state_folder(app_db, tmp_path):
    state = tmp_path / "state"
    proc, doc = serve(state, app_db)
    try:
        base = doc["url"]
        path = secret_path(state)
        secret = path.read_text().strip()
        assert len(secret) >= 32 and mode(path) == 0o600 and mode(path.parent) == 0o700
        assert doc["config"]["token_secret"] == str(path)
        token = login(base)
        assert call(base, "GET", "/api/feed", token=token)[0] == 200
        assert call(base, "GET", "/api/feed", token=auth.issue(1, secret.encode(), 60))[0] == 200
        # The key the app used to derive from the database URL signs nothing any more.
        old_key = hashlib.sha256(b"hmb-refapp-token:" + app_db.encode()).digest()
        status, answer = call(base, "GET", "/api/feed", token=auth.issue(1, old_key, 600))
        assert (status, answer["message"]) == (401, "bad token signature")
    finally:
        out, err = stop_serve(proc)
    assert secret not in json.dumps(doc) + out + err + everything_written(state)

    # A restart on the same state folder keeps the key: the token from before still works.
    again, doc2 = serve(state, app_db)
    try:
        assert call(doc2["url"], "GET", "/api/feed", token=token)[0] == 200
    finally:
        stop_serve(again)
    assert secret_path(state).read_text().strip() == secret

    # Another state folder, another key: the first folder's token means nothing there.
    other, doc3 = serve(tmp_path / "other", app_db)
    try:
        assert secret_path(tmp_path / "other").read_text().strip() != secret
        assert call(doc3["url"], "GET", "/api/feed", token=token)[0] == 401
    finally:
        stop_serve(other)


def test_app_serve_with_a_tier_uses_the_state_secret_and_prints_no_placeholder(app_db, tmp_path):
    state = tmp_path / "state"
    proc, doc = serve(state, app_db, "--tier", "small")
    try:
        assert TOKEN_SECRET_ENV not in doc["config"]["environment"]
        assert doc["config"]["token_secret"] == str(secret_path(state))
        assert call(doc["url"], "GET", "/api/feed", token=login(doc["url"]))[0] == 200
    finally:
        out, err = stop_serve(proc)
    assert secret_path(state).read_text().strip() not in json.dumps(doc) + out + err


def test_app_serve_uses_a_secret_from_the_environment(app_db, tmp_path):
    proc, doc = serve(tmp_path / "state", app_db, **{TOKEN_SECRET_ENV: GOOD})
    try:
        assert doc["config"]["token_secret"] == f"environment {TOKEN_SECRET_ENV}"
        assert call(doc["url"], "GET", "/api/feed", token=auth.issue(1, GOOD.encode(), 60))[0] == 200
    finally:
        out, err = stop_serve(proc)
    assert not secret_path(tmp_path / "state").exists()
    assert GOOD not in json.dumps(doc) + out + err


@pytest.mark.parametrize("value", [TOKEN_SECRET_PLACEHOLDER, SHORT])
def test_app_serve_with_a_weak_environment_secret_exits_2(hmb, app_db, tmp_path, value):
    res = hmb(["--state-dir", str(tmp_path), "app", "serve", "--port", "0"],
              env={"DATABASE_URL": app_db, TOKEN_SECRET_ENV: value})
    line = error_line(res, 2)
    assert TOKEN_SECRET_ENV in line and "unset it" in line and SHORT not in res.stderr + res.stdout


# -- hmb-ops's own runs: `loadtest` (and `capacity`, which runs the same stack) ------------------------
@pytest.mark.slow
def test_loadtest_serves_the_app_with_the_state_folder_secret(hmb, new_database, tmp_path):
    state, out = tmp_path / "state", tmp_path / "run"
    res = hmb(["--database-url", new_database(), "--state-dir", str(state), "--json", "loadtest",
               "--profile", "ci", "--users", "2", "--duration", "3", "--out", str(out)],
              env={"CI": "true"}, timeout=240)
    assert res.returncode in (0, 1), res.stderr
    path = secret_path(state)
    secret = path.read_text().strip()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    doc = json.loads((out / "results.json").read_text())
    assert doc["summary"]["requests"] > 0
    kinds = doc["summary"].get("failures_by_kind", {})
    assert not kinds.get("http_401"), kinds  # the generator's logins and tokens worked with that key
    written = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert secret not in res.stdout + res.stderr + written
