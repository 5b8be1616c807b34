"""What every command shares: the root context, --json, output helpers, database resolution."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import click

from hmb_ops.documents import SCHEMA_VERSION


@dataclass
class Ctx:
    database_url: str | None = None
    state_dir: Path = field(default_factory=lambda: Path(".hmb-ops").absolute())
    config_files: tuple[str, ...] = ()
    json: bool = False
    debug: bool = False

    def database(self, *, start: bool = True):
        """The database this command talks to (flag, DATABASE_URL, or the embedded default)."""
        from hmb_ops.db.resolve import resolve

        return resolve(self.database_url, self.state_dir, start=start)


pass_ctx = click.make_pass_decorator(Ctx, ensure=True)


def json_option(fn: Callable) -> Callable:
    """Add --json to a command; the effective value (root or local) arrives as `as_json`."""

    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
    @wraps(fn)
    def wrapper(*args, as_json: bool = False, **kwargs):
        ctx = click.get_current_context().find_object(Ctx) or Ctx()
        return fn(*args, as_json=as_json or ctx.json, **kwargs)

    return wrapper


def to_jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):  # a hmb_ops.documents model: its JSON form, keys as in its schema
        return obj.model_dump(mode="json")
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout, with schema_version first when it is a mapping."""
    doc = to_jsonable(data)
    if isinstance(doc, dict) and "schema_version" not in doc:
        doc = {"schema_version": SCHEMA_VERSION, **doc}
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def interactive() -> bool:
    """Live progress only on a terminal and outside CI."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


_console = None


def console():
    """A rich console on stderr (human output; stdout stays for data and JSON)."""
    global _console  # noqa: PLW0603 - one console per process, made on first use (rich loads only then)
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _console


def info(message: str) -> None:
    console().print(message, markup=False)


def out(message: str = "") -> None:
    """Human output that is the command's result (goes to stdout)."""
    click.echo(message)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table of results to stdout (rich on a terminal, plain aligned text otherwise)."""
    from rich.console import Console

    from hmb_ops.report.console import table as rich_table

    t = rich_table(title, columns, rows, numeric=False, none="")
    probe = Console()
    # In logs and pipes there is no terminal to fit: let the table take its natural width
    # instead of rich's 80-column default, which wraps endpoint names mid-word.
    width = probe.width if probe.is_terminal else 200
    Console(highlight=False, soft_wrap=False, width=width).print(t)
