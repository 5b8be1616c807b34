"""Markdown fit for $GITHUB_STEP_SUMMARY: verdict first, then the numbers behind it (any document)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import fmt

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, ClaimsDocument, Document, Results
    from hmb_ops.gates.verdict import Verdict


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render(doc: Document, verdict: Verdict | None = None) -> str:
    if doc.kind == "capacity":
        lines = _capacity(doc)
    elif doc.kind == "claims":
        lines = _claims(doc)
    else:
        lines = _results(doc, verdict)
    return "\n".join(lines) + "\n"


def _results(results: Results, verdict: Verdict | None) -> list[str]:
    lines: list[str] = [f"## hmb-ops load test: {results.profile}"]
    if verdict is not None and verdict.checked:
        mark = "✅" if verdict.passed else "❌"
        lines += ["", f"**{mark} {verdict.headline()}**"]
    elif verdict is not None:
        lines += ["", "_No thresholds or baseline were given._"]
    lines += [""] + _table(["", ""], [[k, v] for k, v in fmt.run_facts(results)])
    lines += ["", "### Latency (ms)", ""] + _table(fmt.latency_header(), [fmt.latency_cells(results.summary)])
    rows = fmt.check_rows(verdict)
    if rows:
        lines += ["", "### Checks", ""] + _table(["check", "measured", "result"], rows)
    failing = fmt.failing_rows(results) if verdict is not None and not verdict.passed else []
    if failing:  # a failed gate with failed requests: which requests, with which statuses
        lines += ["", "### Top failing requests", ""] + _table(fmt.FAILING_HEADER, failing)
    if verdict is not None and verdict.notes:
        lines += [""] + [f"- note: {n}" for n in verdict.notes]
    if results.endpoints:
        lines += ["", "### Endpoints", ""] + _table(fmt.ENDPOINT_HEADER + [f"{h} ms" for h in fmt.latency_header()],
                                                   fmt.endpoint_rows(results))
    if results.steps:
        lines += ["", "### Steps", ""] + _table(fmt.STEP_HEADER, fmt.step_rows(results))
    if fmt.open_stage_rows(results):
        lines += ["", "### Open model per stage", ""] + _table(fmt.OPEN_STAGE_HEADER, fmt.open_stage_rows(results))
    if fmt.server_rows(results):
        lines += ["", "### Server", ""] + _table(fmt.SERVER_HEADER, fmt.server_rows(results))
    if fmt.metric_rows(results):
        lines += ["", "### Metrics scraped (per second)", ""] + _table(fmt.METRIC_HEADER, fmt.metric_rows(results))
    if fmt.statement_rows(results):
        lines += ["", "### Top statements during the run", ""] + _table(fmt.STATEMENT_HEADER,
                                                                        fmt.statement_rows(results))
    return lines


def _capacity(doc: CapacityDocument) -> list[str]:
    lines = ["## hmb-ops capacity", "", f"**{fmt.capacity_title(doc)}**", ""]
    lines += _table(fmt.capacity_header(doc), fmt.capacity_rows(doc))
    lines += [""] + [f"- {line}" for line in fmt.capacity_lines(doc)]
    if fmt.plan_rows(doc):
        lines += ["", "### Plans: cost per 1,000 users supported", ""] + _table(fmt.PLAN_HEADER, fmt.plan_rows(doc))
        lines += [""] + [f"- {line}" for line in fmt.plan_lines(doc)]
    lines += ["", "### Users model (every assumption)", ""] + [f"- {a}" for a in fmt.data_lines(doc) + doc.assumptions]
    if doc.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in doc.notes]
    lines += ["", f"Conditions: {fmt.conditions_text(doc.conditions)}"]
    return lines


def _claims(doc: ClaimsDocument) -> list[str]:
    lines = ["## hmb-ops: the seed's claims, measured", ""] + _table(fmt.CLAIMS_HEADER, fmt.claims_rows(doc))
    lines += [""] + [f"- **{c.name}**: {c.detail}" for c in doc.claims]
    if doc.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in doc.notes]
    lines += ["", f"Machine: {fmt.conditions_text(doc.conditions)}"]
    return lines
