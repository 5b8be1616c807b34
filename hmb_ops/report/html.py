"""One self-contained HTML page for any document hmb-ops writes: load results, capacity or claims.

The charts are drawn in the browser by uPlot (MIT, vendored in report/vendor/, inlined into the
page), from chart specs this package builds; the page loads nothing from the network.
"""

from __future__ import annotations

from typing import Any


def as_model(document: Any):
    """The typed document: a dict (as written to disk) is validated into its model by its `kind`."""
    if hasattr(document, "model_dump"):
        return document
    if isinstance(document, dict):
        from hmb_ops.documents import parse_document

        return parse_document(document)
    raise TypeError(f"not a document: {type(document).__name__}")


def render(document: Any, verdict=None) -> str:
    """The page for a Results, CapacityDocument or ClaimsDocument (model or dict); a verdict heads the page.

    Tables come from report/fmt.py with the model (the words every rendering shares); charts from
    the document as written (its JSON form).
    """
    from . import html_page, stored_verdict

    model = as_model(document)
    verdict = verdict or stored_verdict(model)
    doc = model.model_dump(mode="json", by_alias=True)
    if model.kind == "capacity":
        from .html_capacity import capacity_parts as parts
    elif model.kind == "claims":
        from .html_capacity import claims_parts as parts
    else:
        from .html_results import page_parts as parts
    title, subtitle, body, charts = parts(model, doc, verdict)
    return html_page.page(title, subtitle, html_page.verdict_section(verdict) + body, charts)
