"""The default check of loadtest: a run where most answers failed is never a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmb_ops.documents import Results
from hmb_ops.gates import most_failed, thresholds as th
from hmb_ops.gates.flow import GateOptions, default_check_fails, evaluate_gates
from hmb_ops.report import render

CI_RESULTS = Path(__file__).resolve().parents[1] / "capacity" / "data" / "results_ci.json"


@pytest.fixture
def ci_results() -> Results:
    return Results.model_validate_json(CI_RESULTS.read_text())


def wrong_target(results):
    """The ci results as if the target were another app: most answers 404, a few redirects and timeouts."""
    kinds = {
        "GET /api/feed": {"http_404": 8000, "redirect": 500, "timeout": 96},
        "GET /api/jobs": {"http_404": 6597},
        "GET /api/posts/<id>": {"http_500": 10},
    }
    for e in results.endpoints:
        e.failures_by_kind = kinds.get(e.name, {})
        e.failures = sum(e.failures_by_kind.values())
    s = results.summary
    s.failures = sum(e.failures for e in results.endpoints)
    s.error_rate = s.failures / s.requests
    return results


def test_most_answers_failed_fails_with_the_top_names_and_statuses(ci_results):
    r = most_failed.check(wrong_target(ci_results))
    assert not r.passed and r.actual == pytest.approx(15203 / 21992)
    assert r.message.startswith("error_rate<50% (default): most answers failed, 15203 of 21992 (69.")
    # most failures first, each with its statuses most first (a redirect is 3xx: its exact status is not kept)
    assert ("top failing: GET /api/feed: 8596 of 8796 failed (404 ×8000, 3xx ×500, timeout ×96); "
            "GET /api/jobs: 6597 of 6597 failed (404 ×6597); GET /api/posts/<id>: 10 of 4398 failed (500 ×10)"
            in r.message)
    assert "--scenario or --locustfile" in r.message


def test_below_half_passes_and_zero_requests_fail(ci_results):
    r = most_failed.check(ci_results)  # 43 failures of 21992
    assert r.passed and r.message == "error_rate<50% (default): 0.196% (ok)"
    ci_results.summary.failures = ci_results.summary.requests // 2  # exactly half is "most"? no: half fails
    assert not most_failed.check(ci_results).passed
    ci_results.summary.failures = ci_results.summary.requests // 2 - 1
    assert most_failed.check(ci_results).passed
    ci_results.summary.requests = ci_results.summary.failures = 0
    r = most_failed.check(ci_results)
    assert not r.passed and r.actual is None and "no requests were made" in r.message


def test_statuses_merge_kinds_and_keep_other_kinds():
    assert most_failed.statuses({"http_404": 3, "rate_limited_429": 2, "connection": 5, "timeout": 0}) == \
        (("connection", 5), ("404", 3), ("429", 2))


def test_flow_adds_the_default_only_for_loadtest_and_a_users_error_rate_replaces_it(ci_results):
    bad = wrong_target(ci_results)
    loadtest = GateOptions(default_checks=True)
    assert default_check_fails(loadtest, bad)
    v = evaluate_gates(loadtest, bad)
    assert not v.passed and v.exit_code == 1 and v.headline() == "FAIL: 1 of 1 checks failed"
    assert most_failed.is_default(v.thresholds[0].threshold)
    # `report` (no default_checks) judges only what it is told
    assert evaluate_gates(GateOptions(checks=("p95<10s",)), bad).passed
    assert not default_check_fails(GateOptions(), bad)
    # the user's own whole-run error_rate replaces the default; an endpoint's does not
    assert evaluate_gates(GateOptions(checks=("error_rate<=100%",), default_checks=True), bad).passed
    assert not default_check_fails(GateOptions(checks=("error_rate<=100%",), default_checks=True), bad)
    assert not evaluate_gates(GateOptions(checks=("GET /api/jobs: error_rate<=100%",), default_checks=True),
                              bad).passed


def test_a_passing_default_is_listed_only_next_to_the_users_checks(ci_results):
    assert not evaluate_gates(GateOptions(default_checks=True), ci_results).checked
    v = evaluate_gates(GateOptions(checks=("p95<10s",), default_checks=True), ci_results)
    assert [r.threshold.expression for r in v.thresholds] == [most_failed.EXPRESSION, "p95<10s"]
    assert v.passed and v.headline() == "PASS: 2 checks passed"


def test_markdown_and_console_name_the_default_and_the_top_failing_requests(ci_results):
    bad = wrong_target(ci_results)
    v = evaluate_gates(GateOptions(default_checks=True), bad)
    md = render("md", bad, v)
    assert "| error_rate<50% (default) | 69.13% | FAIL |" in md
    assert "### Top failing requests" in md
    assert "| GET /api/feed | 8796 | 8596 | 404 ×8000, 3xx ×500, timeout ×96 |" in md
    assert "| GET /api/jobs | 6597 | 6597 | 404 ×6597 |" in md
    text = render("console", bad, v)
    assert "top failing requests" in text and "404 ×6597" in text
    # a passing verdict lists no failing requests
    fine = Results.model_validate_json(CI_RESULTS.read_text())
    ok = evaluate_gates(GateOptions(checks=("p95<10s",), default_checks=True), fine)
    assert ok.passed and "Top failing" not in render("md", fine, ok)
    assert th.parse("error_rate<50%").name == "error_rate<50%"


def test_the_request_that_failed_first_is_named_before_its_knock_on_failures(ci_results):
    """A failed login (501) leaves the token unset: its few failures explain the many never-sent ones."""
    kinds = {"GET /api/feed": {"missing_variable": 9000}, "GET /api/jobs": {"missing_variable": 6000},
             "POST /api/auth/login": {"http_501": 3}}
    for e in ci_results.endpoints:
        e.failures_by_kind = kinds.get(e.name, {})
        e.failures = sum(e.failures_by_kind.values())
    ci_results.endpoints[-1].name = "POST /api/auth/login"
    ci_results.endpoints[-1].failures_by_kind = kinds["POST /api/auth/login"]
    ci_results.endpoints[-1].failures = 3
    names = [r.name for r in most_failed.top_failing(ci_results)]
    assert names[0] == "POST /api/auth/login" and names[1:] == ["GET /api/feed", "GET /api/jobs"], names
