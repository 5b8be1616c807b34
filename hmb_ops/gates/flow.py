"""The gate flow for any command that produces a results document (`loadtest`, `report`).

`validate_gates` rejects malformed expressions and unusable files BEFORE a load run starts;
`judge_and_write` judges the results and writes JUnit XML and Markdown; `save_baseline` stores the
results as a baseline. They return data; hmb_ops/cli/gates.py prints. Where thresholds come from,
in order: `--check` expressions, the `thresholds` section of `--slo-file FILE`, and the
`thresholds` section of user `--config` files. The shipped hmb_ops/configs/slo.yaml applies only
when named with `--slo-file` (so a plain `loadtest` never fails on a target the user did not choose).
`loadtest` also sets `default_checks`: its run fails when most answers failed, even without
--check (hmb_ops/gates/most_failed.py: a wrong target is never a pass).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import Results

# Kept here rather than imported from .baseline: the CLI option defaults need them at start-up,
# and this module must stay cheap to import (the judging modules are imported when used).
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
    default_checks: bool = False  # add most_failed's check (loadtest); `report` judges only what it is told

    @property
    def requested(self) -> bool:
        return bool(self.checks or self.slo_file or self.baseline or self.user_thresholds())

    def user_thresholds(self) -> list[str]:
        from hmb_ops.gates.slo import user_slo

        return user_slo(self.config_files)


@dataclass(frozen=True)
class BaselineOutcome:
    """What became of --save-baseline: `saved` is the file written, or None with the reason."""

    requested: str
    saved: Path | None = None
    refused: str | None = None


def resolve_thresholds(gates: GateOptions):
    """All thresholds the gates check, parsed (malformed → UsageError/ConfigError, exit 2)."""
    from hmb_ops.gates import thresholds as th
    from hmb_ops.gates.slo import slo_file

    exprs = list(gates.checks)
    if gates.slo_file:
        exprs += list(slo_file(gates.slo_file).checks)
    exprs += gates.user_thresholds()
    return th.parse_all(exprs)


def validate_gates(gates: GateOptions, config_files: tuple[str, ...] | None = None, *,
                   profile: str | None = None) -> None:
    """Fail fast (exit 2) on anything the gates could only discover after a long run."""
    from hmb_ops.documents import read_results
    from hmb_ops.errors import UsageError
    from hmb_ops.gates.baseline import check_tolerances, same_profile

    if config_files is not None and tuple(config_files) != gates.config_files:
        gates = replace(gates, config_files=tuple(config_files))
    resolve_thresholds(gates)
    check_tolerances(gates.tolerance_latency, gates.tolerance_throughput)
    if gates.baseline:
        base = read_results(gates.baseline)
        if profile is not None:
            same_profile(profile, base, gates.baseline)
    for path in (gates.save_baseline, gates.junit, gates.summary_md):
        if path and Path(path).is_dir():
            raise UsageError(f"{path}: is a directory, expected a file path")


def evaluate_gates(gates: GateOptions, results: Results, *, list_default: bool = False):
    """The Verdict for these results (UsageError exit 2 for unknown endpoints or a foreign baseline).
    list_default: list the default check even when it passes alone (the record results.json keeps)."""
    from hmb_ops.documents import read_results
    from hmb_ops.gates.verdict import judge

    base = read_results(gates.baseline) if gates.baseline else None
    thresholds = resolve_thresholds(gates)
    verdict = judge(results, thresholds, baseline=base, baseline_path=gates.baseline,
                    latency_tolerance=gates.tolerance_latency, throughput_tolerance=gates.tolerance_throughput,
                    allow_invalid=gates.allow_invalid)
    defaults = _default_checks(gates, results, thresholds)
    # A passing default is listed only next to checks the user asked for: alone it would turn a plain
    # run (or one with only --junit/--save-baseline) into a judged one.
    if any(not d.passed for d in defaults) or verdict.checked or list_default:
        verdict = replace(verdict, thresholds=(*defaults, *verdict.thresholds))
    return verdict


def _default_checks(gates: GateOptions, results: Results, thresholds) -> tuple:
    """The default checks that apply: most answers failed (most_failed), workers OOM-killed (oom_kills)."""
    from hmb_ops.gates import most_failed, oom_kills

    if not gates.default_checks:
        return ()
    out = [] if most_failed.replaced_by(thresholds) else [most_failed.check(results)]
    oom = None if oom_kills.replaced_by(thresholds) else oom_kills.check(results)
    return tuple(out + ([oom] if oom is not None else []))


def default_check_fails(gates: GateOptions, results: Results) -> bool:
    """True when a default check applies to these results and fails (the run must be judged and exit 1
    even though no check was asked for)."""
    return any(not d.passed for d in _default_checks(gates, results, resolve_thresholds(gates)))


def record_verdict(gates: GateOptions, results: Results) -> Results:
    """The results with the checks they were judged on (the default check included) and the outcome."""
    from hmb_ops.gates.verdict import to_record

    return results.model_copy(update={"verdict": to_record(evaluate_gates(gates, results, list_default=True))})


def judge_and_write(gates: GateOptions, results: Results, out_dir):
    """Judge; write junit.xml and summary.md (into out_dir unless given) and $GITHUB_STEP_SUMMARY; return the
    Verdict."""
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
    return verdict


def save_baseline(gates: GateOptions, results: Results) -> BaselineOutcome | None:
    """Store the results as --save-baseline (None when not asked; refused when the results are not valid)."""
    from hmb_ops.gates.baseline import save

    if not gates.save_baseline:
        return None
    if not results.valid and not gates.allow_invalid:
        return BaselineOutcome(gates.save_baseline, refused="results not valid")
    return BaselineOutcome(gates.save_baseline, saved=save(results, gates.save_baseline))


def _write(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
