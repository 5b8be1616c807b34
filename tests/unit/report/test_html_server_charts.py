"""The server part of the HTML report and the console/Markdown tables: restarts, DB connections by
state, scraped metric families, top statements, an aborted run."""

import json
import re

from e2e.report.documents import current_results

from hmb_ops.documents import Results
from hmb_ops.report import render as render_any
from hmb_ops.report.html import render


def _doc() -> dict:
    doc = current_results()
    for i, s in enumerate(doc["server"]["samples"]):
        s["restarts"] = 1 if i > 2 else 0
        s["db"] = {"connections": 5, "active": 2, "lock_waits": i % 2,
                   "by_state": {"active": 2, "idle": 3}, "by_application": {"app": 5}}
        s["metrics"] = {"queue_depth": float(i), "job_seconds": 0.25}
        if i == 1:
            s["gaps"] = ["metrics: http://127.0.0.1:9/metrics did not answer (URLError)"]
    doc["server"]["metrics"] = {"queue_depth": {"type": "gauge", "samples": 3, "min": 0.0, "max": 9.0, "mean": 4.5,
                                                "p95": 9.0, "last": 9.0},
                                "job_seconds": {"type": "histogram", "samples": 3, "max": 0.25, "p95": 0.24}}
    doc["server"]["summary"].update(worker_restarts=1, db_connections_max=5)
    doc["server"]["summary"]["gap_seconds"] = 1
    doc["server"]["summary"]["db_connections_by_state_max"] = {"active": 2, "idle": 3}
    doc["server"]["top_statements"] = [{"query": "SELECT * FROM posts WHERE id = $1", "calls": 40,
                                        "total_ms": 12.5, "mean_ms": 0.3125}]
    doc["aborted"] = "aborted at t=7s: server.cpu_percent.max<50% breached (100%)"
    return doc


def test_restarts_db_states_and_each_scraped_family_are_charted():
    page = render(_doc())
    data = re.search(r'<script type="application/json" id="hmb-data">(.*?)</script>', page, re.S).group(1)
    charts = {c["id"]: c for c in json.loads(data)["charts"]}
    assert {"server-restarts", "server-db-states", "metric-0", "metric-1"} <= set(charts)
    assert [s["label"] for s in charts["server-db-states"]["series"]] == ["active", "idle", "waiting on a lock"]
    assert {charts["metric-0"]["title"], charts["metric-1"]["title"]} == {
        "job_seconds (scraped each second)", "queue_depth (scraped each second)"}
    assert charts["server-restarts"]["series"][1]["points"]


def test_console_and_markdown_show_the_server_metrics_statements_and_the_abort():
    doc = Results.model_validate(_doc())
    for kind in ("console", "markdown"):
        text = render_any(kind, doc)
        assert "worker restarts" in text and "active=2, idle=3" in text, kind
        assert "queue_depth" in text and "job_seconds" in text, kind
        assert "SELECT * FROM posts WHERE id = $1" in text, kind
        assert "aborted at t=7s" in text and "did not answer" in text, kind


def test_an_aborted_run_is_a_failed_check_in_every_format():
    from hmb_ops.gates import thresholds as th
    from hmb_ops.gates.verdict import judge

    doc = Results.model_validate(_doc())
    verdict = judge(doc, th.parse_all(["server.cpu_percent.max<1000"]))
    assert not verdict.passed and verdict.exit_code == 1
    assert verdict.failures[0].startswith("aborted at t=7s")
    for kind in ("console", "markdown", "junit"):
        text = render_any(kind, doc, verdict)
        assert "aborted at t=7s: server.cpu_percent.max&lt;50%" in text if kind == "junit" else \
            "aborted at t=7s: server.cpu_percent.max<50%" in text, kind
    assert 'failures="1"' in render_any("junit", doc, verdict)
