"""`indexes suggest` on a PostgreSQL 15 server with HypoPG: Debian's postgresql-15 and
postgresql-15-hypopg (1.3.1), installed by this set-up (apt-get update once, then install), a
throwaway cluster on loopback in a temp folder. PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN): the
statements from pg_stat_statements are planned as dexter does (PREPARE, force_generic_plan, NULL
arguments). Also: a server without pg_stat_statements (exit 3 with the --queries hint), and the
what-if copy of a PostgreSQL 15 schema on the embedded server (pg_dump 18 reading a 15 server).
Skipped, saying why, where apt-get cannot install the packages.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from debian_packages import install

from cli_helpers import error_line
from fixtures_indexes import run_sql

pytestmark = pytest.mark.slow

PG15 = Path("/usr/lib/postgresql/15/bin")
HYPOPG = Path("/usr/share/postgresql/15/extension/hypopg.control")
SCHEMA = (
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, region text NOT NULL, created_at timestamptz NOT NULL)",
    ("INSERT INTO accounts (region, created_at) SELECT 'r' || (g % 50), "
     "timestamptz '2025-01-01' + g * interval '1 min' FROM generate_series(1, 20000) g"),
    ("CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint NOT NULL, kind text NOT NULL, "
     "at timestamptz NOT NULL)"),
    ("INSERT INTO events (account_id, kind, at) SELECT 1 + (g * 13) % 20000, 'k' || (g % 9), "
     "timestamptz '2025-01-01' + g * interval '10 s' FROM generate_series(1, 100000) g"),
    "ANALYZE",
)


@pytest.fixture(scope="module")
def pg15():
    """postgresql://postgres@127.0.0.1:PORT of a throwaway PostgreSQL 15 cluster with pg_stat_statements loaded."""
    why = install(["postgresql-15", "postgresql-15-hypopg"], HYPOPG)
    if why:
        pytest.skip(f"PostgreSQL 15 with HypoPG is not installed and could not be: {why}")
    from hmb_ops.ports import free_port

    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="hmb-ops-pg15-"))
    if os.geteuid() == 0:  # initdb refuses root: the cluster runs as Debian's postgres user
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*args, timeout=120):
        return subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=timeout, cwd="/")

    init = run(str(PG15 / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
               "--locale=C")
    assert init.returncode == 0, init.stderr
    opts = (f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c shared_preload_libraries=pg_stat_statements -c fsync=off")
    start = run(str(PG15 / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", opts, "-w", "start")
    assert start.returncode == 0, start.stderr + (folder / "log").read_text()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        run(str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def app15(pg15):
    run_sql(f"{pg15}/postgres", "CREATE DATABASE app", "CREATE DATABASE noext")
    url = f"{pg15}/app"
    run_sql(url, "CREATE EXTENSION hypopg", "CREATE EXTENSION pg_stat_statements", *SCHEMA)
    run_sql(f"{pg15}/noext", *SCHEMA)
    run_sql(url, "SELECT pg_stat_statements_reset()")
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        for i in range(1, 40):
            cur.execute("SELECT id, kind, at FROM events WHERE account_id = %s ORDER BY at DESC LIMIT 20", (i,))
            cur.execute("SELECT count(*) FROM accounts WHERE region = %s AND created_at >= %s",
                        (f"r{i}", "2025-01-10"))
    return url


def test_hypopg_on_postgresql_15_with_forced_generic_plans(app15, hmb, tmp_path):
    before = run_sql(app15, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    proc = hmb(["--database-url", app15, "--state-dir", str(tmp_path / "state"), "indexes", "suggest", "--json"],
               env={"CI": "true"}, timeout=180)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["method"] == "hypopg" and doc["server_version"] // 10000 == 15
    assert all("forced generic plan" in st["plan_mode"] for st in doc["statements"])
    keys = {(s["table"], tuple(s["keys"])): s for s in doc["suggestions"]}
    events = keys[("events", ("account_id", "at DESC"))] if ("events", ("account_id", "at DESC")) in keys \
        else keys[("events", ("account_id",))]
    assert events["cost_after"] * 2 <= events["cost_before"]
    assert events["size_note"] == "HypoPG's estimate" and events["size_bytes"] > 0
    assert any(t == "accounts" for t, _ in keys)
    # hypothetical indexes only: nothing was built, and nothing was created on the embedded side either
    assert run_sql(app15, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == before
    assert not (tmp_path / "state").exists()


def test_a_server_without_pg_stat_statements_needs_a_queries_file(pg15, app15, pg_server, pg_state_dir, hmb,
                                                                  tmp_path):
    noext = f"{pg15}/noext"
    proc = hmb(["--database-url", noext, "--state-dir", str(tmp_path / "state"), "indexes", "suggest"],
               env={"CI": "true"})
    line = error_line(proc, 3)
    assert "pg_stat_statements is not available" in line and "--queries FILE" in line
    if pg_server[1] is None:
        pytest.skip("the what-if copy needs the embedded server")
    # with a file: no HypoPG in this database, so the what-if copy on the embedded server (pg_dump 18 of a 15 server)
    queries = tmp_path / "w.sql"
    queries.write_text("SELECT id FROM events WHERE account_id = 77 ORDER BY at DESC LIMIT 20;\n")
    done = hmb(["--database-url", noext, "--state-dir", str(pg_state_dir), "indexes", "suggest", "--queries",
                str(queries), "--json"], env={"CI": "true"}, timeout=180)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["method"] == "what-if copy"
    assert any(s["table"] == "events" and s["keys"][0] == "account_id" for s in doc["suggestions"]), doc
