"""Run the reference app (or any WSGI target) under a real Gunicorn master, and always clean up.

Every user of the reference app (tests, load runs, `app serve`) goes through `GunicornProcess`, so
the rules live in one place: the bind address is given on the command line (it wins over any
config file), a taken port is reported before Gunicorn spends five seconds retrying it, the master
runs in its own process group so stopping it can never leave a worker behind, and each run gets
its own Prometheus multiprocess folder so /metrics never mixes two runs.

The app refuses to start without a token secret (HMB_REFAPP_TOKEN_SECRET). Callers that know a
state folder pass its secret (`token_secret=`, see hmb_ops.refapp.secret); otherwise a secret in
the environment is used as it is, and an unset, empty or placeholder one is replaced by a random key
that lives as long as this object (a run that only needs /health, such as measuring memory).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from hmb_ops.errors import EnvironmentUnusable, PortInUse
from hmb_ops.ports import free_port, port_is_free
from hmb_ops.private_files import TOKEN_SECRET_ENV, TOKEN_SECRET_PLACEHOLDER, new_token_secret

# The reference app's own Gunicorn settings (it belongs to the app), named by path: Gunicorn reads it,
# hmb-ops never imports it.
DEFAULT_CONFIG = str(Path(__file__).resolve().parents[1] / "refapp" / "gunicorn_default.py")


def last_log_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# An app that cannot load says why in one line: Gunicorn prints an AppImportError raised in a worker
# as a bare line before "Worker exiting", and one raised in the master (preload) as a traceback.
_LOAD_ERROR = re.compile(r"^(?:gunicorn\.errors\.AppImportError|hmb_ops\.refapp\.settings\.SettingsError): (.+)$")


def _start_failure(path: Path) -> str:
    """The line that says why Gunicorn stopped at start: the app's own reason when it gave one."""
    try:
        lines = [ln.rstrip() for ln in path.read_text(errors="replace").splitlines()[-200:] if ln.strip()]
    except OSError:
        return ""
    reason = ""
    for i, line in enumerate(lines):
        match = _LOAD_ERROR.match(line)
        if match:
            reason = match.group(1)
        elif (not line.startswith(("[", " ", "Traceback", "During handling")) and i + 1 < len(lines)
              and "Worker exiting" in lines[i + 1]):
            reason = line
    return reason or (lines[-1].strip() if lines else "")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class GunicornProcess:
    """A Gunicorn master serving `app` on host:port; a context manager that never leaks processes."""

    def __init__(self, database_url: str, *, host: str = "127.0.0.1", port: int = 0,
                 config_file: str | None = None, workers: int | None = None,
                 threads: int | None = None, worker_class: str | None = None,
                 env: dict[str, str] | None = None, log_dir: str | None = None,
                 app: str = "hmb_ops.refapp.wsgi:app", token_secret: str | None = None,
                 wrap: Callable[[list[str]], list[str]] | None = None):
        self.database_url = database_url
        # Bare address inside; brackets only where a URL or Gunicorn's HOST:PORT needs them.
        self.host = host.strip().removeprefix("[").removesuffix("]")
        self.port = int(port or 0)
        self.config_file = str(config_file) if config_file else DEFAULT_CONFIG
        self.workers = workers
        self.threads = threads
        self.worker_class = worker_class
        self.extra_env = dict(env or {})
        self.app = app
        self.token_secret = token_secret
        # Puts the command inside CPU/memory limits before it runs (hmb_ops.stack.confinement.Confined.wrap):
        # the master starts confined, so its workers inherit the limits.
        self.wrap = wrap
        self._run_secret: str | None = None
        self._own_log_dir = log_dir is None
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="hmb-gunicorn-"))
        self.log_file = self.log_dir / "gunicorn.log"
        self._proc: subprocess.Popen | None = None
        self._metrics_dir: str | None = None
        self._log_handle: BinaryIO | None = None
        self.url = ""
        self.pid = 0

    def _bracketed(self) -> str:
        # An IPv6 literal in HOST:PORT is ambiguous: Gunicorn reads `::1:8000` as host `::1:8000`
        # with an empty port. `[::1]:8000` is the form both Gunicorn and URLs take.
        return f"[{self.host}]" if ":" in self.host else self.host

    # -- lifecycle ------------------------------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "gunicorn", "--config", self.config_file,
               "--bind", f"{self._bracketed()}:{self.port}"]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        if self.worker_class:
            cmd += ["--worker-class", self.worker_class]
        return cmd + [self.app]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        if self.token_secret is not None:
            env[TOKEN_SECRET_ENV] = self.token_secret
        elif env.get(TOKEN_SECRET_ENV, "").strip() in ("", TOKEN_SECRET_PLACEHOLDER):
            if self._run_secret is None:
                self._run_secret = new_token_secret()
            env[TOKEN_SECRET_ENV] = self._run_secret
        env["DATABASE_URL"] = self.database_url
        env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir or ""
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self, ready_timeout: float = 30) -> GunicornProcess:
        if self._proc is not None:
            return self
        if self.port == 0:
            self.port = free_port(self.host)
        elif not port_is_free(self.host, self.port):
            raise PortInUse(f"port {self.port} on {self.host} is already in use",
                            hint="stop what listens there or choose another with --port")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._metrics_dir = tempfile.mkdtemp(prefix="hmb-metrics-")
        self._log_handle = open(self.log_file, "ab")  # noqa: SIM115 - Gunicorn writes to it until stop() closes it
        command = self.wrap(self.command()) if self.wrap is not None else self.command()
        self._proc = subprocess.Popen(command, env=self.environment(), stdout=self._log_handle,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, cwd=os.getcwd())
        self.pid = self._proc.pid
        self.url = f"http://{self._bracketed()}:{self.port}"
        atexit.register(self.stop)
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None  # start() set it
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                line = _start_failure(self.log_file) or f"exit code {code}"
                if "connection in use" in _tail(self.log_file).lower():
                    raise PortInUse(f"port {self.port} on {self.host} is already in use: {line}",
                                    hint="choose another with --port")
                raise EnvironmentUnusable(f"gunicorn exited at start: {line}", hint=f"see {self.log_file}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.1)
        raise EnvironmentUnusable(f"gunicorn did not answer GET /health within {timeout:.0f} s: "
                                  f"{last_log_line(self.log_file)}", hint=f"see {self.log_file}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the master to exit by itself (returns its exit code, None on timeout)."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def worker_pids(self) -> list[int]:
        if not self.running():
            return []
        import psutil

        try:
            return sorted(c.pid for c in psutil.Process(self.pid).children())
        except psutil.Error:
            return []

    def stop(self, timeout: float = 30) -> None:
        """Graceful SIGTERM (workers drain their background jobs), then SIGKILL the whole group."""
        proc = self._proc
        if proc is not None:
            try:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            self._proc = None
            atexit.unregister(self.stop)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self._metrics_dir:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None

    def cleanup_logs(self) -> None:
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> GunicornProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
