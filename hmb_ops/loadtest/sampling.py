"""Sampling during a run: the generator's own CPU, and the server side (see docs/sampling.md).

Both run as daemon threads in the parent (which never imports locust) and sample once a second.
"""

from __future__ import annotations

import re
import threading
import time

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


# The reference app's own metrics, scraped from its /metrics like any app's chosen families.
REFERENCE_METRICS = ("hmb_background_queue_depth", "hmb_db_pool_connections", "hmb_db_pool_wait_seconds",
                     "hmb_background_job_latency_seconds")


class ServerSampler(_Sampler):
    """Each second: the server's process tree, the database (pg_stat_activity) and the chosen
    Prometheus families — whichever of the three the run has. Any part that cannot be read that
    second is a gap (None values and a reason in `gaps`), never a failed run."""

    def __init__(self, *, processes=None, database_url: str | None = None, scraper=None,
                 interval: float = 1.0):
        from hmb_ops.loadtest.db_sampler import DatabaseSampler

        super().__init__(interval)
        self.processes = processes          # a process_sampler.ProcessTree or None
        self.scraper = scraper              # a prom_scrape.Scraper or None
        self.db = DatabaseSampler(database_url) if database_url else None
        self.samples: list[dict] = []
        self.top_statements: list[dict] = []

    def mark_start(self) -> None:
        """Before the load: the pg_stat_statements reading the run's deltas start from."""
        if self.db is not None:
            self.db.mark_start()

    def sample(self) -> None:
        wall = time.time()
        gaps: list[str] = []
        workers: list[dict] = []
        exits = 0
        if self.processes is not None:
            workers, exits, gap = self.processes.sample()
            if gap:
                gaps.append(gap)
        db = None
        if self.db is not None:
            db, gap = self.db.sample()
            if gap:
                gaps.append(gap)
        metrics: dict[str, float | None] = {}
        if self.scraper is not None:
            metrics, gap = self.scraper.sample()
            if gap:
                gaps.append(gap)
        depth = metrics.get("hmb_background_queue_depth")
        self.samples.append({"t": round(wall - self.t0, 3), "wall": wall, "workers": workers,
                             "worker_exits": exits, "restarts": self.processes.exits if self.processes else 0,
                             "db_connections": db["connections"] if db else None,
                             "db_connections_active": db["active"] if db else None,
                             "background_queue_depth": int(depth) if depth is not None else None,
                             "db": db, "metrics": metrics, "gaps": gaps})

    def stop(self) -> None:
        super().stop()
        if self.db is not None:
            self.top_statements = self.db.top_statements()
            self.db.close()
