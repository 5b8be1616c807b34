"""Every document on a rich console: the human view of `report`, `loadtest`, `capacity` and `claims`.

`table` is the one rich table helper of hmb-ops; `render_text` renders any document (load results
with their verdict, capacity, claims) to plain text.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from . import fmt

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, ClaimsDocument, Document, Results
    from hmb_ops.gates.verdict import Verdict


def table(title: str | None, header, rows, *, no_wrap: bool = False, numeric: bool = True, none: str = "–"):
    """A rich Table: the first column left, the others right-aligned when `numeric`; None shows as `none`."""
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left")
    for i, h in enumerate(header):
        t.add_column(str(h), justify="right" if numeric and i else "left", no_wrap=no_wrap)
    for r in rows:
        t.add_row(*[none if v is None else str(v) for v in r])
    return t


def render(console, doc: Document, verdict: Verdict | None = None) -> None:
    """Print one document on a rich console."""
    if doc.kind == "capacity":
        _capacity(console, doc)
    elif doc.kind == "claims":
        _claims(console, doc)
    else:
        _results(console, doc, verdict)


def _results(console, results: Results, verdict: Verdict | None) -> None:
    console.print(table(f"hmb-ops results: {results.profile}", ["", ""], fmt.run_facts(results), numeric=False))
    console.print(table("latency (ms)", fmt.latency_header(), [fmt.latency_cells(results.summary)]))
    if results.endpoints:
        console.print(table("endpoints", fmt.ENDPOINT_HEADER + [f"{h} ms" for h in fmt.latency_header()],
                            [fmt.summary_row(results), *fmt.endpoint_rows(results)]))
    if results.steps:
        console.print(table("steps (ramp excluded)", fmt.STEP_HEADER, fmt.step_rows(results)))
    if fmt.open_stage_rows(results):
        console.print(table("open model per stage", fmt.OPEN_STAGE_HEADER, fmt.open_stage_rows(results)))
    if fmt.server_rows(results):
        console.print(table("server", fmt.SERVER_HEADER, fmt.server_rows(results), numeric=False))
    if fmt.metric_rows(results):
        console.print(table("metrics scraped (per second)", fmt.METRIC_HEADER, fmt.metric_rows(results)))
    if fmt.statement_rows(results):
        console.print(table("top statements during the run", fmt.STATEMENT_HEADER, fmt.statement_rows(results)))
    rows = fmt.check_rows(verdict)
    if rows:
        console.print(table("checks", ["check", "measured", "result"], rows))
    failing = fmt.failing_rows(results) if verdict is not None and not verdict.passed else []
    if failing:  # a failed gate with failed requests: which requests, with which statuses
        console.print(table("top failing requests", fmt.FAILING_HEADER, failing))
    if verdict is not None:
        for note in verdict.notes:
            console.print(f"note: {note}", markup=False)
        if verdict.checked:
            style = "bold green" if verdict.passed else "bold red"
            console.print(verdict.headline(), style=style, markup=False)


def _capacity(console, doc: CapacityDocument) -> None:
    console.print(table(fmt.capacity_title(doc), fmt.capacity_header(doc), fmt.capacity_rows(doc), no_wrap=True))
    for line in fmt.capacity_lines(doc):
        console.print(line, markup=False)
    if fmt.plan_rows(doc):
        console.print(table(f"Plans: cost per 1,000 users supported (target {doc.target_users:,} users = "
                            f"{doc.target_rps:.1f} req/s)", fmt.PLAN_HEADER, fmt.plan_rows(doc), no_wrap=True))
        for line in fmt.plan_lines(doc):
            console.print(line, markup=False)
    for line in fmt.data_lines(doc):
        console.print(line, markup=False)
    console.print("Users model (every assumption):", markup=False)
    for a in doc.assumptions:
        console.print(f"  - {a}", markup=False)
    for n in doc.notes:
        console.print(f"note: {n}", markup=False)
    console.print("Conditions: " + fmt.conditions_text(doc.conditions), markup=False)
    if doc.chart:
        console.print(f"chart: {doc.chart}", markup=False)
    if doc.out_dir:
        console.print(f"report: {doc.out_dir}/capacity.json", markup=False)


def _claims(console, doc: ClaimsDocument) -> None:
    console.print(table("The seed's claims, measured", fmt.CLAIMS_HEADER, fmt.claims_rows(doc), no_wrap=True))
    for cl in doc.claims:
        console.print(f"{cl.name}: {cl.detail}", markup=False)
        console.print("  conditions: " + ", ".join(f"{k}={v}" for k, v in cl.conditions.items()), markup=False)
    console.print("Machine: " + fmt.conditions_text(doc.conditions), markup=False)
    for n in doc.notes:
        console.print(f"note: {n}", markup=False)
    if doc.out_dir:
        console.print(f"runs: {doc.out_dir}", markup=False)


def render_text(doc: Document, verdict: Verdict | None = None, width: int = 170) -> str:
    from rich.console import Console

    c = Console(record=True, width=width, file=io.StringIO(), color_system=None, highlight=False)
    render(c, doc, verdict)
    return "\n".join(line.rstrip() for line in c.export_text().splitlines()) + "\n"
