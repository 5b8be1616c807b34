"""`tune --search`'s options and output (the command itself is hmb_ops/cli/tune.py): measure a small
grid of worker configurations, print the comparison next to the formula's, hand back the plan."""

from __future__ import annotations

from collections.abc import Callable

import click

from hmb_ops.cli.common import console, info
from hmb_ops.tune.search import DEFAULT_STEP_SECONDS, DEFAULT_STEP_USERS

DEFAULT_STEPS_TEXT = ",".join(map(str, DEFAULT_STEP_USERS))

SEARCH_OPTIONS = ("search", "search_grid", "search_steps", "search_step_seconds", "search_rounds", "search_slo",
                  "search_out", "search_budget", "search_config")


def search_options(fn: Callable) -> Callable:
    """The --search options, added to `tune`; they arrive among its keyword arguments."""
    options = [
        click.option("--search", is_flag=True,
                     help="Measure a small grid of worker configurations (workers × threads for gthread, workers "
                          "for Uvicorn) under a short stepped load and plan the best sustainable throughput at the "
                          "SLO, explained next to the formula's choice (docs/tune-search.md)."),
        click.option("--search-grid", metavar="WxT,...",
                     help="With --search: the candidates, e.g. 3x2,4x4,5x1 (Uvicorn: 2,3,4); default: the "
                          "formula's choice and its neighbours."),
        click.option("--search-steps", metavar="U1,U2,...",
                     help=f"With --search: users per load step (default {DEFAULT_STEPS_TEXT})."),
        click.option("--search-step-seconds", type=click.FloatRange(1, 120), metavar="S",
                     help=f"With --search: seconds per step (default {DEFAULT_STEP_SECONDS:g})."),
        click.option("--search-rounds", type=click.IntRange(1, 5), default=2, show_default=True,
                     help="With --search: rounds; later rounds re-measure the best few in reverse order."),
        click.option("--slo", "search_slo", multiple=True, metavar="EXPR",
                     help="With --search: the SLO a step must meet, e.g. 'p95<100ms' (default: the shipped slo.yaml)."),
        click.option("--search-out", type=click.Path(file_okay=False), metavar="DIR",
                     help="With --search: where search.json and each run's results go "
                          "(default: <state dir>/search/<time>)."),
        click.option("--search-budget", type=click.FloatRange(30, 3600), default=165, show_default=True,
                     metavar="S", help="With --search: seconds; later rounds stop early to stay within it."),
        click.option("--search-config", metavar="FILE",
                     help="With --search on your app: its own Gunicorn config (hooks, paths) instead of the plan's."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def pop_search(kwargs: dict) -> dict:
    """The --search options out of a command's keyword arguments (what is left is the command's own)."""
    return {k: kwargs.pop(k) for k in SEARCH_OPTIONS if k in kwargs}


def check_search_options(opts: dict) -> None:
    from hmb_ops.errors import UsageError

    given = [k for k in SEARCH_OPTIONS[1:] if opts.get(k) not in (None, (), 2, 165)]
    if given and not opts.get("search"):
        raise UsageError(f"--{given[0].replace('_', '-')} is an option of --search", hint="add --search")


def run(ctx, formula_plan, plan_kwargs: dict, opts: dict, *, scenario: str | None = None,
        locustfile: str | None = None, quiet: bool = False):
    """Run the search; print what it measured; return (plan to write, SearchDocument)."""
    from hmb_ops.capacity.runner import parse_steps
    from hmb_ops.gates.slo import shipped_slo
    from hmb_ops.tune.search.service import search

    slo = tuple(opts.get("search_slo") or ()) or tuple(shipped_slo(ctx.config_files).checks) or ("p95<100ms",)
    steps = parse_steps(opts.get("search_steps") or DEFAULT_STEPS_TEXT,
                        opts.get("search_step_seconds") or DEFAULT_STEP_SECONDS)
    say = (lambda _m: None) if quiet else (lambda m: info(f"search: {m}"))
    outcome = search(formula_plan, plan_kwargs, slo=slo, grid=opts.get("search_grid"), steps=steps,
                     rounds=opts.get("search_rounds") or 2, scenario=scenario, locustfile=locustfile,
                     database_url=ctx.database_url, state_dir=str(ctx.state_dir), out_dir=opts.get("search_out"),
                     app_config_file=opts.get("search_config"), time_budget_s=opts.get("search_budget") or 165,
                     progress=say)
    doc = outcome.document
    if not quiet:
        show(doc)
    return outcome.plan, doc


def show(doc) -> None:
    """The comparison on stderr: every candidate, its rounds, the pick and the formula's, the noise."""
    from hmb_ops.report.console import table as rich_table
    from hmb_ops.report.search import search_rows

    columns, rows = search_rows(doc)
    title = (f"tune --search ({doc.worker_class}; SLO {', '.join(doc.slo)}; steps "
             f"{', '.join(f'{u:g}' for u, _ in doc.steps)} users × {doc.steps[0][1]:g} s; {doc.elapsed_s:.0f} s)")
    # stderr: tune's stdout is the plan's files (or its JSON document).
    console().print(rich_table(title, columns, rows, numeric=False, none=""))
    for line in doc.explanation:
        info(line)
    info(f"search results: {doc.out_dir}/search.json")
