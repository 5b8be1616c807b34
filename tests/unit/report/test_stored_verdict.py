"""results.json keeps the checks its run was judged on (the default check included): `report` of
the file renders that verdict in JUnit, Markdown, HTML and console without being told the checks
again. Before, a run that exited 1 rendered as `tests="0"` and "No thresholds were given"."""

from __future__ import annotations

from dataclasses import replace

from hmb_ops.documents import Results
from hmb_ops.gates.flow import GateOptions, record_verdict
from hmb_ops.report import render

LOADTEST_GATES = GateOptions(checks=("p95<1ms",), default_checks=True)  # as `loadtest --check 'p95<1ms'`


def _stored(results: Results, gates: GateOptions = LOADTEST_GATES) -> Results:
    doc = record_verdict(gates, results)
    return Results.model_validate_json(doc.model_dump_json())  # what `report results.json` reads


def test_a_failed_run_keeps_its_checks_and_verdict(ci_results):
    doc = _stored(ci_results)
    v = doc.verdict
    assert v is not None and not v.passed and v.exit_code == 1
    by_name = {c.name: c for c in v.checks}
    assert not by_name["p95<1ms"].passed and by_name["p95<1ms"].actual == doc.summary.latency_ms.p95
    default = [c for c in v.checks if c.default]
    assert len(default) == 1 and default[0].metric == "error_rate" and default[0].passed


def test_report_of_the_file_renders_the_stored_checks_in_every_format(ci_results):
    doc = _stored(ci_results)
    junit = render("junit", doc)
    assert 'tests="3"' in junit and 'failures="1"' in junit, junit  # validity, default, p95
    assert "p95&lt;1ms" in junit or "p95<1ms" in junit
    md = render("md", doc)
    assert "No thresholds" not in md and "FAIL: 1 of 2 checks failed" in md and "p95<1ms" in md, md
    html = render("html", doc)
    assert "FAIL: 1 of 2 checks failed" in html
    console = render("console", doc)
    assert "FAIL: 1 of 2 checks failed" in console and "error_rate<50% (default)" in console


def test_a_plain_run_records_its_passing_default_check(ci_results):
    doc = _stored(ci_results, replace(LOADTEST_GATES, checks=()))
    assert doc.verdict is not None and doc.verdict.passed and doc.verdict.exit_code == 0
    assert [c.name for c in doc.verdict.checks] == ["error_rate<50%"] and doc.verdict.checks[0].default
    assert 'failures="0"' in render("junit", doc)


def test_results_written_before_the_record_render_as_before(ci_results):
    assert ci_results.verdict is None
    assert 'tests="0"' in render("junit", ci_results)
