"""The app's CPU and memory limits as options (`loadtest`, `app serve`): --cpus, --memory,
--require-confinement, --no-confine, and --no-reset for the data (docs/confinement.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class ConfinementOptions:
    cpus: str | None = None
    memory: str | None = None
    require: bool = False
    no_confine: bool = False
    no_reset: bool = False


def confinement_options(func=None, *, reset: bool = True):
    """Add the options; the command receives them as one `confinement` argument."""
    if func is None:
        return functools.partial(confinement_options, reset=reset)

    @functools.wraps(func)
    def wrapper(*args, cpus, memory, require_confinement, no_confine, no_reset=False, **kwargs):
        return func(*args, confinement=ConfinementOptions(cpus, memory, require_confinement, no_confine, no_reset),
                    **kwargs)

    options = [
        click.option("--cpus", metavar="N", help="Confine the app's Gunicorn to N CPUs (0.5: a CPU quota); "
                                                 "default with --tier: the tier's."),
        click.option("--memory", metavar="SIZE", help="Confine the app's Gunicorn to SIZE of memory (512MB, 1GB); "
                                                      "default with --tier: the tier's."),
        click.option("--require-confinement", is_flag=True,
                     help="Exit 3 instead of measuring when the limits cannot be emulated here exactly."),
        click.option("--no-confine", is_flag=True, help="Do not limit the app's CPU and memory (even with --tier)."),
    ]
    if reset:
        options.append(click.option("--no-reset", is_flag=True,
                                    help="Keep what earlier runs wrote instead of starting from the seeded "
                                         "template (embedded default only)."))
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def limits(opts: ConfinementOptions, ctx, *, tier: str | None) -> tuple[float | None, int | None]:
    """(cpus, memory bytes): the flags, else the tier's when one was named; none with --no-confine."""
    from hmb_ops.errors import UsageError
    from hmb_ops.resources import parse_cpus, parse_size

    if opts.no_confine:
        if opts.cpus or opts.memory or opts.require:
            raise UsageError("--no-confine cannot go with --cpus, --memory or --require-confinement")
        return None, None
    cpus = parse_cpus(opts.cpus, what="--cpus") if opts.cpus is not None else None
    memory = parse_size(opts.memory, what="--memory") if opts.memory is not None else None
    if tier and (cpus is None or memory is None):
        from hmb_ops.stack.confinement import tier_limits

        tier_cpus, tier_memory = tier_limits(tier, tuple(ctx.config_files))
        cpus = tier_cpus if cpus is None else cpus
        memory = tier_memory if memory is None else memory
    if opts.require and cpus is None and memory is None:
        raise UsageError("--require-confinement needs limits to require", hint="give --tier, --cpus or --memory")
    return cpus, memory


def confinement_fields(opts: ConfinementOptions, ctx, *, tier: str | None, target: str | None) -> dict:
    """LoadRequest fields for these options."""
    from hmb_ops.errors import UsageError

    if target:
        if opts.cpus or opts.memory or opts.require:
            raise UsageError("--cpus, --memory and --require-confinement limit the app hmb-ops starts",
                             hint="with --target, limit your app yourself (docs/confinement.md)")
        return {"reset_data": not opts.no_reset}
    cpus, memory = limits(opts, ctx, tier=tier)
    return {"app_cpus": cpus, "app_memory_bytes": memory, "require_confinement": opts.require,
            "reset_data": not opts.no_reset}


def confinement_line(record: dict | None) -> str | None:
    """One console line for a confinement record (the report's words: hmb_ops.report.fmt)."""
    from hmb_ops.documents.results import Confinement
    from hmb_ops.report.fmt import confinement_facts

    model = Confinement.model_validate(record) if record else None
    facts = [v for k, v in confinement_facts(model) if k == "confinement"]
    return f"confinement: {facts[0]}" if facts else None
