"""`capacity --scenario` with a scenario written for another app (slow, real runs): the reference app
capacity starts refuses its login, every request fails, and capacity exits 1 saying nothing was
measured, instead of reporting a capacity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import error_line

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def run_env(module_database, tmp_path_factory):
    state = tmp_path_factory.mktemp("capacity-review-state")
    return {"DATABASE_URL": module_database, "HMB_OPS_STATE_DIR": str(state), "CI": "true"}


def test_a_scenario_for_another_app_measures_nothing_and_exits_1(hmb, run_env, tmp_path):
    proc = hmb(["capacity", "--scenario", str(REPO / "examples" / "shop" / "scenario.yaml"), "--plans",
                "heroku-basic", "--steps", "1,2", "--step-seconds", "3", "--out", str(tmp_path)], env=run_env,
               timeout=600)
    assert "plan heroku-basic: " in error_line(proc, 1) and "nothing was measured" in error_line(proc, 1)
    assert "SLO held" not in proc.stdout and "capacity is at least" not in proc.stdout
    row = json.loads((tmp_path / "capacity.json").read_text())["tiers"][0]
    assert row["knee"]["step_index"] is None and row["sustainable_rps"] == 0.0 and row["host_bound"] is None
