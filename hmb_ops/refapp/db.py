"""The per-worker database pool: psycopg2's ThreadedConnectionPool behind a bounded wait.

psycopg2's pool raises at once when every connection is out; a request should wait a little
(DB_POOL_TIMEOUT) and then get a 503 with Retry-After, never hang and never 500. A semaphore sized
to the pool gives that bounded wait. The pool is built lazily on first use, so it is always created
in the worker after fork, and rebuilt after the database went away: each connection remembers the
"generation" it was opened in, and any connection error bumps the generation so that stale
connections are discarded at their next checkout instead of failing one request each.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from hmb_ops.refapp import metrics


class PoolTimeout(Exception):
    """No connection became free within DB_POOL_TIMEOUT."""


class DatabaseDown(Exception):
    """The database cannot be reached (connect failed or the connection broke)."""


class Database:
    def __init__(self, settings):
        self.settings = settings
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pid = None
        self._lock = threading.Lock()
        self._gate = threading.BoundedSemaphore(settings.pool_max)
        self._generation = 0
        self._born: dict[int, int] = {}
        self._in_use = 0
        self._count_lock = threading.Lock()

    # -- pool management ------------------------------------------------------------------------
    def _connect_kwargs(self) -> dict:
        s = self.settings
        return {
            "connect_timeout": max(1, int(min(s.pool_timeout or 5, 10))),
            "application_name": "hmb-refapp",
            "options": f"-c statement_timeout={s.statement_timeout_ms} -c jit=off "
                       f"-c idle_in_transaction_session_timeout={max(s.statement_timeout_ms, 1000)}",
        }

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        pool = self._pool
        if pool is not None and self._pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                if not self.settings.database_url:
                    raise DatabaseDown("DATABASE_URL is not set")
                try:
                    # minconn=0 here: the first connections open on demand, so a worker starts
                    # even when the database is down; the pool then keeps pool_min idle ones.
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        0, self.settings.pool_max, self.settings.database_url, **self._connect_kwargs())
                except psycopg2.Error as exc:
                    raise DatabaseDown(
                        str(exc).strip().splitlines()[0] if str(exc).strip() else "connect failed") from exc
                self._pool.minconn = self.settings.pool_min
                self._pid = os.getpid()
                self._born.clear()
            return self._pool

    def _publish(self) -> None:
        pool = self._pool
        idle = len(getattr(pool, "_pool", ())) if pool is not None else 0
        metrics.POOL_CONNECTIONS.labels(state="in_use").set(self._in_use)
        metrics.POOL_CONNECTIONS.labels(state="idle").set(idle)

    def _checkout(self):
        pool = self._get_pool()
        while True:
            try:
                conn = pool.getconn()
            except psycopg2.pool.PoolError as exc:
                raise PoolTimeout(str(exc)) from None
            except psycopg2.Error as exc:
                self._generation += 1
                raise DatabaseDown(str(exc).strip().splitlines()[0] if str(exc).strip() else "connect failed") from exc
            born = self._born.setdefault(id(conn), self._generation)
            if conn.closed or born < self._generation:
                self._born.pop(id(conn), None)
                pool.putconn(conn, close=True)
                continue
            if not conn.autocommit:
                conn.autocommit = True
            return pool, conn

    def _checkin(self, pool, conn, broken: bool) -> None:
        if broken or conn.closed:
            self._born.pop(id(conn), None)
            try:
                pool.putconn(conn, close=True)
            except psycopg2.pool.PoolError:
                pass
            return
        if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            try:
                conn.rollback()
            except psycopg2.Error:
                self._checkin(pool, conn, True)
                return
        # psycopg2 keeps at most `minconn` idle connections and closes the others on return:
        # DB_POOL_MIN below the thread count therefore means reconnects under load.
        pool.putconn(conn)
        if conn.closed:
            self._born.pop(id(conn), None)

    @contextmanager
    def connection(self):
        """A pooled autocommit connection; database trouble surfaces as PoolTimeout/DatabaseDown."""
        started = time.perf_counter()
        if not self._gate.acquire(timeout=self.settings.pool_timeout):
            metrics.POOL_WAIT.observe(time.perf_counter() - started)
            metrics.POOL_TIMEOUTS.inc()
            raise PoolTimeout(f"no database connection free within {self.settings.pool_timeout:g} s")
        try:
            pool, conn = self._checkout()
        except BaseException:
            self._gate.release()
            raise
        metrics.POOL_WAIT.observe(time.perf_counter() - started)
        with self._count_lock:
            self._in_use += 1
        self._publish()
        broken = False
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = conn.closed != 0 or isinstance(exc, psycopg2.InterfaceError) or _is_connection_error(exc)
            if broken:
                self._generation += 1
                raise DatabaseDown(
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "connection lost") from exc
            raise
        finally:
            with self._count_lock:
                self._in_use -= 1
            try:
                self._checkin(pool, conn, broken)
            finally:
                self._gate.release()
                self._publish()

    @contextmanager
    def cursor(self):
        with self.connection() as conn, conn.cursor() as cur:
            yield cur

    @contextmanager
    def transaction(self):
        """A cursor inside one transaction (committed on success, rolled back on error)."""
        with self.connection() as conn, conn, conn.cursor() as cur:
            yield cur

    def ping(self) -> None:
        with self.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                try:
                    self._pool.closeall()
                except psycopg2.pool.PoolError:
                    pass
            self._pool = None


def _is_connection_error(exc: Exception) -> bool:
    # QueryCanceled (statement_timeout) is an OperationalError too, but the connection is fine.
    if isinstance(exc, psycopg2.extensions.QueryCanceledError):
        return False
    code = getattr(exc, "pgcode", None)
    return code is None or code.startswith(("08", "57P"))
