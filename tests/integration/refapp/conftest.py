"""A seeded database and a real Gunicorn serving the reference app, shared per test module."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

TOKEN_SECRET = "refapp-test-secret-of-at-least-32-characters"
PASSWORD = "hmb-ops-demo"


@pytest.fixture(scope="module")
def seeded_url(module_database):
    from hmb_ops.db.seed import seed

    seed(module_database, scale="small", seed=7, hash_rounds=4)
    return module_database


class Client:
    def __init__(self, base: str):
        self.base = base

    def request(self, method: str, path: str, *, body=None, token: str | None = None, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 30):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                # The message itself, not dict(): header names are case-insensitive (Uvicorn's
                # httptools protocol sends them lowercase, Werkzeug capitalised).
                status, hdrs, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, hdrs, payload = exc.code, exc.headers, exc.read()
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = payload.decode(errors="replace")
        return status, hdrs, doc

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def login(self, i: int, password: str = PASSWORD) -> str:
        status, _, doc = self.post("/api/auth/login", body={"email": f"user{i}@example.test", "password": password})
        assert status == 200, doc
        return doc["token"]


@pytest.fixture(scope="module")
def served(seeded_url, tmp_path_factory):
    from hmb_ops.stack.gunicorn import GunicornProcess

    env = {"HMB_REFAPP_TOKEN_SECRET": TOKEN_SECRET, "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
    proc = GunicornProcess(seeded_url, env=env, log_dir=str(tmp_path_factory.mktemp("gunicorn")))
    with proc:
        yield proc


@pytest.fixture(scope="module")
def client(served) -> Client:
    return Client(served.url)


@pytest.fixture(scope="session")
def client_for():
    """Client factory for tests that start their own Gunicorn."""
    return Client
