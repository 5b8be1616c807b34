"""The planner's answer on a what-if copy: a scratch database on hmb-ops's embedded server.

Used when the user's server has no HypoPG. The copy never touches the user's tables: it holds the
schema (``pg_dump --no-data --statistics``, with the embedded install's pg_dump, 18) and the
planner statistics, and the candidates are real ``CREATE INDEX`` there. The scratch database is
hmb-ops's own (its name and comment say so) and is dropped afterwards; nothing else is touched.

Why the table files are padded: the planner reads a table's real size on disk (an empty table
plans as tiny whatever pg_class says; field notes §4), so each empty table's file is extended to
its source's ``relpages`` with all-zero pages: valid, empty pages to PostgreSQL, and a sparse file
that costs no disk. Then relpages/reltuples/relallvisible are restored with
``pg_restore_relation_stats`` (a CREATE INDEX resets them, so again after each build) and the
column statistics come from the dump. Only files of the scratch database that are still empty are
ever extended. Indexes are built on empty tables, so their own size on disk is not the real one:
sizes are estimated from the statistics (rows × key width).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.indexes.suggest import planning
from hmb_ops.indexes.suggest.candidates import Candidate

SCRATCH_PREFIX = "hmb_ops_whatif_"
SCRATCH_COMMENT = "hmb-ops what-if copy (indexes suggest), dropped when it ends; pid "
_TABLES_SQL = """
SELECT n.nspname, c.relname, c.relpages, c.reltuples, c.relallvisible
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
"""


def _libpq_env(conn) -> dict[str, str]:
    """The connection's parameters as PG* variables: the password never appears on a command line."""
    params = conn.get_dsn_parameters()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
               "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY"}
    for key, var in mapping.items():
        if params.get(key):
            env[var] = params[key]
    password = conn.info.password
    if password:
        env["PGPASSWORD"] = password
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def _first_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "RuntimeDirWarning" not in ln]
    return (lines or ["no output"])[0][:300]


