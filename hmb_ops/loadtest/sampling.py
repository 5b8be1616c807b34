"""Sampling during a run: the generator's own CPU, and the server side when we started the app.

Both run as daemon threads in the parent (which never imports locust) and sample once a second.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import psutil

SATURATED_CPU_PERCENT = 90.0
SATURATED_SAMPLES = 2  # consecutive seconds above the line: one spike is not saturation
_QUEUE_RE = re.compile(r"^hmb_background_queue_depth(?:\{[^}]*\})?\s+([0-9.eE+-]+)", re.M)


class _Sampler(threading.Thread):
    def __init__(self, interval: float = 1.0):
        super().__init__(daemon=True)
        self.interval = interval
        self._stop_evt = threading.Event()
        self.t0 = time.time()

    def run(self) -> None:
        while not self._stop_evt.wait(self.interval):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a failed sample is a gap, never a failed run
                pass

    def sample(self) -> None:  # overridden by each sampler
        return None

    def stop(self) -> None:
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout=5)


class GeneratorSampler(_Sampler):
    """CPU of the generator child and its Locust worker children (100 % = one core, per process)."""

    def __init__(self, root_pid: int, interval: float = 1.0):
        super().__init__(interval)
        self.root_pid = root_pid
        self.procs: dict[int, psutil.Process] = {}
        self.cpu_seconds: dict[int, float] = {}
        self.samples: list[dict] = []  # {"t", "max", "per_process": {pid: pct}}
        self.processes_seen: set[int] = set()
        self.prime()

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def prime(self) -> None:
        for p in self._tree():
            if p.pid not in self.procs:
                self.procs[p.pid] = p
                try:
                    p.cpu_percent(None)
                except psutil.Error:
                    pass

    def sample(self) -> None:
        self.prime()
        per: dict[int, float] = {}
        for pid, p in list(self.procs.items()):
            try:
                per[pid] = p.cpu_percent(None)
                times = p.cpu_times()
                self.cpu_seconds[pid] = times.user + times.system
            except psutil.Error:
                self.procs.pop(pid, None)
        if per:
            self.processes_seen.update(per)
            self.samples.append({"t": time.time(), "max": max(per.values()), "per_process": per})

    def mark_start(self) -> None:
        """Exclude start-up (importing locust, connecting workers) from the per-request CPU cost."""
        self.sample()
        self.cpu_at_start = sum(self.cpu_seconds.values())

    def total_cpu_seconds(self) -> float:
        return sum(self.cpu_seconds.values()) - getattr(self, "cpu_at_start", 0.0)

    def saturated_since(self, after: float) -> float | None:
        """Start (wall time, end of its first sample) of the first stretch of SATURATED_SAMPLES
        consecutive samples above the line, or None."""
        run, first = 0, None
        for s in self.samples:
            if s["t"] < after:
                continue
            if s["max"] > SATURATED_CPU_PERCENT:
                run, first = run + 1, first if run else s["t"]
                if run >= SATURATED_SAMPLES:
                    return first
            else:
                run = 0
        return None


def parse_queue_depth(text: str) -> int | None:
    found = _QUEUE_RE.findall(text)
    if not found:
        return None
    return int(sum(float(v) for v in found))


class ServerSampler(_Sampler):
    """CPU and RSS per Gunicorn worker, DB connections (pg_stat_activity), background queue depth."""

    def __init__(self, worker_pids: Callable[[], list[int]], database_url: str | None, target: str,
                 interval: float = 1.0):
        super().__init__(interval)
        self.worker_pids = worker_pids
        self.database_url = database_url
        self.target = target.rstrip("/")
        self.procs: dict[int, psutil.Process] = {}
        self.samples: list[dict] = []
        self._conn: Any = None  # a psycopg2 connection once the first sample opened it

    def _db_counts(self) -> tuple[int | None, int | None]:
        if not self.database_url:
            return None, None
        from hmb_ops.db.connect import connect

        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.database_url, autocommit=True, timeout=2,
                                     application_name="hmb-ops-sampler")
            with self._conn.cursor() as cur:
                cur.execute("SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
                            "WHERE datname = current_database() AND backend_type = 'client backend' "
                            "AND pid <> pg_backend_pid()")
                total, active = cur.fetchone()
                return int(total), int(active)
        except Exception:  # noqa: BLE001 - the database may be restarting: record a gap
            try:
                if self._conn is not None:
                    self._conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is dropped either way
                pass
            self._conn = None
            return None, None

    def _queue_depth(self) -> int | None:
        try:
            with urllib.request.urlopen(self.target + "/metrics", timeout=2) as resp:
                return parse_queue_depth(resp.read().decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - an app without /metrics (or busy) gives a gap, not a failed run
            return None

    def sample(self) -> None:
        workers = []
        try:
            pids = list(self.worker_pids())
        except Exception:  # noqa: BLE001 - a master that is restarting has no workers to sample this time
            pids = []
        for pid in pids:
            p = self.procs.get(pid)
            try:
                if p is None:
                    p = self.procs[pid] = psutil.Process(pid)
                    p.cpu_percent(None)
                    continue  # the first reading of a new process has no interval yet
                workers.append({"pid": pid, "cpu_percent": round(p.cpu_percent(None), 1),
                                "rss_mb": round(p.memory_info().rss / 2**20, 1)})
            except psutil.Error:
                self.procs.pop(pid, None)
        total, active = self._db_counts()
        self.samples.append({"t": round(time.time() - self.t0, 3), "wall": time.time(), "workers": workers,
                             "db_connections": total, "db_connections_active": active,
                             "background_queue_depth": self._queue_depth()})

    def stop(self) -> None:
        super().stop()
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing at the end is best effort
                pass
