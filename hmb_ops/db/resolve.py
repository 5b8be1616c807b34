"""Which database a command talks to: --database-url, then DATABASE_URL, then the embedded default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.db import dsn as dsnmod
from hmb_ops.errors import DatabaseUnavailable


@dataclass(frozen=True)
class ResolvedDatabase:
    url: str
    source: str  # "flag", "environment" or "embedded"

    @property
    def masked(self) -> str:
        return dsnmod.mask(self.url)


def configured_url(flag_value: str | None) -> tuple[str, str] | None:
    if flag_value:
        return flag_value, "flag"
    env = os.environ.get("DATABASE_URL")
    if env:
        return env, "environment"
    return None


def resolve(flag_value: str | None, state_dir: str | os.PathLike | Path, *, start: bool = True) -> ResolvedDatabase:
    """Return a validated URL; with none configured, start (or reuse) the embedded server."""
    configured = configured_url(flag_value)
    if configured:
        url, source = configured
        dsnmod.parse(url)
        return ResolvedDatabase(url=url, source=source)
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(state_dir)
    embedded_url = server.up()[0].url if start else server.url()
    if not embedded_url:
        raise _not_running()
    return ResolvedDatabase(url=embedded_url, source="embedded")


def _not_running() -> DatabaseUnavailable:
    return DatabaseUnavailable("the embedded PostgreSQL is not running", hint="run hmb-ops db up")


@contextmanager
def database_for_run(flag_value: str | None, state_dir: str | os.PathLike | Path) -> Iterator[tuple[str, bool]]:
    """Yield (url, started_embedded) for one run: the configured database, or the embedded server,
    started for the block and stopped after it unless it was already running (then it is somebody
    else's and stays up)."""
    configured = configured_url(flag_value)
    if configured:
        dsnmod.parse(configured[0])
        yield configured[0], False
        return
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(state_dir)
    status, started = server.up()
    try:
        if not status.url:  # running, but its port or password file is gone: no URL to hand out
            raise _not_running()
        yield status.url, started
    finally:
        if started:
            server.down()
