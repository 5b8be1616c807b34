"""Documents are read through attributes: no consumer reaches into a results, capacity or claims
document by string keys (a renamed field must be a type error, not a silent None)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "hmb_ops"
# Every module that builds or reads a document. The HTML page (report/html*.py) draws its charts
# from the document's JSON form on purpose, so it is not listed.
CONSUMERS = ["capacity", "gates", "documents", "loadtest/results.py", "loadtest/api.py", "report/__init__.py",
             "report/fmt.py", "report/console.py", "report/markdown.py", "report/junit.py", "report/chart.py",
             "cli/report.py", "cli/loadtest.py", "cli/capacity.py", "cli/gates.py"]
STRING_KEY = re.compile(r"\b(results|doc|document|baseline|base|report|summary|step|st|tier|endpoint|e|"
                        r"server|claim|cl)(\.get\(|\[)[\"']")


def _files():
    for name in CONSUMERS:
        path = PACKAGE / name
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


def test_no_consumer_reads_a_document_by_string_keys():
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
             for path in _files() for n, line in enumerate(path.read_text().splitlines(), 1)
             if STRING_KEY.search(line)]
    assert not found, "read documents through attributes:\n" + "\n".join(found)


def test_the_pattern_catches_what_it_is_for():
    assert STRING_KEY.search('p95 = results["summary"]["latency_ms"]["p95"]')
    assert STRING_KEY.search("name = e.get('name')")
    assert not STRING_KEY.search("p95 = results.summary.latency_ms.p95")
