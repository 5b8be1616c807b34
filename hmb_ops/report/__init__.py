"""Every rendering of every document hmb-ops writes (load results, capacity, claims): console,
Markdown, JUnit XML, HTML, JSON and PNG. `loadtest`, `capacity`, `capacity claims` and `report`
all render through here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import Document
    from hmb_ops.gates.verdict import Verdict

FORMATS = ("console", "md", "junit", "html", "json")


def render(fmt: str, doc: Document, verdict: Verdict | None = None) -> str:
    """Text of one document in a format: console, md, junit, html or json. Without a verdict, load
    results render the one their run was judged on (stored in results.json)."""
    verdict = verdict or stored_verdict(doc)
    if fmt == "md":
        from . import markdown

        return markdown.render(doc, verdict)
    if fmt == "junit":
        from . import junit

        return junit.render(doc, verdict)
    if fmt == "html":
        from . import html

        return html.render(doc, verdict)
    if fmt == "json":
        return _json(doc, verdict)
    from . import console

    return console.render_text(doc, verdict)


def stored_verdict(doc) -> Verdict | None:
    if getattr(doc, "kind", None) != "loadtest":
        return None
    from hmb_ops.gates.verdict import from_record

    return from_record(doc)


def _json(doc: Document, verdict: Verdict | None) -> str:
    import json

    from hmb_ops.documents import SCHEMA_VERSION

    if doc.kind != "loadtest":
        # Capacity and claims documents are judged by nothing here: the document itself is the answer.
        return doc.model_dump_json(indent=2) + "\n"
    out = {"schema_version": SCHEMA_VERSION, "results": doc.model_dump(mode="json"),
           "verdict": verdict.to_dict() if verdict else None}
    return json.dumps(out, indent=2) + "\n"


def describe(doc: Document) -> str:
    """One line saying which document this is, e.g. 'capacity document (3 tiers)'."""
    if doc.kind == "capacity":
        n = len(doc.tiers)
        per = "plan" if doc.tiers and all(t.plan for t in doc.tiers) else "tier"
        return f"capacity document ({n} {per}{'s' if n != 1 else ''})"
    if doc.kind == "claims":
        n = len(doc.claims)
        return f"claims document ({n} claim{'s' if n != 1 else ''})"
    return f"load test results (profile {doc.profile}, {doc.summary.requests} requests)"
