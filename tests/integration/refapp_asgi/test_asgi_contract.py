"""The Flask app's endpoint contract tests (tests/integration/refapp/test_refapp_endpoints.py), run
unchanged against the ASGI variant: FastAPI + SQLAlchemy async + asyncpg under Gunicorn with
uvicorn_worker.UvicornWorker, on the same seeded data. The `served` fixture below replaces the
conftest's Flask one for this module; everything else (client, seeded_url) is shared."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the asgi extra is not installed: pip install 'hmb-ops[asgi]'")

_REFAPP_TESTS = Path(__file__).resolve().parents[1] / "refapp"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_flask_contract_{name}", _REFAPP_TESTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_conftest = _load("conftest")
_endpoints = _load("test_refapp_endpoints")

# The fixtures the contract tests use, from the refapp folder's conftest.
seeded_url = _conftest.seeded_url
client = _conftest.client
TOKEN_SECRET = _conftest.TOKEN_SECRET

# Every contract test of the Flask app, collected here again against the ASGI variant.
for _name in dir(_endpoints):
    if _name.startswith("test_"):
        globals()[_name] = getattr(_endpoints, _name)

WORKER_CLASS = "uvicorn_worker.UvicornWorker"


@pytest.fixture(scope="module")
def served(seeded_url, tmp_path_factory):
    from hmb_ops.refapp_asgi import ASGI_APP
    from hmb_ops.stack.gunicorn import GunicornProcess

    env = {"HMB_REFAPP_TOKEN_SECRET": TOKEN_SECRET, "WEB_CONCURRENCY": "2"}
    proc = GunicornProcess(seeded_url, env=env, worker_class=WORKER_CLASS, app=ASGI_APP,
                           log_dir=str(tmp_path_factory.mktemp("gunicorn_asgi")))
    with proc:
        yield proc


def test_the_asgi_variant_is_what_answers(client, served):
    """Not the Flask app by accident: the log names the Uvicorn worker, /metrics has the same names."""
    assert "uvicorn" in served.log_file.read_text(errors="replace").lower()
    client.get("/api/jobs", token=client.login(1))
    import urllib.request

    body = urllib.request.urlopen(served.url + "/metrics", timeout=10).read().decode()
    for name in ("hmb_requests_total", "hmb_request_duration_seconds_bucket", "hmb_db_pool_connections",
                 "hmb_db_pool_wait_seconds_bucket", "hmb_background_jobs_total"):
        assert name in body, name
    assert 'route="/api/jobs"' in body
