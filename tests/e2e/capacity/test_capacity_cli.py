"""`hmb-ops report` and `hmb-ops capacity` as a user runs them: exit codes, one-line errors, files."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cli_helpers import error_line

DATA = Path(__file__).resolve().parents[2] / "unit" / "capacity" / "data"
STEP = str(DATA / "results_step.json")
CI = str(DATA / "results_ci.json")


def _one_error_line(proc, code, fragment):
    assert fragment in error_line(proc, code), proc.stderr


def test_report_passes_and_fails_by_the_numbers(hmb):
    ok = hmb(["report", CI, "--format", "md", "--check", "p95<100ms", "--check", "error_rate<1%"])
    assert ok.returncode == 0 and "✅ PASS: 2 checks passed" in ok.stdout
    bad = hmb(["report", CI, "--check", "p95<100ms", "--check", "GET /api/feed: p95<45ms"])
    assert bad.returncode == 1 and "FAIL" in bad.stdout and "Traceback" not in bad.stderr


def test_report_writes_each_format_to_a_file(hmb, tmp_path):
    for fmt, name in (("junit", "j.xml"), ("html", "r.html"), ("json", "r.json"), ("md", "r.md")):
        proc = hmb(["report", STEP, "--format", fmt, "--out", str(tmp_path / name), "--check", "p95<100ms"])
        assert proc.returncode == 0, proc.stderr
    assert ET.parse(tmp_path / "j.xml").getroot().tag == "testsuites"
    assert json.loads((tmp_path / "r.json").read_text())["verdict"]["passed"] is True
    proc = hmb(["report", STEP, "--chart", str(tmp_path / "c.png")])
    assert proc.returncode == 0 and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("check, fragment", [
    ("p95<<100ms", "malformed threshold 'p95<<100ms': expected a number after '<', found '<' at column 5"),
    ("latency<1s", "unknown metric 'latency' at column 1"),
    ("p95<100 apples", "unit 'apples' does not fit latency metric 'p95'"),
    ("GET /api/nope: p95<50ms", "unknown endpoint 'GET /api/nope'"),
])
def test_report_bad_thresholds_exit_2(hmb, check, fragment):
    _one_error_line(hmb(["report", CI, "--check", check]), 2, fragment)


def test_report_missing_and_corrupt_results_exit_2(hmb, tmp_path):
    _one_error_line(hmb(["report", str(tmp_path / "none.json")]), 2, "none.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 1, "profile": ')
    _one_error_line(hmb(["report", str(corrupt)]), 2, "corrupt.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"hello": "world"}')
    _one_error_line(hmb(["report", str(wrong)]), 2, "wrong.json")


def test_report_baseline_from_another_profile_exit_2(hmb):
    _one_error_line(hmb(["report", CI, "--baseline", STEP]), 2, "is from profile 'step'")


def test_report_baseline_regression_and_save(hmb, tmp_path):
    base = tmp_path / "base.json"
    assert hmb(["report", CI, "--format", "md", "--save-baseline", str(base)]).returncode == 0
    doc = json.loads(base.read_text())
    doc["summary"]["latency_ms"]["p95"] = 40.0  # the baseline was faster: now 62 ms is a 1.55x regression
    base.write_text(json.dumps(doc))
    proc = hmb(["report", CI, "--format", "md", "--baseline", str(base)])
    assert proc.returncode == 1 and "| baseline p95 | 1.55× (allowed ≤ 1.2×) | FAIL |" in proc.stdout
    assert hmb(["report", CI, "--baseline", str(base), "--tolerance-latency", "1.6"]).returncode == 0


def test_report_refuses_invalid_results_unless_allowed(hmb, tmp_path):
    doc = json.loads(Path(CI).read_text())
    doc["valid"], doc["invalid_reasons"] = False, ["generator CPU 96% > 90%"]
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(doc))
    proc = hmb(["report", str(path), "--format", "md", "--check", "p95<100ms"])
    assert proc.returncode == 1 and "generator CPU 96%" in proc.stderr + proc.stdout
    assert hmb(["report", str(path), "--check", "p95<100ms", "--allow-invalid"]).returncode == 0


def test_capacity_from_results_prints_table_and_writes_chart(hmb, tmp_path):
    proc = hmb(["capacity", "--results", STEP, "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert "Capacity per tier" in proc.stdout and "184.1" in proc.stdout
    assert "own window: 187.3 req/s" in proc.stdout
    assert "requests per active minute: 12" in proc.stdout
    assert (tmp_path / "capacity.png").exists() and (tmp_path / "capacity.json").exists()
    js = hmb(["capacity", "--results", STEP, "--out", str(tmp_path), "--json", "--target-users", "200000"])
    doc = json.loads(js.stdout)
    assert doc["schema_version"] == 1 and doc["tiers"][0]["headroom"] == pytest.approx(0.920322)


def test_capacity_fewer_steps_than_the_fit_needs(hmb, tmp_path):
    doc = json.loads(Path(STEP).read_text())
    doc["steps"] = doc["steps"][:3]
    path = tmp_path / "short.json"
    path.write_text(json.dumps(doc))
    proc = hmb(["capacity", "--results", str(path), "--out", str(tmp_path / "o")])
    assert proc.returncode == 0
    assert "the USL fit needs at least 6: reporting the knee alone" in proc.stdout


def test_capacity_impossible_users_model_exit_2(hmb, tmp_path):
    model = tmp_path / "users.yaml"
    model.write_text("users_model:\n  registered_users: 100000\n  peak_hour_share: '140%'\n")
    _one_error_line(hmb(["capacity", "--results", STEP, "--users-model", str(model)]), 2,
                    "users.yaml:3: field 'users_model.peak_hour_share'")


@pytest.mark.parametrize("args, fragment", [
    (["--slo", "p95<"], "malformed threshold 'p95<'"),
    (["--slo", "GET /api/feed: p95<50ms"], "per-endpoint thresholds cannot judge a load step"),
    (["--tiers", "small,nope", "--steps", "1,2"], "unknown tier 'nope'"),
    (["--steps", "5,1"], "must increase"),
])
def test_capacity_bad_input_exit_2_before_any_run(hmb, args, fragment, tmp_path):
    _one_error_line(hmb(["--state-dir", str(tmp_path), "capacity", *args]), 2, fragment)
    assert not (tmp_path / "capacity").exists()


def test_capacity_results_without_steps_exit_2(hmb):
    _one_error_line(hmb(["capacity", "--results", CI]), 2, "no load steps")


def test_capacity_slo_and_users_model_from_a_config_file(hmb, tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("thresholds:\n  checks: ['p95<50ms']\nusers_model:\n  requests_per_active_minute: 6\n")
    proc = hmb(["--config", str(cfg), "capacity", "--results", STEP, "--out", str(tmp_path / "o"), "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["slo"] == ["p95<50ms", "error_rate<1%"]
    tier = doc["tiers"][0]
    # p95 crosses 50 ms at 50.0 users (38.21 ms at 40, 61.83 at 60); the line through the steps at
    # 20, 40 and 60 users reads 176.71 req/s there (the knee step alone measured 172.08).
    assert tier["knee_users"] == 40 and tier["sustainable_rps"] == pytest.approx(176.7073)
    assert tier["knee"]["slo_crossing_users"] == pytest.approx(49.983, abs=1e-3)
    assert doc["users_model"]["requests_per_active_minute"] == 6 and doc["target_rps"] == pytest.approx(50.0)
    assert tier["users_supported"] == 353415


CLAIMS = {"schema_version": 1, "kind": "claims", "conditions": {"machine": "vm", "cpus": 2}, "out_dir": "/tmp/c",
          "notes": [], "claims": [
              {"name": "workers", "claim": "Workers: 4 (was 2) — 2x capacity increase", "claimed": "2x",
               "claimed_low": 2.0, "measured": 1.12, "holds": False, "detail": "2 workers 100 req/s vs 4 workers 112",
               "conditions": {"tier": "default"}, "runs": []},
              {"name": "indexes", "claim": "Feed: 10-50x faster with indexes", "claimed": "10–50x",
               "claimed_low": 10.0, "measured": None, "holds": None, "detail": "not run", "conditions": {},
               "runs": []}]}


def _documents(hmb, tmp_path) -> dict[str, Path]:
    assert hmb(["capacity", "--results", STEP, "--out", str(tmp_path / "cap")]).returncode == 0
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(CLAIMS))
    return {"capacity": tmp_path / "cap" / "capacity.json", "claims": claims}


@pytest.mark.parametrize("kind, said, needle", [
    ("capacity", "capacity document (1 tier) from", "184.1"),
    ("claims", "claims document (2 claims) from", "does NOT hold"),
])
def test_report_renders_capacity_and_claims_documents_in_every_format(hmb, tmp_path, kind, said, needle):
    path = _documents(hmb, tmp_path)[kind]
    for fmt in ("console", "md", "junit", "html", "json"):
        proc = hmb(["report", str(path), "--format", fmt])
        assert proc.returncode == 0, (fmt, proc.stderr)
        assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [f"{said} {path}"], proc.stderr
        if fmt in ("console", "md"):
            assert needle in proc.stdout, (fmt, proc.stdout)
        elif fmt == "junit":
            suite = ET.fromstring(proc.stdout.split("\n", 1)[1]).find("testsuite")
            assert int(suite.get("tests")) >= 1 and suite.get("name") == f"hmb-ops {kind}"
        elif fmt == "json":
            assert json.loads(proc.stdout)["kind"] == kind
        else:
            assert proc.stdout.startswith("<!doctype html>")
    chart = tmp_path / f"{kind}.png"
    assert hmb(["report", str(path), "--chart", str(chart)]).returncode == 0
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_report_claims_junit_fails_a_claim_that_does_not_hold(hmb, tmp_path):
    path = _documents(hmb, tmp_path)["claims"]
    suite = ET.fromstring(hmb(["report", str(path), "--format", "junit"]).stdout.split("\n", 1)[1]).find("testsuite")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")


def test_report_checks_apply_to_load_results_only(hmb, tmp_path):
    for path in _documents(hmb, tmp_path).values():
        for extra in (["--check", "p95<100ms"], ["--baseline", CI]):
            proc = hmb(["report", str(path), *extra])
            assert "apply to load test results" in error_line(proc, 2, alone=True)


@pytest.mark.parametrize("text, needle", [
    ('{"colour": "blue", "size": 3}', "schema_version"),
    ('{"schema_version": 1, "kind": "weather"}', "unknown document kind 'weather'"),
    ('{"schema_version": 1, "kind": "capacity", "tiers": []}', "field"),
])
def test_report_on_a_json_object_that_is_no_document_exits_2(hmb, tmp_path, text, needle):
    path = tmp_path / "other.json"
    path.write_text(text)
    assert needle in error_line(hmb(["report", str(path)]), 2, alone=True)
