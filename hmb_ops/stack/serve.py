"""Serving the reference app in the foreground until a signal arrives (`hmb-ops app serve`)."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.stack.gunicorn import GunicornProcess


def build_process(database_url: str, *, tier: str | None = None, host: str = "127.0.0.1", port: int = 8000,
                  workers: int | None = None, threads: int | None = None, background_mode: str | None = None,
                  log_dir: str | None = None, config_files: tuple[str, ...] = (),
                  work_dir: Path | None = None, state_dir: str | os.PathLike = ".hmb-ops",
                  worker_class: str | None = None,
                  ) -> tuple[GunicornProcess, dict]:
    """The app's GunicornProcess (not started) and a printable summary of its configuration."""
    from hmb_ops.private_files import TOKEN_SECRET_ENV
    from hmb_ops.stack.app import reference_app

    env = {"BACKGROUND_MODE": background_mode} if background_mode else {}
    ref = reference_app(database_url, state_dir=state_dir, tier=tier, config_files=config_files,
                        work_dir=work_dir, worker_class=worker_class,
                        host=host, port=port, workers=workers, threads=threads, env=env, log_dir=log_dir)
    summary: dict = {"source": f"built-in defaults, worker class {worker_class}" if worker_class
                     else "built-in gthread defaults"}
    if ref.tier is not None:
        # The summary is printed: it names where the key comes from, never a value (nor a placeholder).
        summary = {"source": f"tier {tier}", "gunicorn_conf": ref.tier.config_file,
                   "environment": {k: v for k, v in ref.tier.environment.items() if k != TOKEN_SECRET_ENV}}
    summary["app"] = ref.process.app
    summary["token_secret"] = ref.secret_source
    return ref.process, summary


def serve_app(database_url: str, *, on_ready: Callable[[GunicornProcess, dict], None] | None = None,
              cpus: float | None = None, memory_bytes: int | None = None, require_confinement: bool = False,
              pin_outside: tuple[int, ...] = (), on_exit: Callable[[dict], None] | None = None,
              **options) -> int | None:
    """Run until SIGINT/SIGTERM or until Gunicorn exits by itself; always stops it cleanly.

    With `cpus`/`memory_bytes` Gunicorn runs confined (hmb_ops.stack.confinement): decided before
    anything starts (exit 3 when impossible and required, exit 2 for memory below one worker);
    `pin_outside` (the embedded PostgreSQL) gets the CPUs the app does not use. The summary given
    to on_ready carries the `confinement` record; on_exit gets the final one (OOM kills included).
    The app's token key is the one kept in `state_dir` (created on first use), unless
    HMB_REFAPP_TOKEN_SECRET is set in this process's environment.
    """
    from hmb_ops.stack.app import ensure_schema
    from hmb_ops.stack.confinement import Confined, check_memory, plan_confinement
    from hmb_ops.stack.gunicorn import last_log_line

    plan = plan_confinement(cpus, memory_bytes, require=require_confinement)
    if plan.requested_memory_bytes is not None:  # bad input even where memory cannot be enforced
        from hmb_ops.stack.confinement.rss import reference_worker_memory

        check_memory(plan.requested_memory_bytes, *reference_worker_memory())
    ensure_schema(database_url)
    with tempfile.TemporaryDirectory(prefix="hmb-serve-") as work, Confined(plan) as box:
        box.pin_outside(*pin_outside)
        proc, summary = build_process(database_url, work_dir=Path(work), **options)
        if plan.method != "none":
            proc.wrap = box.wrap
            summary["confinement"] = box.record()
        stop = threading.Event()
        previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            proc.start()
            if on_ready:
                on_ready(proc, summary)
            while not stop.wait(0.5):
                if not proc.running():
                    break
            code = None if stop.is_set() else proc.wait(0)
            if code is not None:
                raise EnvironmentUnusable(f"gunicorn exited unexpectedly (code {code}): "
                                          f"{last_log_line(proc.log_file)}", hint=f"see {proc.log_file}")
        finally:
            proc.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if on_exit and plan.method != "none":
                on_exit(box.record())
        return code
