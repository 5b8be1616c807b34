"""PgBouncer sized from a tune plan: pgbouncer.ini, a userlist.txt template, the app settings that go
with the pool mode, and the check of an app's settings against a pool mode (for `tune check`).

The app's connections become PgBouncer's clients; the database sees at most max_db_connections.
Facts (../shared/reference/field-notes-2.md section 3): Debian bookworm ships PgBouncer 1.18, which
has no prepared-statement support (max_prepared_statements came in 1.21), so in transaction or
statement mode every driver that prepares statements on the server must be told not to.

Pure but for `owned_writes` (a file's mode). Writing goes through tune --out's writer (the same
ownership rules as the other files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from hmb_ops.errors import UsageError
from hmb_ops.tune.budget import DB_USABLE_FRACTION, connection_budget
from hmb_ops.tune.plan import APP, DB, DEFAULT, FLAG, PLATFORM, PlanValue

POOL_MODES = ("session", "transaction", "statement")
DEFAULT_POOL_MODE = "transaction"
DEFAULT_LISTEN = "127.0.0.1"
PGBOUNCER_PORT = 6432
DEBIAN_VERSION = "1.18"
INI = "pgbouncer.ini"
USERLIST = "userlist.txt"
# Client connections past the app's own (psql, migrations, one-off jobs through the pooler):
# the same usable fraction the database budget leaves free.
CLIENT_USABLE_FRACTION = DB_USABLE_FRACTION
RESERVE_FRACTION = 0.1
RESERVE_POOL_TIMEOUT_S = 5       # PgBouncer's default
QUERY_WAIT_TIMEOUT_CAP_S = 120   # PgBouncer's default
# Startup parameters PgBouncer 1.18 would refuse ("unsupported startup parameter") that the
# reference apps send: libpq `options` (psycopg2 app) and asyncpg server_settings (ASGI app). They
# are dropped, and the session settings they carried are set by connect_query on every server
# connection instead (see render_ini).
IGNORED_STARTUP = ("extra_float_digits", "options", "jit", "statement_timeout",
                   "idle_in_transaction_session_timeout")
# Port numbers of the usual poolers: PgBouncer's own, Supabase's transaction pooler.
POOLER_PORTS = (6432, 6543)
_INI_WORD = re.compile(r"[A-Za-z0-9_.\-]+")


def check_pool_mode(mode: str | None) -> str:
    """The pool mode, or exit 2 naming the valid ones."""
    if mode is None:
        return DEFAULT_POOL_MODE
    m = mode.strip().lower()
    if m not in POOL_MODES:
        raise UsageError(f"PgBouncer has no pool mode {mode!r}",
                         hint=f"use one of: {', '.join(POOL_MODES)} (default {DEFAULT_POOL_MODE})")
    return m


def check_listen(addr: str) -> str:
    """listen_addr as PgBouncer takes it: an IP address, `*`, or a host name (parsed: it goes into the ini)."""
    import ipaddress

    a = (addr or "").strip()
    if a == "*":
        return a
    try:
        return str(ipaddress.ip_address(a.strip("[]")))
    except ValueError:
        pass
    if _INI_WORD.fullmatch(a) and not a.startswith(("-", ".")):
        return a
    raise UsageError(f"--pgbouncer-listen {addr!r} is not an address PgBouncer can listen on",
                     hint="give an IP address (default 127.0.0.1), a host name or *")


@dataclass(frozen=True)
class PgBouncerPlan:
    pool_mode: str
    listen_addr: str
    listen_port: int
    items: tuple[PlanValue, ...]
    server: dict            # host, port, dbname (no user, no password)
    session_settings: dict  # what connect_query sets on each server connection
    app_settings: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    reason: str = ""        # why tune planned PgBouncer (requested, or the budget did not fit)

    @property
    def values(self) -> dict:
        return {i.name: i.value for i in self.items}

    def to_dict(self) -> dict:
        return {"pool_mode": self.pool_mode, "listen_addr": self.listen_addr, "listen_port": self.listen_port,
                "values": self.values, "explain": [i.to_dict() for i in self.items], "server": dict(self.server),
                "session_settings": dict(self.session_settings), "app_settings": list(self.app_settings),
                "warnings": list(self.warnings), "reason": self.reason, "pgbouncer_version_assumed": DEBIAN_VERSION}


def client_max_connections(peak_clients: int) -> int:
    """max_client_conn so the app's peak stays within the usable fraction (as for max_connections)."""
    return max(1, math.ceil(peak_clients / CLIENT_USABLE_FRACTION))


