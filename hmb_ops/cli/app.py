"""`hmb-ops app serve`: the bundled reference app under real Gunicorn."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, emit_json, info, json_option, out, pass_ctx


@click.group()
def app():
    """Run the bundled reference app (a model of the HireMeBahamas backend)."""


@app.command()
@click.option("--tier", metavar="NAME", help="Serve with this tier's generated Gunicorn config and environment.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to bind (0 picks a free one).")
@click.option("--workers", type=click.IntRange(1, 256), help="Gunicorn workers (overrides the tier).")
@click.option("--threads", type=click.IntRange(1, 256), help="Threads per gthread worker (overrides the tier).")
@click.option("--background-mode", type=click.Choice(["thread", "inline"]),
              help="Run fan-out and notifications in background threads (default) or inside the request.")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Where gunicorn.log goes (default: state folder).")
@json_option
@pass_ctx
def serve(ctx: Ctx, tier, host, port, workers, threads, background_mode, log_dir, as_json):
    """Serve the reference app until Ctrl-C / SIGTERM (schema is created if missing; seeding is
    `hmb-ops db seed`). Exit 3 when the port is taken or the database is unreachable."""
    from hmb_ops.refapp.serve import serve_app

    database = ctx.database()

    def ready(server, plan_summary):
        doc = {"url": server.url, "pid": server.pid, "workers": server.worker_pids(), "database": database.masked,
               "tier": tier, "config": plan_summary, "log": str(server.log_file)}
        if as_json:
            emit_json(doc)
        else:
            info(f"serving the reference app at {server.url} (workers {len(doc['workers'])}, "
                 f"{plan_summary.get('source')}); database {database.masked}; Ctrl-C to stop")
            out(server.url)

    serve_app(database.url, tier=tier, host=host, port=port, workers=workers, threads=threads,
              background_mode=background_mode, log_dir=log_dir or str(ctx.state_dir / "app"),
              config_files=ctx.config_files, state_dir=ctx.state_dir, on_ready=ready)
    if not as_json:
        info("stopped")
