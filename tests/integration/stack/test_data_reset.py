"""The same data every run: the seeded template and the run database cloned from it, on the real
session PostgreSQL; hmb-ops's own databases are recorded as such, nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from hmb_ops.db import template
from hmb_ops.db.connect import connection
from hmb_ops.db.dsn import parse
from hmb_ops.errors import UsageError


def comment_of(admin: str, name: str) -> str | None:
    with connection(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))
        row = cur.fetchone()
    return row[0] if row else None


def exists(admin: str, name: str) -> bool:
    with connection(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def drop(admin: str, name: str) -> None:
    with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows(url: str, table: str = "items") -> int:
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


@pytest.fixture
def scale(pg_url):
    """A scale name of this test only; its template is dropped afterwards."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    drop(pg_url, template.template_name(name))


def tiny_seed(url: str) -> None:
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS items (id int)")
        cur.execute("DELETE FROM items")
        cur.execute("INSERT INTO items SELECT generate_series(1, 100)")
        conn.commit()


def test_every_run_starts_from_the_template_whatever_the_last_run_wrote(pg_url, scale):
    name, created = template.ensure_template(pg_url, scale, tiny_seed)
    assert created and comment_of(pg_url, name).startswith(template.TEMPLATE_MARK)
    run = template.clone_for_run(pg_url, name)
    try:
        assert run.name == f"hmb_ops_run_{os.getpid()}" and comment_of(pg_url, run.name).startswith(template.RUN_MARK)
        with connection(run.url) as conn, conn.cursor() as cur:  # a load run writes rows
            cur.execute("INSERT INTO items SELECT generate_series(1, 50)")
            conn.commit()
        assert rows(run.url) == 150
        again = template.clone_for_run(pg_url, name)            # the next run
        assert rows(again.url) == 100 and rows(parse(pg_url).with_database(name).url) == 100
        assert again.record()["reset"] is True and again.seconds >= 0
        _, created_again = template.ensure_template(pg_url, scale, tiny_seed)
        assert created_again is False
    finally:
        template.drop_run(pg_url, run.name)
    assert not exists(pg_url, run.name)


def test_a_database_with_the_template_name_that_is_not_ours_is_refused_and_kept(pg_url, scale):
    name = template.template_name(scale)
    with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    with pytest.raises(UsageError) as err:
        template.ensure_template(pg_url, scale, tiny_seed)
    assert "hmb-ops did not create it" in err.value.message and err.value.exit_code == 2
    assert exists(pg_url, name) and comment_of(pg_url, name) is None


def test_run_databases_of_killed_runs_are_dropped_but_not_live_or_foreign_ones(pg_url, scale):
    name, _ = template.ensure_template(pg_url, scale, tiny_seed)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = template.clone_for_run(pg_url, name, owner_pid=os.getppid())
    left = template.clone_for_run(pg_url, name, owner_pid=dead.pid)
    foreign = f"hmb_ops_run_{uuid.uuid4().int % 10 ** 9}"
    with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{foreign}"')
    try:
        mine = template.clone_for_run(pg_url, name)
        assert left.name in mine.removed and not exists(pg_url, left.name)
        assert exists(pg_url, live.name) and exists(pg_url, foreign)
        template.drop_run(pg_url, foreign)  # not ours: drop_run leaves it
        assert exists(pg_url, foreign)
        template.drop_run(pg_url, mine.name)
    finally:
        for db in (left.name, live.name, foreign):
            drop(pg_url, db)


@pytest.mark.slow
def test_two_load_runs_on_the_embedded_default_see_the_same_rows(pg_server, pg_state_dir, tmp_path, monkeypatch):
    """The reference app, run twice through the load runner on the embedded default: each run
    starts with the template's row counts although the first one wrote feed items and posts."""
    admin, server = pg_server
    if server is None:
        pytest.skip("the reset is for the embedded default; HMB_OPS_TEST_DATABASE_URL names another server")
    from hmb_ops.loadtest.api import LoadRequest, run_load

    monkeypatch.delenv("DATABASE_URL", raising=False)
    run_db = parse(admin).with_database(f"hmb_ops_run_{os.getpid()}").url
    tables = ("posts", "feed_items", "post_likes", "messages")
    seen: list[dict] = []

    def counts() -> dict:
        with connection(run_db) as conn, conn.cursor() as cur:
            found = {}
            for t in tables:
                cur.execute(f"SELECT count(*) FROM {t}")
                found[t] = cur.fetchone()[0]
            return found

    during: list[dict] = []

    def progress(event: dict) -> None:
        if event.get("phase") and str(event.get("message", "")).startswith("load:"):
            seen.append(counts())      # as the load starts
        elif "elapsed_s" in event:
            during.append(counts())    # while it runs: it writes rows

    docs = []
    for i in range(2):
        docs.append(run_load(LoadRequest(profile="smoke", users=8, duration=8, state_dir=str(pg_state_dir),
                                         out_dir=str(tmp_path / f"run{i}")), progress=progress))
        if i == 0:
            wrote = {t: max(d[t] for d in during) - seen[0][t] for t in tables}
            assert any(wrote.values()), "the first run wrote nothing: the test proves nothing"
    assert len(seen) == 2 and seen[0] == seen[1], seen
    assert docs[0].summary.requests > 0
    for doc in docs:
        assert doc.data is not None and doc.data.reset and doc.data.template == "hmb_ops_template_small"
        assert doc.confinement is None  # no limit asked
    assert not exists(admin, f"hmb_ops_run_{os.getpid()}")  # dropped after the run
