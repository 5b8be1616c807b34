"""`hmb-ops app serve`: the bundled reference app under real Gunicorn."""

from __future__ import annotations

import click

from hmb_ops.cli.common import Ctx, emit_json, info, json_option, out, pass_ctx
from hmb_ops.cli.confinement import confinement_line, confinement_options


def _bind_host(ctx, param, value: str) -> str:
    """An address of this machine (an IP literal or a name resolving to one), checked before the
    app starts so a typo such as 256.1.1.1 is a usage error (exit 2), not a Gunicorn crash."""
    import ipaddress
    import socket

    value = value.strip().removeprefix("[").removesuffix("]")  # [::1] as in a URL is ::1
    try:
        addrs = [str(ipaddress.ip_address(value))]
    except ValueError:
        # Dotted numbers that are no IPv4 address are a typo, not a name to look up in DNS.
        if not value or all(c.isdigit() or c == "." for c in value):
            raise click.BadParameter(f"{value!r} is not an IP address or host name") from None
        try:
            addrs = [str(info[4][0]) for info in socket.getaddrinfo(value, None, type=socket.SOCK_STREAM)]
        except (socket.gaierror, UnicodeError, ValueError):
            raise click.BadParameter(f"{value!r} does not resolve to an address") from None
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((addr, 0))  # port 0: only asks whether the address is one of ours
            return value
        except OSError:
            continue
    raise click.BadParameter(f"{value!r} is not an address of this machine (try 127.0.0.1)")


def _exposure_warning(host: str) -> str | None:
    """A warning when the app would be reachable from other machines: any address that is not
    loopback (0.0.0.0 and :: mean every interface). A name counts as loopback only when every
    address it resolves to is."""
    import ipaddress
    import socket

    try:
        addrs = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addrs = [ipaddress.ip_address(str(i[4][0]).split("%")[0])
                     for i in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
        except (socket.gaierror, UnicodeError, ValueError):
            addrs = []
    if addrs and all(a.is_loopback for a in addrs):
        return None
    where = "on every interface" if any(a.is_unspecified for a in addrs) else f"at {host}"
    return (f"--host {host} is not a loopback address: the reference app is now reachable from other "
            f"machines {where}; it is a demo (seeded users share one default password, and it uses the "
            "database URL it is given, often a superuser's)")


@click.group()
def app():
    """Run the bundled reference app (a model of the HireMeBahamas backend)."""


@app.command()
@click.option("--tier", metavar="NAME", help="Serve with this tier's generated Gunicorn config and environment.")
@click.option("--host", default="127.0.0.1", show_default=True, callback=_bind_host,
              help="Address to bind (an address of this machine).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to bind (0 picks a free one).")
@click.option("--workers", type=click.IntRange(1, 256), help="Gunicorn workers (overrides the tier).")
@click.option("--threads", type=click.IntRange(1, 256), help="Threads per gthread worker (overrides the tier).")
@click.option("--worker-class", metavar="CLASS",
              help="Gunicorn worker class; an ASGI one (uvicorn_worker.UvicornWorker) serves the FastAPI variant "
                   "(needs pip install 'hmb-ops[asgi]').")
@click.option("--background-mode", type=click.Choice(["thread", "inline"]),
              help="Run fan-out and notifications in background threads (default) or inside the request.")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Where gunicorn.log goes (default: state folder).")
@confinement_options(reset=False)
@json_option
@pass_ctx
def serve(ctx: Ctx, tier, host, port, workers, threads, worker_class, background_mode, log_dir, as_json,
          confinement):
    """Serve the reference app until Ctrl-C / SIGTERM (schema is created if missing; seeding is
    `hmb-ops db seed`). Exit 3 when the port is taken or the database is unreachable."""
    from hmb_ops.stack.serve import serve_app

    if worker_class:
        from hmb_ops.stack.app import app_target
        from hmb_ops.tune.validate import check_worker_class

        check_worker_class(worker_class)  # exit 2: unknown or not installed, before the database starts
        app_target(worker_class)          # exit 3: the ASGI variant without the asgi extra
    from hmb_ops.cli.confinement import limits

    cpus, memory = limits(confinement, ctx, tier=tier)  # exit 2 on a bad size or tier, before anything starts
    database = ctx.database()
    pin: tuple[int, ...] = ()
    if database.source == "embedded":  # hmb-ops's own PostgreSQL leaves the app's CPUs; a user's is not touched
        from hmb_ops.db.embedded import EmbeddedServer

        pid = EmbeddedServer(ctx.state_dir).pid()
        pin = (pid,) if pid else ()
    exposure = _exposure_warning(host)
    if exposure:
        info(f"warning: {exposure}")  # stderr, also with --json: it must not go unseen

    def ready(server, plan_summary):
        doc = {"url": server.url, "pid": server.pid, "workers": server.worker_pids(), "database": database.masked,
               "tier": tier, "config": plan_summary, "log": str(server.log_file),
               "confinement": plan_summary.pop("confinement", None), "warnings": [exposure] if exposure else []}
        if doc["confinement"]:
            doc["warnings"] += doc["confinement"]["warnings"]
            for warning in doc["confinement"]["warnings"]:
                info(f"warning: {warning}")  # stderr, also with --json: never silent
            for gone in doc["confinement"]["removed_leftovers"]:
                info(f"confinement: removed {gone}, left by a run that was killed")
        if as_json:
            emit_json(doc)
        else:
            info(f"serving the reference app {plan_summary.get('app')} at {server.url} (workers {len(doc['workers'])}, "
                 f"{plan_summary.get('source')}); database {database.masked}; Ctrl-C to stop")
            line = confinement_line(doc["confinement"])
            if line:
                info(line)
            out(server.url)

    def stopped(record):
        kills = record.get("oom_kills") or []
        if kills:
            info(f"{len(kills)} worker(s) killed by the memory limit, at "
                 + ", ".join(f"{k['at']} ({k['t']:g} s)" for k in kills))

    serve_app(database.url, tier=tier, host=host, port=port, workers=workers, threads=threads,
              worker_class=worker_class,
              background_mode=background_mode, log_dir=log_dir or str(ctx.state_dir / "app"),
              config_files=ctx.config_files, state_dir=ctx.state_dir, on_ready=ready,
              cpus=cpus, memory_bytes=memory, require_confinement=confinement.require, pin_outside=pin,
              on_exit=stopped)
    if not as_json:
        info("stopped")
