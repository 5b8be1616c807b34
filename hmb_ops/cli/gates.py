"""CI gates for any command that produces a results document (`loadtest`, `report`).

`@gate_options` adds the options and hands the command one `gates: GateOptions`;
`validate_gates` rejects malformed expressions and unusable files BEFORE a load run starts;
`run_gates` judges the results, writes JUnit XML and Markdown, prints the verdict to stderr and
returns the exit code (0 pass, 1 a check failed). Where thresholds come from, in order:
`--check` expressions, the `thresholds` section of `--slo-file FILE`, and the `thresholds`
section of user `--config` files. The shipped hmb_ops/configs/slo.yaml applies only when named with
`--slo-file` (so a plain `loadtest` never fails on a target the user did not choose).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import wraps
from pathlib import Path
from typing import Callable

import click

from hmb_ops.cli.common import Ctx, info

DEFAULT_LATENCY_TOLERANCE = 1.2
DEFAULT_THROUGHPUT_TOLERANCE = 0.8


@dataclass(frozen=True)
class GateOptions:
    checks: tuple[str, ...] = ()
    slo_file: str | None = None
    baseline: str | None = None
    save_baseline: str | None = None
    tolerance_latency: float = DEFAULT_LATENCY_TOLERANCE
    tolerance_throughput: float = DEFAULT_THROUGHPUT_TOLERANCE
    allow_invalid: bool = False
    junit: str | None = None
    summary_md: str | None = None
    config_files: tuple[str, ...] = ()

    @property
    def requested(self) -> bool:
        return bool(self.checks or self.slo_file or self.baseline or self.user_thresholds())

    def user_thresholds(self) -> list[str]:
        from hmb_ops.capacity.slo import user_slo

        return user_slo(self.config_files)


def _check_options() -> list[Callable]:
    return [
        click.option("--check", "checks", multiple=True, metavar="EXPR",
                     help="Threshold, e.g. 'p95<100ms', 'error_rate<1%', 'rps>=150', "
                          "'GET /api/feed: p95<50ms'. Repeatable; any breach exits 1."),
        click.option("--slo-file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="YAML file whose 'thresholds: checks:' list is checked too (the format of the shipped hmb_ops/configs/slo.yaml)."),
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


def resolve_thresholds(gates: GateOptions):
    """All thresholds the gates check, parsed (malformed → UsageError/ConfigError, exit 2)."""
    from hmb_ops.capacity import thresholds as th
    from hmb_ops.capacity.slo import slo_file

    exprs = list(gates.checks)
    if gates.slo_file:
        exprs += list(slo_file(gates.slo_file).checks)
    exprs += gates.user_thresholds()
    return th.parse_all(exprs)


def validate_gates(gates: GateOptions, config_files: tuple[str, ...] | None = None, *,
                   profile: str | None = None) -> None:
    """Fail fast (exit 2) on anything the gates could only discover after a long run."""
    from hmb_ops.capacity.baseline import check_tolerances, same_profile
    from hmb_ops.capacity.results import read_results
    from hmb_ops.errors import UsageError

    if config_files is not None and tuple(config_files) != gates.config_files:
        gates = replace(gates, config_files=tuple(config_files))
    resolve_thresholds(gates)
    check_tolerances(gates.tolerance_latency, gates.tolerance_throughput)
    if gates.baseline:
        base = read_results(gates.baseline)
        if profile is not None:
            same_profile({"profile": profile}, base, gates.baseline)
    for path in (gates.save_baseline, gates.junit, gates.summary_md):
        if path and Path(path).is_dir():
            raise UsageError(f"{path}: is a directory, expected a file path")


def evaluate_gates(gates: GateOptions, results: dict):
    """The Verdict for these results (UsageError exit 2 for unknown endpoints or a foreign baseline)."""
    from hmb_ops.capacity.results import read_results
    from hmb_ops.capacity.verdict import judge

    base = read_results(gates.baseline) if gates.baseline else None
    return judge(results, resolve_thresholds(gates), baseline=base, baseline_path=gates.baseline,
                 latency_tolerance=gates.tolerance_latency, throughput_tolerance=gates.tolerance_throughput,
                 allow_invalid=gates.allow_invalid)


def print_verdict(verdict) -> None:
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


def save_baseline(gates: GateOptions, results: dict, verdict) -> None:
    from hmb_ops.capacity.baseline import save

    if not gates.save_baseline:
        return
    if results.get("valid", True) is False and not gates.allow_invalid:
        info(f"baseline not saved to {gates.save_baseline}: results not valid (--allow-invalid saves anyway)")
        return
    info(f"baseline saved: {save(results, gates.save_baseline)}")


def run_gates(gates: GateOptions, results: dict, out_dir) -> int:
    """Judge, write junit.xml and summary.md (into out_dir unless given), print the verdict, return 0/1."""
    from hmb_ops.report import junit, markdown

    verdict = evaluate_gates(gates, results)
    md = markdown.render(results, verdict)
    targets = {"junit": gates.junit, "summary": gates.summary_md}
    if out_dir is not None:
        targets["junit"] = targets["junit"] or str(Path(out_dir) / "junit.xml")
        targets["summary"] = targets["summary"] or str(Path(out_dir) / "summary.md")
    if targets["junit"]:
        _write(targets["junit"], junit.render(results, verdict))
    if targets["summary"]:
        _write(targets["summary"], md)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
    if verdict.checked:
        print_verdict(verdict)
    save_baseline(gates, results, verdict)
    return verdict.exit_code


def _write(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
