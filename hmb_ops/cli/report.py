"""`hmb-ops report RESULTS.json`: render one results document, optionally judged by checks."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, info, pass_ctx
from hmb_ops.cli.gates import check_options

FORMATS = ("console", "md", "junit", "html", "json")


@click.command()
@click.argument("results_file", metavar="RESULTS.json")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="console", show_default=True,
              help="console (rich tables), md ($GITHUB_STEP_SUMMARY), junit (one case per check), "
                   "html (self-contained, with chart) or json (results + verdict).")
@click.option("--out", type=click.Path(dir_okay=False), metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--chart", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also write a PNG of throughput and latency against load.")
@check_options
@pass_ctx
def report(ctx: Ctx, results_file: str, fmt: str, out: str | None, chart: str | None, gates) -> None:
    """Render RESULTS.json (from `loadtest` or `capacity`) and check it.

    Any breached --check, or a baseline regression, exits 1; a malformed expression, an unknown
    endpoint, a missing or corrupt file or a baseline from another profile exits 2.
    """
    from pathlib import Path

    from hmb_ops.capacity.results import read_results
    from hmb_ops.cli.gates import evaluate_gates, print_verdict, save_baseline
    from hmb_ops.report import render_results

    results = read_results(results_file)
    verdict = evaluate_gates(gates, results)
    if ctx.json:
        fmt = "json"
    text = render_results(fmt, results, verdict)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        info(f"wrote {out}")
    else:
        click.echo(text, nl=False)
    if chart:
        from hmb_ops.report.chart import results_chart

        Path(chart).write_bytes(results_chart(results))
        info(f"wrote {chart}")
    if verdict.checked and (fmt != "console" or out):
        print_verdict(verdict)
    save_baseline(gates, results, verdict)
    click.get_current_context().exit(verdict.exit_code)
