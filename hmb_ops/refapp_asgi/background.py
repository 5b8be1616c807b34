"""Background jobs on the worker's event loop: BACKGROUND_WORKERS consumer tasks and a bounded queue.

The Flask app's policy, on asyncio (hmb_ops.refapp.background): a full queue runs the job inline in
the request ("caller runs", counted as rejected) so fan-out is never dropped; BACKGROUND_MODE=inline
runs every job in the request; the lifespan's shutdown drains the queue within
BACKGROUND_DRAIN_TIMEOUT (Gunicorn's graceful stop and max_requests recycles go through it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from hmb_ops.refapp import metrics

log = logging.getLogger("hmb_ops.refapp_asgi.background")

Job = Callable[[], Awaitable[object]]


class AsyncJobs:
    def __init__(self, *, workers: int = 4, queue_size: int = 1000, mode: str = "thread"):
        self.mode = mode
        self.workers = max(1, workers)
        self.queue_size = max(1, queue_size)
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    def _ensure_started(self) -> asyncio.Queue:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.queue_size)
            self._tasks = [asyncio.create_task(self._loop(), name=f"hmb-bg-{i}") for i in range(self.workers)]
        return self._queue

    async def submit(self, name: str, fn: Job) -> str:
        """Queue `fn`; returns how it ran: "queued", "inline" or "rejected" (queue full, ran inline)."""
        enqueued = time.perf_counter()
        if self.mode == "inline" or self._closing:
            await self._run(name, fn, enqueued)
            return "inline"
        queue = self._ensure_started()
        try:
            queue.put_nowait((name, fn, enqueued))
        except asyncio.QueueFull:
            metrics.JOBS.labels(outcome="rejected").inc()
            await self._run(name, fn, enqueued)
            return "rejected"
        metrics.QUEUE_DEPTH.set(queue.qsize())
        return "queued"

    async def _run(self, name: str, fn: Job, enqueued: float) -> bool:
        try:
            await fn()
        except Exception:  # a failed job must not kill the consumer; it is counted and logged
            log.exception("background job %s failed", name)
            metrics.JOBS.labels(outcome="failed").inc()
            return False
        metrics.JOBS.labels(outcome="done").inc()
        metrics.JOB_LATENCY.labels(job=name).observe(time.perf_counter() - enqueued)
        return True

    async def _loop(self) -> None:
        assert self._queue is not None
        while True:
            name, fn, enqueued = await self._queue.get()
            metrics.QUEUE_DEPTH.set(self._queue.qsize())
            try:
                await self._run(name, fn, enqueued)
            finally:
                self._queue.task_done()

    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def shutdown(self, timeout: float) -> bool:
        """Stop queueing (later jobs run inline) and finish what is queued within `timeout` seconds."""
        self._closing = True
        drained = True
        if self._queue is not None:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                drained = False
                log.warning("background queue not drained within %.0f s: %d job(s) lost", timeout, self.pending())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        metrics.QUEUE_DEPTH.set(self.pending() if not drained else 0)
        return drained
