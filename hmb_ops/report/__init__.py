"""Renderings of one results document: console, Markdown, JUnit XML, HTML, JSON, PNG chart."""


def render_results(fmt: str, results: dict, verdict=None) -> str:
    """Text of one results document in a format: console, md, junit, html or json."""
    if fmt == "md":
        from .markdown import render
    elif fmt == "junit":
        from .junit import render
    elif fmt == "html":
        from .html import render
    elif fmt == "json":
        import json

        doc = {"schema_version": 1, "results": results, "verdict": verdict.to_dict() if verdict else None}
        return json.dumps(doc, indent=2) + "\n"
    else:
        from .console import render_text

        return render_text(results, verdict)
    return render(results, verdict)
