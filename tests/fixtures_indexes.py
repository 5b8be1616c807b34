"""Fixtures for the indexes area (integration and e2e).

Fresh databases with the reference schema, small specs, blockers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest


@pytest.fixture
def schema_db(new_database):
    """A fresh database with the reference schema (no secondary indexes) and no rows."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import create_schema

    url = new_database("ix")
    with connection(url) as conn:
        create_schema(conn)
    return url


def run_sql(url: str, *statements: str, params=None):
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        out = None
        for s in statements:
            cur.execute(s, params)
            out = cur.fetchall() if cur.description else out
        return out


def fill_users(url: str, n: int = 200) -> None:
    run_sql(url, "INSERT INTO users (email, hashed_password, username) "
                 f"SELECT 'user' || i || '@example.test', 'x', 'user' || i FROM generate_series(1, {n}) i")


def env_for(url: str) -> dict:
    """The environment a CLI run against `url` gets (line-oriented output)."""
    return {"DATABASE_URL": url, "CI": "true"}


def write_spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> str:
    p = tmp_path / name
    p.write_text(body)
    return str(p)


USERS_SPEC = """
indexes:
  declared:
    - name: idx_users_email_lower
      table: users
      columns: ["lower(email)"]
      unique: true
      queries:
        - {name: login, sql: "SELECT id FROM users WHERE lower(email) = lower(%(email)s)",
           params: {email: user7@example.test}, target_ms: 1000}
    - name: idx_users_created
      table: users
      columns: [created_at DESC]
"""


@pytest.fixture
def users_spec(tmp_path):
    return write_spec(tmp_path, USERS_SPEC)


class Blocker:
    """A session holding an old snapshot (REPEATABLE READ on an unrelated table): CIC must wait for it."""

    def __init__(self, url: str, table: str = "reviews"):
        from hmb_ops.db.connect import connect

        self.conn = connect(url, application_name="test blocker")
        self.conn.set_session(isolation_level="REPEATABLE READ")
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            cur.fetchall()
        self.pid = self.conn.get_backend_pid()

    def release(self):
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


@pytest.fixture
def blocker():
    made: list[Blocker] = []

    def make(url: str, table: str = "reviews") -> Blocker:
        b = Blocker(url, table)
        made.append(b)
        return b

    yield make
    for b in made:
        b.release()


def wait_for_build(url: str, index: str, timeout: float = 20.0) -> int:
    """Wait until a CREATE INDEX CONCURRENTLY of `index` shows in pg_stat_progress_create_index; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = run_sql(url, "SELECT p.pid FROM pg_stat_progress_create_index p JOIN pg_class c "
                            "ON c.oid = p.index_relid WHERE c.relname = %s", params=(index,))
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError(f"no build of {index} appeared within {timeout}s")


def in_thread(fn, *args, **kwargs):
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


class _Helpers:
    run_sql = staticmethod(run_sql)
    fill_users = staticmethod(fill_users)
    write_spec = staticmethod(write_spec)
    wait_for_build = staticmethod(wait_for_build)
    in_thread = staticmethod(in_thread)
    USERS_SPEC = USERS_SPEC


@pytest.fixture
def ixh():
    """Helper functions (conftest modules are not importable under --import-mode=importlib)."""
    return _Helpers
