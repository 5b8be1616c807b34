"""The same data every run: a seeded template database, and a run database cloned from it.

Load runs write rows (feed items, messages, likes), so a second run against the same database
measures a bigger one. Against the embedded default every run instead starts from the seeded
state: hmb-ops keeps a template per scale (`hmb_ops_template_<scale>`, seeded and indexed once)
and before each run creates `hmb_ops_run_<pid>` with ``CREATE DATABASE … TEMPLATE``, dropping it
after the run.

Safety (docs/safety.md): both kinds are recorded as hmb-ops's own by a comment on the database
written when hmb-ops creates it; a database with one of these names but without that comment is
refused (exit 2) and never dropped. Connections terminated are only hmb-ops's own: to the
template those whose application_name starts with "hmb-ops"; to a run database of a dead run
all of them, because that database existed only for that run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from hmb_ops.errors import EnvironmentUnusable, UsageError

TEMPLATE_PREFIX = "hmb_ops_template_"
RUN_PREFIX = "hmb_ops_run_"
TEMPLATE_MARK = "hmb-ops template:"
RUN_MARK = "hmb-ops run database, owner pid "
_RUN_COMMENT = re.compile(r"^hmb-ops run database, owner pid (\d+)")
_SCALE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
WAL_LOG_BELOW = 100 * 2 ** 20  # bytes: smaller templates are copied with WAL_LOG (see clone_for_run)
_LOCK_KEY = 0x686D6274  # "hmbt": one template set-up at a time per server


@dataclass(frozen=True)
class RunDatabase:
    """A run database cloned from the template, and how long the clone took."""

    name: str
    url: str
    template: str
    seconds: float
    template_created: bool
    removed: tuple[str, ...] = ()

    def record(self) -> dict:
        return {"reset": True, "database": self.name, "template": self.template,
                "reset_seconds": round(self.seconds, 3),
                "note": f"started from the seeded template {self.template} (recreated before the run)"}


def template_name(scale: str) -> str:
    if not _SCALE.match(scale):
        raise UsageError(f"seed scale {scale!r} is not a name")
    return TEMPLATE_PREFIX + scale


def _ident(name: str) -> str:
    # Names are built here from fixed prefixes, a checked scale name and a pid: quoting is belt and braces.
    return '"' + name.replace('"', '""') + '"'


def _databases(cur, pattern: str) -> dict[str, str | None]:
    cur.execute("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE %s",
                (pattern,))
    return {row[0]: row[1] for row in cur.fetchall()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _url(admin_url: str, name: str) -> str:
    from hmb_ops.db.dsn import parse

    return parse(admin_url).with_database(name).url


def _terminate(cur, name: str, *, own_only: bool) -> None:
    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                + (" AND application_name LIKE 'hmb-ops%%'" if own_only else ""), (name,))


def ensure_template(admin_url: str, scale: str, prepare: Callable[[str], None]) -> tuple[str, bool]:
    """(template name, created now): the scale's template exists, is hmb-ops's, and `prepare(url)`
    (seed + indexes, idempotent) has run on it. Serialised across runs by an advisory lock."""
    from hmb_ops.db.connect import connection

    name = template_name(scale)
    with connection(admin_url, autocommit=True, application_name="hmb-ops template") as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            found = _databases(cur, name)
            created = name not in found
            if created:
                cur.execute(f"CREATE DATABASE {_ident(name)}")
                comment = f"{TEMPLATE_MARK} the seeded state at scale {scale}, cloned before each load run"
                cur.execute(f"COMMENT ON DATABASE {_ident(name)} IS %s", (comment,))
            elif not (found[name] or "").startswith(TEMPLATE_MARK):
                raise UsageError(f"database {name} exists but hmb-ops did not create it; it will not use or "
                                 "replace it as its template",
                                 hint="drop or rename it yourself, or run with --no-reset")
            try:
                prepare(_url(admin_url, name))
            except BaseException:
                if created:  # a half-made template is not kept: the next run starts it again
                    _terminate(cur, name, own_only=True)
                    cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")
                raise
            _terminate(cur, name, own_only=True)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return name, created


def remove_leftover_runs(cur) -> list[str]:
    """Drop run databases whose owner process is dead (a killed run); never one without our comment."""
    removed = []
    for name, comment in _databases(cur, RUN_PREFIX + "%").items():
        match = _RUN_COMMENT.match(comment or "")
        if match is None or _pid_alive(int(match.group(1))):
            continue
        _terminate(cur, name, own_only=False)
        cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")
        removed.append(name)
    return removed


def clone_for_run(admin_url: str, template: str, *, owner_pid: int | None = None,
                  strategy: str | None = None) -> RunDatabase:
    """Create hmb_ops_run_<pid> from the template (replacing this process's own earlier one).

    `strategy` is PostgreSQL's CREATE DATABASE strategy (WAL_LOG or FILE_COPY); None picks by the
    template's size: WAL_LOG (PostgreSQL 15+'s default) copies a small template without the two
    checkpoints FILE_COPY needs, FILE_COPY is faster for a large one (bench/data_reset.py: small
    0.69 s vs 1.50 s, medium 6.9 s vs 5.8 s)."""
    from hmb_ops.db.connect import connection

    pid = owner_pid or os.getpid()
    with connection(admin_url, autocommit=True, application_name="hmb-ops template") as conn, conn.cursor() as cur:
        # The same lock as ensure_template: a concurrent run preparing the template holds connections
        # to it, which would make this copy fail (or be terminated by it).
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            return _clone(conn, cur, admin_url, template, pid, strategy)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _clone(conn, cur, admin_url: str, template: str, pid: int, strategy: str | None) -> RunDatabase:
    import psycopg2

    name = f"{RUN_PREFIX}{pid}"
    removed = remove_leftover_runs(cur)
    found = _databases(cur, name)
    if name in found:
        if not (found[name] or "").startswith(RUN_MARK):
            raise UsageError(f"database {name} exists but hmb-ops did not create it; refusing to replace it",
                             hint="drop or rename it yourself, or run with --no-reset")
        _terminate(cur, name, own_only=True)
        cur.execute(f"DROP DATABASE {_ident(name)}")
    _terminate(cur, template, own_only=True)
    started = time.perf_counter()
    try:
        if strategy is None:
            cur.execute("SELECT pg_database_size(%s)", (template,))
            strategy = "WAL_LOG" if cur.fetchone()[0] < WAL_LOG_BELOW else "FILE_COPY"
        chosen = strategy.upper()
        if chosen not in ("WAL_LOG", "FILE_COPY"):
            raise UsageError(f"unknown CREATE DATABASE strategy {strategy!r}", hint="WAL_LOG or FILE_COPY")
        clause = f" STRATEGY = {chosen}" if conn.server_version >= 150000 else ""
        cur.execute(f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(template)}{clause}")
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise EnvironmentUnusable(f"cannot copy the template {template}: {first}",
                                  hint="another session is connected to it; close it, or run with "
                                       "--no-reset") from None
    seconds = time.perf_counter() - started
    cur.execute(f"COMMENT ON DATABASE {_ident(name)} IS %s", (f"{RUN_MARK}{pid}; cloned from {template}",))
    return RunDatabase(name, _url(admin_url, name), template, seconds, False, tuple(removed))


def drop_run(admin_url: str, name: str) -> None:
    """Drop a run database after its run (only one carrying hmb-ops's run comment)."""
    from hmb_ops.db.connect import connection

    with connection(admin_url, autocommit=True, application_name="hmb-ops template") as conn, conn.cursor() as cur:
        found = _databases(cur, name)
        if name not in found or not (found[name] or "").startswith(RUN_MARK):
            return
        _terminate(cur, name, own_only=False)  # the run is over: whatever is still connected was the run's
        cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")
