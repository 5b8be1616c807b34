"""OOM kills in the app's memory group over time: the counter is polled, and each increase is
kept with its time, so a report can say when a worker died of the memory limit (Gunicorn's
arbiter restarts it; the server sampler's worker_restarts counts the replacement)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

POLL_S = 0.25


class OomWatch:
    def __init__(self, group, poll_s: float = POLL_S):
        from hmb_ops.stack.confinement import OomKill

        self._kill_type = OomKill
        self.group = group
        self.poll_s = poll_s
        self.kills: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hmb-oom-watch", daemon=True)
        self._t0 = time.monotonic()
        self._last = group.oom_kills() or 0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def _check(self) -> None:
        count = self.group.oom_kills()
        if count is not None and count > self._last:
            for n in range(self._last + 1, count + 1):
                wall = time.time()
                self.kills.append(self._kill_type(datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds"),
                                                  round(time.monotonic() - self._t0, 2), n, wall))
            self._last = count

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._check()
