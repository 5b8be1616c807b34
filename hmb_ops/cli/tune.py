"""`hmb-ops tune`: generate Gunicorn + worker configs from one explained plan; detect, list tiers, check drift."""

from __future__ import annotations

import sys

import click

from hmb_ops.cli.common import Ctx, emit_json, info, json_option, out, pass_ctx, table
from hmb_ops.cli.tune_search import search_options


@click.group(invoke_without_command=True)
@click.option("--tier", metavar="NAME",
              help="Plan for a tier from hmb_ops/configs/tiers.yaml (or --config): small, default, high.")
@click.option("--plan", "hosting_plan", metavar="NAME",
              help="Plan for a hosting plan's CPUs, memory and database max_connections "
                   "(hmb_ops/configs/plans.yaml or --plans-file; list: hmb-ops capacity plans).")
@click.option("--plans-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="YAML with your own hosting plans (section plans), added to or replacing the shipped ones.")
@click.option("--cpus", metavar="N", help="Plan for a machine with N CPUs (fractions allowed: 0.5).")
@click.option("--memory", metavar="SIZE", help="Plan for a machine with this much memory (512MB, 2GB).")
@click.option("--app", default="hmb_ops.refapp.wsgi:app", show_default=True, metavar="MODULE:VAR",
              help="WSGI application the files start.")
@click.option("--worker-class", metavar="CLASS", help="Gunicorn worker class (gthread, sync, gevent, a dotted path).")
@click.option("--threads", type=int, metavar="N", help="Threads per gthread worker (default: the tier's, else 4).")
@click.option("--worker-memory", metavar="SIZE", help="Declared memory per worker (skips measuring).")
@click.option("--measure-memory/--no-measure-memory", default=None,
              help="Start the app with 1 worker under Gunicorn, warm it up and measure its RSS (default: on for "
                   "the reference app). Your app: from --chdir, warmed up by --scenario or --warmup-urls.")
@click.option("--chdir", "app_chdir", metavar="DIR",
              help="Your app's folder, as `gunicorn --chdir`: --check-config and --measure-memory import --app "
                   "from there (default: the current folder).")
@click.option("--pythonpath", "app_pythonpath", metavar="P[,P]",
              help="Folders added to sys.path, relative to --chdir, as `gunicorn --pythonpath`.")
@click.option("--scenario", "warmup_scenario", metavar="FILE",
              help="With --measure-memory: the scenario (docs/scenarios.md) one user runs before RSS is read.")
@click.option("--warmup-urls", "warmup_urls", metavar="FILE",
              help="With --measure-memory: paths to GET (one per line, 3 rounds) before RSS is read.")
@click.option("--max-connections", type=int, metavar="N",
              help="The database's max_connections (or PgBouncer's pool) to budget against.")
@click.option("--live-db", is_flag=True,
              help="Read max_connections from the database (starts the embedded one if none is configured).")
@click.option("--pool-max", type=int, metavar="N",
              help="Database pool max per worker (default: threads + 1; ASGI worker classes: the async pool's).")
@click.option("--async-pool", "pool_library", type=click.Choice(["sqlalchemy", "asyncpg"]), default=None,
              help="The app's own database pool, for its connection budget (default with an ASGI worker class: "
                   "sqlalchemy).")
@click.option("--pool-size", type=int, metavar="N", help="SQLAlchemy pool_size per worker (default 5).")
@click.option("--max-overflow", type=int, metavar="N", help="SQLAlchemy max_overflow per worker (default 10).")
@click.option("--asyncpg-max-size", type=int, metavar="N", help="asyncpg create_pool max_size per worker (default 10).")
@click.option("--pgbouncer/--no-pgbouncer", default=None,
              help="Plan PgBouncer in front of the database and write pgbouncer.ini + a userlist.txt template "
                   "(default: only when the connections do not fit max_connections).")
@click.option("--pool-mode", metavar="MODE", help="PgBouncer pool mode: transaction (default), session or statement.")
@click.option("--pgbouncer-listen", metavar="ADDR", help="PgBouncer's listen_addr (default 127.0.0.1).")
@click.option("--background-workers", type=int, metavar="N",
              help="BACKGROUND_WORKERS (default: the tier's, else 2 × CPUs).")
@click.option("--preload/--no-preload", default=None,
              help="Declare that the app opens no pools/threads at import (--preload) or that it does.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write gunicorn.conf.py, hmb-ops.env, Procfile and render.yaml here, and pgbouncer.ini + "
                   "userlist.txt when PgBouncer is planned (validated first).")
@click.option("--merge", is_flag=True,
              help="With --out: change only hmb-ops's keys in your own files (Procfile web line, the web "
                   "service's startCommand and envVars in render.yaml, the env file's variables); keep the rest. "
                   "Your own Gunicorn config (-c FILE, else ./gunicorn.conf.py) runs first, then the plan's values; "
                   "each setting the plan overrides is listed.")
@click.option("--force", is_flag=True,
              help="With --out: replace files hmb-ops did not write, after copying each to FILE.bak-TIMESTAMP.")
@click.option("--service", metavar="NAME",
              help="With --merge: the render.yaml service to tune "
                   "(default: the one whose startCommand runs gunicorn/uvicorn).")
@click.option("--explain", is_flag=True, help="Show each value with its formula and binding constraint.")
@click.option("--no-check-config", is_flag=True, help="With --out: skip running `gunicorn --check-config`.")
@search_options
@json_option
@pass_ctx
@click.pass_context
def tune(cctx, ctx: Ctx, tier, hosting_plan, plans_file, cpus, memory, app, worker_class, threads, worker_memory,
         measure_memory,
         max_connections, live_db, pool_max, pool_library, pool_size, max_overflow, asyncpg_max_size, pgbouncer,
         pool_mode, pgbouncer_listen, background_workers, preload, out_dir, merge, force, service,
         explain, no_check_config, as_json, **app_where):
    """Generate Gunicorn, env, Procfile and render.yaml from one plan for a tier or machine.

    Without --tier / --cpus / --memory it plans for this machine (see `tune detect`). Without --out
    it prints the files. With --out, a file there that hmb-ops did not write (no generated-by
    header) is never overwritten silently: tune refuses (exit 2, with a diff, nothing written)
    unless --merge or --force is given. Exit 2 on bad input or when the database connection
    budget is exceeded.
    """
    if cctx.invoked_subcommand is not None:
        return
    from hmb_ops.errors import EnvironmentUnusable, UsageError
    from hmb_ops.tune.api import apply_deploy, plan_for, prepare_deploy, render_files
    from hmb_ops.tune.plan import REFAPP

    if merge and force:
        raise UsageError("--merge and --force are alternatives",
                         hint="--merge keeps your files and changes hmb-ops's keys; "
                              "--force replaces them after a backup")
    if (merge or force) and not out_dir:
        raise UsageError(f"{'--merge' if merge else '--force'} needs --out DIR")
    if service is not None and not merge:
        raise UsageError("--service picks the render.yaml service for --merge", hint="add --merge")
    if merge:
        app, worker_class, preload = _keep_users_app(
            out_dir, service, app, worker_class, preload,
            keep_app=cctx.get_parameter_source("app") != click.core.ParameterSource.COMMANDLINE)

    from hmb_ops.db.resolve import configured_url

    # Only a configured database is read; the embedded one is started just for --live-db.
    configured = configured_url(ctx.database_url)
    database_url = ctx.database().url if live_db else (configured[0] if configured else None)
    implicit = measure_memory is None
    if implicit:
        measure_memory = app == REFAPP and worker_memory is None
    from hmb_ops.cli import tune_search

    search_opts = tune_search.pop_search(app_where)  # the --search options (hmb_ops/cli/tune_search.py)
    tune_search.check_search_options(search_opts)
    search_scenario = app_where.get("warmup_scenario")
    if search_opts.get("search") and not measure_memory:
        app_where["warmup_scenario"] = None  # --scenario is the search's traffic, not a warm-up
    location, measure_with = _user_app(app, measure_memory, database_url, **app_where)
    config_files = tuple(ctx.config_files)
    conns_source = None
    if hosting_plan is not None:
        import shutil
        import tempfile
        from pathlib import Path

        from hmb_ops.plans import tune_args_for_plan

        if tier is not None or cpus is not None or memory is not None:
            raise UsageError("--plan and --tier/--cpus/--memory are alternatives", hint="give one of them")
        # The plan becomes a tier of its own (its CPUs and memory) in a generated config file.
        folder = Path(tempfile.mkdtemp(prefix="hmb-plan-"))
        cctx.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
        tier, config_files, plan_conns, conns_from = tune_args_for_plan(hosting_plan, config_files, plans_file,
                                                                        folder)
        if max_connections is None and not live_db:
            max_connections, conns_source = plan_conns, conns_from
    elif plans_file:
        raise UsageError("--plans-file adds plans for --plan", hint="add --plan NAME")
    kwargs = dict(tier=tier, cpus=cpus, memory=memory, config_files=config_files, app=app,
                  worker_class=worker_class, database_url=database_url, threads=threads,
                  worker_memory=worker_memory, max_connections=max_connections, pool_max=pool_max,
                  background_workers=background_workers, preload=preload, database_required=live_db,
                  pool_library=pool_library, pool_size=pool_size, max_overflow=max_overflow,
                  asyncpg_max_size=asyncpg_max_size,
                  pgbouncer=_pgbouncer_wanted(pgbouncer, pool_mode, pgbouncer_listen),
                  pool_mode=pool_mode, pgbouncer_listen=pgbouncer_listen, max_connections_source=conns_source)
    try:
        plan = plan_for(measure_memory=measure_memory, measure_with=measure_with, **kwargs)
    except EnvironmentUnusable as exc:
        if not (implicit and measure_memory):
            raise
        # Measuring was our idea, not the user's: fall back to the estimate and say so.
        info(f"warning: could not measure worker memory ({exc.one_line()}); using the estimate")
        plan = plan_for(measure_memory=False, **kwargs)
    if hosting_plan is not None:
        import dataclasses

        # Regenerate with --plan NAME, not with the tier the plan ran as.
        again = ("--plan", hosting_plan, *(("--plans-file", plans_file) if plans_file else ()))
        plan = dataclasses.replace(plan, regenerate_flags=(*again, *plan.regenerate_flags))
    search_doc = None
    if search_opts.get("search"):
        plan, search_doc = tune_search.run(ctx, plan, kwargs, search_opts, scenario=search_scenario)
    written, notes, deploy = [], [], None
    if out_dir:
        deploy = prepare_deploy(plan, out_dir, mode="merge" if merge else "force" if force else "refuse",
                                service=service)
        files = deploy.rendered
        if not deploy.refused:
            notes = _validate(files, app, not no_check_config, location, plan.values.get("worker_class"))
            written = [str(p) for p in apply_deploy(deploy)]
    else:
        files = render_files(plan)
    if as_json:
        emit_json({**plan.to_dict(), "files": files if not out_dir else None, "written": written,
                   "validation": notes, "deploy": deploy.to_dict() if deploy else None,
                   **({"search": search_doc.model_dump(mode="json")} if search_doc is not None else {})})
    elif deploy is not None:
        _show_deploy(deploy)
    if deploy is not None and deploy.refused:
        from hmb_ops.tune.deploy import refusal_error

        raise refusal_error(deploy)
    if as_json:
        return
    for w in plan.warnings:
        info(f"warning: {w}")
    if explain:
        table(f"tune plan ({'tier ' + plan.tier if plan.tier else 'resources'}: {plan.resources.cpus:g} CPU "
              f"({plan.resources.cpus_source}), {plan.resources.to_dict()['memory']} ({plan.resources.memory_source}))",
              ["setting", "value", "formula", "binding constraint"],
              [[i.name, i.value, i.formula, i.binding] for i in plan.items])
        db = plan.budgets["db_connections"]
        mem = plan.budgets["memory"]
        info(f"database connections: peak {db['peak_during_deploy']} of budget {db['budget']} "
             f"({db['formula']}; max_connections {db['max_connections']}: {db['source']})")
        info(f"memory: {mem['planned_bytes'] // 2**20} MiB planned of {mem['usable_bytes'] // 2**20} MiB usable "
             f"(worker: {mem['worker_source']})")
        if plan.pgbouncer is not None:
            pb = plan.pgbouncer
            table(f"PgBouncer ({pb.pool_mode} mode, {pb.listen_addr}:{pb.listen_port})",
                  ["setting", "value", "formula", "binding constraint"],
                  [[i.name, i.value, i.formula, i.binding] for i in pb.items])
            for line in pb.app_settings:
                info(f"app setting: {line}")
    if out_dir:
        for n in notes:
            info(n)
        for p in written:
            out(p)
    elif not explain:
        for name, text in files.items():
            out(f"==> {name} <==")
            sys.stdout.write(text)
            out()


def _pgbouncer_wanted(pgbouncer, pool_mode, listen):
    """--pool-mode or --pgbouncer-listen ask for PgBouncer too; with --no-pgbouncer they make no sense."""
    from hmb_ops.errors import UsageError

    if pgbouncer is False and (pool_mode or listen):
        raise UsageError(f"{'--pool-mode' if pool_mode else '--pgbouncer-listen'} configures PgBouncer, "
                         "but --no-pgbouncer was given", hint="drop one of them")
    if pool_mode or listen:
        return True
    return pgbouncer


def _user_app(app, measure_memory, database_url, *, app_chdir=None, app_pythonpath=None, warmup_scenario=None,
              warmup_urls=None):
    """Where the user's app is imported from (--chdir/--pythonpath) and how a measurement warms it up."""
    from hmb_ops.errors import UsageError
    from hmb_ops.tune.plan import REFAPP
    from hmb_ops.tune.user_app import resolve_location

    location = resolve_location(app_chdir, app_pythonpath) if (app_chdir or app_pythonpath or app != REFAPP) else None
    if warmup_scenario and warmup_urls:
        raise UsageError("--scenario and --warmup-urls are alternatives", hint="give one warm-up")
    if (warmup_scenario or warmup_urls) and not measure_memory:
        raise UsageError(f"{'--scenario' if warmup_scenario else '--warmup-urls'} is the warm-up of --measure-memory",
                         hint="add --measure-memory")
    if not measure_memory:
        return location, None
    from hmb_ops.tune.measure import Warmup, read_url_list, url_warmup

    warmup = None
    if warmup_urls:
        warmup = url_warmup(read_url_list(warmup_urls), source=warmup_urls)
    elif warmup_scenario or (app == REFAPP and database_url):
        # The reference app's default warm-up is its reference scenario: login, feeds, writes (the database).
        from hmb_ops.loadtest.warmup import scenario_warmup

        warmup = Warmup(*scenario_warmup(warmup_scenario))
    return location, {"location": location, "warmup": warmup}


def _validate(files, app, run_check_config, location, worker_class=None):
    """Static checks of the rendered config; `gunicorn --check-config` with the app imported from its folder."""
    from hmb_ops.tune.plan import REFAPP
    from hmb_ops.tune.validate import validate_rendered

    if location is None or app == REFAPP or not run_check_config:
        return validate_rendered(files, app, run_check_config=run_check_config)
    from hmb_ops.tune.user_app import check_config, import_problem

    notes = validate_rendered(files, app, run_check_config=False)
    module = app.split(":", 1)[0].split(".")[0]
    if not location.explicit and (problem := import_problem(app, location)) is not None \
            and problem.startswith(f"ModuleNotFoundError: No module named '{module}'"):
        # Not in the current folder and no --chdir: nothing says where the app lives.
        notes.append(f"gunicorn --check-config skipped: {module} is not importable from {location.chdir}; "
                     "give --chdir DIR (and --pythonpath) to check it")
        return notes
    notes.append(check_config(files["gunicorn.conf.py"], app, location, worker_class=worker_class))
    notes.append(f"{app} imported from {location.chdir}"
                 + (f" with --pythonpath {','.join(map(str, location.pythonpath))}" if location.pythonpath else ""))
    return notes


def _keep_users_app(out_dir, service, app, worker_class, preload, *, keep_app=True):
    """--merge keeps the app (and worker class) the user's own deploy files start, and their --preload."""
    from hmb_ops.errors import UsageError
    from hmb_ops.tune.api import existing_web
    from hmb_ops.tune.validate import worker_class_problem

    found = existing_web(out_dir, service=service, keep_app=keep_app)
    if preload is None and found.preload_source:
        # Their web command preloads the app: that is their word that it is safe to (the plan then
        # agrees with the --preload kept on the merged line).
        info(f"keeping your --preload (from {found.preload_source}); --no-preload replaces it")
        preload = True
    if not keep_app or found.app is None:
        return app, worker_class, preload
    info(f"keeping your app {found.app} (from {found.source}); --app replaces it")
    if worker_class is None and found.worker_class:
        problem = worker_class_problem(found.worker_class)
        if problem:
            raise UsageError(f"{found.source} uses {problem}",
                             hint="choose the worker class to write with --worker-class")
        worker_class = found.worker_class
    return found.app, worker_class, preload


def _show_deploy(deploy) -> None:
    """Each file's fate on stderr; a diff for every change to a file that is the user's; with --merge,
    the user's config run first, each of their settings the plan replaces and the flags kept."""
    from hmb_ops.tune.deploy import mask_secrets

    for w in deploy.writes:
        if deploy.refused and w.action != "refuse":
            continue  # nothing at all is written when a file is refused
        path = deploy.out_dir / w.name
        what = {"create": "created", "regenerate": "regenerated (hmb-ops's own)", "unchanged": "unchanged",
                "merge": "merged (only hmb-ops's keys changed)",
                "overwrite": f"replaced; your file was copied to {w.backup}",
                "refuse": ("REFUSED: not written by hmb-ops (no generated-by header); "
                           "it would change like this:")}[w.action]
        info(f"{path}: {what}")
        if w.action in ("refuse", "merge", "overwrite") and w.diff:
            # FileWrite.diff is masked: secrets in the user's files are shown as ***.
            sys.stderr.write(w.diff if w.diff.endswith("\n") else w.diff + "\n")
            sys.stderr.flush()
    if deploy.refused:
        return
    conf = next((w.name for w in deploy.writes if w.name.endswith(".py")), "gunicorn.conf.py")
    if deploy.chain:
        info(f"{deploy.out_dir / conf}: runs your {deploy.chain} first, then sets the plan's values")
    for o in deploy.overrides:
        info(f"overridden by the plan: {o.line()}")
    for source, words in deploy.kept:
        info(mask_secrets(f"kept on {source}: {' '.join(words)}"))
    for source, words in deploy.moved:
        info(mask_secrets(f"set by the plan's config instead (same value), from {source}: {' '.join(words)}"))
    for note in deploy.left:
        info(mask_secrets(f"not changed: {note}"))


@tune.command()
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Read /proc and /sys/fs/cgroup under DIR (a container image or a test tree).")
@json_option
def detect(root, as_json):
    """Show the CPUs and memory this process may use, and where each number came from."""
    from hmb_ops.resources import detect as detect_resources

    res = detect_resources(root)
    if as_json:
        emit_json(res.to_dict())
        return
    d = res.to_dict()
    out(f"cpus:    {res.cpus:g}  ({res.cpus_source})")
    out(f"memory:  {d['memory']}  ({res.memory_source})")
    table("readings", ["kind", "value", "source"],
          [[c.kind, "no limit" if c.value is None else c.value, c.source] for c in res.candidates])


@tune.command()
@json_option
@pass_ctx
def tiers(ctx: Ctx, as_json):
    """List the resource tiers (shipped hmb_ops/configs/tiers.yaml plus --config files)."""
    from hmb_ops.tune.tiers import load_tiers

    all_tiers = load_tiers(ctx.config_files)
    rows = [t.to_dict(name) for name, t in all_tiers.items()]
    if as_json:
        emit_json({"tiers": rows})
        return
    table("tiers", ["name", "cpus", "memory", "workers", "threads", "background", "description"],
          [[r["name"], f"{r['cpus']:g}", r["memory"], r["workers"] or "computed", r["threads"] or "default",
            r["background_workers"], r["description"]] for r in rows])


@tune.command()
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--max-connections", type=click.IntRange(1), metavar="N",
              help="The database's max_connections for the budget check (default: assume 100).")
