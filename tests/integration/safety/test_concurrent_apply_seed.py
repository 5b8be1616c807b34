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
