"""A database that goes away and comes back: 503 + Retry-After quickly while it is down, no hang,
/health still answers, and normal service afterwards without restarting Gunicorn."""

from __future__ import annotations

import shutil
import tempfile
import time

import pytest

from hmb_ops.stack.gunicorn import GunicornProcess


@pytest.mark.slow
def test_database_outage_and_recovery(tmp_path, client_for):
    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.seed import seed

    # Our own server (the session one stays up), outside pytest's tmp root: a concurrent pytest
    # session chmods that root to 0700, which would lock the postgres service user out.
    own = tempfile.mkdtemp(prefix="hmb-refapp-pg-")
    server = EmbeddedServer(own)
    url = server.up()[0].url
    try:
        seed(url, scale="small", seed=1, hash_rounds=4)
        env = {"HMB_REFAPP_TOKEN_SECRET": "restart-secret-of-at-least-32-characters", "DB_POOL_TIMEOUT": "2"}
        with GunicornProcess(url, workers=1, threads=4, env=env, log_dir=str(tmp_path / "log")) as app:
            client = client_for(app.url)
            token = client.login(1)
            for path in ("/api/feed", "/api/jobs", "/api/messages/unread-count"):
                assert client.get(path, token=token)[0] == 200  # the pool now holds open connections
            server.down()
            for path in ("/api/feed", "/api/jobs", "/api/messages/unread-count", "/ready"):
                status, headers, doc = client.get(path, token=token, timeout=15)
                assert status == 503 and headers["Retry-After"] == "1" and doc["error"] == "unavailable", path
            assert client.post("/api/auth/login", body={"email": "user1@example.test",
                                                        "password": "hmb-ops-demo"})[0] == 503
            assert client.get("/health")[0] == 200
            server.up()
            deadline = time.monotonic() + 30
            statuses = []
            while time.monotonic() < deadline:
                statuses = [client.get(p, token=token)[0] for p in ("/api/feed", "/api/jobs", "/ready")]
                if statuses == [200, 200, 200]:
                    break
                time.sleep(0.2)
            assert statuses == [200, 200, 200]
            # Every pooled connection from before the outage was replaced, none fails later.
            assert all(client.get("/api/feed", token=token)[0] == 200 for _ in range(10))
    finally:
        server.down()
        shutil.rmtree(own, ignore_errors=True)
