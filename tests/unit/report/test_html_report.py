"""The HTML report without a browser: self-contained, escaped, and says in words what it cannot draw."""

import json
import re
from html.parser import HTMLParser

import pytest
from e2e.report.documents import HOSTILE, capacity_document, checked_in, claims_document, current_results

from hmb_ops.documents import Results
from hmb_ops.gates import thresholds as th
from hmb_ops.gates.verdict import judge
from hmb_ops.report.html import render
from hmb_ops.report.html_results import knee_step


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of the JSON data block."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.data_block = None
        self._in_data = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_data = tag == "script" and attrs.get("id") == "hmb-data"

    def handle_data(self, data):
        if self._in_data:
            self.data_block = data
            self._in_data = False


def _parse(page: str) -> _Elements:
    p = _Elements()
    p.feed(page)
    return p


def _pages():
    doc = current_results()
    verdict = judge(Results.model_validate(doc), th.parse_all(["p95<100ms"]))
    return {"results": render(doc, verdict), "ci": render(checked_in("results_ci.json")),
            "capacity": render(capacity_document()), "claims": render(claims_document())}


@pytest.mark.parametrize("kind", ["results", "ci", "capacity", "claims"])
def test_page_loads_nothing_from_anywhere(kind):
    page = _pages()[kind]
    elements = _parse(page)
    for tag, attrs in elements.tags:
        # no external script, style sheet, image, frame or font: every URL-bearing attribute is absent
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            assert name not in attrs, (tag, attrs)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert [t for t, _ in elements.tags].count("script") == 3  # data, uPlot and the chart script, all inline


def test_hostile_names_are_text_and_the_data_is_json():
    doc = current_results()
    doc["endpoints"][0]["name"] = HOSTILE + "</script><script>alert(2)</script>"
    doc["target"] = "http://127.0.0.1:1/<marquee>x</marquee>"
    doc["invalid_reasons"] = ["reason with <i>markup</i>"]
    doc["valid"] = False
    page = render(doc)
    assert "<img" not in page and "<marquee" not in page and "<i>markup" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("</script>") == 3  # the data block, uPlot, the chart script: a name ends none of them
    elements = _parse(page)
    data = json.loads(elements.data_block)
    titles = [c["title"] for c in data["charts"]]
    assert HOSTILE + "</script><script>alert(2)</script>" in titles
    assert not [t for t, a in elements.tags if t in ("img", "marquee", "i")]
    assert "Reason with &lt;i&gt;markup&lt;/i&gt;." in page


def test_model_and_dict_render_the_same_page():
    doc = current_results()
    assert render(Results.model_validate(doc)) == render(doc)


def test_every_chart_of_a_full_results_document_is_in_the_data():
    doc = current_results()
    verdict = judge(Results.model_validate(doc), th.parse_all(["p95<100ms", "error_rate<1%"]))
    page = render(doc, verdict)
    charts = {c["id"]: c for c in json.loads(_parse(page).data_block)["charts"]}
    assert {"latency-time", "throughput-time", "errors-time", "generator-time", "latency-distribution",
            "steps-latency", "steps-throughput", "server-cpu", "server-rss", "server-db"} <= set(charts)
    assert len([i for i in charts if i.startswith("endpoint-")]) == len(doc["endpoints"])
    for c in charts.values():
        assert c["series"] and all(s["points"] for s in c["series"]), c["id"]
        assert c["x"]["label"] and all(y["label"] for y in c["y"]), c["id"]
    assert [v["label"] for v in charts["steps-latency"]["vlines"]] == ["knee: 80 users"]
    assert [h["y"] for h in charts["steps-latency"]["hlines"]] == [100.0]
    assert [v["x"] for v in charts["throughput-time"]["vlines"]] == [s["start_s"] for s in doc["stages"]]
    assert charts["latency-distribution"]["x"] == {"label": "percentile", "kind": "percentile", "log": True}
    assert "PASS: 2 checks passed" in page and "4 (knee)" in page
    assert ("Valid: the load generator stayed under 90 % of a core (max 61.0 %, mean 44.0 %), so these figures "
            "measure the server.") in page


def test_what_is_missing_is_said_in_words():
    page = render(checked_in("results_ci.json"))  # no server samples, no endpoint series, no steps, no spectrum
    assert "The server was not sampled in this run" in page
    assert "no per-endpoint time series" in page
    assert "summary percentiles only" in page
    assert "Load steps" not in page
    step = render(checked_in("results_step.json"))
    assert "No latency SLO was given" in step and "(knee)" not in step


def test_invalid_results_give_their_reasons_as_sentences():
    doc = checked_in("results_ci.json")
    doc["valid"] = False
    doc["invalid_reasons"] = [("generator CPU stayed above 90 % of a core from t=3 s: this run measured the load "
                               "generator, not the server")]
    page = render(doc)
    assert "Not valid: these figures may not measure the server" in page
    assert ("<li>Generator CPU stayed above 90 % of a core from t=3 s: this run measured the load generator, not "
            "the server.</li>") in page
    assert "Valid: the load generator" not in page


def test_knee_is_the_highest_step_within_every_line():
    steps = checked_in("results_step.json")["steps"]
    p95 = [{"metric": "p95", "y": 100.0}]
    assert knee_step(steps, p95, 0.01)["users"] == 80
    assert knee_step(steps, p95 + [{"metric": "p99", "y": 100.0}], 0.01)["users"] == 60
    assert knee_step(steps, [{"metric": "p95", "y": 5.0}], 0.01) is None
    assert knee_step(steps, [], 0.01) is None


def test_capacity_and_claims_pages_use_the_shared_words():
    cap = render(capacity_document())
    assert "sustainable req/s" in cap and "USL peak" in cap and "131K" in cap
    assert "Tier note &lt;img src=x onerror=alert(1)&gt;." in cap
    claims = render(claims_document())
    assert "does NOT hold" in claims and "holds" in claims and "notify_delay_ms=200" in claims


def test_generator_line_is_the_one_loadtest_judges_by():
    from hmb_ops.loadtest.sampling import SATURATED_CPU_PERCENT
    from hmb_ops.report.html_results_charts import GENERATOR_SATURATED_PERCENT

    assert GENERATOR_SATURATED_PERCENT == SATURATED_CPU_PERCENT


def test_vendored_files_are_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hmb_ops"]
    for rel in ("report/vendor/uPlot.iife.min.js", "report/vendor/uPlot.min.css", "report/vendor/uPlot.LICENSE",
                "report/html_charts.js"):
        assert (root / "hmb_ops" / rel).is_file(), rel
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel


def test_claims_chart_leaves_out_what_a_log_axis_cannot_show():
    doc = claims_document()
    doc["claims"][0]["measured"], doc["claims"][0]["holds"] = None, None
    doc["claims"][1]["measured"] = 0.0
    charts = json.loads(_parse(render(doc)).data_block)["charts"]
    measured = next(s for s in charts[0]["series"] if s["label"] == "measured")
    assert measured["points"] == [[2.0, 12.4]]
    assert "not measured" in render(doc)
