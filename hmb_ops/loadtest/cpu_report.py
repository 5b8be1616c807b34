"""Each generator process measures its own CPU and sends it with its measurements.

A Locust worker may run on another machine (the distributed form of locustfile.py), where no
sampler of ours can see it; so every worker reports its CPU over Locust's message channel with each
interval, and the parent judges saturation per worker from those reports (`ReportedCpu`)."""

from __future__ import annotations

import os
import socket

import psutil


class CpuMeter:
    """This process's CPU since the previous reading (100 % = one core) and in total."""

    def __init__(self, label: str | None = None):
        self.proc = psutil.Process()
        self.proc.cpu_percent(None)
        self.id = label or f"{socket.gethostname()}:{os.getpid()}"

    def reading(self) -> dict:
        times = self.proc.cpu_times()
        return {"id": self.id, "percent": round(self.proc.cpu_percent(None), 1),
                "cpu_s": round(times.user + times.system, 4)}


class ReportedCpu:
    """The generator CPU as the processes reported it, with GeneratorSampler's interface
    (`samples` of {"t", "max", "per_process"}, `saturated_since`, `total_cpu_seconds`)."""

    def __init__(self, reports: list[dict]):
        # reports: {"t": wall time of the interval, "id", "percent", "cpu_s"}, in arrival order
        self.by_id: dict[str, list[dict]] = {}
        for r in reports:
            self.by_id.setdefault(str(r["id"]), []).append(r)
        buckets: dict[int, dict[str, float]] = {}
        for r in reports:
            buckets.setdefault(int(r["t"]), {})[str(r["id"])] = float(r["percent"])
        self.samples = [{"t": float(t) + 1.0, "max": max(per.values()), "per_process": per}
                        for t, per in sorted(buckets.items())]
        self.processes_seen = set(self.by_id)
        self.start_t: float | None = None

    def mark_start(self, t: float) -> None:
        self.start_t = t

    def total_cpu_seconds(self) -> float:
        total = 0.0
        for rows in self.by_id.values():
            inside = [r for r in rows if self.start_t is None or r["t"] >= self.start_t]
            if len(inside) >= 2:
                total += float(inside[-1]["cpu_s"]) - float(inside[0]["cpu_s"])
        return total

    def saturated_since(self, after: float) -> float | None:
        """The earliest start of SATURATED_SAMPLES consecutive reports above the line by any one
        process (a saturated worker among idle ones still measured itself)."""
        # Imported here: the generator children import this module for CpuMeter, and sampling is
        # the parent's (it may reach the database).
        from hmb_ops.loadtest.sampling import SATURATED_CPU_PERCENT, SATURATED_SAMPLES

        found: list[float] = []
        for rows in self.by_id.values():
            run, first = 0, 0.0
            for r in rows:
                if r["t"] < after:
                    continue
                if float(r["percent"]) > SATURATED_CPU_PERCENT:
                    run, first = run + 1, first if run else float(r["t"])
                    if run >= SATURATED_SAMPLES:
                        found.append(first)
                        break
                else:
                    run = 0
        return min(found) if found else None


class MergedCpu:
    """A local run's sampled process tree, with the saturation the processes reported themselves."""

    def __init__(self, sampled, reported: ReportedCpu):
        self.sampled, self.reported = sampled, reported
        self.samples = sampled.samples
        self.processes_seen = sampled.processes_seen

    def total_cpu_seconds(self) -> float:
        return self.sampled.total_cpu_seconds()

    def saturated_since(self, after: float) -> float | None:
        found = [t for t in (self.sampled.saturated_since(after), self.reported.saturated_since(after))
                 if t is not None]
        return min(found) if found else None
