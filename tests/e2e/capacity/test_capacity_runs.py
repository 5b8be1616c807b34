"""Real runs against the reference app (short stages; slow): capacity, the CI gate, the claims."""

import json
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_env(module_database, tmp_path_factory):
    state = tmp_path_factory.mktemp("capacity-state")
    return {"DATABASE_URL": module_database, "HMB_OPS_STATE_DIR": str(state), "CI": "true"}


def test_capacity_two_tiers_prints_the_table_and_writes_the_chart(hmb, run_env, tmp_path):
    proc = hmb(["capacity", "--tiers", "small,default", "--steps", "2,4", "--step-seconds", "3",
                "--out", str(tmp_path)], env=run_env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Capacity per tier" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("│ small", "│ default"))]
    assert len(rows) == 2
    assert "the USL fit needs at least 6: reporting the knee alone" in proc.stdout
    assert (tmp_path / "capacity.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "capacity.json").read_text())
    assert [t["tier"] for t in doc["tiers"]] == ["small", "default"]
    for tier in doc["tiers"]:
        assert len(tier["knee"]["steps"]) == 2 and tier["workers"] >= 1
        assert (tmp_path / tier["tier"] / "results.json").exists()
    assert doc["tiers"][0]["workers"] < doc["tiers"][1]["workers"]
    # what capacity wrote, report reads back: the same table, and the tier runs as load results
    rep = hmb(["report", str(tmp_path / "capacity.json")], timeout=60)
    assert rep.returncode == 0 and "capacity document (2 tiers)" in rep.stderr and "Capacity per tier" in rep.stdout
    tier_run = hmb(["report", str(tmp_path / "small" / "results.json"), "--format", "md"], timeout=60)
    assert tier_run.returncode == 0 and "## hmb-ops load test: step" in tier_run.stdout


def test_loadtest_ci_gate_exits_by_the_numbers(hmb, run_env, tmp_path):
    ok = hmb(["loadtest", "--profile", "ci", "--duration", "4", "--out", str(tmp_path / "ok"),
              "--check", "p95<5s", "--check", "error_rate<1%"], env=run_env, timeout=180)
    assert ok.returncode == 0, ok.stderr[-2000:]
    cases = ET.parse(tmp_path / "ok" / "junit.xml").getroot().findall(".//testcase")
    assert [c.get("name") for c in cases][-2:] == ["p95<5000ms", "error_rate<1%"]
    assert "PASS" in (tmp_path / "ok" / "summary.md").read_text()
    summary = tmp_path / "step-summary.md"
    bad = hmb(["loadtest", "--profile", "ci", "--duration", "4", "--out", str(tmp_path / "bad"),
               "--check", "rps>=1000000"], env={**run_env, "GITHUB_STEP_SUMMARY": str(summary)}, timeout=180)
    assert bad.returncode == 1, bad.stderr[-2000:]
    assert ET.parse(tmp_path / "bad" / "junit.xml").getroot().findall(".//failure")
    assert "FAIL" in summary.read_text()


def test_claims_background_and_indexes(hmb, run_env, tmp_path):
    proc = hmb(["capacity", "claims", "--only", "background,indexes", "--duration", "3", "--post-users", "2",
                "--notify-delay-ms", "100", "--query-runs", "3", "--out", str(tmp_path), "--json"],
               env=run_env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    by = {c["name"]: c for c in doc["claims"]}
    assert by["background"]["claimed"] == "140x" and by["background"]["measured"] > 1
    assert by["background"]["conditions"]["notify_delay_ms"] == 100
    assert by["indexes"]["measured"] is not None and by["indexes"]["conditions"]["data"] == "small"
    assert by["indexes"]["conditions"]["measure"].startswith("client-side query time")  # as `indexes bench` says
    assert (tmp_path / "claims.json").exists() and (tmp_path / "claims-profiles.yaml").exists()
    rep = hmb(["report", str(tmp_path / "claims.json"), "--format", "md"], timeout=60)
    assert rep.returncode == 0 and "claims document (2 claims)" in rep.stderr and "| background |" in rep.stdout
