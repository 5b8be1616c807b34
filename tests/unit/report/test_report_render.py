"""Every rendering of one results document, judged and not."""

import json
import re
import xml.etree.ElementTree as ET

from hmb_ops.gates import thresholds as th
from hmb_ops.gates.verdict import judge
from hmb_ops.report import render as render_results
from hmb_ops.report.chart import capacity_chart, claims_chart, results_chart

PNG = b"\x89PNG\r\n\x1a\n"


def _verdict(doc, *checks, **kw):
    return judge(doc, th.parse_all(checks), **kw)


def test_markdown_has_verdict_checks_endpoints_and_steps(step_results):
    md = render_results("md", step_results, _verdict(step_results, "p95<100ms", "GET /api/feed: p95<40ms"))
    assert md.startswith("## hmb-ops load test: step")
    assert "**❌ FAIL: 1 of 2 checks failed**" in md
    assert "| GET /api/feed: p95<40ms | 48ms | FAIL |" in md
    assert "| GET /api/posts/<id> |" in md
    assert "### Steps" in md and "| 6 | 120 | 173.2 |" in md


def test_markdown_escapes_pipes(ci_results):
    ci_results.endpoints[0].name = "GET /a|b"
    assert "GET /a\\|b" in render_results("md", ci_results, None)


def test_junit_one_case_per_threshold_and_comparison(ci_results):
    v = _verdict(ci_results, "p95<100ms", "rps>=500", baseline=ci_results, baseline_path="b.json")
    root = ET.fromstring(render_results("junit", ci_results, v).split("\n", 1)[1])
    suite = root.find("testsuite")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == ["results are valid", "p95<100ms", "rps>=500", "baseline p95", "baseline p99", "baseline rps"]
    assert suite.get("tests") == "6" and suite.get("failures") == "1"
    assert root.get("failures") == "1"
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["rps>=500"]
    assert "180" in failed[0].find("failure").get("message")


def test_junit_marks_invalid_results(ci_results):
    ci_results.valid = False
    ci_results.invalid_reasons = ["generator CPU 95% > 90%"]
    root = ET.fromstring(render_results("junit", ci_results, _verdict(ci_results, "p95<100ms")).split("\n", 1)[1])
    case = root.find("testsuite/testcase")
    assert case.get("name") == "results are valid"
    assert "generator CPU 95%" in case.find("failure").get("message")


def test_html_is_self_contained_with_a_chart(step_results):
    page = render_results("html", step_results, _verdict(step_results, "p95<100ms"))
    assert page.startswith("<!doctype html>") and '<script type="application/json" id="hmb-data">' in page
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert not re.search(r"src=['\"]https?:", page)
    assert "PASS: 1 check passed" in page and "GET /api/posts/&lt;id&gt;" in page


def test_json_carries_results_and_verdict(ci_results):
    doc = json.loads(render_results("json", ci_results, _verdict(ci_results, "error_rate<0.1%")))
    assert doc["schema_version"] == 1 and doc["results"]["profile"] == "ci"
    assert doc["verdict"]["passed"] is False
    assert doc["verdict"]["thresholds"][0]["actual"] == 0.002


def test_console_text_lists_the_checks(ci_results):
    text = render_results("console", ci_results, _verdict(ci_results, "p95<100ms"))
    assert "hmb-ops results: ci" in text and "p95<100ms" in text and "PASS: 1 check passed" in text


def test_png_charts(step_results, ci_results, capacity_doc, claims_doc):
    assert results_chart(step_results, knee_users=80, slo_p95_ms=100).startswith(PNG)
    assert results_chart(ci_results).startswith(PNG)  # no steps: against time
    assert capacity_chart(capacity_doc).startswith(PNG)
    assert claims_chart(claims_doc).startswith(PNG)
