"""Background jobs: a bounded thread pool with a bounded queue, drained on graceful shutdown.

Policy when the queue is full: the job runs inline in the request thread ("caller runs"), and
`hmb_background_jobs_total{outcome="rejected"}` counts it. Dropping fan-out work would silently
lose feed rows; running it inline keeps the data and slows the producer down, which is the
back-pressure a saturated worker needs (and what the latency of POST /api/posts will show).
After shutdown has started, new jobs run inline too.

BACKGROUND_MODE=inline runs every job inside the request, which is how the seed's "blocking"
variant behaved, so both variants can be measured with the same code.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from hmb_ops.refapp import metrics

log = logging.getLogger("hmb_ops.refapp.background")


class BackgroundJobs:
    def __init__(self, *, workers: int = 4, queue_size: int = 1000, mode: str = "thread"):
        self.mode = mode
        self.workers = max(1, workers)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing = False
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def _ensure_started(self) -> None:
        if self._threads:
            return
        with self._lock:
            if self._threads:
                return
            for i in range(self.workers):
                t = threading.Thread(target=self._loop, name=f"hmb-bg-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def submit(self, name: str, fn: Callable[[], None]) -> str:
        """Queue `fn`; returns how it ran: "queued", "inline" or "rejected" (queue full, ran inline)."""
        enqueued = time.perf_counter()
        if self.mode == "inline" or self._closing:
            self._run(name, fn, enqueued)
            return "inline"
        self._ensure_started()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait((name, fn, enqueued))
        except queue.Full:
            with self._lock:
                self._pending -= 1
                self._idle.notify_all()
            metrics.JOBS.labels(outcome="rejected").inc()
            self._run(name, fn, enqueued)
            return "rejected"
        metrics.QUEUE_DEPTH.set(self._queue.qsize())
        return "queued"

    def _run(self, name: str, fn: Callable[[], None], enqueued: float) -> bool:
        try:
            fn()
        except Exception:  # a failed job must not kill the worker thread; it is counted and logged
            log.exception("background job %s failed", name)
            metrics.JOBS.labels(outcome="failed").inc()
            return False
        metrics.JOBS.labels(outcome="done").inc()
        metrics.JOB_LATENCY.labels(job=name).observe(time.perf_counter() - enqueued)
        return True

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            metrics.QUEUE_DEPTH.set(self._queue.qsize())
            name, fn, enqueued = item
            try:
                self._run(name, fn, enqueued)
            finally:
                self._queue.task_done()
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def shutdown(self, timeout: float) -> bool:
        """Stop accepting queued work and finish what is queued within `timeout` seconds."""
        self._closing = True
        drained = self.wait_idle(timeout)
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        metrics.QUEUE_DEPTH.set(self._queue.qsize() if not drained else 0)
        return drained
