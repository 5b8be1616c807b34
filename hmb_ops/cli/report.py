"""`hmb-ops report FILE`: render any document hmb-ops writes (load results, capacity, claims); judge load results."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, info, pass_ctx
from hmb_ops.cli.gates import check_options
from hmb_ops.report import FORMATS


@click.command()
@click.argument("document_file", metavar="FILE")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="console", show_default=True,
              help="console (rich tables), md ($GITHUB_STEP_SUMMARY), junit (one case per check, tier or "
                   "claim), html (self-contained, with charts) or json.")
@click.option("--out", type=click.Path(dir_okay=False), metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--chart", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also write a PNG: throughput and latency against load (results), per tier (capacity), "
                   "claimed vs measured (claims).")
@check_options
@pass_ctx
def report(ctx: Ctx, document_file: str, fmt: str, out: str | None, chart: str | None, gates) -> None:
    """Render FILE: a results.json from `loadtest` (or a folder holding one), or a capacity.json or
    claims.json from `capacity`; load results can be checked.

    Any breached --check, or a baseline regression, exits 1; a malformed expression, an unknown
    endpoint, a missing or corrupt file, a baseline from another profile, or checks given for a
    capacity or claims document exit 2.
    """
    from pathlib import Path

    from hmb_ops.cli.gates import evaluate_gates, print_verdict, save_baseline
    from hmb_ops.documents import Results, read_document
    from hmb_ops.errors import UsageError
    from hmb_ops.report import describe, render

    doc = read_document(document_file)
    verdict = None
    if isinstance(doc, Results) and doc.verdict is not None and not (gates.requested or gates.save_baseline):
        pass  # no new checks: render the verdict the run stored (results.json), exit 0 (nothing judged now)
    elif isinstance(doc, Results):
        verdict = evaluate_gates(gates, doc)
    elif gates.checks or gates.slo_file or gates.baseline or gates.save_baseline:
        raise UsageError(f"--check, --slo-file, --baseline and --save-baseline apply to load test results; "
                         f"{document_file} is a {doc.kind} document",
                         hint="give the results.json of a run (each capacity tier has one in its folder)")
    info(f"{describe(doc)} from {document_file}")
    if ctx.json:
        fmt = "json"
    text = render(fmt, doc, verdict)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        info(f"wrote {out}")
    else:
        click.echo(text, nl=False)
    if chart:
        from hmb_ops.report.chart import chart as png

        Path(chart).write_bytes(png(doc))
        info(f"wrote {chart}")
    if verdict is None or not isinstance(doc, Results):
        return
    if verdict.checked and (fmt != "console" or out):
        print_verdict(verdict)
    save_baseline(gates, doc, verdict)
    click.get_current_context().exit(verdict.exit_code)