def server_of(database_url: str | None) -> dict:
    """host, port and dbname of the database PgBouncer forwards to (never the user or password).

    Parsed and checked word by word: they are written into pgbouncer.ini, so nothing that could
    start another key or entry gets through.
    """
    if not database_url:
        return {"host": "127.0.0.1", "port": 5432, "dbname": None}
    try:
        parts = urlsplit(database_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    except ValueError:
        raise UsageError("the database URL cannot be read for pgbouncer.ini",
                         hint="give postgresql://USER:PASSWORD@HOST:PORT/DBNAME") from None
    dbname = unquote(parts.path.lstrip("/")) or None
    for what, word in (("host", host), ("database name", dbname)):
        if word is not None and not _INI_WORD.fullmatch(word):
            raise UsageError(f"the database {what} {word!r} cannot be written into pgbouncer.ini",
                             hint="letters, digits, '.', '_' and '-' only")
    return {"host": host, "port": port, "dbname": dbname}


def plan_pgbouncer(*, peak_clients: int, per_release_clients: int, server_max_connections: int | None,
                   server_source: str, pool_mode: str | None = None, listen_addr: str = DEFAULT_LISTEN,
                   listen_port: int = PGBOUNCER_PORT, gunicorn_timeout: int = 60,
                   statement_timeout_ms: int = 30000, database_url: str | None = None,
                   driver: str = "psycopg2", reason: str = "") -> PgBouncerPlan:
    """Size PgBouncer for an app whose connections peak at `peak_clients` (both releases during a
    deploy) against a database with `server_max_connections` (PostgreSQL's default when None)."""
    mode = check_pool_mode(pool_mode)
    listen_addr = check_listen(listen_addr)
    items: list[PlanValue] = []
    warnings: list[str] = []

    def add(name, value, formula, binding, why=""):
        items.append(PlanValue(name, value, formula, binding, why))

    add("pool_mode", mode, "--pool-mode" if pool_mode else f"tune's default ({DEFAULT_POOL_MODE})",
        FLAG if pool_mode else DEFAULT,
        {"transaction": "a server connection is held only for a transaction, so many app connections share few",
         "session": "a server connection is held for the client's whole session (as without PgBouncer)",
         "statement": "returned after every statement: multi-statement transactions are refused"}[mode])
    add("listen_addr", listen_addr, "--pgbouncer-listen" if listen_addr != DEFAULT_LISTEN else "loopback",
        FLAG if listen_addr != DEFAULT_LISTEN else DEFAULT,
        "the app reaches PgBouncer on the same machine; nothing else can")
    add("listen_port", listen_port, "PgBouncer's usual port", DEFAULT, "the app's DATABASE_URL uses this port")

    budget = connection_budget(server_max_connections)
    max_db = budget.budget
    add("max_db_connections", max_db,
        f"⌊{DB_USABLE_FRACTION:g} × max_connections {budget.max_connections}⌋ ({server_source})", DB,
        "server connections PgBouncer opens at most; the rest stay free for superuser slots, migrations, psql")
    reserve = max(1, round(RESERVE_FRACTION * max_db)) if max_db >= 2 else 0
    pool = max(1, min(max_db - reserve, peak_clients))
    if pool == peak_clients:
        pool_formula = f"the app's peak {peak_clients} connections (within {max_db} − reserve {reserve})"
        pool_binding = APP
    else:
        pool_formula = (f"max_db_connections − reserve_pool_size = {max_db} − {reserve} "
                        f"(the app's peak is {peak_clients})")
        pool_binding = DB
    add("default_pool_size", pool, pool_formula, pool_binding,
        "server connections per user and database; clients past it wait for one (query_wait_timeout)")
    add("reserve_pool_size", reserve,
        f"round({RESERVE_FRACTION:g} × max_db_connections {max_db}), at least 1" if reserve
        else "max_db_connections < 2",
        DB, "extra server connections for a pool whose clients have waited reserve_pool_timeout")
    add("reserve_pool_timeout", RESERVE_POOL_TIMEOUT_S, "PgBouncer's default", DEFAULT,
        "seconds a client waits before the reserve pool may serve it")
    max_client = client_max_connections(peak_clients)
    add("max_client_conn", max_client,
        f"⌈peak app connections {peak_clients} ÷ {CLIENT_USABLE_FRACTION:g}⌉", APP,
        f"both releases during a deploy ({per_release_clients} each) plus room for psql, migrations, one-off jobs")
    wait = min(QUERY_WAIT_TIMEOUT_CAP_S, gunicorn_timeout)
    add("query_wait_timeout", wait, f"min(PgBouncer's {QUERY_WAIT_TIMEOUT_CAP_S}, Gunicorn timeout {gunicorn_timeout})",
        PLATFORM, "a query waiting for a server connection fails before Gunicorn would kill the worker")
    add("auth_type", "scram-sha-256", "PostgreSQL's default password method", DEFAULT,
        "passwords in userlist.txt (plain or SCRAM secrets), never in pgbouncer.ini")

    if mode == "session" and pool < peak_clients:
        warnings.append(f"session mode: each app connection holds a server connection for its whole life; "
                        f"{peak_clients} app connections > default_pool_size {pool}, so the rest wait up to "
                        f"query_wait_timeout {wait} s — use transaction mode or smaller app pools")
    if listen_addr not in ("127.0.0.1", "::1", "localhost"):
        warnings.append(f"PgBouncer listens on {listen_addr}, not only on loopback: anything that reaches it may "
                        "try the users in userlist.txt")
    if mode == "statement":
        warnings.append("statement mode refuses multi-statement transactions: the app must run every "
                        "statement in autocommit")
    session = {"statement_timeout": str(statement_timeout_ms),
               "idle_in_transaction_session_timeout": str(max(statement_timeout_ms, 1000)), "jit": "off"}
    return PgBouncerPlan(mode, listen_addr, listen_port, tuple(items), server_of(database_url), session,
                         tuple(app_settings(mode)), tuple(warnings), reason)


def app_settings(mode: str) -> list[str]:
    """What the app must (not) do in this pool mode, per driver, as lines for the files and the console."""
    if mode == "session":
        return ["session mode keeps session state: drivers need no change",
                f"DATABASE_URL points at PgBouncer: postgresql://USER:PASSWORD@127.0.0.1:{PGBOUNCER_PORT}/DBNAME"]
    return [
        f"DATABASE_URL points at PgBouncer: postgresql://USER:PASSWORD@127.0.0.1:{PGBOUNCER_PORT}/DBNAME",
        (f"PgBouncer {DEBIAN_VERSION} (Debian bookworm) cannot carry prepared statements in {mode} mode "
        "(max_prepared_statements came in 1.21): turn server-side prepares off"),
        "psycopg2: fine as it is (parameters are merged client-side; no server-side prepares)",
        "psycopg 3: connect with prepare_threshold=None (its default 5 prepares repeated queries)",
        "asyncpg: create_pool(..., statement_cache_size=0)",
        ("SQLAlchemy + asyncpg: create_async_engine(url, connect_args={\"statement_cache_size\": 0, "
        "\"prepared_statement_cache_size\": 0}) (or ?prepared_statement_cache_size=0 in the URL)"),
        ("no session state: no SET/RESET (use SET LOCAL inside a transaction), LISTEN, session advisory "
        "locks, WITH HOLD cursors, SQL PREPARE or temporary tables kept across transactions"),
        ("libpq `options` / asyncpg server_settings are dropped by PgBouncer (ignore_startup_parameters): "
        "the session settings they carried are set by connect_query in pgbouncer.ini "
        "(or set them on the role: ALTER ROLE ... SET statement_timeout = ...)"),
    ]


# ---------------------------------------------------------------------------------------------
# Rendering


def _ini_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def render_ini(pb: PgBouncerPlan, header: str, *, auth_file: str = USERLIST) -> str:
    """pgbouncer.ini: explained values, the database entry, comments on the version and the app settings."""
    server = pb.server
    # Unquoted values (numbers, off): the whole query sits inside the entry's single quotes.
    connect_query = "; ".join(f"SET {k} = {val}" for k, val in pb.session_settings.items())
    db_name = server["dbname"] or "*"
    target = f"host={server['host']} port={server['port']}"
    if server["dbname"]:
        target += f" dbname={server['dbname']}"
    lines = [
        header,
        "# PgBouncer between the app and PostgreSQL, sized from the same plan as gunicorn.conf.py.",
        f"# Written for PgBouncer {DEBIAN_VERSION} (Debian bookworm's package): it has no prepared-statement",
        "# support (max_prepared_statements is 1.21+), so in transaction/statement mode the app must not",
        "# prepare statements on the server. The app settings that go with this pool mode:",
        *[f"#   - {s}" for s in pb.app_settings],
        "# Run: pgbouncer pgbouncer.ini (as a user other than root; it refuses root).",
        "",
        "[databases]",
        "; the app's database; connect_query sets on each server connection the session settings",
        "; that PgBouncer drops from the clients' startup packets (ignore_startup_parameters below)",
        f"{db_name} = {target} connect_query='{connect_query}'",
        "",
        "[pgbouncer]",
    ]
    for item in pb.items:
        lines.append(f"; {item.formula} [{item.binding}]")
        lines.append(f"{item.name} = {_ini_value(item.value)}")
    v = pb.values
    fds = v["max_client_conn"] + v["default_pool_size"] + v["reserve_pool_size"]
    lines += [
        f"; file descriptors needed ≈ max_client_conn + default_pool_size + reserve_pool_size = {fds}:",
        "; the open-files limit (ulimit -n) PgBouncer runs under must allow it",
        f"auth_file = {auth_file}",
        f"ignore_startup_parameters = {','.join(IGNORED_STARTUP)}",
        "; no unix socket: the app connects over loopback TCP",
        "unix_socket_dir =",
    ]
    return "\n".join(lines) + "\n"


def render_userlist(header: str) -> str:
    """userlist.txt without secrets: the user fills in the password (or a SCRAM secret) and keeps it 0600."""
    return "\n".join([
        header,
        "; PgBouncer's users: one line per user, \"name\" \"password-or-SCRAM-secret\".",
        "; Fill in the app's database user and password (or its SCRAM secret from",
        ";   SELECT rolpassword FROM pg_authid WHERE rolname = 'USER'), keep this file private (0600).",
        "; hmb-ops never writes a secret here.",
        '"USER" "PASSWORD"',
    ]) + "\n"


# ---------------------------------------------------------------------------------------------
# App settings against a pool mode (`tune check`)


def _driver(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if "asyncpg" in scheme:
        return "asyncpg"
    if scheme.endswith("+psycopg"):
        return "psycopg3"
    return "psycopg2"  # postgres://, postgresql://, +psycopg2: libpq with client-side parameters


def pool_mode_of(env: Mapping[str, str]) -> tuple[str | None, str]:
    """(pool mode, where it came from) for an app's environment; (None, "") when no pooler is in sight."""
    declared = (env.get("PGBOUNCER_POOL_MODE") or "").strip().lower()
    if declared:
        return declared, "PGBOUNCER_POOL_MODE"
    url = env.get("DATABASE_URL") or ""
    try:
        port = urlsplit(url).port
    except ValueError:
        return None, ""
    if port in POOLER_PORTS:
        return DEFAULT_POOL_MODE, f"assumed: DATABASE_URL uses port {port}, a pooler's (declare PGBOUNCER_POOL_MODE)"
    return None, ""


def pool_mode_conflicts(env: Mapping[str, str], pool_mode: str | None = None) -> list[str]:
    """The app settings in `env` that break under the pool mode (given, else read from env), one line each.

    Read: DATABASE_URL (driver from its scheme, query parameters), DB_STATEMENT_CACHE_SIZE (asyncpg),
    DB_PREPARE_THRESHOLD (psycopg 3), PGOPTIONS and the URL's `options` (session settings at connect).
    """
    where = "given"
    if pool_mode is None:
        pool_mode, where = pool_mode_of(env)
        if pool_mode is None:
            return []
    if pool_mode not in POOL_MODES:
        return [f"PGBOUNCER_POOL_MODE={pool_mode!r} is not a PgBouncer pool mode ({', '.join(POOL_MODES)})"]
    url = env.get("DATABASE_URL") or ""
    query = {k.lower(): vals[-1] for k, vals in parse_qs(urlsplit(url).query).items()} if url else {}
    found = []
    if pool_mode in ("transaction", "statement"):
        driver = (env.get("DB_DRIVER") or "").strip().lower() or (_driver(url) if url else "psycopg2")
        mode_text = f"pool mode {pool_mode} ({where})"
        if driver == "asyncpg":
            cache = env.get("DB_STATEMENT_CACHE_SIZE", query.get("statement_cache_size",
                                                               query.get("prepared_statement_cache_size")))
            if cache is None or cache.strip() != "0":
                found.append(f"asyncpg's statement cache is on (statement_cache_size default 100) with {mode_text}: "
                             f"PgBouncer {DEBIAN_VERSION} cannot carry prepared statements; set statement_cache_size=0 "
                             "(SQLAlchemy: connect_args statement_cache_size=0, prepared_statement_cache_size=0)")
        elif driver in ("psycopg3", "psycopg"):
            threshold = env.get("DB_PREPARE_THRESHOLD", query.get("prepare_threshold"))
            if threshold is None or threshold.strip().lower() not in ("none", ""):
                found.append(f"psycopg 3 prepares a query after prepare_threshold (default 5) runs with {mode_text}: "
                             "connect with prepare_threshold=None")
        if env.get("PGOPTIONS", "").strip():
            found.append(f"PGOPTIONS sets session settings at connect with {mode_text}: PgBouncer drops or refuses "
                         "them; set them on the role or with connect_query")
        if query.get("options"):
            found.append(f"DATABASE_URL's options= sets session settings at connect with {mode_text}: PgBouncer "
                         f"{DEBIAN_VERSION} refuses the options startup parameter unless ignored (then lost); "
                         "set them on the role or with connect_query")
    return found


# ---------------------------------------------------------------------------------------------
# Writing (through tune --out's writer)


def owned_writes(prepared):
    """tune --out's decisions for pgbouncer.ini and userlist.txt, adjusted for what they are.

    The writer decides create / regenerate / refuse / force for pgbouncer.ini like for every file
    (a user's own one under --merge is refused: an ini has no hmb-ops keys to merge). userlist.txt is
    a template the user fills with passwords: it is created private (0600) when missing and an
    existing one is never touched, whoever wrote it, so no password is ever lost.
    """
    import dataclasses
    import os

    writes = []
    for write in prepared.writes:
        w = write
        if w.name == USERLIST:
            if w.previous is None:
                w = dataclasses.replace(w, mode=0o600)
            else:
                mode = os.stat(prepared.out_dir / w.name).st_mode & 0o777
                w = dataclasses.replace(w, action="unchanged", text=w.previous, mode=mode, backup=None,
                                        reason="yours to fill in: an existing userlist.txt is kept as it is")
        elif w.name == INI and w.action == "refuse":
            w = dataclasses.replace(w, reason="not written by hmb-ops (no generated-by header); PgBouncer's files "
                                              "are not merged: move yours away or use --force (a backup is kept)")
        writes.append(w)
    return dataclasses.replace(prepared, writes=tuple(writes))
