"""Per-worker state (pool, background jobs) and what happens when a worker exits.

Draining runs from Gunicorn's `worker_exit` hook when our default config is used, and from
`atexit` otherwise (a tier's generated gunicorn.conf.py has its own hooks), so queued fan-out is
finished within BACKGROUND_DRAIN_TIMEOUT on every graceful stop or `max_requests` recycle.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

log = logging.getLogger("hmb_ops.refapp")

_states: list = []
_lock = threading.Lock()


class AppState:
    def __init__(self, settings):
        from hmb_ops.refapp.background import BackgroundJobs
        from hmb_ops.refapp.db import Database

        self.settings = settings
        self.db = Database(settings)
        self.jobs = BackgroundJobs(workers=settings.background_workers,
                                   queue_size=settings.background_queue_size,
                                   mode=settings.background_mode)
        # bcrypt cost of this worker's login dummy hash (routes_api._dummy_hash), learnt on first use.
        self.dummy_cost: int | None = None
        self._closed = False

    def close(self) -> bool:
        if self._closed:
            return True
        self._closed = True
        drained = self.jobs.shutdown(self.settings.background_drain_timeout)
        if not drained:
            log.warning("background queue not drained within %.0f s: %d job(s) lost",
                        self.settings.background_drain_timeout, self.jobs.pending())
        self.db.close()
        return drained


def register(state: AppState) -> AppState:
    with _lock:
        if not _states:
            atexit.register(on_worker_exit)
        _states.append(state)
    return state


def on_worker_exit() -> None:
    with _lock:
        states = list(_states)
    for state in states:
        state.close()
    from hmb_ops.refapp import metrics

    metrics.mark_dead(os.getpid())


def on_child_exit(pid: int) -> None:
    from hmb_ops.refapp import metrics

    metrics.mark_dead(pid)
