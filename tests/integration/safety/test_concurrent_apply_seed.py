"""Two `indexes apply` and a `db seed --reset` started at the same moment on one database.

Whatever order the server lets them run in, each ends with a documented exit code and one error
line at most, the data set is whole, no invalid index is left behind once apply has run again,
and a plan afterwards is empty.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from cli_helpers import INTERRUPTIBLE_CLI
from fixtures_indexes import run_sql as _sql

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _start(url: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    return subprocess.Popen([*INTERRUPTIBLE_CLI, "--database-url", url, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_applies_and_a_reset_at_once_end_cleanly(new_database):
    from hmb_ops.db.seed import seed
    from hmb_ops.indexes import api, service

    url = new_database("race")
    seed(url, scale="small", hash_rounds=4)
    procs = {
        "apply-1": _start(url, "indexes", "apply", "--create-extensions", "--wait"),
        "apply-2": _start(url, "indexes", "apply", "--create-extensions", "--wait"),
        "seed": _start(url, "db", "seed", "--reset", "--hash-rounds", "4"),
    }
    results = {name: (p.wait(timeout=600), p.stderr.read()) for name, p in procs.items()}
    for name, (code, err) in results.items():
        assert "Traceback" not in err, (name, err)
        # apply: 0, or 1 when a build lost its table to the reset; never a crash (70)
        assert code in (0, 1), (name, code, err)
        if code:
            assert sum(line.startswith("error:") for line in err.splitlines()) == 1, (name, err)
    assert results["seed"][0] == 0, results["seed"]

    info = _sql(url, "SELECT state, rows FROM hmb_ops_seed_info")[0]
    assert info[0] == "complete"
    for table, rows in info[1].items():
        assert _sql(url, f"SELECT count(*) FROM {table}")[0][0] == rows, table

    # Whatever the race left, one more apply reconciles it: no invalid index, an empty plan.
    again = _start(url, "indexes", "apply", "--create-extensions")
    assert again.wait(timeout=600) == 0, again.stderr.read()
    assert _sql(url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0
    assert service.make_plan(url, api.load_spec(None)).actions == ()


def _real_deadlock(url: str):
    """A DeadlockDetected raised by the real server: two sessions lock two tables in opposite order."""
    import threading

    import psycopg2.errors

    from hmb_ops.db.connect import connect

    _sql(url, "CREATE TABLE dl_a (i int)")
    _sql(url, "CREATE TABLE dl_b (i int)")
    first, second = connect(url), connect(url)
    caught: list = []
    both_hold = threading.Barrier(2)

    def lock(conn, mine, theirs):
        try:
            with conn.cursor() as cur:
                cur.execute("SET deadlock_timeout = '100ms'")
                cur.execute(f"LOCK TABLE {mine} IN ACCESS EXCLUSIVE MODE")
                both_hold.wait()
                cur.execute(f"LOCK TABLE {theirs} IN ACCESS EXCLUSIVE MODE")
        except psycopg2.errors.DeadlockDetected as exc:
            caught.append(exc)
        finally:
            conn.rollback()  # the survivor lets go too

    threads = [threading.Thread(target=lock, args=(first, "dl_a", "dl_b")),
               threading.Thread(target=lock, args=(second, "dl_b", "dl_a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    first.close()
    second.close()
    assert len(caught) == 1
    return caught[0]


def test_a_seed_that_loses_a_deadlock_is_tried_again_then_exit_3(new_database):
    from hmb_ops.db.seed import orchestrate as seedmod
    from hmb_ops.errors import EXIT_ENVIRONMENT, LockBusy

    deadlock = _real_deadlock(new_database("deadlock"))
    calls = []

    def loses_once():
        calls.append(1)
        if len(calls) == 1:
            raise deadlock
        return "seeded"

    assert seedmod._retry_on_deadlock(loses_once) == "seeded" and len(calls) == 2

    def always_loses():
        raise deadlock

    with pytest.raises(LockBusy) as info:
        seedmod._retry_on_deadlock(always_loses)
    assert info.value.exit_code == EXIT_ENVIRONMENT and "deadlock" in info.value.one_line()
