"""A request name none of whose requests got an answer (never sent: a variable with no value) shows
– for latency in console and Markdown, not 0.0 ms that reads as measured."""

from __future__ import annotations

from hmb_ops.documents.results import Endpoint, Latency
from hmb_ops.report import fmt, render

ZERO = Latency(p50=0, p90=0, p95=0, p99=0, p999=0, max=0, mean=0)


def test_never_sent_rows_show_no_latency(ci_results):
    never = Endpoint(name="POST /notes", requests=7, failures=7, error_rate=1.0, rps=0.7, latency_ms=ZERO,
                     failures_by_kind={"missing_variable": 7})
    doc = ci_results.model_copy(update={"endpoints": [*ci_results.endpoints, never]})
    rows = {r[0]: r for r in fmt.endpoint_rows(doc)}
    assert rows["POST /notes"][5:] == ["–"] * len(fmt.LAT_KEYS)
    measured = ci_results.endpoints[0]
    assert rows[measured.name][5] == fmt.ms(measured.latency_ms.p50)
    md = render("md", doc)
    assert "| POST /notes | 7 | 7 |" in md and "0.0 |" not in md.split("| POST /notes |")[1].splitlines()[0]
