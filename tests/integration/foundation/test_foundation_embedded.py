"""The embedded default through the real CLI: up twice, status, url, down twice, masking."""

import json

import pytest

from hmb_ops.db.connect import connection


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "state")


def test_db_lifecycle_is_idempotent_and_masks_the_password(hmb, state):
    try:
        first = hmb(["--state-dir", state, "db", "up"])
        assert first.returncode == 0, first.stderr
        assert "started" in first.stderr
        masked = first.stdout.strip()
        assert masked.startswith("postgresql://postgres:***@127.0.0.1:")

        second = hmb(["--state-dir", state, "db", "up"])
        assert second.returncode == 0 and "already running" in second.stderr
        assert second.stdout.strip() == masked

        url = hmb(["--state-dir", state, "db", "url"]).stdout.strip()
        password = url.split(":")[2].split("@")[0]
        assert password and password != "***"
        with connection(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)

        status = hmb(["--state-dir", state, "db", "status", "--json"])
        assert status.returncode == 0
        doc = json.loads(status.stdout)
        assert doc["running"] is True and doc["url"] == masked and doc["version"].startswith("18")
        assert doc["schema_version"] == 1 and doc["data_size_bytes"] > 0
        for proc in (first, second, status):
            assert password not in proc.stdout + proc.stderr
    finally:
        down = hmb(["--state-dir", state, "db", "down"])
    assert down.returncode == 0 and "stopped" in down.stderr
    again = hmb(["--state-dir", state, "db", "down"])
    assert again.returncode == 0 and "was not running" in again.stderr
    after = hmb(["--state-dir", state, "--json", "db", "status"])
    assert after.returncode == 3 and json.loads(after.stdout)["running"] is False


def test_state_dir_from_environment(hmb, state):
    try:
        proc = hmb(["db", "up"], env={"HMB_OPS_STATE_DIR": state})
        assert proc.returncode == 0, proc.stderr
        status = hmb(["--json", "db", "status"], env={"HMB_OPS_STATE_DIR": state})
        assert json.loads(status.stdout)["data_dir"].startswith(state)
    finally:
        hmb(["db", "down"], env={"HMB_OPS_STATE_DIR": state})


def test_status_reports_on_a_configured_server(hmb, pg_url, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "--json", "db", "status"], env={"DATABASE_URL": pg_url})
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["source"] == "environment" and doc["running"] is True
    assert "***" in doc["url"] or ":" not in doc["url"].split("@")[0][len("postgresql://"):]
    # the configured server was used, not an embedded one in the state folder
    assert not (tmp_path / "postgres").exists()


def test_restart_keeps_the_port_after_connections(tmp_path):
    """Regression: the free-port probe lacked SO_REUSEADDR, so a restart moved to a new port."""
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path / "state")
    try:
        status, _ = server.up()
        for _ in range(5):
            with connection(status.url) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        server.restart()
        assert server.status().port == status.port
        with connection(server.url()) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        server.down()
