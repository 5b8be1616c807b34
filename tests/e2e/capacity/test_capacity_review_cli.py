"""Issue 14 review findings as a user meets them on the command line (no load: existing results)."""

import json
from pathlib import Path

from cli_helpers import error_line

DATA = Path(__file__).resolve().parents[2] / "unit" / "capacity" / "data"
STEP = DATA / "results_step.json"


def _silent_results(tmp_path) -> str:
    doc = json.loads(STEP.read_text())
    for s in doc["steps"]:
        s.update(requests=0, failures=0, error_rate=0.0, rps=0.0)
        s["latency_ms"] = dict.fromkeys(s["latency_ms"], 0.0)
    p = tmp_path / "silent.json"
    p.write_text(json.dumps(doc))
    return str(p)


def test_capacity_of_steps_that_recorded_nothing_exits_1(hmb, tmp_path):
    proc = hmb(["capacity", "--results", _silent_results(tmp_path), "--out", str(tmp_path / "cap")])
    assert "no step recorded a completed request" in error_line(proc, 1)
    assert "SLO held" not in proc.stdout and "at least 0.0" not in proc.stdout
    assert (tmp_path / "cap" / "capacity.json").exists()


def test_require_confinement_with_no_cpu_to_spare_exits_3_before_any_run(hmb, tmp_path):
    import os

    import pytest

    if len(os.sched_getaffinity(0)) > 2:
        pytest.skip("render-pro (2 CPUs) leaves CPUs to spare on a host with more than 2")
    proc = hmb(["capacity", "--plans", "render-pro", "--require-confinement", "--out", str(tmp_path / "cap")])
    assert "render-pro: confinement is impossible here" in error_line(proc, 3)
    assert not (tmp_path / "cap" / "render-pro" / "results.json").exists()
