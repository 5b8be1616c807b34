"""Facts about the running system that a plan needs: per-worker memory, the database's max_connections.

Worker memory is measured on a real Gunicorn with one worker after a warm-up that does what the app
does in production: the reference app runs its reference scenario against a seeded database (login,
feeds, writes: its pool, caches and request buffers exist), any other app runs the scenario or URL
list the user gives (`Warmup`), from its own folder (`AppLocation`, --chdir/--pythonpath).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.errors import EnvironmentUnusable, UsageError
from hmb_ops.resources import format_size
from hmb_ops.tune.plan import REFAPP

# /health needs no database; a URL nothing listens on keeps the measurement from opening one.
_NO_DATABASE = "postgresql://hmb:unused@127.0.0.1:9/hmb_ops_measure"
MAX_WARMUP_URLS = 1000


@dataclass(frozen=True)
class Warmup:
    """What is sent before RSS is read: `run(base_url)` returns a description ("40 requests of ...")."""

    description: str
    run: Callable[[str], str]


def read_url_list(path: str | os.PathLike) -> list[str]:
    """--warmup-urls FILE: one path (or loopback URL) per line, # comments; bad lines are file:line errors."""
    from urllib.parse import urlsplit

    from hmb_ops.errors import ConfigError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--warmup-urls {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--warmup-urls {path}: cannot read it: {exc}") from None
    urls: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = urlsplit(line)
        if parts.scheme or parts.netloc:
            if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ConfigError("warm-up URLs go to the measured app on loopback: give a path like /items",
                                  path=str(p), line=n)
            line = parts.path + (f"?{parts.query}" if parts.query else "")
        if not line.startswith("/") or any(c.isspace() for c in line):
            raise ConfigError(f"not a path: {line[:60]!r}", path=str(p), line=n,
                              hint="one path per line, e.g. /items?page=2")
        urls.append(line)
        if len(urls) > MAX_WARMUP_URLS:
            raise ConfigError(f"more than {MAX_WARMUP_URLS} URLs", path=str(p), line=n)
    if not urls:
        raise ConfigError("no URLs in it", path=str(p), hint="one path per line, e.g. /items")
    return urls


def url_warmup(urls: list[str], *, rounds: int = 3, source: str = "") -> Warmup:
    """GET each path `rounds` times; any status counts (a 404 still exercises the app), a refused
    connection or a 5xx on every request is an error."""
    def run(base: str) -> str:
        statuses: dict[int, int] = {}
        for _ in range(rounds):
            for path in urls:
                try:
                    with urllib.request.urlopen(base + path, timeout=10) as resp:
                        resp.read()
                        code = resp.status
                except urllib.error.HTTPError as exc:
                    code = exc.code
                except (urllib.error.URLError, OSError) as exc:
                    raise EnvironmentUnusable(f"warm-up GET {path} failed: {exc}",
                                              hint="check the app answers on that path") from None
                statuses[code] = statuses.get(code, 0) + 1
        total = sum(statuses.values())
        if statuses and all(code >= 500 for code in statuses):
            raise EnvironmentUnusable(f"every warm-up request failed ({', '.join(map(str, sorted(statuses)))})",
                                      hint="check the app's log, its database URL and the paths given")
        summary = ", ".join(f"{c}×{k}" for k, c in sorted(statuses.items()))
        return f"{total} GET of {len(urls)} path(s){f' from {source}' if source else ''} ({summary})"
    return Warmup(f"{len(urls)} path(s) × {rounds}", run)


def health_warmup(requests: int = 5) -> Warmup:
    def run(base: str) -> str:
        for _ in range(requests):
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                resp.read()
        return f"{requests} GET /health (no database: an idle worker)"
    return Warmup(f"{requests} GET /health", run)


def worker_memory(*, app: str = REFAPP, database_url: str | None = None, requests: int = 5,
                  threads: int = 4, worker_class: str | None = None, location=None,
                  warmup: Warmup | None = None) -> tuple[int, int, str]:
    """(worker RSS, master RSS, source) of one worker after the warm-up.

    RSS rather than USS: without preload every worker imports the app itself, so its RSS is what
    one more worker costs, give or take shared libraries (the conservative side).
    """
    if app == REFAPP and location is None:
        return _refapp_memory(database_url, requests, threads, warmup)
    if warmup is None:
        raise UsageError("--measure-memory for your app needs a warm-up: --scenario FILE or --warmup-urls FILE",
                         hint="or declare the per-worker memory with --worker-memory SIZE")
    from hmb_ops.tune.user_app import require_importable, resolve_location

    location = location or resolve_location(None, None)
    env = {"DATABASE_URL": database_url} if database_url else {}
    wc = worker_class or "gthread"   # tune's default worker class, as the plan will most likely use
    require_importable(app, location, env, wc)   # a WSGI app under an ASGI worker fails its warm-up, and the reverse
    with _UserGunicorn(app, location, wc, threads, env) as server:
        done = warmup.run(server.url)
        worker_rss, uss, master = server.rss()
    source = (f"measured: RSS of 1 {wc} worker of {app} (from {location.chdir}) after {done} "
              f"({format_size(worker_rss)}; USS {format_size(uss)})")
    return worker_rss, master, source


def _refapp_memory(database_url: str | None, requests: int, threads: int,
                   warmup: Warmup | None) -> tuple[int, int, str]:
    import psutil

    from hmb_ops.stack.gunicorn import GunicornProcess

    if warmup is None:
        warmup = health_warmup(requests) if database_url is None else None
    if warmup is None:
        raise UsageError("measuring the reference app against a database needs its warm-up scenario",
                         hint="the CLI passes the shipped reference scenario; or declare --worker-memory")
    proc = GunicornProcess(database_url or _NO_DATABASE, workers=1, threads=threads,
                           worker_class="gthread", app=REFAPP)
    try:
        proc.start(ready_timeout=30)
        done = warmup.run(proc.url)
        pids = proc.worker_pids()
        if not pids:
            raise EnvironmentUnusable("could not measure worker memory: the worker is gone",
                                      hint=f"see {proc.log_file}, or declare it with --worker-memory")
        worker = psutil.Process(pids[0]).memory_full_info()
        master = psutil.Process(proc.pid).memory_info().rss
    except psutil.Error as exc:
        raise EnvironmentUnusable(f"could not measure worker memory: {exc}",
                                  hint="declare it with --worker-memory SIZE") from None
    finally:
        proc.stop()
        proc.cleanup_logs()
    source = (f"measured: RSS of 1 gthread worker of {REFAPP} after {done} "
              f"({format_size(worker.rss)}; USS {format_size(worker.uss)})")
    return worker.rss, master, source


class _UserGunicorn:
    """`gunicorn --chdir DIR -w 1 APP` on a free loopback port, for one measurement; always stopped.

    The user's own gunicorn.conf.py is not read (an empty --config): its workers, bind and hooks
    belong to production, and the measurement needs exactly one worker here.
    """

    def __init__(self, app: str, location, worker_class: str, threads: int, env: dict[str, str]):
        from hmb_ops.ports import free_port

        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix="hmb-measure-")
        conf = Path(self.tmp.name) / "empty.conf.py"
        conf.write_text("# hmb-ops tune --measure-memory: settings come from the command line\n")
        self.log = Path(self.tmp.name) / "gunicorn.log"
        self.cmd = [sys.executable, "-B", "-m", "gunicorn", "--config", str(conf), *location.gunicorn_args(),
                    "--workers", "1", "--worker-class", worker_class, "--bind", f"127.0.0.1:{self.port}",
                    "--timeout", "60", app]
        if worker_class == "gthread":
            self.cmd[-1:-1] = ["--threads", str(threads)]
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> _UserGunicorn:
        # Closed in __exit__, after the process that writes it is gone.
        log = self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_ready(60)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _last_line(self) -> str:
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if "Error" in ln or "error" in ln]
        return (errors or lines or ["no output"])[-1].strip()

    def _wait_ready(self, timeout: float) -> None:
        import psutil

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvironmentUnusable(f"gunicorn exited at start: {self._last_line()}",
                                          hint="run the same app with gunicorn by hand to see the whole log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if psutil.Process(self.proc.pid).children():
                    time.sleep(0.5)   # the worker imports the app after the master binds
                    return
            except (OSError, psutil.Error):
                pass
            time.sleep(0.1)
        raise EnvironmentUnusable(f"gunicorn did not listen within {timeout:.0f} s: {self._last_line()}")

    def rss(self) -> tuple[int, int, int]:
        import psutil

        assert self.proc is not None
        try:
            children = psutil.Process(self.proc.pid).children()
            if not children:
                raise EnvironmentUnusable(f"could not measure worker memory: the worker is gone: {self._last_line()}",
                                          hint="declare it with --worker-memory SIZE")
            info = children[0].memory_full_info()
            master = psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error as exc:
            raise EnvironmentUnusable(f"could not measure worker memory: {exc}",
                                      hint="declare it with --worker-memory SIZE") from None
        return info.rss, info.uss, master

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if hasattr(self, "_log"):
            self._log.close()
        self.tmp.cleanup()


def max_connections(url: str, *, timeout: int = 3) -> int:
    from hmb_ops.db.connect import connection

    with (connection(url, autocommit=True, timeout=timeout, application_name="hmb-ops tune") as conn,
          conn.cursor() as cur):
        cur.execute("SHOW max_connections")
        return int(cur.fetchone()[0])
