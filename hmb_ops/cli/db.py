"""`hmb-ops db`: the embedded PostgreSQL default (up, down, status, url) and reference data."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, console as _console, emit_json, info, json_option, out, pass_ctx
from hmb_ops.errors import ExitStatus


@click.group()
def db():
    """Manage the database hmb-ops works on.

    Without --database-url / DATABASE_URL, commands use an embedded PostgreSQL server kept in the
    state folder (.hmb-ops/ by default). `db up` starts it, `db down` stops it.
    """


@db.command()
@json_option
@pass_ctx
def up(ctx: Ctx, as_json: bool):
    """Start the embedded PostgreSQL server (idempotent) and print its masked URL."""
    from hmb_ops.db.dsn import mask
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(ctx.state_dir)
    status, started = server.up()
    url = status.url or ""  # a running server's URL: empty only if its files vanished meanwhile
    if as_json:
        emit_json({"running": True, "started": started, "url": mask(url), "data_dir": status.data_dir})
        return
    info("started the embedded PostgreSQL" if started else "the embedded PostgreSQL is already running")
    out(mask(url))


@db.command()
@json_option
@pass_ctx
def down(ctx: Ctx, as_json: bool):
    """Stop the embedded PostgreSQL server (idempotent)."""
    from hmb_ops.db.embedded import EmbeddedServer

    stopped = EmbeddedServer(ctx.state_dir).down()
    if as_json:
        emit_json({"running": False, "stopped": stopped})
        return
    info("stopped the embedded PostgreSQL" if stopped else "the embedded PostgreSQL was not running")


@db.command()
@json_option
@pass_ctx
def status(ctx: Ctx, as_json: bool):
    """Report whether the database runs, its version, URL (masked) and data size.

    With --database-url / DATABASE_URL it reports on that server; otherwise on the embedded one.
    Exits 0 when the server answers and 3 when it does not (the report is printed either way),
    so `hmb-ops db status || hmb-ops db up` works in scripts.
    """
    from hmb_ops.db.status import database_status

    report = database_status(ctx.database_url, ctx.state_dir)
    if as_json:
        emit_json(report)
    else:
        _print_status(report)
    if not report["running"]:
        raise click.exceptions.Exit(ExitStatus.ENVIRONMENT)


def _print_status(report: dict) -> None:
    out(f"running:  {'yes' if report['running'] else 'no'}")
    out(f"source:   {report['source']}")
    out(f"url:      {report['url'] or '-'}")
    out(f"version:  {report['version'] or '-'}")
    size = report.get("data_size_bytes")
    out(f"size:     {f'{size / 1e6:.1f} MB' if size is not None else '-'}")
    owned = report.get("ownership")
    if owned:
        foreign = owned["colliding"] + owned["foreign"]
        out(f"hmb-ops:  {len(owned['owned'])} table(s) of its own in schema {owned['schema']}, seed "
            f"{owned['seed_state'] or 'none'}")
        out(f"foreign:  {', '.join(foreign) if foreign else '-'}")
        for name, why in (owned.get("unverified") or {}).items():  # claimed as hmb-ops's, not believed
            out(f"why:      {name}: {why}")
    if report.get("error"):
        out(f"error:    {report['error']}")


@db.command()
@pass_ctx
def url(ctx: Ctx):
    """Print a usable database URL (with its password), e.g. export DATABASE_URL=$(hmb-ops db url).

    Starts the embedded server when no URL is configured.
    """
    out(ctx.database().url)


@db.command()
@json_option
@pass_ctx
def init(ctx: Ctx, as_json: bool):
    """Create the reference schema's missing tables (idempotent; PK/FK only, no secondary indexes).

    Exit 3 when the database cannot be reached.
    """
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import TABLES, create_schema

    database = ctx.database()
    with connection(database.url) as conn:
        created = create_schema(conn)
    if as_json:
        emit_json({"url": database.masked, "created": created, "tables": list(TABLES)})
        return
    info(f"created {len(created)} table(s): {', '.join(created)}" if created
         else f"schema already complete ({len(TABLES)} tables)")
    out(database.masked)


@db.command()
@click.option("--scale", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True,
              help="About 1K / 100K / 1M users, every other table in proportion.")
@click.option("--seed", "seed_value", type=click.IntRange(0, 2**31 - 1), default=42, show_default=True,
              help="Random seed: the same seed gives the same rows.")
@click.option("--password", default="hmb-ops-demo", show_default=True,
              help="Password of every seeded user (user<i>@example.test).")
@click.option("--hash-rounds", type=click.IntRange(4, 16), default=10, show_default=True,
              help="bcrypt cost of the stored hashes (work doubles per step): 10 is the reference app's "
                   "realistic cost, 4 is 64 times cheaper for load tests that should not measure hashing.")
@click.option("--reset", is_flag=True,
              help="Replace reference data hmb-ops loaded before (drops and recreates only the tables hmb-ops "
                   "created, listed first; never with CASCADE).")
@click.option("--drop-foreign", "drop_foreign", multiple=True, metavar="TABLE[,TABLE...]",
              help="Also drop these tables or views that hmb-ops did not create (e.g. a user's own `users` "
                   "that blocks the reference schema). Only the named ones; refused when anything else "
                   "depends on them.")
@click.option("--allow-foreign-tables", is_flag=True,
              help="Share the database with tables hmb-ops did not create: they are left untouched, and "
                   "loadtest and capacity accept the database from then on (recorded in it).")
@click.option("--dry-run", is_flag=True, help="Show what would be dropped and loaded; change nothing.")
@json_option
@pass_ctx
def seed(ctx: Ctx, scale: str, seed_value: int, password: str, hash_rounds: int, reset: bool,
         drop_foreign: tuple[str, ...], allow_foreign_tables: bool, dry_run: bool, as_json: bool):
    """Load realistic, deterministic reference data with COPY (creates the schema when missing).

    hmb-ops only drops and rewrites tables it created (recorded in the database). A database
    holding tables it did not create is refused with exit 2 and their names, unless they are named
    with --drop-foreign or shared with --allow-foreign-tables. A seed that was interrupted is
    repaired by the next one without --reset.
    """
    from hmb_ops.db.seed import SeedPlan, check_password, seed as run_seed

    names = tuple(n.strip() for item in drop_foreign for n in item.split(",") if n.strip())
    check_password(password)  # before the database is even resolved: nothing to undo
    database = ctx.database()
    plan_doc: dict = {}

    def show_plan(plan) -> None:
        plan_doc.update(plan.to_dict())
        for line in plan.lines():
            info(line)

    with _SeedProgress() as progress:
        result = run_seed(database.url, scale=scale, seed=seed_value, password=password, reset=reset,
                          progress=progress, hash_rounds=hash_rounds, drop_foreign=names,
                          allow_foreign=allow_foreign_tables, on_plan=show_plan, dry_run=dry_run)
    if dry_run:
        assert isinstance(result, SeedPlan)  # a dry run only plans
        if as_json:
            emit_json({"url": database.masked, "dry_run": True, "plan": result.to_dict()})
            return
        for line in result.lines("would drop") or ["nothing to drop"]:
            out(line)
        return
    doc = result.to_dict()
    if as_json:
        emit_json({"url": database.masked, **doc, "plan": plan_doc})
        return
    info(f"seeded {doc['total_rows']:,} rows ({scale}, seed {seed_value}) in {doc['seconds']:.1f} s "
         f"= {doc['rows_per_second']:,.0f} rows/s")
    out(f"users: user1@example.test .. user{doc['rows']['users']}@example.test (password given by --password)")



class _SeedProgress:
    """Progress for `db seed`: a rich bar on a terminal, one quiet line per table otherwise."""

    def __init__(self):
        from hmb_ops.cli.common import interactive

        self._live = interactive()
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._reported: set[str] = set()

    def __enter__(self) -> _SeedProgress:
        if self._live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=_console(), transient=False)
            self._progress.start()
        return self

    def __call__(self, table: str, done: int, total: int) -> None:
        if self._progress is not None:
            if table not in self._tasks:
                self._tasks[table] = self._progress.add_task(table, total=max(total, 1))
            self._progress.update(self._tasks[table], completed=done, total=max(total, 1))
        elif done >= total and table not in self._reported:
            self._reported.add(table)
            info(f"seeded {table}: {total} rows")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
