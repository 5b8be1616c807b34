"""One self-contained HTML file: tables plus the chart embedded as a data: URI (no network)."""

from __future__ import annotations

import base64
import html

from hmb_ops.gates.verdict import Verdict

from . import chart, fmt

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f3f3}.pass{color:#17803d;font-weight:bold}.fail{color:#b42318;font-weight:bold}img{max-width:100%}"""


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for v in row:
            cls = ' class="pass"' if v == "pass" else ' class="fail"' if v == "FAIL" else ""
            cells.append(f"<td{cls}>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render(results: dict, verdict: Verdict | None = None, *, png: bytes | None = None) -> str:
    title = f"hmb-ops results: {results.get('profile')}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if verdict is not None and verdict.checked:
        cls = "pass" if verdict.passed else "fail"
        parts.append(f"<p class='{cls}'>{html.escape(verdict.headline())}</p>")
    parts.append(_table(["", ""], fmt.run_facts(results)))
    if png is None and (results.get("steps") or results.get("timeseries")):
        png = chart.results_chart(results)
    if png:
        parts.append("<h2>Throughput and latency</h2><img alt='throughput and latency against load' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    parts.append("<h2>Latency (ms)</h2>" + _table(fmt.latency_header(), [fmt.latency_cells(results.get("summary") or {})]))
    rows = fmt.check_rows(verdict)
    if rows:
        parts.append("<h2>Checks</h2>" + _table(["check", "measured", "result"], rows))
    if results.get("endpoints"):
        parts.append("<h2>Endpoints</h2>" + _table(fmt.ENDPOINT_HEADER + [f"{h} ms" for h in fmt.latency_header()],
                                                   fmt.endpoint_rows(results)))
    if results.get("steps"):
        parts.append("<h2>Steps</h2>" + _table(fmt.STEP_HEADER, fmt.step_rows(results)))
    parts.append("</body></html>\n")
    return "".join(parts)
