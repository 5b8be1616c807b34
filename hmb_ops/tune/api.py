"""The tune entry points other areas call (app serve --tier, load runs, capacity).

    plan = plan_for(tier="default")
    files = write_files(plan, out_dir)
    GunicornProcess(url, config_file=out_dir / "gunicorn.conf.py", env=tier_environment(plan))

(hmb_ops.stack.app.tier_config does exactly this for the reference environment.)
"""

from __future__ import annotations

import os
from pathlib import Path

from hmb_ops.errors import ConfigError, DatabaseUnavailable, UsageError
from hmb_ops.resources import Resources, declared, detect, parse_cpus, parse_size
from hmb_ops.tune.plan import REFAPP, AppProfile, TunePlan
from hmb_ops.tune.pools import check_request as check_pool_request
from hmb_ops.tune.recommend import recommend
from hmb_ops.tune.render import render_all, tier_environment as _tier_environment
from hmb_ops.tune.tiers import get_tier
from hmb_ops.tune.validate import check_app_name, check_worker_class

# A worker idling on /health has no pool connections, request buffers or caches yet.
MEASURED_GROWTH = 1.5
# The app's side of PgBouncer when first planned: client connections cost PgBouncer a file
# descriptor each, not a PostgreSQL backend, so only CPU and memory bound the workers.
PGBOUNCER_CLIENT_CEILING = 100_000


def plan_for(*, tier: str | None = None, cpus: float | None = None, memory: str | int | None = None,
             config_files: tuple[str, ...] = (), app: str = REFAPP,
             worker_class: str | None = None, database_url: str | None = None,
             measure_memory: bool = False, threads: int | None = None,
             measure_with: dict | None = None,
             worker_memory: str | int | None = None, max_connections: int | None = None,
             pool_max: int | None = None, pool_min: int | None = None,
             background_workers: int | None = None, preload: bool | None = None,
             root: str | os.PathLike = "/", database_required: bool = False,
             pool_library: str | None = None, pool_size: int | None = None, max_overflow: int | None = None,
             asyncpg_max_size: int | None = None, pgbouncer: bool | None = False,
             pool_mode: str | None = None, pgbouncer_listen: str | None = None,
             max_connections_source: str | None = None) -> TunePlan:
    """A plan for a tier, a declared machine (cpus/memory) or this machine (detected).

    max_connections: declared value wins; else read from ``database_url`` when it answers (when
    ``database_required`` an unreachable database is an error); else PostgreSQL's default is assumed
    and a fixed tier that would exceed it only warns.

    pgbouncer: True plans PgBouncer in front of the database (pgbouncer.ini among the files); None
    does so only when the plan's connections do not fit max_connections; False never.
    """
    if pgbouncer is not False or pool_mode is not None:
        from hmb_ops.tune.pgbouncer import check_pool_mode

        check_pool_mode(pool_mode)
    if tier is not None and (cpus is not None or memory is not None):
        raise UsageError("--tier and --cpus/--memory are alternatives", hint="give a tier or a machine, not both")
    check_app_name(app)
    if worker_class is not None:
        check_worker_class(worker_class)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    if max_connections is not None and max_connections < 1:
        raise UsageError(f"--max-connections must be at least 1, got {max_connections}")
    if pool_max is not None and pool_max < 1:
        raise UsageError(f"--pool-max must be at least 1, got {pool_max}")
    if pool_min is not None and pool_min < 0:
        raise UsageError(f"--pool-min must be 0 or more, got {pool_min}")
    if background_workers is not None and background_workers < 0:
        raise UsageError(f"--background-workers must be 0 or more, got {background_workers}")

    tier_obj = None
    if tier is not None:
        tier_obj = get_tier(tier, config_files)
        if tier_obj.worker_class and worker_class is None:
            check_worker_class(tier_obj.worker_class)
        resources: Resources = declared(tier_obj.cpus, tier_obj.memory, source=f"tier {tier}")
    elif cpus is not None or memory is not None:
        c = parse_cpus(cpus, what="--cpus") if cpus is not None else None
        m = parse_size(memory, what="--memory") if memory is not None else None
        base = None if (c is not None and m is not None) else detect(root)
        resources = declared(c, m, base=base, source="declared")
    else:
        resources = detect(root)

    worker_bytes = master_bytes = None
    worker_source = ""
    if worker_memory is not None:
        worker_bytes = parse_size(worker_memory, what="--worker-memory")
        worker_source = f"declared --worker-memory {worker_memory}"
    elif measure_memory:
        from hmb_ops.tune.measure import worker_memory as measure

        # measure_with: location (--chdir/--pythonpath) and warm-up (hmb_ops.tune.measure.Warmup).
        rss, master_bytes, measured = measure(app=app, database_url=database_url,
                                              worker_class=worker_class, **(measure_with or {}))
        worker_bytes = int(rss * MEASURED_GROWTH)
        worker_source = f"{measured} × {MEASURED_GROWTH:g} growth allowance under load"

    conn_source = ""
    if max_connections is not None:
        conn_source = max_connections_source or f"declared --max-connections {max_connections}"
    elif database_url:
        from hmb_ops.db import dsn
        from hmb_ops.tune.measure import max_connections as read_max

        try:
            max_connections = read_max(database_url)
            conn_source = f"live: SHOW max_connections on {dsn.mask(database_url)}"
        except DatabaseUnavailable:
            if database_required:
                raise
    profile = AppProfile(app=app, worker_class=worker_class, threads=threads,
                         worker_memory_bytes=worker_bytes, worker_memory_source=worker_source,
                         master_memory_bytes=master_bytes, opens_db_at_import=None if preload is None else not preload,
                         pool_min=pool_min, pool_max=pool_max, max_connections=max_connections,
                         max_connections_source=conn_source, background_workers=background_workers,
                         pool_library=pool_library, pool_size=pool_size, max_overflow=max_overflow,
                         asyncpg_max_size=asyncpg_max_size)
    check_pool_request(profile.pool)
    if pgbouncer is True:
        return _through_pgbouncer(resources, profile, tier_obj, tier, pool_mode, pgbouncer_listen, database_url,
                                  reason="requested with --pgbouncer")
    try:
        return recommend(resources, profile, tier=tier_obj, tier_name=tier)
    except ConfigError as exc:
        if pgbouncer is None and exc.message.startswith("database connections over budget"):
            return _through_pgbouncer(resources, profile, tier_obj, tier, pool_mode, pgbouncer_listen, database_url,
                                      reason=f"without PgBouncer: {exc.message}")
        raise


