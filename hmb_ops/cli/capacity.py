"""`hmb-ops capacity`: sustainable load per tier, users supported; `capacity claims`: the seed's claims."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, emit_json, info, json_option, out, pass_ctx, table


@click.group(invoke_without_command=True)
@click.option("--tiers", default="small,default,high", show_default=True, metavar="A,B,...",
              help="Tiers to measure (hmb_ops/configs/tiers.yaml or --config), one stepped run each.")
@click.option("--plans", "plans", metavar="A,B,...",
              help="Hosting plans to measure instead of tiers (hmb_ops/configs/plans.yaml or --plans-file), each "
                   "under its CPUs and memory; adds cost per 1,000 users and the cheapest plan meeting the target. "
                   "List them with `capacity plans`.")
@click.option("--plans-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="YAML with your own plans (section plans), added to or replacing the shipped ones by name.")
@click.option("--slo", "slo", multiple=True, metavar="EXPR",
              help="SLO for the knee, e.g. 'p95<100ms' (repeatable; default: hmb_ops/configs/slo.yaml). "
                   "error_rate<1% is added when no error-rate check is given.")
@click.option("--users-model", type=click.Path(dir_okay=False), metavar="FILE",
              help="YAML users model (section users_model) overriding hmb_ops/configs/users.yaml.")
@click.option("--target-users", type=click.IntRange(1, 10**10), metavar="N",
              help="Registered users to size for (default: users_model.registered_users, 100000).")
@click.option("--requests-per-user-hour", type=float, metavar="R",
              help="Requests per registered user per hour, averaged over the day (default: implied by users.yaml).")
@click.option("--peak-factor", type=float, metavar="F",
              help="Peak-hour traffic over the day's average, 1..24 (default: users.yaml's peak-hour share × 24).")
@click.option("--profile", default="step", show_default=True, help="Stepped load profile to run.")
@click.option("--steps", metavar="N,N,...", help="User counts per step instead of the profile's, e.g. 10,20,40,80.")
@click.option("--step-seconds", type=float, metavar="S", help="Seconds per step with --steps (default 30).")
@click.option("--seed-scale", default=None, help="Data set the runs seed or reuse (default: small); with "
              "--results, the data set those runs had (default: what the results record).")
@click.option("--scenario", type=click.Path(dir_okay=False), metavar="FILE",
              help="Scenario file each step runs against the reference app capacity starts (default: the "
                   "reference app's own). For your own app: `loadtest --profile step --target URL --scenario "
                   "FILE`, then `capacity --results` (docs/scenarios.md).")
@click.option("--locustfile", type=click.Path(dir_okay=False), metavar="FILE",
              help="Your locustfile's User classes run each step against the reference app (docs/locustfiles.md).")
@click.option("--require-confinement", is_flag=True,
              help="Exit 3 instead of measuring a tier or plan whose limits cannot be emulated here exactly.")
@click.option("--no-confine", is_flag=True,
              help="Run the app without its tier's or plan's CPU and memory limits (the figure is then not the "
                   "plan's own).")
@click.option("--no-reset", is_flag=True,
              help="Keep what earlier runs wrote instead of starting each run from the seeded template.")
@click.option("--results", "results_files", multiple=True, type=click.Path(dir_okay=False), metavar="RESULTS.json",
              help="Analyse existing stepped results instead of running (repeatable; one per tier).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for results, capacity.json and capacity.png (default: under the state folder).")
@json_option
@pass_ctx
@click.pass_context
def capacity(click_ctx, ctx: Ctx, tiers, plans, plans_file, slo, users_model, target_users, requests_per_user_hour,
             peak_factor, profile, steps, step_seconds, seed_scale, scenario, locustfile, require_confinement,
             no_confine, no_reset, results_files, out_dir, as_json) -> None:
    """Find the knee per tier or hosting plan (highest step meeting the SLO), cross-check it with a
    Universal Scalability Law fit when the fit is good, and translate it into users supported,
    printing every assumption; with --plans, the cost per 1,000 users and the cheapest plan."""
    if click_ctx.invoked_subcommand is not None:
        _hand_over(click_ctx)
        return
    from hmb_ops.capacity import service
    from hmb_ops.errors import UsageError

    if plans is not None and click_ctx.get_parameter_source("tiers") == click.core.ParameterSource.COMMANDLINE:
        raise UsageError("--tiers and --plans are alternatives", hint="give the tiers or the plans to measure")
    report = service.capacity(tiers=tiers, plans=plans, plans_file=plans_file,
                              requests_per_user_hour=requests_per_user_hour, peak_factor=peak_factor, slo=slo,
                              users_model=users_model, target_users=target_users,
                              profile=profile, steps=steps, step_seconds=step_seconds, seed_scale=seed_scale,
                              results_files=results_files, out_dir=out_dir, state_dir=str(ctx.state_dir),
                              database_url=ctx.database_url, config_files=tuple(ctx.config_files),
                              progress=info, scenario=scenario, locustfile=locustfile, confine=not no_confine,
                              require_confinement=require_confinement, reset_data=not no_reset)
    if as_json:
        emit_json(report)
    else:
        from hmb_ops.report import render

        out(render("console", report).rstrip("\n"))
    failed = service.nothing_measured(report)
    if failed:
        from hmb_ops.errors import CheckFailed

        raise CheckFailed(failed)


def _hand_over(click_ctx) -> None:
    """Options given before a subcommand (`capacity --plans-file F plans`, which click accepts): the
    plans file goes to `capacity plans`; any other is refused (exit 2) instead of silently ignored."""
    given = [p for p in click_ctx.params
             if click_ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE]
    if click_ctx.invoked_subcommand == "plans" and "plans_file" in given:
        click_ctx.meta[_PLANS_FILE] = click_ctx.params["plans_file"]
        given.remove("plans_file")
    if given:
        from hmb_ops.errors import UsageError

        opt = "--" + given[0].replace("_", "-")
        raise UsageError(f"{opt} applies to `capacity` itself, not to `capacity {click_ctx.invoked_subcommand}`",
                         hint=f"put the subcommand's options after it: hmb-ops capacity "
                              f"{click_ctx.invoked_subcommand} --help")


_PLANS_FILE = "hmb_ops.capacity.plans_file"


@capacity.command("plans")
@click.option("--plans-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="YAML with your own plans (section plans), added to or replacing the shipped ones by name.")
@click.option("--kind", type=click.Choice(["web", "postgres", "all"]), default="all", show_default=True,
              help="Which plans to list.")
@json_option
@pass_ctx
def plans_command(ctx: Ctx, plans_file, kind, as_json) -> None:
    """List the hosting plans: CPUs, memory, price, max_connections, and each figure's source and date."""
    from hmb_ops.plans import load_plans
    from hmb_ops.resources import format_size

    plans_file = plans_file or click.get_current_context().meta.get(_PLANS_FILE)
    catalog = load_plans(tuple(ctx.config_files), plans_file)
    rows = [(n, p) for n, p in catalog.items() if kind == "all" or p.kind == kind]
    if as_json:
        emit_json({"plans": [p.to_dict(n) for n, p in rows]})
        return
    table("Hosting plans (prices are data: check the source before quoting)",
          ["plan", "provider", "kind", "CPUs", "memory", "$/month", "max conns", "checked on", "source"],
          [[n, p.provider, p.kind, f"{p.cpus:g}" if p.cpus is not None else "–",
            format_size(p.memory) if p.memory else "–",
            f"{p.price_usd_month:g}" if p.price_usd_month is not None else f"– ({p.price_note})",
            str(p.max_connections or (catalog[p.database].max_connections if p.database else "") or "–"),
            p.checked_on.isoformat(), p.source] for n, p in rows])


