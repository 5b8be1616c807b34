"""`hmb-ops loadtest`: run a load profile against the reference app (or --target) and report it."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from hmb_ops.cli.common import Ctx, console, emit_json, info, interactive, json_option, out, pass_ctx
from hmb_ops.cli.confinement import confinement_fields, confinement_options
from hmb_ops.cli.gates import gate_options
from hmb_ops.cli.sampling import prepare as prepare_sampling, sampling_options

QUIET_EVERY_S = 5.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str | None) -> float | None:
    """'90', '90s', '5m', '1h' → seconds; anything else is a usage error (exit 2)."""
    if text is None:
        return None
    m = _DURATION.match(text)
    if not m:
        from hmb_ops.errors import UsageError

        raise UsageError(f"--duration {text!r} is not a duration", hint="use seconds or 30s, 5m, 1h")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


class Progress:
    """A callable progress sink: a rich live panel on a terminal, a line every few seconds otherwise."""

    def __init__(self, live: bool):
        self.live = live
        self._live = None
        self._bar: Any = None   # a rich Progress once the first event arrives (rich loads only then)
        self._task: Any = None
        self._last_line = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _start_bar(self, total: float) -> None:
        from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

        self._bar = RichProgress(TextColumn("[bold]load"), BarColumn(), TextColumn("{task.fields[stats]}"),
                                 TimeRemainingColumn(), console=console(), transient=False)
        self._task = self._bar.add_task("load", total=total, stats="")
        self._bar.start()

    def __call__(self, event: dict) -> None:
        if "phase" in event:
            info(event["message"])
            return
        stats = (f"{event['users']} users  {event['rps']:.0f} req/s  p95 {event['p95_ms']:.1f} ms  "
                 f"failures {event['failures']}  total {event['total_requests']}")
        if self.live:
            if self._bar is None:
                self._start_bar(event["duration_s"])
            self._bar.update(self._task, completed=min(event["elapsed_s"], event["duration_s"]), stats=stats)
            return
        now = time.monotonic()
        if now - self._last_line >= QUIET_EVERY_S:
            self._last_line = now
            info(f"t={event['elapsed_s']:.0f}s/{event['duration_s']:.0f}s  {stats}")




@click.command("loadtest")
@click.option("--profile", default="smoke", show_default=True, metavar="NAME",
              help="Profile from hmb_ops/configs/profiles.yaml or a --config file (smoke, baseline, step, spike, "
                   "soak, ci, health).")
@click.option("--tier", metavar="NAME", help="Tier whose tuned Gunicorn config serves the app (default: default).")
@click.option("--target", metavar="URL", help="Load an already running app instead of starting the reference app.")
@click.option("--users", type=int, metavar="N", help="Concurrent users (flattens a stepped profile to one stage).")
@click.option("--spawn-rate", type=float, metavar="R", help="Users started per second.")
@click.option("--duration", metavar="T", help="Run length: seconds, or 30s / 5m / 1h.")
@click.option("--arrival-rate", metavar="RPS[,RPS...]",
              help="Open model: a constant request rate, latency measured from each request's intended send time; "
                   "a comma list gives one rate per stage of the profile (a ramping rate, dropped and late sends "
                   "reported per stage).")
@click.option("--processes", type=int, metavar="N", help="Locust master + N worker processes on this machine.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Results folder (default: <state dir>/results/<timestamp>-<profile>).")
@click.option("--allow-remote", is_flag=True, help="Allow a --target outside loopback (you own it).")
@click.option("--locustfile", type=click.Path(dir_okay=False), metavar="FILE",
              help="Run the HttpUser/FastHttpUser classes of your own locustfile (instead of the built-in "
                   "users) under the profile's stages, users and duration; see docs/locustfiles.md.")
@click.option("--scenario", type=click.Path(dir_okay=False), metavar="FILE",
              help="What each user does, from a scenario file (docs/scenarios.md); with --target it loads any "
                   "app. Default: the reference app's scenario.")
@click.option("--from-raw", type=click.Path(dir_okay=False), metavar="FILE",
              help="Build results from a distributed run's raw file (Locust --master with "
                   "hmb_ops/loadtest/locustfile.py).")
@confinement_options
@sampling_options
@gate_options
@json_option
@pass_ctx
def loadtest(ctx: Ctx, profile, tier, target, users, spawn_rate, duration, arrival_rate, processes, out_dir,
             allow_remote, locustfile, scenario, from_raw, as_json, gates, sampling, confinement):
    """Run a Locust load profile headless and report HDR latency percentiles, throughput and errors.

    Without --target it starts the database (embedded by default), seeds it, applies the declared
    indexes, serves the reference app under Gunicorn with the tier's config, runs the load and
    stops everything it started. Writes results.json, timeseries.csv and report.html.
    Every run is checked for a wrong target: when most answers failed (error_rate<50% by default; a
    --check on error_rate replaces it) it exits 1 naming the requests that failed most.
    Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 environment (target silent, port in use),
    130 interrupted (partial results saved).
    """
    from dataclasses import replace

    from hmb_ops.cli.gates import run_gates, validate_gates
    from hmb_ops.errors import ExitStatus
    from hmb_ops.gates.flow import default_check_fails
    from hmb_ops.loadtest.api import LoadRequest, results_from_raw, run_load

    if scenario and locustfile:
        from hmb_ops.errors import UsageError

        raise UsageError("give --scenario or --locustfile, not both")

    if gates.requested or gates.save_baseline:
        validate_gates(gates, ctx.config_files, profile=profile)
    abort = prepare_sampling(sampling, gates, target=target, database_url=ctx.database_url)
    from hmb_ops.loadtest.arrival import parse_rates

    rates = parse_rates(arrival_rate)
    req = LoadRequest(profile=profile, tier=tier, target=target, users=users, spawn_rate=spawn_rate,
                      duration=parse_duration(duration), arrival_rate=rates[0] if rates and len(rates) == 1 else None,
                      arrival_rates=rates if rates and len(rates) > 1 else None, processes=processes,
                      out_dir=out_dir, allow_remote=allow_remote, config_files=tuple(ctx.config_files),
                      database_url=ctx.database_url, state_dir=str(ctx.state_dir), locustfile=locustfile,
                      scenario=scenario,
                      **sampling.request_fields(), **confinement_fields(confinement, ctx, tier=tier, target=target))
    if from_raw:
        doc = results_from_raw(from_raw, profile=profile, config_files=req.config_files, out_dir=out_dir,
                               state_dir=req.state_dir)
    else:
        with Progress(live=interactive()) as progress:
            doc = run_load(req, progress=progress, abort=abort)
    if not as_json:
        from hmb_ops.report import render

        out(render("console", doc).rstrip("\n"))
    for family, why in (((doc.server.metrics if doc.server else None) or {}).items()):
        if why.note:  # a typo'd --metric, or a per-worker endpoint: never silent
            info(f"warning: metric {family}: {why.note}")
    info(f"results: {doc.out_dir}/results.json, timeseries.csv, report.html")
    code: int = ExitStatus.OK
    # A wrong target is never a pass: the default check (hmb_ops/gates/most_failed.py) judges every run.
    gates = replace(gates, default_checks=True)
    if not doc.interrupted and doc.out_dir is not None:
        # results.json and report.html keep what the run was judged on, so `report` renders the same verdict
        from pathlib import Path

        from hmb_ops.gates.flow import record_verdict
        from hmb_ops.loadtest.results import write_outputs

        folder = Path(doc.out_dir)
        try:
            doc = record_verdict(gates, doc)
        except Exception:
            if as_json:
                emit_json(doc)  # the measurements still go out; the error (an unknown endpoint) follows
            raise
        write_outputs(doc, folder)
    if as_json:
        emit_json(doc)  # with the stored verdict, as results.json
    if gates.requested or gates.save_baseline or gates.junit or gates.summary_md \
            or (not doc.interrupted and default_check_fails(gates, doc)):  # Ctrl-C says enough
        code = run_gates(gates, doc, doc.out_dir)
    if doc.interrupted:
        info("interrupted: partial results saved")
        raise click.exceptions.Exit(ExitStatus.INTERRUPTED)
    raise click.exceptions.Exit(code)
