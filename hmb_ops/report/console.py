"""The results and the verdict on a rich console (the human view of `report` and `loadtest`)."""

from __future__ import annotations

from hmb_ops.gates.verdict import Verdict

from . import fmt


def _table(title, header, rows):
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left")
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[str(v) for v in r])
    return t


def render(console, results: dict, verdict: Verdict | None = None) -> None:
    facts = _table(f"hmb-ops results: {results.get('profile')}", ["", ""], fmt.run_facts(results))
    console.print(facts)
    console.print(_table("latency (ms)", fmt.latency_header(), [fmt.latency_cells(results.get("summary") or {})]))
    if results.get("endpoints"):
        console.print(_table("endpoints", fmt.ENDPOINT_HEADER + [f"{h} ms" for h in fmt.latency_header()],
                             fmt.endpoint_rows(results)))
    if results.get("steps"):
        console.print(_table("steps", fmt.STEP_HEADER, fmt.step_rows(results)))
    rows = fmt.check_rows(verdict)
    if rows:
        console.print(_table("checks", ["check", "measured", "result"], rows))
    if verdict is not None:
        for note in verdict.notes:
            console.print(f"note: {note}", markup=False)
        if verdict.checked:
            style = "bold green" if verdict.passed else "bold red"
            console.print(verdict.headline(), style=style, markup=False)


def render_text(results: dict, verdict: Verdict | None = None, width: int = 170) -> str:
    import io

    from rich.console import Console

    c = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    render(c, results, verdict)
    return "\n".join(line.rstrip() for line in c.export_text().splitlines()) + "\n"
