"""`hmb-ops db init`, `db seed` and `app serve` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from hmb_ops.ports import free_port

from cli_helpers import error_line, wait_health

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
UNREACHABLE = "postgresql://u:secretpw@127.0.0.1:1/nothing"

def table_digest(url: str, table: str) -> str:
    from hmb_ops.db.connect import connection

    with connection(url) as conn, conn.cursor() as cur:
        # bcrypt salts are random by design: the hash is the one column that may differ.
        cur.execute(f"SELECT md5(string_agg((to_jsonb(t) - 'hashed_password')::text, '|' ORDER BY t.id))"
                    f" FROM {table} t")
        return cur.fetchone()[0]


def test_db_init_is_idempotent(hmb, new_database):
    url = new_database()
    first = hmb(["--json", "db", "init"], env={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["schema_version"] == 1 and "feed_items" in doc["created"] and "***" in doc["url"]
    second = hmb(["db", "init", "--json"], env={"DATABASE_URL": url})
    assert second.returncode == 0 and json.loads(second.stdout)["created"] == []


def test_db_init_unreachable_exits_3(hmb):
    proc = hmb(["db", "init"], env={"DATABASE_URL": UNREACHABLE, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    assert proc.returncode == 3
    line = error_line(proc, alone=True)
    assert "secretpw" not in line and "cannot connect" in line


def test_db_seed_json_deterministic_and_reset(hmb, new_database):
    a, b = new_database(), new_database()
    proc = hmb(["db", "seed", "--scale", "small", "--seed", "5", "--hash-rounds", "4", "--json"],
               env={"DATABASE_URL": a})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["scale"] == "small" and doc["rows"]["users"] == 1000 and doc["rows"]["feed_items"] > 0
    assert doc["total_rows"] == sum(doc["rows"].values()) and doc["rows_per_second"] > 0
    assert "seeded users: 1000 rows" in proc.stderr  # quiet, line-oriented progress off a TTY
    # Same seed elsewhere: the same rows, table by table.
    assert hmb(["db", "seed", "--seed", "5", "--hash-rounds", "4"], env={"DATABASE_URL": b}).returncode == 0
    for table in ("users", "follows", "posts", "post_likes", "messages", "notifications", "jobs", "feed_items"):
        assert table_digest(a, table) == table_digest(b, table), table
    # Seeding again needs --reset: refused in one line, data untouched.
    again = hmb(["db", "seed", "--seed", "6"], env={"DATABASE_URL": a})
    assert again.returncode == 2 and "--reset" in error_line(again, alone=True)
    assert table_digest(a, "posts") == table_digest(b, "posts")
    other = hmb(["db", "seed", "--seed", "6", "--reset", "--hash-rounds", "4", "--json"], env={"DATABASE_URL": a})
    assert other.returncode == 0, other.stderr
    assert table_digest(a, "posts") != table_digest(b, "posts")
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import TABLES
    from hmb_ops.db.seed import seeded_info

    assert seeded_info(a)["seed"] == 6 and seeded_info(a)["scale"] == "small"
    # The loaded schema has exactly the keys `db init` creates (primary keys rebuilt after COPY).
    def keys(url):
        with connection(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                        " WHERE contype IN ('p', 'f') AND connamespace = 'public'::regnamespace"
                        " AND conrelid::regclass::text <> 'hmb_ops_seed_info' ORDER BY 1, 2")
            return cur.fetchall()

    fresh = new_database()
    assert hmb(["db", "init"], env={"DATABASE_URL": fresh}).returncode == 0
    assert keys(a) == keys(fresh) and {t for t, _, _ in keys(a)} >= set(TABLES)


@pytest.mark.parametrize("args", [["--scale", "huge"], ["--seed", "-1"], ["--hash-rounds", "40"]])
def test_db_seed_bad_options_exit_2(hmb, args):
    proc = hmb(["db", "seed", *args], env={"DATABASE_URL": UNREACHABLE})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_db_seed_unreachable_exits_3(hmb):
    proc = hmb(["db", "seed"], env={"DATABASE_URL": UNREACHABLE, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    assert proc.returncode == 3 and "secretpw" not in error_line(proc, alone=True)


def test_ensure_seeded_reuses_and_rehashes(new_database):
    from hmb_ops.db.seed import ensure_seeded, seeded_info
    from hmb_ops.refapp.auth import check_password

    url = new_database()
    assert ensure_seeded(url, scale="small", seed=3, hash_rounds=4) is True
    seeded_at = seeded_info(url)["seeded_at"]
    assert ensure_seeded(url, scale="small", seed=3) is False
    assert ensure_seeded(url, scale="small", seed=3, password="other", hash_rounds=5) is False
    assert seeded_info(url)["seeded_at"] == seeded_at and seeded_info(url)["hash_rounds"] == 5
    from hmb_ops.db.connect import connection

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT hashed_password FROM users WHERE id = 10")
        assert check_password("other", cur.fetchone()[0])


def start_serve(args, env):
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", *args], env=full, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def gunicorn_children(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


@pytest.mark.parametrize("sig, tier", [(signal.SIGTERM, None), (signal.SIGINT, "small")])
def test_app_serve_runs_and_stops_cleanly(new_database, tmp_path, sig, tier):
    url = new_database()
    port = free_port()
    args = ["--state-dir", str(tmp_path), "app", "serve", "--port", str(port), "--workers", "1", "--threads", "2"]
    if tier:
        args += ["--tier", tier]
    proc = start_serve(args, {"DATABASE_URL": url})
    try:
        wait_health(f"http://127.0.0.1:{port}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            assert r.status == 200  # serve created the schema
        children = gunicorn_children(proc.pid)
        assert children
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"http://127.0.0.1:{port}" in out
        if tier:
            assert f"tier {tier}" in err
        import psutil

        assert not [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_app_serve_port_in_use_exits_3(hmb, new_database, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--port", str(port)],
                   env={"DATABASE_URL": new_database()})
    assert proc.returncode == 3
    assert f"port {port}" in error_line(proc, alone=True)


def test_app_serve_unknown_tier_exits_2(hmb, new_database, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--port", "0", "--tier", "gigantic"],
               env={"DATABASE_URL": new_database()})
    assert proc.returncode == 2 and "gigantic" in error_line(proc, alone=True)


def test_app_serve_unreachable_database_exits_3(hmb, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--port", "0"],
               env={"DATABASE_URL": UNREACHABLE, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    assert proc.returncode == 3 and "secretpw" not in error_line(proc, alone=True)


def test_seed_as_non_superuser_loads_in_fk_order(pg_url, new_database):
    """A role that may not switch off FK triggers loads on one connection, parents first."""
    import uuid

    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse
    from hmb_ops.db.seed import seed, seeded_info

    url = new_database()
    role = f"seeder_{uuid.uuid4().hex[:8]}"
    dbname = parse(url).dbname
    with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'seeder-pw'")
        cur.execute(f'ALTER DATABASE "{dbname}" OWNER TO {role}')
    try:
        admin = parse(url)
        role_url = f"postgresql://{role}:seeder-pw@{admin.host}:{admin.port}/{dbname}"
        result = seed(role_url, scale="small", seed=11, hash_rounds=4)
        assert result.fk_checks_deferred is False
        assert result.rows["feed_items"] > 0 and seeded_info(role_url)["seed"] == 11
    finally:
        with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{dbname}" OWNER TO CURRENT_USER')
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            cur.execute(f"DROP ROLE IF EXISTS {role}")