@capacity.command("claims")
@click.option("--only", default="workers,background,indexes", show_default=True, metavar="A,B",
              help="Which claims to measure: workers, background, indexes.")
@click.option("--tier", default="default", show_default=True, help="Tier the app runs with.")
@click.option("--users", type=int, default=24, show_default=True, help="Saturating users for the workers claim.")
@click.option("--post-users", type=int, default=4, show_default=True, help="Users creating posts (background claim).")
@click.option("--duration", type=float, default=20.0, show_default=True, help="Seconds per load run.")
@click.option("--notify-delay-ms", type=int, default=200, show_default=True,
              help="Simulated e-mail/push work per post (the app's NOTIFY_DELAY_MS).")
@click.option("--query-runs", type=int, default=30, show_default=True, help="Executions per query and variant.")
@click.option("--seed-scale", default="small", show_default=True, help="Data set to seed or reuse.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR", help="Folder for the runs.")
@json_option
@pass_ctx
def claims(ctx: Ctx, only, tier, users, post_users, duration, notify_delay_ms, query_runs, seed_scale, out_dir,
           as_json) -> None:
    """Measure the seed's claims (2x from 4 workers, 140x from background jobs, 10-50x from
    indexes) on the reference app and print claimed vs measured with the conditions."""
    from hmb_ops.capacity.claims import ClaimsRequest, run_claims

    req = ClaimsRequest(only=tuple(x.strip() for x in only.split(",") if x.strip()), tier=tier, users=users,
                        post_users=post_users, duration=duration, notify_delay_ms=notify_delay_ms,
                        query_runs=query_runs, seed_scale=seed_scale, out_dir=out_dir,
                        state_dir=str(ctx.state_dir), database_url=ctx.database_url,
                        config_files=tuple(ctx.config_files))
    report = run_claims(req, progress=info)
    if as_json:
        emit_json(report)
        return
    from hmb_ops.report import render

    out(render("console", report).rstrip("\n"))
