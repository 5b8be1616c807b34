"""`hmb-ops db`: the embedded PostgreSQL default (up, down, status, url) and reference data."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, emit_json, info, json_option, out, pass_ctx


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
    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.dsn import mask

    server = EmbeddedServer(ctx.state_dir)
    status, started = server.up()
    if as_json:
        emit_json({"running": True, "started": started, "url": mask(status.url), "data_dir": status.data_dir})
        return
    info("started the embedded PostgreSQL" if started else "the embedded PostgreSQL is already running")
    out(mask(status.url))


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
        raise click.exceptions.Exit(3)


def _print_status(report: dict) -> None:
    out(f"running:  {'yes' if report['running'] else 'no'}")
    out(f"source:   {report['source']}")
    out(f"url:      {report['url'] or '-'}")
    out(f"version:  {report['version'] or '-'}")
    size = report.get("data_size_bytes")
    out(f"size:     {f'{size / 1e6:.1f} MB' if size is not None else '-'}")
    if report.get("error"):
        out(f"error:    {report['error']}")


@db.command()
@pass_ctx
def url(ctx: Ctx):
    """Print a usable database URL (with its password), e.g. export DATABASE_URL=$(hmb-ops db url).

    Starts the embedded server when no URL is configured.
    """
    out(ctx.database().url)