class CopyWhatIf:
    method = "what-if copy"

    def __init__(self, target_conn, state_dir, server_version: int):
        from hmb_ops.db.embedded import EmbeddedServer

        self.target = target_conn
        self.server_version_target = server_version
        self.embedded = EmbeddedServer(state_dir)
        self.started_server = False
        self.conn: Any = None
        self.name = SCRATCH_PREFIX + uuid.uuid4().hex[:12]
        self.created = False
        self.names: dict[str, Candidate] = {}
        self.built: dict[tuple, str] = {}
        self.rel_stats: dict[tuple[str, str], tuple[int, float, int]] = {}
        self.notes: list[str] = []
        self.trigram_ok = False
        self.server_version = 0

    # -- set-up ----------------------------------------------------------------------------------
    def open(self) -> CopyWhatIf:
        from hmb_ops.db.connect import connect, connection

        status = self.embedded.status()
        if not status.running:
            _, self.started_server = self.embedded.up()
        admin = self.embedded.url("postgres")
        if admin is None:
            raise EnvironmentUnusable("the embedded PostgreSQL for the what-if copy is not running",
                                      hint="run `hmb-ops db up` (or install HypoPG on your server)")
        with connection(admin, autocommit=True, application_name="hmb-ops indexes suggest") as conn, \
                conn.cursor() as cur:
            self._drop_leftovers(cur)
            cur.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
            cur.execute(f'COMMENT ON DATABASE "{self.name}" IS %s', (SCRATCH_COMMENT + str(os.getpid()),))
        scratch_url = self.embedded.url(self.name)
        assert scratch_url is not None
        self._copy_schema(scratch_url)
        self.conn = connect(scratch_url, application_name="hmb-ops indexes suggest")
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            self.server_version = int(cur.fetchone()[0])
            self._pad_and_restore(cur)
            with self.target.cursor() as tcur:
                tcur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
                target_has_trgm = tcur.fetchone() is not None
            self.target.rollback()
            if target_has_trgm:
                try:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    self.trigram_ok = True
                except Exception as exc:  # noqa: BLE001 - no pg_trgm in the copy: trigram candidates are not tried
                    self.notes.append(f"pg_trgm could not be created in the what-if copy: {exc}".strip())
        self.conn.autocommit = False
        return self

    def _drop_leftovers(self, cur) -> None:
        """Scratch databases of suggest runs that died (their pid is gone): hmb-ops's own, by name and comment."""
        cur.execute("SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
                    "WHERE d.datname LIKE %s", (SCRATCH_PREFIX + "%",))
        for name, comment in cur.fetchall():
            if not (comment or "").startswith(SCRATCH_COMMENT):
                continue
            pid = comment[len(SCRATCH_COMMENT):].strip()
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _copy_schema(self, scratch_url: str) -> None:
        from hmb_ops.db.connect import connection

        env = _libpq_env(self.target)
        pg_dump = str(self.embedded._bin("pg_dump"))
        res = subprocess.run([pg_dump, "--no-data", "--statistics", "--no-owner", "--no-privileges",
                              "--no-publications", "--no-subscriptions"], capture_output=True, text=True,
                             env=env, timeout=120, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            # a pg_dump that cannot export statistics from this server: the schema alone, sizes still copied
            res = subprocess.run([pg_dump, "--schema-only", "--no-owner", "--no-privileges",
                                  "--no-publications", "--no-subscriptions"], capture_output=True, text=True,
                                 env=env, timeout=120, stdin=subprocess.DEVNULL)
            self.notes.append("column statistics were not copied (pg_dump could not export them): "
                              "selectivity estimates in the copy are the planner's defaults")
        if res.returncode != 0:
            raise EnvironmentUnusable(f"pg_dump of the schema failed: {_first_error(res.stderr)}",
                                      hint="suggest needs to read the schema (pg_dump --no-data); check the role's "
                                           "privileges, or install HypoPG on the server")
        with connection(scratch_url) as sconn:
            senv = _libpq_env(sconn)
        psql = str(self.embedded._bin("psql"))
        restore = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=0"], input=res.stdout,
                                 capture_output=True, text=True, env=senv, timeout=300)
        errors = [ln for ln in restore.stderr.splitlines() if "ERROR:" in ln]
        if errors:
            self.notes.append(f"{len(errors)} schema statement(s) failed in the what-if copy (first: "
                              f"{errors[0].split('ERROR:', 1)[1].strip()[:160]}); statements on those objects "
                              "cannot be planned there")

    def _pad_and_restore(self, cur) -> None:
        with self.target.cursor() as tcur:
            tcur.execute(_TABLES_SQL)
            for schema, rel, pages, tuples, allvisible in tcur.fetchall():
                self.rel_stats[(schema, rel)] = (int(pages), float(tuples), int(allvisible))
        self.target.rollback()
        cur.execute("SELECT current_setting('block_size')::int, "
                    "pg_size_bytes(current_setting('segment_size')), oid FROM pg_database "
                    "WHERE datname = current_database()")
        block, segment, dboid = cur.fetchone()
        for (schema, rel), (pages, _t, _v) in self.rel_stats.items():
            cur.execute("SELECT c.oid, pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'm')",
                        (schema, rel))
            row = cur.fetchone()
            if row is None or row[1] is None:
                continue
            cur.execute("SELECT format('ALTER TABLE %%I.%%I SET (autovacuum_enabled = false)', %s::text, %s::text)",
                        (schema, rel))
            cur.execute(cur.fetchone()[0])
            self._pad(row[1], pages, block, segment, dboid)
            self._restore(cur, schema, rel)

    def _pad(self, relpath: str, pages: int, block: int, segment: int, dboid: int) -> None:
        if pages <= 0:
            return
        if not relpath.startswith(f"base/{dboid}/"):
            raise EnvironmentUnusable(f"refusing to pad {relpath}: not a file of the scratch database")
        base = self.embedded.data / relpath
        owner = base.stat()
        remaining = pages * block
        seg = 0
        while remaining > 0:
            path = base if seg == 0 else base.with_name(f"{base.name}.{seg}")
            size = min(remaining, segment)
            if path.exists() and path.stat().st_size != 0:
                raise EnvironmentUnusable(f"refusing to pad {path}: it is not empty")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.ftruncate(fd, size)  # sparse: all-zero pages are valid empty pages
            finally:
                os.close(fd)
            if os.geteuid() == 0:
                os.chown(path, owner.st_uid, owner.st_gid)
            remaining -= size
            seg += 1

    def _restore(self, cur, schema: str, rel: str) -> None:
        pages, tuples, allvisible = self.rel_stats[(schema, rel)]
        cur.execute("SELECT pg_restore_relation_stats('schemaname', %s::text, 'relname', %s::text, "
                    "'relpages', %s::integer, 'reltuples', %s::real, 'relallvisible', %s::integer)",
                    (schema, rel, pages, tuples, min(allvisible, pages)))

    # -- questions -------------------------------------------------------------------------------
    def build(self, candidates: list[Candidate]) -> list[str]:
        """CREATE INDEX every candidate in the copy; returns the problems of those that cannot be built."""
        assert self.conn is not None
        problems: list[str] = []
        touched: set[tuple[str, str]] = set()
        with self.conn.cursor() as cur:
            for c in candidates:
                if c.identity in self.built:
                    continue
                name = f"hmb_whatif_{len(self.built) + 1}"
                try:
                    cur.execute(c.ddl(name))
                    self.conn.commit()
                except Exception as exc:  # noqa: BLE001 - a candidate the server refuses (type without opclass) is dropped
                    self.conn.rollback()
                    problems.append(f"{c.table}({c.key_sql()}): {str(exc).strip().splitlines()[0]}")
                    continue
                self.built[c.identity] = name
                self.names[name] = c
                touched.add((c.schema, c.table))
            for schema, rel in touched:
                if (schema, rel) in self.rel_stats:
                    self._restore(cur, schema, rel)
            self.conn.commit()
        return problems

    def plan(self, sql: str, present: list[Candidate], values: list | None = None):
        assert self.conn is not None
        keep = {c.identity for c in present}
        hide = [name for ident, name in self.built.items() if ident not in keep]
        with self.conn.cursor() as cur:
            try:
                if hide:
                    cur.execute("DROP INDEX " + ", ".join(hide))  # our own names; rolled back below
                plan, mode = planning.explain(cur, sql, self.server_version, values)
                used = {name: self.names[name] for name in self.names if name not in hide}
                return plan, mode, used
            finally:
                self.conn.rollback()

    def param_types(self, sql: str) -> list[str]:
        assert self.conn is not None
        return planning.param_types_rolled_back(self.conn, sql)

    def size(self, c: Candidate) -> tuple[int | None, str]:
        """rows × (index tuple header + key widths + line pointer) / (page × 90 % fill), from the statistics."""
        _pages, tuples, _ = self.rel_stats.get((c.schema, c.table), (0, 0.0, 0))
        if tuples <= 0:
            return None, "not estimated (the table has no statistics: ANALYZE it)"
        assert self.conn is not None
        with self.conn.cursor() as cur:
            cur.execute("SELECT attname, avg_width FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                        (c.schema, c.table))
            widths = dict(cur.fetchall())
        self.conn.rollback()
        key_width = sum(max(8, (widths.get(col) or 8) + 7) // 8 * 8 for col in c.columns())
        if c.method == "gin":
            # trigram GIN: about one entry per distinct trigram and a posting per row and trigram;
            # a rough figure only (posting lists compress)
            width = (widths.get(c.columns()[0]) or 16)
            return int(tuples * width * 2.5), "rough estimate from column width × rows (GIN)"
        per_tuple = 8 + key_width + 4
        return int(tuples * per_tuple / (8192 * 0.9) * 8192) + 2 * 8192, "estimated from rows × key width"

    def close(self) -> None:
        from hmb_ops.db.connect import connection

        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
        if self.created:
            admin = self.embedded.url("postgres")
            if admin:
                with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False
        if self.started_server:
            self.embedded.down()
            self.started_server = False
