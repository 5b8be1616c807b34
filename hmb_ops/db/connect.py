"""Opening connections with a short timeout, errors translated and passwords masked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hmb_ops.db import dsn as dsnmod
from hmb_ops.errors import DatabaseUnavailable, InvalidDatabaseUrl

DEFAULT_CONNECT_TIMEOUT = 5


def connect_timeout() -> int:
    raw = os.environ.get("HMB_OPS_CONNECT_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
    try:
        value = int(float(raw))
    except ValueError:
        raise InvalidDatabaseUrl(f"HMB_OPS_CONNECT_TIMEOUT must be a number of seconds, got {raw!r}") from None
    return max(1, value)


def connect(url: str, *, autocommit: bool = False, timeout: int | None = None,
            application_name: str = "hmb-ops", options: str | None = None):
    """Connect with psycopg2; an unreachable server fails within the timeout as DatabaseUnavailable."""
    import psycopg2

    parsed = dsnmod.parse(url)
    kwargs: dict[str, Any] = {"connect_timeout": timeout or connect_timeout(), "application_name": application_name}
    if options:
        kwargs["options"] = options
    try:
        conn = psycopg2.connect(parsed.url, **kwargs)
    except psycopg2.OperationalError as exc:
        first = dsnmod.mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer", url)
        raise DatabaseUnavailable(
            f"cannot connect to {parsed.masked}: {first}",
            hint="start it (hmb-ops db up) or check --database-url / DATABASE_URL") from None
    except psycopg2.ProgrammingError as exc:
        raise InvalidDatabaseUrl(f"invalid database URL {parsed.masked}: "
                                 f"{dsnmod.mask_text(str(exc).strip(), url)}") from None
    conn.autocommit = autocommit
    return conn


@contextmanager
def connection(url: str, **kwargs) -> Iterator:
    conn = connect(url, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def server_version_num(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        return int(cur.fetchone()[0])
