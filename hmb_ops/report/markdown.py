"""Markdown fit for $GITHUB_STEP_SUMMARY: verdict first, then the numbers behind it."""

from __future__ import annotations

from hmb_ops.gates.verdict import Verdict

from . import fmt


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render(results: dict, verdict: Verdict | None = None) -> str:
    lines: list[str] = [f"## hmb-ops load test: {results.get('profile')}"]
    if verdict is not None and verdict.checked:
        mark = "✅" if verdict.passed else "❌"
        lines += ["", f"**{mark} {verdict.headline()}**"]
    elif verdict is not None:
        lines += ["", "_No thresholds or baseline were given._"]
    lines += [""] + _table(["", ""], [[k, v] for k, v in fmt.run_facts(results)])
    lines += ["", "### Latency (ms)", ""] + _table(fmt.latency_header(), [fmt.latency_cells(results.get("summary") or {})])
    rows = fmt.check_rows(verdict)
    if rows:
        lines += ["", "### Checks", ""] + _table(["check", "measured", "result"], rows)
    if verdict is not None and verdict.notes:
        lines += [""] + [f"- note: {n}" for n in verdict.notes]
    if results.get("endpoints"):
        lines += ["", "### Endpoints", ""] + _table(fmt.ENDPOINT_HEADER + [f"{h} ms" for h in fmt.latency_header()],
                                                   fmt.endpoint_rows(results))
    if results.get("steps"):
        lines += ["", "### Steps", ""] + _table(fmt.STEP_HEADER, fmt.step_rows(results))
    return "\n".join(lines) + "\n"
