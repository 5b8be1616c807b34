"""Seeds that are interrupted (Ctrl-C, kill -9) or run twice at once, on the real embedded server."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from cli_helpers import INTERRUPTIBLE_CLI, error_line
from fixtures_indexes import run_sql

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def start_seed(url: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    return subprocess.Popen([*INTERRUPTIBLE_CLI, "--database-url", url, "db", "seed", "--hash-rounds", "4", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_mid_load(proc: subprocess.Popen) -> list[str]:
    """Read stderr until the first table is loaded (one line per table off a terminal): mid-load."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("seeded ") and "rows" in line:
            return lines
    raise AssertionError(f"the seed ended before loading a table: {''.join(lines)}")


def kill_9_mid_reset(url: str) -> None:
    """A `db seed --reset --scale medium` killed with SIGKILL once its first table is loaded."""
    proc = start_seed(url, "--reset", "--scale", "medium")
    try:
        wait_mid_load(proc)
        proc.kill()
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
        proc.stdout.close()


def seed_state(url: str):
    if not run_sql(url, "SELECT to_regclass('hmb_ops_seed_info') IS NOT NULL")[0][0]:
        return None
    return run_sql(url, "SELECT state FROM hmb_ops_seed_info")[0][0]


@pytest.fixture
def shared_database(new_database):
    """A database that already holds hmb-ops's small seed beside a table of the user's (shared)."""
    from hmb_ops.db.seed import seed

    url = new_database("own")
    run_sql(url, "CREATE TABLE notes (id int PRIMARY KEY, body text)", "INSERT INTO notes VALUES (1, 'mine')")
    seed(url, scale="small", hash_rounds=4, allow_foreign=True)
    return url


def test_kill_9_mid_reset_leaves_a_half_seed_the_next_seed_repairs(hmb, shared_database):
    url = shared_database
    kill_9_mid_reset(url)
    # The ownership and "loading" records were committed before the first row.
    assert seed_state(url) == "loading"
    rerun = hmb(["db", "seed", "--hash-rounds", "4"], env={"DATABASE_URL": url})  # no --reset needed
    assert rerun.returncode == 0, rerun.stderr
    assert "repairing a half-seeded database" in rerun.stderr
    assert seed_state(url) == "complete"
    assert run_sql(url, "SELECT count(*) FROM users")[0][0] == 1000
    assert run_sql(url, "SELECT body FROM notes") == [("mine",)]
    # and the next seed without --reset is refused again: the data is whole now
    assert "--reset" in error_line(hmb(["db", "seed"], env={"DATABASE_URL": url}), 2)


def test_kill_9_mid_seed_is_repaired_by_ensure_seeded(shared_database):
    from hmb_ops.db.seed import ensure_seeded, seeded_info

    url = shared_database
    kill_9_mid_reset(url)
    assert seed_state(url) == "loading" and seeded_info(url) is None
    plans = []
    assert ensure_seeded(url, scale="small", hash_rounds=4, on_plan=plans.append) is True
    assert plans[0].repair is True and "notes" in plans[0].kept_foreign
    assert seeded_info(url)["users"] == 1000
    assert run_sql(url, "SELECT body FROM notes") == [("mine",)]


def test_ctrl_c_mid_reset_drops_only_its_own_tables_and_a_rerun_seeds(hmb, shared_database):
    url = shared_database
    proc = start_seed(url, "--reset", "--scale", "medium")
    try:
        wait_mid_load(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # the interrupted load took its own tables with it (no half data), nothing else
    left = {r[0] for r in run_sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert left == {"notes"}
    assert run_sql(url, "SELECT body FROM notes") == [("mine",)]
    rerun = hmb(["db", "seed", "--hash-rounds", "4", "--allow-foreign-tables"], env={"DATABASE_URL": url})
    assert rerun.returncode == 0, rerun.stderr
    assert seed_state(url) == "complete"


def test_two_seeds_at_once_one_waits_and_the_data_is_whole(hmb, new_database):
    """The second seeder waits on the advisory lock, then finds the first one's data and refuses cleanly."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.seed import LOCK_KEY, seeded_info

    url = new_database("own")
    results = [None, None]
    with connection(url, autocommit=True) as holder, holder.cursor() as cur:
        # Hold the seeders' lock so both are surely waiting at the same time, then let them go.
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))

        def run(i):
            results[i] = hmb(["db", "seed", "--hash-rounds", "4", "--seed", str(20 + i)], env={"DATABASE_URL": url})

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if cur.fetchone()[0] == 2:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the two seeders never waited on the lock together")
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    for t in threads:
        t.join(120)
    codes = sorted(r.returncode for r in results)
    assert codes in ([0, 0], [0, 2]), [(r.returncode, r.stderr) for r in results]
    for r in results:
        if r.returncode == 2:
            assert "already holds data" in error_line(r, 2, alone=True)
    info = seeded_info(url)
    assert info["users"] == 1000 and info["seed"] in (20, 21)
    rows = info["rows"]
    for table, count in rows.items():
        assert run_sql(url, f"SELECT count(*) FROM {table}")[0][0] == count, table
