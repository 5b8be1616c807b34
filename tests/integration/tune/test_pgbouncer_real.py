"""A real PgBouncer (Debian's package) between the reference app and the embedded PostgreSQL, run
with the pgbouncer.ini `tune --pgbouncer` writes: under the smoke load the app holds more client
connections than PgBouncer's pool, and the database never sees more than the pool.

The set-up installs Debian's `pgbouncer` when it is missing (apt-get update once, then install), and
skips with the reason only where that cannot work (not root, no apt-get, apt failing). PgBouncer
refuses to run as root: as root it runs as the unprivileged `postgres` user the package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from debian_packages import install

PGBOUNCER = "/usr/sbin/pgbouncer"
SERVICE_USER = "postgres"
DECLARED_MAX_CONNECTIONS = 5   # a small database: ⌊0.8 × 5⌋ = 4 server connections through PgBouncer
SMOKE_USERS = 12


@pytest.fixture(scope="session")
def pgbouncer_bin() -> str:
    why = install(["pgbouncer"], Path(PGBOUNCER))
    if why:
        pytest.skip(f"PgBouncer is not installed and could not be: {why}")
    return PGBOUNCER


@pytest.fixture(scope="module")
def seeded_url(module_database):
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes

    ensure_seeded(module_database, scale="small")
    ensure_indexes(module_database)
    return module_database


class PgBouncerProcess:
    """pgbouncer with the given folder's pgbouncer.ini, as a non-root user when we are root."""

    def __init__(self, binary: str, folder: Path):
        self.binary, self.folder = binary, folder
        self.proc: subprocess.Popen | None = None
        self.log = folder / "pgbouncer.log"

    def start(self, port: int, timeout: float = 15) -> None:
        ids: dict = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVICE_USER)
            ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        # cwd = the folder: the ini names userlist.txt relative to it, as its comment says to run it.
        self.proc = subprocess.Popen([self.binary, str(self.folder / "pgbouncer.ini")], cwd=self.folder,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, **ids)
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgbouncer exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"pgbouncer did not listen on {port}: {self.log.read_text()[-2000:]}")

    def client_connections(self, port: int) -> int:
        import psutil

        try:
            conns = psutil.Process(self.proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return 0
        return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _fill_userlist(path: Path, database_url: str) -> tuple[str, str]:
    """What a user does after tune: put the database user and password into the template."""
    parts = urlsplit(database_url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    text = path.read_text().replace('"USER" "PASSWORD"', f'"{user}" "{password}"')
    path.write_text(text)
    return user, password


def _private_folder_for_service_user() -> Path:
    # Outside pytest's tmp root (0700 root): the service user must read the ini and the userlist.
    folder = Path(tempfile.mkdtemp(prefix="hmb-ops-pgbouncer-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


@pytest.mark.slow
def test_load_through_real_pgbouncer_stays_within_the_pool(pgbouncer_bin, seeded_url, pg_url, tmp_path):
    from hmb_ops.db.connect import connection
    from hmb_ops.loadtest.api import LoadRequest, run_load
    from hmb_ops.ports import free_port
    from hmb_ops.stack.gunicorn import GunicornProcess
    from hmb_ops.tune.api import plan_for, tier_environment, write_files

    plan = plan_for(cpus=2, memory="2GB", worker_memory="64MB", max_connections=DECLARED_MAX_CONNECTIONS,
                    pgbouncer=True, database_url=seeded_url)
    pb = plan.pgbouncer.values
    server_limit = pb["default_pool_size"] + pb["reserve_pool_size"]
    assert pb["max_db_connections"] == 4 and server_limit <= 4
    app_connections = plan.values["workers"] * plan.values["db_pool_max"]
    assert app_connections > server_limit  # the app alone could hold more than PgBouncer gives it

    folder = _private_folder_for_service_user()
    pgb = PgBouncerProcess(pgbouncer_bin, folder)
    app = None
    try:
        write_files(plan, folder)
        ini = folder / "pgbouncer.ini"
        port = free_port()
        # The one change to the generated file: another PgBouncer may hold 6432 on a shared machine.
        text = ini.read_text()
        assert "listen_port = 6432\n" in text and "listen_addr = 127.0.0.1\n" in text
        ini.write_text(text.replace("listen_port = 6432\n", f"listen_port = {port}\n"))
        user, password = _fill_userlist(folder / "userlist.txt", seeded_url)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVICE_USER)
            for name in ("pgbouncer.ini", "userlist.txt"):
                os.chown(folder / name, entry.pw_uid, entry.pw_gid)
        pgb.start(port)

        dbname = urlsplit(seeded_url).path.lstrip("/")
        through = urlsplit(seeded_url)._replace(netloc=f"{user}:{password}@127.0.0.1:{port}").geturl()
        # The session settings the app sent in its startup packet now come from connect_query.
        with connection(through, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()[0] in ("30s", "30000ms")

        env = tier_environment(plan)
        app = GunicornProcess(through, config_file=str(folder / "gunicorn.conf.py"), env=env,
                              log_dir=str(tmp_path / "app"))
        app.start(ready_timeout=60)

        peak = {"db": 0, "clients": 0}
        stop = threading.Event()

        def sample():
            with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                "AND backend_type = 'client backend'", (dbname,))
                    peak["db"] = max(peak["db"], cur.fetchone()[0])
                    peak["clients"] = max(peak["clients"], pgb.client_connections(port))
                    stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            # The smoke profile with more users than PgBouncer has server connections (12 > 4), so
            # the app's workers open more pool connections than the pool gives them.
            doc = run_load(LoadRequest(profile="smoke", users=SMOKE_USERS, spawn_rate=SMOKE_USERS,
                                       target=app.url, out_dir=str(tmp_path / "load")))
        finally:
            stop.set()
            sampler.join(timeout=10)
        # Shown with -s (docs/tune.md quotes a run).
        print(f"\nthrough PgBouncer: {doc.summary.requests} requests, {doc.summary.failures} failures; peak "
              f"{peak['clients']} client connections to PgBouncer, {peak['db']} database backends "
              f"(default_pool_size {pb['default_pool_size']} + reserve {pb['reserve_pool_size']})")
        assert doc.summary.requests > 20
        assert doc.summary.failures <= doc.summary.requests * 0.01, doc.summary.failures_by_kind
        assert peak["clients"] > server_limit, peak           # the app's clients exceed the pool ...
        assert 1 <= peak["db"] <= server_limit, peak           # ... and the database stays within it
        assert peak["db"] <= pb["max_db_connections"]
    finally:
        if app is not None:
            app.stop()
        pgb.stop()
        shutil.rmtree(folder, ignore_errors=True)
