"""The `hmb-ops` entry point: root options, lazily loaded command groups, and the one error funnel."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from hmb_ops import __version__
from hmb_ops.cli.common import Ctx
from hmb_ops.errors import ExitStatus, HmbOpsError

# name -> (module, attribute, one-line help). Modules load only when their command runs, so
# `hmb-ops --help` never imports locust, gevent, flask or psycopg2.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("hmb_ops.cli.db", "db", "The embedded PostgreSQL default: up, down, status, url, init, seed."),
    "app": ("hmb_ops.cli.app", "app", "Run the bundled reference app under Gunicorn."),
    "tune": ("hmb_ops.cli.tune", "tune", "Generate and check Gunicorn/worker configs per resource tier."),
    "indexes": ("hmb_ops.cli.indexes", "indexes", "Plan, apply and verify declared PostgreSQL indexes online."),
    "loadtest": ("hmb_ops.cli.loadtest", "loadtest", "Run a Locust load profile and report latency honestly."),
    "report": ("hmb_ops.cli.report", "report", "Render a results JSON as console, Markdown, JUnit, HTML or JSON."),
    "capacity": ("hmb_ops.cli.capacity", "capacity", "Sustainable load per tier, users supported, the seed's claims."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        if name not in COMMANDS:
            return None
        module, attr, _help = COMMANDS[name]
        # A command module that does not import is a bug in hmb-ops, not an unknown command: it
        # goes to the funnel's internal-error path (exit 70, or the traceback with --debug).
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise ImportError(f"the '{name}' command's module {module} cannot be imported: {exc}") from exc
        except AttributeError as exc:
            raise ImportError(f"the '{name}' command's module {module} has no {attr!r}") from exc
        self.commands[name] = cmd
        return cmd

    def format_commands(self, ctx, formatter):
        # Short help from the table above: listing commands must not import them.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="hmb-ops", message="%(prog)s %(version)s")
@click.option("--database-url", metavar="URL",
              help="PostgreSQL URL (env DATABASE_URL). Default: the embedded server in the state folder.")
@click.option("--state-dir", envvar="HMB_OPS_STATE_DIR", type=click.Path(file_okay=False), metavar="DIR",
              help="Where hmb-ops keeps its embedded database and results (env HMB_OPS_STATE_DIR; default .hmb-ops).")
@click.option("--config", "config_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A user YAML file whose sections (tiers, profiles, thresholds, users_model) override the "
                   "shipped ones. Repeatable.")
@click.option("--connect-timeout", type=click.IntRange(1, 600), metavar="SECONDS",
              help="Seconds to wait for the database to answer (env HMB_OPS_CONNECT_TIMEOUT; default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout (every reporting command).")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx, database_url, state_dir, config_files, connect_timeout, as_json, debug):
    """hmb-ops: tune, index, load-test and size Gunicorn + PostgreSQL web apps.

    Every number it prints comes from a command you can rerun. Exit codes: 0 success,
    1 a check failed, 2 bad input, 3 environment unusable.
    """
    if connect_timeout:
        os.environ["HMB_OPS_CONNECT_TIMEOUT"] = str(connect_timeout)
    env_configs = tuple(p for p in os.environ.get("HMB_OPS_CONFIG", "").split(os.pathsep) if p)
    ctx.obj = Ctx(database_url=database_url or None,
                  state_dir=Path(state_dir or ".hmb-ops").absolute(),
                  config_files=env_configs + tuple(config_files), json=as_json, debug=debug)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("HMB_OPS_DEBUG") == "1"


def _configured_urls(argv: list[str]) -> list[str]:
    """The database URLs this run was given, so the funnel can strip their passwords from any
    message (a last line of defence: messages are built from masked URLs already)."""
    urls = [os.environ.get("DATABASE_URL", "")]
    for i, arg in enumerate(argv):
        if arg == "--database-url" and i + 1 < len(argv):
            urls.append(argv[i + 1])
        elif arg.startswith("--database-url="):
            urls.append(arg.split("=", 1)[1])
    return [u for u in urls if u]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    try:
        # Without standalone mode click returns the code of a raised click.exceptions.Exit
        # (commands use it for "ran fine, but the answer is no", e.g. db status on a stopped server).
        code = cli.main(args=argv, prog_name="hmb-ops", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool):
            sys.exit(code)
    except HmbOpsError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        from hmb_ops.db.dsn import mask_text

        # Structural masking only: these messages are built from masked URLs, and replacing a
        # configured password everywhere would garble them when it is a common word ("postgres").
        click.echo(f"error: {mask_text(exc.one_line())}", err=True)
        sys.exit(exc.exit_code)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(ExitStatus.OK)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        # click's own exceptions exit 1 by default, which for hmb-ops means "a check failed": they are bad input.
        sys.exit(exc.exit_code if exc.exit_code != ExitStatus.CHECK_FAILED else ExitStatus.BAD_INPUT)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        click.echo("interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        sys.exit(ExitStatus.OK)
    except Exception as exc:  # a bug, not a user error: say so, keep it to one line unless --debug
        if debug:
            raise
        from hmb_ops.db.dsn import mask_text

        click.echo(f"error: internal error: {exc.__class__.__name__}: "
                   f"{mask_text(str(exc).splitlines()[0] if str(exc) else '', *_configured_urls(argv))} "
                   "(rerun with --debug for the traceback and report it)", err=True)
        sys.exit(ExitStatus.INTERNAL)


if __name__ == "__main__":
    main()
