"""The CLI face of the CI gates (`loadtest`, `report`): the click options and the printing.

`@gate_options` adds the options and hands the command one `gates: GateOptions`; `run_gates`
judges the results and writes the files through hmb_ops/gates/flow.py, prints the verdict to stderr
and returns the exit code (0 pass, 1 a check failed). What the gates check, and from where, is
described in hmb_ops/gates/flow.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

import click

from hmb_ops.cli.common import Ctx, info
from hmb_ops.gates import flow
from hmb_ops.gates.flow import (
    DEFAULT_LATENCY_TOLERANCE,
    DEFAULT_THROUGHPUT_TOLERANCE,
    GateOptions,
    evaluate_gates,
    validate_gates,
)

if TYPE_CHECKING:
    from hmb_ops.documents import Results

# evaluate_gates and validate_gates are re-exported: `report` and `loadtest` call them with the
# options this module builds.
__all__ = ["GateOptions", "check_options", "evaluate_gates", "gate_options", "print_verdict", "run_gates",
           "save_baseline", "validate_gates"]


def _check_options() -> list[Callable]:
    return [
        click.option("--check", "checks", multiple=True, metavar="EXPR",
                     help="Threshold, e.g. 'p95<100ms', 'error_rate<1%', 'rps>=150', "
                          "'GET /api/feed: p95<50ms'. Repeatable; any breach exits 1."),
        click.option("--slo-file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="YAML file whose 'thresholds: checks:' list is checked too (the format of the shipped "
                          "hmb_ops/configs/slo.yaml)."),
        click.option("--baseline", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Compare with a stored results JSON of the same profile."),
        click.option("--save-baseline", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Store these results as a baseline for later runs."),
        click.option("--tolerance-latency", type=float, default=DEFAULT_LATENCY_TOLERANCE, show_default=True,
                     metavar="F", help="Latency (p95, p99) may grow to F × the baseline."),
        click.option("--tolerance-throughput", type=float, default=DEFAULT_THROUGHPUT_TOLERANCE,
                     show_default=True, metavar="F", help="Throughput may fall to F × the baseline."),
        click.option("--allow-invalid", is_flag=True,
                     help="Let checks pass on results marked not valid (saturated generator)."),
    ]


def _wrap(fn: Callable, options: list[Callable], with_files: bool) -> Callable:
    names = ("checks", "slo_file", "baseline", "save_baseline", "tolerance_latency", "tolerance_throughput",
             "allow_invalid") + (("junit", "summary_md") if with_files else ())

    @wraps(fn)
    def wrapper(*args, **kwargs):
        values = {n: kwargs.pop(n) for n in names if n in kwargs}
        values["checks"] = tuple(values.get("checks") or ())
        ctx = click.get_current_context().find_object(Ctx) or Ctx()
        return fn(*args, gates=GateOptions(config_files=tuple(ctx.config_files), **values), **kwargs)

    for opt in reversed(options):
        wrapper = opt(wrapper)
    return wrapper


def check_options(fn: Callable) -> Callable:
    """The threshold/baseline options without the output files (for `report`)."""
    return _wrap(fn, _check_options(), with_files=False)


def gate_options(fn: Callable) -> Callable:
    """All gate options, including where JUnit XML and Markdown go (default: the run's folder)."""
    files = [
        click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Where to write JUnit XML (default: junit.xml in the results folder)."),
        click.option("--summary-md", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Where to write the Markdown summary (default: summary.md in the results folder; "
                          "also appended to $GITHUB_STEP_SUMMARY when set)."),
    ]
    return _wrap(fn, _check_options() + files, with_files=True)


def print_verdict(verdict) -> None:
    if verdict.aborted:  # --abort-on-fail stopped the run: say when and which first
        info(f"  FAIL {verdict.aborted}")
    for r in verdict.thresholds:
        info(f"  {'ok  ' if r.passed else 'FAIL'} {r.message}")
    for c in verdict.comparisons:
        info(f"  {'ok  ' if c.passed else 'FAIL'} {c.message}")
    for note in verdict.notes:
        info(f"  note: {note}")
    if verdict.refused_invalid:
        info("  FAIL results not valid: " + "; ".join(verdict.invalid_reasons)
             + " (checks refuse to pass on them; --allow-invalid overrides)")
    info(verdict.headline())


def save_baseline(gates: GateOptions, results: Results, verdict=None) -> None:
    """Save --save-baseline and say so (or why not)."""
    outcome = flow.save_baseline(gates, results)
    if outcome is None:
        return
    if outcome.saved is None:
        info(f"baseline not saved to {outcome.requested}: {outcome.refused} (--allow-invalid saves anyway)")
        return
    info(f"baseline saved: {outcome.saved}")


def run_gates(gates: GateOptions, results: Results, out_dir) -> int:
    """Judge, write junit.xml and summary.md (into out_dir unless given), print the verdict, return 0/1."""
    verdict = flow.judge_and_write(gates, results, out_dir)
    if verdict.checked:
        print_verdict(verdict)
    save_baseline(gates, results, verdict)
    return verdict.exit_code
