"""run_gates / validate_gates on hand-written results documents (what loadtest calls)."""

import json
import xml.etree.ElementTree as ET

import click
import pytest
from click.testing import CliRunner

from hmb_ops.cli.gates import gate_options, run_gates
from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.gates.flow import GateOptions, validate_gates


def test_pass_writes_junit_and_summary(tmp_path, ci_results, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code = run_gates(GateOptions(checks=("p95<100ms", "error_rate<1%")), ci_results, tmp_path)
    assert code == 0
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["results are valid", "p95<100ms", "error_rate<1%"]
    assert not suite.findall(".//failure")
    assert "PASS: 2 checks passed" in (tmp_path / "summary.md").read_text()


def test_breach_exits_1_and_names_it(tmp_path, ci_results, capsys):
    code = run_gates(GateOptions(checks=("p95<50ms", "error_rate<1%")), ci_results, tmp_path)
    assert code == 1
    failures = ET.parse(tmp_path / "junit.xml").getroot().findall(".//failure")
    assert len(failures) == 1 and "p95<50ms" in failures[0].get("message")
    assert "FAIL p95<50ms: 62ms (breached)" in capsys.readouterr().err


def test_invalid_results_refuse_to_pass_unless_allowed(tmp_path, ci_results):
    ci_results.valid = False
    ci_results.invalid_reasons = ["generator CPU 97% > 90%"]
    assert run_gates(GateOptions(checks=("p95<100ms",)), ci_results, tmp_path) == 1
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(".//failure")
    assert "generator CPU 97%" in failure.get("message")
    assert run_gates(GateOptions(checks=("p95<100ms",), allow_invalid=True), ci_results, tmp_path) == 0


def test_no_checks_passes_and_still_writes_the_summary(tmp_path, ci_results):
    ci_results.valid = False
    assert run_gates(GateOptions(), ci_results, tmp_path) == 0
    assert "No thresholds" in (tmp_path / "summary.md").read_text()


def test_step_summary_is_appended(tmp_path, ci_results, monkeypatch):
    summary = tmp_path / "step-summary.md"
    summary.write_text("before\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run_gates(GateOptions(checks=("p95<100ms",)), ci_results, None)
    text = summary.read_text()
    assert text.startswith("before\n") and "## hmb-ops load test: ci" in text
    assert not (tmp_path / "junit.xml").exists()


def test_explicit_output_paths_win(tmp_path, ci_results):
    gates = GateOptions(checks=("p95<100ms",), junit=str(tmp_path / "a" / "j.xml"),
                        summary_md=str(tmp_path / "b" / "s.md"))
    run_gates(gates, ci_results, tmp_path / "run")
    assert (tmp_path / "a" / "j.xml").exists() and (tmp_path / "b" / "s.md").exists()
    assert not (tmp_path / "run" / "junit.xml").exists()


def test_baseline_regression_and_save(tmp_path, ci_results, write_json):
    base_path = write_json(ci_results, "base.json")
    worse = ci_results.model_copy(deep=True)
    worse.summary.rps = ci_results.summary.rps * 0.5
    assert run_gates(GateOptions(baseline=str(base_path)), worse, tmp_path) == 1
    names = [c.get("name") for c in ET.parse(tmp_path / "junit.xml").getroot().findall(".//testcase")]
    assert names == ["results are valid", "baseline p95", "baseline p99", "baseline rps"]
    saved = tmp_path / "new-base.json"
    assert run_gates(GateOptions(baseline=str(base_path), save_baseline=str(saved)), ci_results, tmp_path) == 0
    assert json.loads(saved.read_text())["summary"] == ci_results.summary.model_dump()


def test_baseline_from_another_profile_is_exit_2(tmp_path, ci_results, step_results, write_json):
    base_path = write_json(step_results, "base.json")
    with pytest.raises(UsageError, match="profile 'step'"):
        run_gates(GateOptions(baseline=str(base_path)), ci_results, tmp_path)
    with pytest.raises(UsageError, match="profile 'step'"):
        validate_gates(GateOptions(baseline=str(base_path)), (), profile="ci")


def test_validate_rejects_malformed_before_any_run(tmp_path):
    with pytest.raises(UsageError, match="malformed threshold 'p95<<1'"):
        validate_gates(GateOptions(checks=("p95<100ms", "p95<<1")), ())
    with pytest.raises(UsageError, match="tolerance-latency"):
        validate_gates(GateOptions(tolerance_latency=0.5), ())


def test_validate_missing_or_corrupt_baseline(tmp_path):
    with pytest.raises(ConfigError):
        validate_gates(GateOptions(baseline=str(tmp_path / "missing.json")), ())
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError):
        validate_gates(GateOptions(baseline=str(bad)), ())


def test_slo_file_and_user_config_thresholds(tmp_path, ci_results):
    slo = tmp_path / "slo.yaml"
    slo.write_text("thresholds:\n  checks:\n    - 'p95<50ms'\n")
    assert run_gates(GateOptions(slo_file=str(slo)), ci_results, tmp_path) == 1
    user = tmp_path / "user.yaml"
    user.write_text("thresholds:\n  checks:\n    - 'GET /api/jobs: p95<45ms'\n")
    gates = GateOptions(config_files=(str(user),))
    assert gates.requested
    assert run_gates(gates, ci_results, tmp_path) == 0
    bad = tmp_path / "badslo.yaml"
    bad.write_text("thresholds:\n  checks:\n    - 'p95<100ms'\n    - 'p95 < < 3'\n")
    with pytest.raises(ConfigError) as err:
        validate_gates(GateOptions(slo_file=str(bad)), ())
    assert "badslo.yaml:4" in err.value.one_line() and "malformed threshold" in err.value.one_line()


def test_gate_options_decorator_hands_a_gateoptions():
    seen = {}

    @click.command()
    @gate_options
    def cmd(gates):
        seen["gates"] = gates

    result = CliRunner().invoke(cmd, ["--check", "p95<1s", "--check", "rps>1", "--allow-invalid",
                                      "--tolerance-latency", "1.5", "--junit", "j.xml"])
    assert result.exit_code == 0, result.output
    g = seen["gates"]
    assert g.checks == ("p95<1s", "rps>1") and g.allow_invalid and g.tolerance_latency == 1.5
    assert g.junit == "j.xml" and g.summary_md is None and g.tolerance_throughput == 0.8
