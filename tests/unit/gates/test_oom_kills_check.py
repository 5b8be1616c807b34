"""A run whose workers were killed by the memory limit fails the default check `server.oom_kills==0`
(exit 1, when on the run's clock), instead of passing as valid with exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmb_ops.documents import Results
from hmb_ops.documents.results import Confinement, OomKill
from hmb_ops.gates.flow import GateOptions, default_check_fails, evaluate_gates, record_verdict
from hmb_ops.loadtest.api import on_run_clock
from hmb_ops.report import render

DATA = Path(__file__).resolve().parents[1] / "capacity" / "data"

LOADTEST = GateOptions(default_checks=True)


@pytest.fixture
def ci_results() -> Results:
    return Results.model_validate_json((DATA / "results_ci.json").read_text())


def _confined(results: Results, kills: list[OomKill], memory: int | None = 100 * 2 ** 20) -> Results:
    conf = Confinement(method="cgroup-v1", cpus=1, memory_bytes=memory, exact=True, oom_kills=kills)
    return results.model_copy(update={"confinement": conf})


KILLS = [OomKill(at="2026-12-01T11:36:45+00:00", t=9.1, count=1), OomKill(at="2026-12-01T11:36:46+00:00", t=10.2,
                                                                             count=2)]


def test_oom_kills_fail_a_plain_run_and_say_when(ci_results):
    doc = _confined(ci_results, KILLS)
    assert default_check_fails(LOADTEST, doc)
    verdict = evaluate_gates(LOADTEST, doc)
    failed = [r for r in verdict.thresholds if not r.passed]
    assert len(failed) == 1 and failed[0].message.startswith(
        "server.oom_kills==0 (default): 2 workers killed by the memory limit (t=9.1 s, t=10.2 s)")
    assert verdict.exit_code == 1
    stored = record_verdict(LOADTEST, doc)
    assert 'failures="1"' in render("junit", stored)
    assert "server.oom_kills==0 (default)" in render("md", stored)


def test_no_kills_or_no_memory_limit_pass(ci_results):
    assert not default_check_fails(LOADTEST, _confined(ci_results, []))
    assert not default_check_fails(LOADTEST, _confined(ci_results, [], memory=None))
    names = [c.name for c in record_verdict(LOADTEST, _confined(ci_results, [])).verdict.checks]
    assert names == ["error_rate<50%", "server.oom_kills==0"]


def test_a_restarts_threshold_of_the_users_replaces_it(ci_results):
    gates = GateOptions(checks=("server.restarts.max<5",), default_checks=True)
    assert not default_check_fails(gates, _confined(ci_results, KILLS))


def test_kill_times_move_onto_the_runs_clock():
    rec = {"method": "cgroup-v1", "oom_kills": [{"at": "x", "t": 14.34, "count": 1, "wall": 1005.2}]}
    assert on_run_clock(rec, 1000.0)["oom_kills"][0]["t"] == 5.2
    assert on_run_clock(rec, None) is rec
