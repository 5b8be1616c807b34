"""A ramping arrival rate's per-stage table: the same rows in console, Markdown and HTML, absent for one rate."""

import pytest

from hmb_ops.documents.results import OpenModel, OpenModelStage
from hmb_ops.report import fmt, render as render_results
from hmb_ops.report.console import render_text


@pytest.fixture
def ramped(ci_results):
    ci_results.model = "open"
    ci_results.open_model = OpenModel(scheduled=900, sent=870, dropped=25, late=5, stages=[
        OpenModelStage(index=0, rate=10.0, start_s=0.0, end_s=30.0, scheduled=300, sent=300, dropped=0, late=1),
        OpenModelStage(index=1, rate=20.0, start_s=30.0, end_s=60.0, scheduled=600, sent=570, dropped=25, late=4)])
    return ci_results


def test_rows_are_one_per_stage(ramped):
    assert fmt.open_stage_rows(ramped) == [["0", "10.0", "300", "300", "0", "1"],
                                           ["1", "20.0", "600", "570", "25", "4"]]


def test_console_markdown_and_html_show_the_table(ramped):
    text = render_text(ramped)
    assert "open model per stage" in text and "rate req/s" in text
    assert any(line.split() == ["1", "20.0", "600", "570", "25", "4"] for line in
               (ln.replace("│", " ").replace("┃", " ") for ln in text.splitlines()))
    md = render_results("md", ramped, None)
    assert "### Open model per stage" in md and "| 1 | 20.0 | 600 | 570 | 25 | 4 |" in md
    page = render_results("html", ramped, None)
    assert "Open model per stage" in page and "<td>570</td><td>25</td><td>4</td>" in page


def test_no_table_without_stages(ramped):
    ramped.open_model.stages = []
    assert fmt.open_stage_rows(ramped) == []
    assert "per stage" not in render_text(ramped).lower()
    assert "per stage" not in render_results("md", ramped, None).lower()
    assert "Open model per stage" not in render_results("html", ramped, None)
