"""The per-worker async database pool: SQLAlchemy's AsyncAdaptedQueuePool over asyncpg.

Built lazily on first use, inside the Uvicorn worker's event loop (never in the Gunicorn master,
so nothing is shared across fork). Sized like the Flask app's pool: DB_POOL_MAX connections per
worker and no overflow, so the connection budget `tune` plans (workers × pool max) holds for both
variants; a request waits at most DB_POOL_TIMEOUT for one and then gets a 503, never hangs.

Database trouble is turned into the same two exceptions the Flask app uses (PoolTimeout,
DatabaseDown), so both answer 503 with Retry-After and neither ever answers 500 for it.
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager

from hmb_ops.refapp import metrics
from hmb_ops.refapp.db import DatabaseDown, PoolTimeout

__all__ = ["AsyncDatabase", "DatabaseDown", "PoolTimeout", "QueryTimeout", "async_url"]


class QueryTimeout(Exception):
    """PostgreSQL cancelled the statement (statement_timeout)."""


def async_url(database_url: str):
    """The DATABASE_URL (postgresql://...) as SQLAlchemy's asyncpg URL; libpq-only options dropped."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    # asyncpg takes TLS through `ssl`, not libpq's sslmode; keep the mode's meaning.
    query = dict(url.query)
    sslmode = query.pop("sslmode", None)
    for libpq_only in ("connect_timeout", "application_name", "options", "target_session_attrs"):
        query.pop(libpq_only, None)
    if sslmode and sslmode not in ("disable", "allow", "prefer"):
        query["ssl"] = sslmode
    return url.set(query=query)


def pool_shape(pool_max: int, env=None) -> tuple[int, int]:
    """(pool_size, max_overflow): SQLALCHEMY_POOL_SIZE / SQLALCHEMY_MAX_OVERFLOW as `tune` writes them
    for an ASGI plan, else DB_POOL_MAX connections kept and no overflow (the Flask pool's shape).
    Either way at most pool_size + max_overflow connections per worker, the plan's DB_POOL_MAX."""
    env = os.environ if env is None else env
    try:
        size = int(env.get("SQLALCHEMY_POOL_SIZE", ""))
        overflow = int(env.get("SQLALCHEMY_MAX_OVERFLOW", "0") or 0)
    except ValueError:
        return max(1, pool_max), 0
    return max(1, size), max(0, overflow)


def _first_line(exc: BaseException, default: str) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else default


class AsyncDatabase:
    def __init__(self, settings):
        self.settings = settings
        self._engine = None
        self._pid = None
        self._in_use = 0

    def engine(self):
        if self._engine is not None and self._pid == os.getpid():
            return self._engine
        if not self.settings.database_url:
            raise DatabaseDown("DATABASE_URL is not set")
        from sqlalchemy.ext.asyncio import create_async_engine

        s = self.settings
        pool_size, overflow = pool_shape(s.pool_max)
        try:
            url = async_url(s.database_url)
        except Exception as exc:  # noqa: BLE001 - an unparsable URL is a database the app cannot reach
            raise DatabaseDown(f"DATABASE_URL is not a database URL: {type(exc).__name__}") from None
        self._engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=overflow, pool_timeout=s.pool_timeout or 0.001,
            pool_reset_on_return=None,  # autocommit connections: nothing to roll back on return
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": max(1, int(min(s.pool_timeout or 5, 10))),
                          "command_timeout": None,
                          "server_settings": {"application_name": "hmb-refapp-asgi", "jit": "off",
                                              "statement_timeout": str(s.statement_timeout_ms),
                                              "idle_in_transaction_session_timeout":
                                                  str(max(s.statement_timeout_ms, 1000))}})
        self._pid = os.getpid()
        return self._engine

    def _publish(self) -> None:
        pool = self._engine.pool if self._engine is not None else None
        idle = pool.checkedin() if pool is not None and hasattr(pool, "checkedin") else 0
        metrics.POOL_CONNECTIONS.labels(state="in_use").set(self._in_use)
        metrics.POOL_CONNECTIONS.labels(state="idle").set(idle)

    @asynccontextmanager
    async def connection(self):
        """An autocommit connection; trouble surfaces as PoolTimeout, DatabaseDown or QueryTimeout."""
        from sqlalchemy import exc as sa_exc

        engine = self.engine()
        started = time.perf_counter()
        try:
            conn = await engine.connect()
        except sa_exc.TimeoutError:
            metrics.POOL_WAIT.observe(time.perf_counter() - started)
            metrics.POOL_TIMEOUTS.inc()
            raise PoolTimeout(f"no database connection free within {self.settings.pool_timeout:g} s") from None
        except (sa_exc.DBAPIError, OSError) as exc:
            raise DatabaseDown(_first_line(exc, "connect failed")) from exc
        metrics.POOL_WAIT.observe(time.perf_counter() - started)
        self._in_use += 1
        self._publish()
        try:
            yield conn
        except sa_exc.DBAPIError as exc:
            raise translate(exc) from exc
        except OSError as exc:
            raise DatabaseDown(_first_line(exc, "connection lost")) from exc
        finally:
            self._in_use -= 1
            try:
                await conn.close()
            except (sa_exc.DBAPIError, OSError):
                pass
            self._publish()

    @asynccontextmanager
    async def transaction(self):
        """A connection inside one transaction (committed on success, rolled back on error)."""
        async with self.connection() as conn:
            tx_conn = await conn.execution_options(isolation_level="READ COMMITTED")
            async with tx_conn.begin():
                yield tx_conn

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.connection() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            await self._engine.dispose()
        self._engine = None


def _sqlstate(exc) -> str | None:
    orig = getattr(exc, "orig", None)
    for obj in (orig, getattr(orig, "__cause__", None)):
        code = getattr(obj, "sqlstate", None) or getattr(obj, "pgcode", None)
        if code:
            return str(code)
    return None


class Conflict(Exception):
    """A unique or foreign key violation (409 unless the route says otherwise)."""

    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class BadValue(Exception):
    """A value PostgreSQL refused as out of range or malformed (400)."""


def translate(exc) -> Exception:
    """A SQLAlchemy DBAPIError as the app's own exception (each has one HTTP answer)."""
    code = _sqlstate(exc)
    if getattr(exc, "connection_invalidated", False) or code is None or code.startswith(("08", "57P")):
        return DatabaseDown(_first_line(exc, "connection lost"))
    if code == "57014":
        return QueryTimeout(_first_line(exc, "statement timeout"))
    if code.startswith("23"):
        return Conflict(code)
    if code.startswith("22"):
        return BadValue(code)
    return DatabaseDown(_first_line(exc, "database error")) if code.startswith("53") else exc