@click.option("--memory", metavar="SIZE", help="Machine memory, to check workers × worker memory against.")
@click.option("--worker-memory", metavar="SIZE",
              help="Memory per worker for the memory check (default estimate 128 MiB).")
@click.option("--timeout", type=click.FloatRange(1, 120), default=10, show_default=True,
              help="Seconds allowed to evaluate gunicorn.conf.py.")
@json_option
def check(directory, max_connections, memory, worker_memory, timeout, as_json):
    """Report drift between the deploy files in DIR: gunicorn.conf.py, Procfile, render.yaml,
    railway.json/toml, nixpacks.toml, fly.toml, app.json, Dockerfile, docker-compose.yml, env files.

    Each start command is parsed as Gunicorn or Uvicorn parses it; every disagreement is shown with
    the file:line of both values.

    Exit 0 when they agree and fit the budgets, 1 when anything is found, 2 on unusable input.
    """
    from hmb_ops.errors import CheckFailed
    from hmb_ops.resources import parse_size
    from hmb_ops.tune.check import check_directory

    report = check_directory(directory, max_connections=max_connections,
                             memory_bytes=parse_size(memory, what="--memory") if memory else None,
                             worker_memory_bytes=(parse_size(worker_memory, what="--worker-memory")
                                                  if worker_memory else None),
                             timeout=timeout)
    if as_json:
        emit_json(report)
    else:
        table(f"effective settings in {directory}", ["surface", "app", "workers", "threads", "worker_class",
                                                     "preload", "timeout"],
              [[s.name, s.settings.get("app"), s.settings.get("workers"), s.settings.get("threads"),
                s.settings.get("worker_class"), s.settings.get("preload_app"), s.settings.get("timeout")]
               for s in report.surfaces])
        for s in report.surfaces:
            for key, var in s.unknown.items():
                out(f"unknown: {s.name} ({s.where}): {key} uses {var}, which no file here sets")
        for name in report.not_checked:
            out(f"not checked (not the web process): {name}")
        for f in report.findings:
            out(f"{f.kind}: {f.message}")
        unknown = sum(len(s.unknown) for s in report.surfaces)
        if not report.surfaces:
            out(f"nothing checked: no web start command (Gunicorn or Uvicorn) in {', '.join(report.files)}")
        elif report.ok and unknown:
            out(f"no drift, within budget; {unknown} setting(s) unknown (above), so not compared")
        elif report.ok:
            out("no drift, no unknown settings, within budget")
    if not report.ok:
        raise CheckFailed(f"tune check found {len(report.findings)} problem(s) in {directory}")
