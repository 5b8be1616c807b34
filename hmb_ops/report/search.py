"""tune --search's document as rows (console table) and Markdown: one row per candidate."""

from __future__ import annotations

from hmb_ops.documents.search import SearchDocument

COLUMNS = ["candidate", "workers", "threads", "pool", "rounds (req/s)", "mean req/s", "spread", "note"]


def _note(doc: SearchDocument, c) -> str:
    marks = []
    if c.label == doc.pick:
        marks.append("PICK")
    if c.formula:
        marks.append("formula")
    if c.skipped:
        marks.append(f"skipped: {c.skipped}")
    return "; ".join(marks)


def search_rows(doc: SearchDocument) -> tuple[list[str], list[list[str]]]:
    rows = []
    for c in doc.candidates:
        if doc.ranked_by == "peak_rps":
            rounds = ", ".join(f"{m.peak_rps:.0f} peak" for m in c.measurements)
        else:
            rounds = ", ".join(f"{m.sustainable_rps:.0f}" + ("" if m.valid else " (SLO never met)")
                               for m in c.measurements)
        rows.append([c.label, str(c.workers), str(c.threads), "—" if c.db_pool_max is None else str(c.db_pool_max),
                     rounds or "—", "—" if c.mean_rps is None else f"{c.mean_rps:.1f}",
                     "—" if c.spread is None else f"{c.spread:.1%}", _note(doc, c)])
    return COLUMNS, rows


def search_markdown(doc: SearchDocument) -> str:
    columns, rows = search_rows(doc)
    lines = [f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    noise = "unknown" if doc.noise is None else f"{doc.noise:.1%}"
    lines += ["", f"SLO {', '.join(doc.slo)}; noise between rounds {noise}; {doc.elapsed_s:.0f} s in all.", ""]
    lines += [f"- {line}" for line in doc.explanation]
    return "\n".join(lines) + "\n"
