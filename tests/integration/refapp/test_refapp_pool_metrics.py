"""Pool exhaustion → 503 + Retry-After, statement timeout → 503, /metrics summed over workers,
background queue drained on graceful shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from hmb_ops.stack.gunicorn import GunicornProcess

SECRET = {"HMB_REFAPP_TOKEN_SECRET": "refapp-test-secret-of-at-least-32-characters"}


def wait_for_lock_waiters(url: str, n: int, timeout: float = 20) -> None:
    from hmb_ops.db.connect import connection

    deadline = time.monotonic() + timeout
    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hmb-refapp'"
                        " AND wait_event_type = 'Lock'")
            if cur.fetchone()[0] >= n:
                return
            time.sleep(0.05)
    raise AssertionError("the request never started waiting on the lock")


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_pool_exhaustion_and_statement_timeout_answer_503(seeded_url, tmp_path, client_for):
    from hmb_ops.db.connect import connect

    env = {**SECRET, "DB_POOL_MIN": "1", "DB_POOL_MAX": "1", "DB_POOL_TIMEOUT": "0.3",
           "DB_STATEMENT_TIMEOUT_MS": "60000"}
    with GunicornProcess(seeded_url, workers=1, threads=4, env=env, log_dir=str(tmp_path)) as app:
        client = client_for(app.url)
        token = client.login(1)
        results: dict = {}
        locker = connect(seeded_url)
        try:
            with locker.cursor() as cur:
                cur.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            holder = threading.Thread(
                target=lambda: results.setdefault("held", client.get("/api/posts/1", token=token)))
            holder.start()
            wait_for_lock_waiters(seeded_url, 1)
            # The only connection is busy: the next request waits DB_POOL_TIMEOUT, then 503.
            status, headers, doc = client.get("/api/posts/2", token=token)
            assert status == 503 and headers["Retry-After"] == "1" and doc["error"] == "unavailable"
            assert "busy" in doc["message"]
        finally:
            locker.rollback()
            locker.close()
        holder.join(30)
        assert results["held"][0] == 200
        text = client.get("/metrics")[2]
        assert metric(text, "hmb_db_pool_timeouts_total") >= 1

    env = {**SECRET, "DB_STATEMENT_TIMEOUT_MS": "300"}
    with GunicornProcess(seeded_url, workers=1, threads=2, env=env, log_dir=str(tmp_path)) as app:
        client = client_for(app.url)
        token = client.login(1)
        locker = connect(seeded_url)
        try:
            with locker.cursor() as cur:
                cur.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            status, headers, doc = client.get("/api/posts/1", token=token)
            assert status == 503 and headers["Retry-After"] == "1" and "timed out" in doc["message"]
        finally:
            locker.rollback()
            locker.close()
        assert client.get("/api/posts/1", token=token)[0] == 200  # the connection survived the timeout


def test_metrics_are_summed_across_two_workers(seeded_url, tmp_path, client_for):
    with GunicornProcess(seeded_url, workers=2, threads=2, env=SECRET, log_dir=str(tmp_path)) as app:
        assert len(app.worker_pids()) == 2
        client = client_for(app.url)
        pids = set()
        n = 120
        before = client.get("/metrics")[2]
        base = metric(before, "hmb_requests_total", route="/health", method="GET", status="200")
        base_count = metric(before, "hmb_request_duration_seconds_count", route="/health")
        for _ in range(n):
            status, _, doc = client.get("/health")
            assert status == 200
            pids.add(doc["pid"])
        token = client.login(1)
        assert client.post("/api/posts", body={"content": "metrics"}, token=token)[0] == 201
        deadline = time.monotonic() + 20
        while True:
            text = client.get("/metrics")[2]
            if metric(text, "hmb_background_jobs_total", outcome="done") >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # Each worker counts its own requests; /metrics must show the sum whichever worker answers.
        assert metric(text, "hmb_requests_total", route="/health", method="GET", status="200") == base + n
        assert metric(text, "hmb_request_duration_seconds_count", route="/health") == base_count + n
        assert metric(text, "hmb_background_jobs_total", outcome="done") >= 1
        assert metric(text, "hmb_background_job_latency_seconds_count") >= 1
        assert 'hmb_db_pool_connections{state="idle"}' in text
        assert 'hmb_db_pool_connections{state="in_use"}' in text
        assert "hmb_background_queue_depth" in text
        assert pids <= set(app.worker_pids())
        metrics_dir = app.environment()["PROMETHEUS_MULTIPROC_DIR"]
    import os

    assert not os.path.exists(metrics_dir)  # the runner cleans its per-run folder


@pytest.mark.parametrize("config", ["default", "no-hooks"])
def test_graceful_stop_drains_background_queue(seeded_url, tmp_path, client_for, config):
    from hmb_ops.db.connect import connection

    config_file = None
    if config == "no-hooks":
        # A tier's generated config has no worker_exit hook of ours: the app's atexit drains.
        config_file = tmp_path / "gunicorn.conf.py"
        config_file.write_text('worker_class = "gthread"\ngraceful_timeout = 30\n')
    env = {**SECRET, "BACKGROUND_WORKERS": "1", "NOTIFY_DELAY_MS": "300"}
    app = GunicornProcess(seeded_url, workers=1, threads=4, env=env, log_dir=str(tmp_path),
                          config_file=str(config_file) if config_file else None)
    with app:
        client = client_for(app.url)
        token = client.login(3)
        ids = []
        for i in range(4):
            status, _, doc = client.post("/api/posts", body={"content": f"drain {i}"}, token=token)
            assert status == 201 and doc["fan_out"] == "queued"
            ids.append(doc["id"])
    # stop() sent SIGTERM and waited: every queued fan-out must have been written first.
    with connection(seeded_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT post_id) FROM feed_items WHERE post_id = ANY(%s)", (ids,))
        assert cur.fetchone()[0] == len(ids)


def test_inline_mode_fans_out_before_answering(seeded_url, tmp_path, client_for):
    from hmb_ops.db.connect import connection

    env = {**SECRET, "BACKGROUND_MODE": "inline"}
    with GunicornProcess(seeded_url, workers=1, threads=2, env=env, log_dir=str(tmp_path)) as app:
        client = client_for(app.url)
        status, _, doc = client.post("/api/posts", body={"content": "inline"}, token=client.login(1))
        assert status == 201 and doc["fan_out"] == "inline"
        with connection(seeded_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM feed_items WHERE post_id = %s", (doc["id"],))
            assert cur.fetchone()[0] >= 1


def test_bcrypt_rounds_rehash_on_login(seeded_url, tmp_path, client_for):
    from hmb_ops.db.connect import connection
    from hmb_ops.refapp.auth import hash_cost

    env = {**SECRET, "BCRYPT_ROUNDS": "5"}
    with GunicornProcess(seeded_url, workers=1, threads=2, env=env, log_dir=str(tmp_path)) as app:
        client = client_for(app.url)
        client.login(77)
        client.login(77)  # the new hash still verifies
    with connection(seeded_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, hashed_password FROM users WHERE id IN (77, 78) ORDER BY id")
        (_, rehashed), (_, untouched) = cur.fetchall()
    assert hash_cost(rehashed) == 5 and hash_cost(untouched) == 4
