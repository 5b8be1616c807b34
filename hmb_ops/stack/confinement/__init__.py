"""The app's Gunicorn under a plan's CPU and memory limits, and the record of how it was confined.

    plan = plan_confinement(cpus=0.5, memory_bytes=512 * 2**20)     # no side effects; warnings, exact
    with Confined(plan) as box:                                       # groups made, leftovers removed
        GunicornProcess(..., wrap=box.wrap).start()                   # the master starts inside
        box.pin_outside(postgres_pid)                                 # PostgreSQL on the other CPUs
        ...
    box.record()        # {"method", "cpus", "memory_bytes", "exact", ...}: Results.confinement

Methods, best first: cgroup v2 (as root or delegated), cgroup v1 (as root), `systemd-run --scope`
(where systemd runs), CPU affinity (whole CPUs only, no memory limit). With CPUs to spare the app
is pinned to CPUs [0..n) and this process — so the load generator it starts — and the embedded
PostgreSQL to the rest, so neither competes with the app for its CPUs.

    cgroups.py   the groups hmb-ops creates (v1/v2), their limits and counters, leftovers
    enter.py     the wrapper that joins the groups and pins itself, then execs Gunicorn
    watch.py     OOM kills over time, while the app runs
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hmb_ops.errors import EnvironmentUnusable

METHODS = ("cgroup-v2", "cgroup-v1", "systemd-run", "affinity")


def format_size(n: int) -> str:
    # hmb_ops.resources has the same; stack may not import it (docs/architecture.md).
    return f"{n / 1024 ** 3:.2f} GiB".replace(".00 ", " ") if n >= 1024 ** 3 else f"{n / 1024 ** 2:.0f} MiB"


@dataclass(frozen=True)
class ConfinementPlan:
    """What will be done, decided before anything starts (plan_confinement)."""

    method: str                    # one of METHODS, or "none" when no limit was asked
    requested_cpus: float | None
    requested_memory_bytes: int | None
    cpus: float | None             # the CPU limit applied (host CPUs when more were asked)
    memory_bytes: int | None       # the memory limit applied (None: not enforced)
    exact: bool                    # the app runs under exactly the limits asked
    host_cpus: list[int]
    app_cpus: list[int] | None     # CPUs the app is pinned to (None: not pinned)
    other_cpus: list[int] | None   # CPUs for PostgreSQL and the load generator (None: shared)
    warnings: tuple[str, ...] = ()
    hierarchy: object | None = None  # cgroups.Hierarchy for the cgroup methods

    def record(self) -> dict:
        return {"method": self.method, "cpus": self.cpus, "memory_bytes": self.memory_bytes, "exact": self.exact,
                "requested_cpus": self.requested_cpus, "requested_memory_bytes": self.requested_memory_bytes,
                "host_cpus": len(self.host_cpus), "app_cpus": self.app_cpus, "other_cpus": self.other_cpus,
                "isolated": bool(self.other_cpus), "warnings": list(self.warnings)}


def available_method(root: Path = Path("/")) -> tuple[str, object | None]:
    """The best method this machine allows here: (name, cgroups.Hierarchy or None)."""
    from hmb_ops.stack.confinement import cgroups

    found = cgroups.find_v2(root)
    if found is not None:
        return "cgroup-v2", found
    found = cgroups.find_v1(root)
    if found is not None:
        return "cgroup-v1", found
    if shutil.which("systemd-run") and (root / "run/systemd/system").is_dir() and _systemd_run_works():
        return "systemd-run", None
    return "affinity", None


@functools.cache
def _systemd_run_works() -> bool:
    """One real `systemd-run --scope true` (once per process): a user without a systemd user
    manager (CI runners, containers) has the binary but no way to make a scope, and must fall back."""
    import subprocess

    user = [] if os.geteuid() == 0 else ["--user"]
    try:
        done = subprocess.run(["systemd-run", *user, "--scope", "--quiet", "--collect", "-p", "MemoryMax=1G",
                               "--", "true"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _cpu_text(cpus: float) -> str:
    return f"{cpus:g} CPU" + ("" if cpus == 1 else "s")


def plan_confinement(cpus: float | None = None, memory_bytes: int | None = None, *, require: bool = False,
                     method: str | None = None, host_cpus: list[int] | None = None,
                     root: Path = Path("/")) -> ConfinementPlan:
    """Decide how to confine the app to `cpus` (fractional: a CFS quota) and `memory_bytes`.

    Never silent: whatever cannot be emulated here is a warning in the plan (and so in every
    record); with `require` it is EnvironmentUnusable (exit 3) instead. `method` forces one of
    METHODS (tests); `host_cpus` defaults to the CPUs this process may run on.
    """
    hosts = sorted(host_cpus if host_cpus is not None else os.sched_getaffinity(0))
    if cpus is None and memory_bytes is None:
        return ConfinementPlan("none", None, None, None, None, True, hosts, None, None)
    hierarchy = None
    if method is None:
        method, hierarchy = available_method(root)
    elif method.startswith("cgroup"):
        from hmb_ops.stack.confinement import cgroups

        hierarchy = (cgroups.find_v2 if method == "cgroup-v2" else cgroups.find_v1)(root)
        if hierarchy is None:
            raise EnvironmentUnusable(f"confinement method {method} is not available here")
    warnings: list[str] = []
    exact = True
    applied_cpus = cpus
    if cpus is not None and cpus > len(hosts):
        applied_cpus = float(len(hosts))
        exact = False
        warnings.append(f"the plan asks for {_cpu_text(cpus)} but this host has {len(hosts)}: the app was "
                        f"measured with {_cpu_text(applied_cpus)}, so this figure is not that plan's")
    pinned = math.ceil(applied_cpus) if applied_cpus is not None else len(hosts)
    if method == "affinity" and applied_cpus is not None and applied_cpus != pinned:
        exact = False
        warnings.append(f"{_cpu_text(applied_cpus)} needs a CPU quota (cgroups), which this machine does not "
                        f"allow here: the app was pinned to {pinned} whole CPU{'s' if pinned > 1 else ''}")
    applied_memory = memory_bytes
    if memory_bytes is not None and method == "affinity":
        applied_memory = None
        exact = False
        warnings.append(f"the memory limit {format_size(memory_bytes)} needs cgroups (or systemd-run), which "
                        "this machine does not allow here: memory was not limited")
    app_cpus = hosts[:pinned] if pinned < len(hosts) or applied_cpus is not None else None
    other_cpus = hosts[pinned:] or None
    if applied_cpus is not None and other_cpus is None:
        warnings.append(f"this host has no CPU to spare beyond the app's {len(hosts)}: PostgreSQL and the load "
                        "generator share the app's CPUs, so the figure is lower than that plan alone would give")
    if require and not exact:
        raise EnvironmentUnusable("confinement is impossible here: " + warnings[0].split(":")[0],
                                  hint="drop --require-confinement to measure anyway with a warning, or run "
                                       "on a machine with enough CPUs and cgroups")
    return ConfinementPlan(method, cpus, memory_bytes, applied_cpus, applied_memory, exact, hosts,
                           app_cpus if method != "none" else None, other_cpus, tuple(warnings), hierarchy)


def check_memory(limit: int, worker_rss: int, master_rss: int, source: str) -> None:
    """A memory limit below what the master and one worker take at rest is refused (exit 2)."""
    from hmb_ops.errors import UsageError

    need = worker_rss + master_rss
    if limit < need:
        raise UsageError(f"the memory limit {format_size(limit)} is below what one worker and the master take "
                         f"at rest ({format_size(need)}: {source}); every worker would be killed at once",
                         hint="give a larger --memory (or a plan with more memory)")


@dataclass
class OomKill:
    at: str
    t: float  # seconds since the watch began; a load run moves it onto its own clock with `wall`
    count: int
    wall: float = 0.0  # time.time() when the kill was seen

    def to_dict(self) -> dict:
        return {"at": self.at, "t": self.t, "count": self.count, "wall": round(self.wall, 3)}


@dataclass
class Confined:
    """Context manager applying a ConfinementPlan: the groups exist inside the block; `wrap` puts a
    command in them; `record()` is the document's `confinement` record (OOM kills included)."""

    plan: ConfinementPlan
    group: object | None = None
    removed_leftovers: list[str] = field(default_factory=list)
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    _watch: object | None = None
    _restore: list[tuple[int, set[int]]] = field(default_factory=list)
    _final: dict | None = None

    def __enter__(self) -> Confined:
        plan = self.plan
        try:
            if plan.method in ("cgroup-v1", "cgroup-v2"):
                from hmb_ops.stack.confinement import cgroups
                from hmb_ops.stack.confinement.watch import OomWatch

                self.removed_leftovers = cgroups.remove_leftovers(plan.hierarchy)  # type: ignore[arg-type]
                group = cgroups.create(plan.hierarchy)  # type: ignore[arg-type]
                self.group = group
                if plan.cpus is not None:
                    self.cpu_quota_us, self.cpu_period_us = group.set_cpu(plan.cpus)
                if plan.memory_bytes is not None:
                    group.set_memory(plan.memory_bytes)
                self._watch = OomWatch(group)
                self._watch.start()
            if plan.other_cpus:
                self._pin(os.getpid(), plan.other_cpus)
        except OSError as exc:
            self.__exit__(None, None, None)
            raise EnvironmentUnusable(f"cannot set up the {plan.method} confinement: {exc}",
                                      hint="run as root, or without --cpus/--memory/--tier limits") from None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _pin(self, pid: int, cpus: list[int], restore: set[int] | None = None) -> None:
        try:
            before = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, set(cpus))
        except OSError:
            return  # gone, or not ours: it keeps its CPUs
        self._restore.append((pid, restore or before))

    def wrap(self, command: list[str]) -> list[str]:
        """`command` run inside the limits (the wrapper joins the groups, pins, then execs it)."""
        plan = self.plan
        if plan.method == "none":
            return list(command)
        inner = [sys.executable, "-m", "hmb_ops.stack.confinement.enter"]
        if self.group is not None:
            for path in self.group.procs_files():  # type: ignore[attr-defined]
                inner += ["--procs", path]
        if plan.app_cpus:
            inner += ["--cpus", ",".join(str(c) for c in plan.app_cpus)]
        inner += ["--", *command]
        if plan.method == "systemd-run":
            props = []
            if plan.cpus is not None:
                props += ["-p", f"CPUQuota={round(plan.cpus * 100)}%"]
            if plan.memory_bytes is not None:
                props += ["-p", f"MemoryMax={plan.memory_bytes}", "-p", "MemorySwapMax=0"]
            user = [] if os.geteuid() == 0 else ["--user"]
            from hmb_ops.stack.confinement.cgroups import PREFIX, _counter

            return ["systemd-run", *user, "--scope", "--quiet", "--collect",
                    f"--unit={PREFIX}{os.getpid()}-{next(_counter)}", *props, "--", *inner]
        return inner

    def pin_outside(self, *pids: int) -> None:
        """Pin these process trees (the embedded PostgreSQL) to the CPUs the app does not use;
        their affinity is restored when the block ends."""
        if not self.plan.other_cpus:
            return
        import psutil

        for pid in pids:
            try:
                tree = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                continue
            for member in tree:
                # Back to every CPU of the host afterwards, not to what it had: a run killed while it
                # was pinned would otherwise leave the server on the other CPUs for good.
                self._pin(member, self.plan.other_cpus, restore=set(self.plan.host_cpus))

    def oom_kills(self) -> list[OomKill]:
        return list(self._watch.kills) if self._watch is not None else []  # type: ignore[attr-defined]

    def record(self) -> dict:
        """The `confinement` record: the plan, the applied quota, OOM kills with their time, throttling."""
        if self._final is not None:
            return dict(self._final)
        rec = self.plan.record()
        rec.update(cpu_quota_us=self.cpu_quota_us, cpu_period_us=self.cpu_period_us,
                   cgroup=self.group.describe() if self.group is not None else None,  # type: ignore[attr-defined]
                   oom_kills=[k.to_dict() for k in self.oom_kills()],
                   removed_leftovers=list(self.removed_leftovers))
        if self.group is not None:
            rec["memory_failcnt"] = self.group.failcnt()  # type: ignore[attr-defined]
            rec["throttling"] = self.group.throttling()  # type: ignore[attr-defined]
        return rec

    def __exit__(self, *exc) -> None:
        if self._watch is not None:
            self._watch.stop()  # type: ignore[attr-defined]
        if self.group is not None:
            self._final = self.record()
            self.group.remove()  # type: ignore[attr-defined]
        for pid, cpus in reversed(self._restore):
            try:
                os.sched_setaffinity(pid, cpus)
            except OSError:
                pass
        self._restore.clear()


def console_line(record: dict | None) -> str | None:
    """One line saying how the app was confined (for console, Markdown and HTML summaries)."""
    if not record or record.get("method") in (None, "none"):
        return None
    parts = []
    if record.get("cpus") is not None:
        parts.append(_cpu_text(record["cpus"]))
    if record.get("memory_bytes") is not None:
        parts.append(format_size(record["memory_bytes"]))
    line = f"confinement: {record['method']}, {' / '.join(parts) or 'no limit'}"
    line += ", exact" if record.get("exact") else ", NOT exact"
    kills = record.get("oom_kills") or []
    if kills:
        line += f"; {len(kills)} worker{'s' if len(kills) > 1 else ''} killed by the memory limit"
    return line


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def tier_limits(tier: str, config_files: tuple[str, ...] = ()) -> tuple[float, int]:
    """(cpus, memory_bytes) of a tier from tiers.yaml or a --config file (unknown tier: exit 2)."""
    from hmb_ops.tune.tiers import get_tier

    found = get_tier(tier, config_files)
    return float(found.cpus), int(found.memory)
