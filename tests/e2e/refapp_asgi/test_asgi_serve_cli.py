"""`hmb-ops app serve --worker-class uvicorn_worker.UvicornWorker` as a user runs it: the FastAPI
variant under real Gunicorn; its bad inputs (worker class not installed, the asgi extra missing,
the database down → 503, never 500)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from hmb_ops.ports import free_port

from cli_helpers import error_line, wait_health

pytest.importorskip("fastapi", reason="the asgi extra is not installed: pip install 'hmb-ops[asgi]'")

REPO = Path(__file__).resolve().parents[3]
UVICORN = "uvicorn_worker.UvicornWorker"
SECRET = "asgi-e2e-secret-of-at-least-32-characters!"


def _serve(args: list[str], env: dict) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", *args], env=full, cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _get(url: str, token: str | None = None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)] if proc.poll() is None else []
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    left = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not left, f"processes left running: {left}"
    return out, err


def test_app_serve_asgi_variant_serves_and_stops_cleanly(new_database, tmp_path):
    from hmb_ops.db.seed import seed

    url = new_database()
    seed(url, scale="small", seed=3, hash_rounds=4)
    port = free_port()
    proc = _serve(["--state-dir", str(tmp_path), "app", "serve", "--port", str(port), "--workers", "2",
                   "--worker-class", UVICORN], {"DATABASE_URL": url, "HMB_REFAPP_TOKEN_SECRET": SECRET})
    try:
        wait_health(f"http://127.0.0.1:{port}", proc)
        assert _get(f"http://127.0.0.1:{port}/ready")[0] == 200
        from hmb_ops.refapp import auth

        token = auth.issue(1, SECRET.encode(), 60)
        status, headers, doc = _get(f"http://127.0.0.1:{port}/api/feed?limit=3", token)
        assert status == 200 and set(doc) == {"items", "next_cursor"} and "Server-Timing" in headers
    finally:
        out, err = _stop(proc)
    assert proc.returncode == 0, err
    assert "hmb_ops.refapp_asgi.asgi:app" in err and f"http://127.0.0.1:{port}" in out


def test_asgi_variant_database_down_is_503_never_500(tmp_path):
    """No database at all behind the app: /health answers, everything that needs it is 503 + Retry-After."""
    from hmb_ops.refapp import auth
    from hmb_ops.refapp_asgi import ASGI_APP
    from hmb_ops.stack.gunicorn import GunicornProcess

    down = f"postgresql://u:pw@127.0.0.1:{free_port()}/nothing"
    proc = GunicornProcess(down, workers=1, worker_class=UVICORN, app=ASGI_APP, log_dir=str(tmp_path),
                           env={"HMB_REFAPP_TOKEN_SECRET": SECRET, "DB_POOL_TIMEOUT": "1"})
    with proc:
        assert _get(proc.url + "/health")[0] == 200
        token = auth.issue(1, SECRET.encode(), 60)
        for path in ("/ready", "/api/feed", "/api/jobs?q=chef", "/api/messages/unread-count", "/api/posts/1"):
            status, headers, doc = _get(proc.url + path, token)
            assert status == 503, (path, status, doc)
            assert doc["error"] == "unavailable" and headers.get("Retry-After") == "1", path
        req = urllib.request.Request(proc.url + "/api/auth/login", method="POST",
                                     headers={"Content-Type": "application/json"},
                                     data=json.dumps({"email": "user1@example.test", "password": "x"}).encode())
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=15)
        assert err.value.code == 503
        metrics = urllib.request.urlopen(proc.url + "/metrics", timeout=10).read().decode()
        assert 'hmb_db_errors_total{kind="unavailable"}' in metrics
        assert 'status="500"' not in metrics


def test_worker_class_not_installed_exits_2(hmb, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--worker-class", "nosuchpkg.workers.Worker"],
               env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"})
    line = error_line(proc, 2)
    assert "nosuchpkg" in line and "not" in line


def test_without_the_asgi_extra_exits_3_naming_it(hmb, tmp_path):
    """A Python where fastapi cannot be found (a meta-path finder hides it, as if not installed)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fastapi' or name.startswith('fastapi.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--worker-class", UVICORN],
               env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x", "PYTHONPATH": str(hide)})
    line = error_line(proc, 3, alone=True)
    assert "pip install 'hmb-ops[asgi]'" in line and "fastapi" in line


@pytest.mark.slow
def test_loadtest_cli_with_an_asgi_tier_serves_the_fastapi_variant(hmb, new_database, tmp_path):
    """`loadtest --config examples/asgi/tiers.yaml --tier asgi-default`: the tier's worker class picks
    the ASGI variant, started the way app serve starts it."""
    url = new_database()
    out = tmp_path / "run"
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--config", str(REPO / "examples" / "asgi" / "tiers.yaml"),
                "loadtest", "--tier", "asgi-default", "--profile", "ci", "--users", "4", "--duration", "6s",
                "--out", str(out)], env={"DATABASE_URL": url}, timeout=400)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    # A Uvicorn worker answering every request without a failure: the ASGI variant (the Flask app
    # cannot be served by it), under the tier's name.
    assert doc["summary"]["failures"] == 0 and doc["summary"]["requests"] > 10
    assert doc["server"]["worker_class"] == UVICORN and doc["server"]["tier"] == "asgi-default"