def _through_pgbouncer(resources, profile: AppProfile, tier_obj, tier: str | None, pool_mode, listen,
                       database_url, *, reason: str) -> TunePlan:
    """The plan with the app's connections going to PgBouncer and PgBouncer sized for the database.

    The app's connections are PgBouncer's clients: the app is planned as if unbounded by the
    database (CPU and memory decide), max_client_conn is sized from that plan's peak, and the plan is
    made again against that client limit so its budget lines say what PgBouncer accepts.
    """
    import dataclasses

    from hmb_ops.tune.budget import connection_budget
    from hmb_ops.tune.pgbouncer import DEFAULT_LISTEN, check_pool_mode, client_max_connections, plan_pgbouncer

    server_max = profile.max_connections
    server_source = profile.max_connections_source or "assumed PostgreSQL default (declare --max-connections)"
    unbounded = dataclasses.replace(profile, max_connections=PGBOUNCER_CLIENT_CEILING,
                                    max_connections_source="PgBouncer's clients")
    try:
        first = recommend(resources, unbounded, tier=tier_obj, tier_name=tier)
    except ConfigError as exc:
        if not exc.message.startswith("database connections over budget"):
            raise
        # Not the database's max_connections but PgBouncer's own ceiling: say so, and do not advise PgBouncer.
        raise ConfigError(f"even behind PgBouncer the app needs too many connections: "
                          f"{exc.message.replace('max_connections', 'PgBouncer clients', 1)}",
                          hint="use fewer threads or a smaller pool (--pool-max)") from None
    peak = first.budgets["db_connections"]["peak_during_deploy"]
    max_client = client_max_connections(peak)
    while connection_budget(max_client).budget < peak:  # float rounding in ⌊0.8 × n⌋
        max_client += 1
    pooled = dataclasses.replace(
        profile, max_connections=max_client,
        max_connections_source=f"PgBouncer's max_client_conn {max_client}, sized from this plan")
    plan = recommend(resources, pooled, tier=tier_obj, tier_name=tier)
    pb = plan_pgbouncer(peak_clients=peak, per_release_clients=plan.budgets["db_connections"]["per_release"],
                        server_max_connections=server_max, server_source=server_source, pool_mode=pool_mode,
                        listen_addr=listen or DEFAULT_LISTEN, gunicorn_timeout=int(plan.values["timeout"]),
                        statement_timeout_ms=profile.statement_timeout_ms, database_url=database_url,
                        reason=reason)
    flags = ["--pgbouncer"] + (["--pool-mode", check_pool_mode(pool_mode)] if pool_mode else [])
    flags += ["--pgbouncer-listen", listen] if listen and listen != DEFAULT_LISTEN else []
    if server_max is not None and not profile.max_connections_source.startswith("live"):
        flags += ["--max-connections", str(server_max)]
    notes = ((f"PgBouncer planned ({reason}): the app's {peak} connections at peak go to PgBouncer, the database "
             f"sees at most {pb.values['max_db_connections']}"),)
    return dataclasses.replace(plan, pgbouncer=pb, warnings=plan.warnings + notes + pb.warnings,
                               regenerate_flags=plan.regenerate_flags + tuple(flags))


def render_files(plan: TunePlan) -> dict[str, str]:
    return render_all(plan)


def tier_environment(plan: TunePlan) -> dict[str, str]:
    return _tier_environment(plan)


def write_files(plan: TunePlan, out_dir, *, mode: str = "refuse", service: str | None = None) -> list[Path]:
    """Write the rendered files; each lands whole (temp file + rename) or not at all.

    A file at one of tune's names that hmb-ops did not write (no generated-by header) is refused
    (UsageError, nothing written), merged (mode="merge") or backed up and replaced (mode="force"):
    see hmb_ops.tune.deploy.
    """
    return apply_deploy(prepare_deploy(plan, out_dir, mode=mode, service=service))


def prepare_deploy(plan: TunePlan, out_dir, *, mode: str = "refuse", service: str | None = None):
    """What writing into out_dir would do to each file (create, regenerate, merge, overwrite, refuse)."""
    from hmb_ops.tune import deploy

    prepared = deploy.prepare(plan, out_dir, mode=mode, service=service)
    if plan.pgbouncer is None:
        return prepared
    from hmb_ops.tune.pgbouncer import owned_writes

    return owned_writes(prepared)


def apply_deploy(prepared) -> list[Path]:
    from hmb_ops.tune import deploy

    return deploy.apply(prepared)


def existing_web(out_dir, *, service: str | None = None, keep_app: bool = True):
    """The app and worker class the user's own deploy files start (for --merge); keep_app=False: --app
    named it, so files starting different apps are not an error."""
    from hmb_ops.tune import deploy

    return deploy.existing_web(out_dir, service=service, keep_app=keep_app)
