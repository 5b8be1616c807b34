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


def test_plans_file_before_the_plans_subcommand_is_used_not_ignored(hmb, tmp_path):
    assert "nope.yaml: file not found" in error_line(hmb(["capacity", "--plans-file", "nope.yaml", "plans"]), 2)
    mine = tmp_path / "plans.yaml"
    mine.write_text("plans:\n  my-vps:\n    provider: me\n    kind: web\n    cpus: 2\n    memory: 4GB\n"
                    "    price_usd_month: 6.5\n    source: my invoice\n    checked_on: 2026-11-30\n")
    proc = hmb(["capacity", "--plans-file", str(mine), "plans", "--json"])
    assert proc.returncode == 0, proc.stderr
    assert "my-vps" in [p["name"] for p in json.loads(proc.stdout)["plans"]]
    # Any other option before a subcommand would be ignored: refused instead.
    assert "--tiers applies to `capacity` itself" in error_line(hmb(["capacity", "--tiers", "small", "plans"]), 2)


def test_capacity_results_uses_the_data_scale_the_results_record(hmb, tmp_path):
    doc = json.loads(STEP.read_text())
    doc["config"]["seed_scale"] = "small"
    p = tmp_path / "results.json"
    p.write_text(json.dumps(doc))
    proc = hmb(["capacity", "--results", str(p), "--out", str(tmp_path / "cap"), "--json"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["data"]
    assert data["scale"] == "small" and data["seeded_users"] == 1000 and "unknown" not in (data["message"] or "")
    unknown = hmb(["capacity", "--results", str(STEP), "--out", str(tmp_path / "cap2"), "--json"])
    assert json.loads(unknown.stdout)["data"]["scale"] == "unknown"


def test_report_of_a_capacity_folder_finds_capacity_json(hmb, tmp_path):
    out = tmp_path / "cap"
    assert hmb(["capacity", "--results", str(STEP), "--out", str(out)]).returncode == 0
    proc = hmb(["report", str(out), "--format", "md"])
    assert proc.returncode == 0, proc.stderr
    assert "## hmb-ops capacity" in proc.stdout
    assert "results file not found" in error_line(hmb(["report", str(tmp_path / "nothing")]), 2)


def test_report_names_a_plans_document_by_its_plans(hmb, tmp_path):
    out = tmp_path / "cap"
    assert hmb(["capacity", "--results", str(STEP), "--plans", "heroku-basic", "--out", str(out)]).returncode == 0
    proc = hmb(["report", str(out / "capacity.json"), "--format", "junit"])
    assert proc.returncode == 0 and "capacity document (1 plan) from" in proc.stderr
    assert 'name="plan heroku-basic"' in proc.stdout
