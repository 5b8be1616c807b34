"""The HTML report in a real headless Chromium: it loads offline without errors, every chart is drawn
with data, the knee and SLO markers are there, hostile names stay text, and a screenshot is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e.report.documents import HOSTILE, capacity_document, checked_in, claims_document, current_results, faster_tier

from hmb_ops.documents import Results
from hmb_ops.gates import thresholds as th
from hmb_ops.gates.verdict import judge
from hmb_ops.report.html import render

# A fresh CI machine installs Chromium from Debian's packages in the first test's set-up.
pytestmark = pytest.mark.timeout(2400)

_CHARTS = """() => window.hmbCharts.map(c => {
  const canvas = document.querySelector('#chart-' + c.id + ' canvas');
  let inked = 0;
  if (canvas) {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
  }
  return {id: c.id, series: c.series, markers: c.markers, drawn: c.markersDrawn,
          points: c.plot.data[0].length, inked: inked};
})"""


class Opened:
    def __init__(self, page, problems, outside):
        self.page, self.problems, self.outside = page, problems, outside

    def charts(self) -> dict[str, dict]:
        return {c["id"]: c for c in self.page.evaluate(_CHARTS)}


def open_report(browser, html: str, results: Path) -> Opened:
    """Write the page into the test's results folder, open it from file:// and keep a screenshot."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / "report.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    def only_the_file(route):  # the page must need nothing but itself
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(path.as_uri())
    page.wait_for_function("() => Array.isArray(window.hmbCharts)")
    shot = results / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    return Opened(page, problems, outside)


def _assert_every_chart_drawn(opened: Opened, html: str) -> dict[str, dict]:
    assert opened.problems == [] and opened.outside == []
    specs = json.loads(opened.page.evaluate("() => document.getElementById('hmb-data').textContent"))["charts"]
    charts = opened.charts()
    assert sorted(charts) == sorted(s["id"] for s in specs) and charts, "a chart was not drawn"
    for c in charts.values():
        assert c["points"] > 0 and all(s["points"] > 0 for s in c["series"]), c
        assert c["inked"] > 1000, f"chart {c['id']} drew (almost) nothing on its canvas"
    return charts


def test_results_report_in_chromium(browser, tmp_path):
    doc = current_results()
    doc["endpoints"][0]["name"] = HOSTILE
    verdict = judge(Results.model_validate(doc), th.parse_all(["p95<100ms", "error_rate<1%"]))
    html = render(doc, verdict)
    opened = open_report(browser, html, tmp_path / "results")
    charts = _assert_every_chart_drawn(opened, html)
    assert {"latency-time", "throughput-time", "errors-time", "latency-distribution", "steps-latency",
            "server-cpu", "server-rss", "server-db"} <= set(charts)
    assert len([i for i in charts if i.startswith("endpoint-")]) == 4
    kinds = {m["kind"] for m in charts["steps-latency"]["markers"]}
    assert kinds == {"knee", "slo"} and charts["steps-latency"]["drawn"] == 2
    assert charts["throughput-time"]["drawn"] == len(doc["stages"])  # every stage boundary drawn
    page = opened.page
    # the hostile endpoint name is text on the page, never an element, and no dialog opened
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert page.evaluate(f"() => document.body.innerText.includes({json.dumps(HOSTILE)})")
    assert page.evaluate("() => document.querySelector('.banner').innerText") == "PASS: 2 checks passed"
    page.close()


def test_capacity_report_in_chromium(browser, hmb, tmp_path):
    """capacity.json as `hmb-ops capacity --results` writes it for two tiers of the checked-in stepped run."""
    files = []
    for name, speed in (("default", 1.0), ("high", 1.8)):
        path = tmp_path / "runs" / name / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(faster_tier(checked_in("results_step.json"), name, speed)))
        files += ["--results", str(path)]
    run = hmb(["capacity", *files, "--slo", "p95<100ms", "--out", str(tmp_path / "cap")], timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "cap" / "capacity.json").read_text())
    html = render(doc)
    opened = open_report(browser, html, tmp_path / "results")
    charts = _assert_every_chart_drawn(opened, html)
    assert set(charts) == {"capacity-throughput", "capacity-p95"}
    p95 = charts["capacity-p95"]
    knees = [m["label"] for m in p95["markers"] if m["kind"] == "knee"]
    assert knees == [f"knee {t['tier']}: {t['knee_users']:g} users" for t in doc["tiers"]] and len(knees) == 2
    assert [m["label"] for m in p95["markers"] if m["kind"] == "slo"] == ["SLO p95 < 100 ms"]
    assert p95["drawn"] == 3
    assert [s["label"] for s in p95["series"]] == ["default", "high"]
    assert all(s["points"] == 7 for s in p95["series"])
    opened.page.close()


def test_capacity_names_stay_text_in_chromium(browser, tmp_path):
    opened = open_report(browser, render(capacity_document()), tmp_path / "results")
    assert opened.problems == []
    assert opened.page.evaluate("() => document.body.innerText.includes('Tier note <img src=x onerror=alert(1)>')")
    assert opened.page.evaluate("() => document.querySelectorAll('img').length") == 0
    opened.page.close()


def test_claims_report_in_chromium(browser, tmp_path):
    html = render(claims_document())
    opened = open_report(browser, html, tmp_path / "results")
    charts = _assert_every_chart_drawn(opened, html)
    assert [s["label"] for s in charts["claims"]["series"]] == ["claimed (at least)", "measured"]
    text = opened.page.evaluate("() => document.body.innerText")
    assert "does NOT hold" in text and "notify_delay_ms=200" in text
    opened.page.close()


@pytest.mark.slow
def test_report_of_a_real_load_run_in_chromium(browser, hmb, tmp_path):
    """A real smoke run on the embedded database, rendered by `hmb-ops report --format html`."""
    state = tmp_path / "state"
    run = hmb(["--state-dir", str(state), "loadtest", "--profile", "smoke"], env={"CI": "true"}, timeout=240)
    assert run.returncode == 0, run.stderr
    [folder] = list((state / "results").iterdir())
    out = tmp_path / "results" / "page.html"
    rep = hmb(["report", str(folder / "results.json"), "--format", "html", "--out", str(out),
               "--check", "p95<10s"], timeout=120)
    assert rep.returncode == 0, rep.stderr
    html = out.read_text()
    opened = open_report(browser, html, tmp_path / "results")
    charts = _assert_every_chart_drawn(opened, html)
    assert {"latency-time", "throughput-time", "latency-distribution", "server-cpu", "server-rss"} <= set(charts)
    opened.page.close()
