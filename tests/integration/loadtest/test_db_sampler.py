"""The database sampler on the real PostgreSQL: connections by state and application, lock waits,
and top statements from pg_stat_statements deltas (on a server that preloads it, which we never
configure for a user: this test server is ours)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from hmb_ops.db.connect import connect
from hmb_ops.loadtest.db_sampler import DatabaseSampler


def _async_connection(url: str, application_name: str):
    """A psycopg2 connection in asynchronous mode: its blocked statement never blocks this process.

    Why not a thread: once any test has imported locust, gevent's monkey-patching turns threads
    into greenlets, and a greenlet blocked inside psycopg2's C code blocks the whole test process
    (the row holder could never release it: CI hung here).
    """
    import psycopg2
    from psycopg2.extras import wait_select

    conn = psycopg2.connect(url, application_name=application_name, async_=True)
    wait_select(conn)
    return conn


def test_connections_by_state_and_application_and_a_lock_wait(new_database):
    from psycopg2.extras import wait_select

    url = new_database("dbs")
    setup = connect(url, autocommit=True)
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
    holder = connect(url, application_name="shop-app")
    waiter = _async_connection(url, "shop-worker")
    sampler = DatabaseSampler(url)
    try:
        sampler.mark_start()
        assert sampler.statements_note == "pg_stat_statements is not installed in this database"
        with holder.cursor() as cur:
            cur.execute("SELECT * FROM t WHERE id = 1 FOR UPDATE")  # holds the row: idle in transaction
        blocked = waiter.cursor()
        # lock_timeout bounds the wait whatever fails below; the statement is sent, not awaited.
        blocked.execute("SET lock_timeout = '20s'; BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE")
        # Wait until the server shows the wait (a fixed sleep is too short on a busy machine).
        deadline = time.monotonic() + 15
        while True:
            got, gap = sampler.sample()
            if (got and got["lock_waits"] >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert gap is None
        assert got["lock_waits"] == 1
        assert got["by_application"]["shop-app"] == 1 and got["by_application"]["shop-worker"] == 1
        assert got["idle_in_transaction"] >= 1 and got["active"] >= 1
        assert "hmb-ops-sampler" not in got["by_application"]  # our own connection is left out
        holder.rollback()
        wait_select(waiter)  # the waiter gets the row now
        got, _ = sampler.sample()
        assert got["lock_waits"] == 0
        assert sampler.top_statements() == []
    finally:
        holder.rollback()
        sampler.close()
        for c in (holder, waiter, setup):
            c.close()


def test_an_unreachable_database_is_a_gap_not_a_failure():
    sampler = DatabaseSampler("postgresql://nobody:x@127.0.0.1:9/none")
    got, gap = sampler.sample()
    assert got is None and gap.startswith("database: not readable")


@pytest.fixture(scope="module")
def preloaded_url():
    """A second embedded server with pg_stat_statements in shared_preload_libraries."""
    from hmb_ops.db.embedded import EmbeddedServer

    root = Path(tempfile.mkdtemp(prefix="hmb-ops-test-pgss-"))
    server = EmbeddedServer(root)
    try:
        status, _ = server.up()
        admin = connect(status.url, autocommit=True)
        with admin.cursor() as cur:
            cur.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        admin.close()
        server.down()
        status, _ = server.up()
        admin = connect(status.url, autocommit=True)
        with admin.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")  # our test server (db up creates it too)
        admin.close()
        yield status.url
    finally:
        server.down()
        shutil.rmtree(root, ignore_errors=True)


def test_top_statements_are_the_runs_deltas_by_total_time(preloaded_url):
    app = connect(preloaded_url, autocommit=True, application_name="shop-app")
    with app.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, title text)")
        cur.execute("INSERT INTO items SELECT g, 'x' FROM generate_series(1, 2000) g ON CONFLICT DO NOTHING")
        cur.execute("SELECT count(*) FROM items")  # before the run: must not count
    sampler = DatabaseSampler(preloaded_url)
    try:
        sampler.mark_start()
        assert sampler.statements_note is None
        with app.cursor() as cur:
            for _ in range(30):
                cur.execute("SELECT pg_sleep(0.01), count(*) FROM items WHERE title = %s", ("x",))
            for i in range(1, 21):
                cur.execute("SELECT title FROM items WHERE id = %s", (i,))
        top = sampler.top_statements()
    finally:
        sampler.close()
        app.close()
    assert top, sampler.statements_note
    first = top[0]
    assert "pg_sleep" in first["query"] and first["calls"] == 30 and first["total_ms"] >= 300
    by_query = {s["query"]: s for s in top}
    lookup = next(s for q, s in by_query.items() if "WHERE id = $1" in q)
    assert lookup["calls"] == 20
    assert not any("count(*) FROM items\"" in q or q == "SELECT count(*) FROM items" for q in by_query)
    assert not any("pg_stat_activity" in q for q in by_query)
    assert not any("pg_extension" in q for q in by_query), by_query  # hmb-ops' own catalog query
