"""cgroup v1 and v2 groups that hmb-ops creates for the app, and nothing else.

Each group is a child of this process's own cgroup (per controller), named
``hmb-ops-<owner pid>-<n>``: nesting keeps any limit the machine already puts on us in force, and
the owner pid in the name lets the next run remove what a killed run left behind — only groups
with that prefix whose owner is dead (no such process, or a process started after the group).
Everything is read through ``root`` so tests can point it at a fake tree.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "hmb-ops-"
_NAME = re.compile(r"^hmb-ops-(\d+)-\d+$")
PERIOD_US = 100_000
_counter = itertools.count(1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _mounts(root: Path) -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of every cgroup mount."""
    found = []
    for line in (_read(root / "proc/self/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


def _own_paths(root: Path) -> tuple[dict[str, str], str | None]:
    """(v1 controller → this process's cgroup path, v2 path)."""
    v1: dict[str, str] = {}
    v2 = None
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        for ctrl in parts[1].split(","):
            if ctrl:
                v1[ctrl] = parts[2]
    return v1, v2


@dataclass(frozen=True)
class Hierarchy:
    """Where the groups go: 'v1' (one parent folder per controller) or 'v2' (one parent folder)."""

    version: str
    parents: dict[str, Path]          # controller ("cpu", "memory") → the folder children are made in
    note: str = ""


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def find_v2(root: Path = Path("/")) -> Hierarchy | None:
    """A v2 parent with cpu and memory: the hierarchy root as root (exempt from the no-internal-
    process rule), else a delegated group of ours that already enables both for its children."""
    _, own = _own_paths(root)
    for mount, fstype, _opts in _mounts(root):
        if fstype != "cgroup2":
            continue
        base = root / mount.lstrip("/")
        controllers = set((_read(base / "cgroup.controllers") or "").split())
        if not {"cpu", "memory"} <= controllers:
            continue
        if os.geteuid() == 0 and _writable(base):
            return Hierarchy("v2", {"cpu": base, "memory": base}, note="cgroup v2 as root")
        if own is not None:
            mine = base / own.lstrip("/")
            enabled = set((_read(mine / "cgroup.subtree_control") or "").split())
            if {"cpu", "memory"} <= enabled and _writable(mine):
                return Hierarchy("v2", {"cpu": mine, "memory": mine}, note="cgroup v2, delegated")
    return None


def find_v1(root: Path = Path("/")) -> Hierarchy | None:
    """The v1 cpu and memory hierarchies with a writable folder of ours in each (root, in practice)."""
    own, _ = _own_paths(root)
    parents: dict[str, Path] = {}
    for ctrl in ("cpu", "memory"):
        for mount, fstype, opts in _mounts(root):
            if fstype == "cgroup" and ctrl in opts:
                folder = root / mount.lstrip("/") / own.get(ctrl, "/").lstrip("/")
                if _writable(folder):
                    parents[ctrl] = folder
                break
    if set(parents) != {"cpu", "memory"}:
        return None
    return Hierarchy("v1", parents, note="cgroup v1")


@dataclass
class Group:
    """One created group: its folders (per controller for v1, one for v2) and how to read it."""

    hierarchy: Hierarchy
    name: str
    folders: dict[str, Path] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.hierarchy.version

    def procs_files(self) -> list[str]:
        return sorted({str(folder / "cgroup.procs") for folder in self.folders.values()})

    def describe(self) -> str:
        return ", ".join(sorted({str(f) for f in self.folders.values()}))

    # -- limits ---------------------------------------------------------------------------------
    def set_cpu(self, cpus: float) -> tuple[int, int]:
        quota = max(1000, round(cpus * PERIOD_US))
        if self.version == "v2":
            (self.folders["cpu"] / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.folders["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
        return quota, PERIOD_US

    def set_memory(self, limit: int) -> None:
        folder = self.folders["memory"]
        if self.version == "v2":
            (folder / "memory.max").write_text(str(limit))
            swap = folder / "memory.swap.max"
            if swap.exists():  # a plan's memory is RAM: swapping past it would hide the limit
                swap.write_text("0")
            return
        (folder / "memory.limit_in_bytes").write_text(str(limit))
        memsw = folder / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # memory+swap = memory: no swap beyond the plan (after the memory limit: it must be >=)
            try:
                memsw.write_text(str(limit))
            except OSError:
                pass

    # -- readings -------------------------------------------------------------------------------
    def oom_kills(self) -> int | None:
        folder = self.folders["memory"]
        text = _read(folder / ("memory.events" if self.version == "v2" else "memory.oom_control"))
        if text is None:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return None

    def failcnt(self) -> int | None:
        if self.version == "v2":
            text = _read(self.folders["memory"] / "memory.events")
            for line in (text or "").splitlines():
                if line.startswith("max "):
                    return int(line.split()[1])
            return None
        text = _read(self.folders["memory"] / "memory.failcnt")
        return int(text) if text and text.strip().isdigit() else None

    def throttling(self) -> dict | None:
        text = _read(self.folders["cpu"] / "cpu.stat")
        if text is None:
            return None
        stat = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        periods = int(stat.get("nr_periods", 0))
        throttled = int(stat.get("nr_throttled", 0))
        seconds = (int(stat["throttled_usec"]) / 1e6 if "throttled_usec" in stat
                   else int(stat.get("throttled_time", 0)) / 1e9)
        return {"periods": periods, "throttled_periods": throttled, "throttled_s": round(seconds, 3)}

    def usage_cpu_s(self) -> float | None:
        """CPU seconds used by the group so far (v2 cpu.stat usage_usec; v1 cpuacct when co-mounted)."""
        if self.version == "v2":
            text = _read(self.folders["cpu"] / "cpu.stat") or ""
            for line in text.splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            return None
        usage = _read(self.folders["cpu"] / "cpuacct.usage")
        return int(usage) / 1e9 if usage and usage.strip().isdigit() else None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.procs_files():
            for line in (_read(Path(path)) or "").split():
                if line.isdigit():
                    found.add(int(line))
        return sorted(found)

    # -- lifecycle ------------------------------------------------------------------------------
    def remove(self, timeout: float = 5.0) -> bool:
        """Kill what is still inside (processes hmb-ops started) and remove the folders."""
        return all(_remove_folder(folder, timeout) for folder in set(self.folders.values()))


def create(hierarchy: Hierarchy) -> Group:
    name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
    group = Group(hierarchy, name)
    try:
        if hierarchy.version == "v2":
            parent = hierarchy.parents["cpu"]
            enabled = set((_read(parent / "cgroup.subtree_control") or "").split())
            missing = {"cpu", "memory"} - enabled
            if missing:
                (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(missing)))
            folder = parent / name
            folder.mkdir()
            group.folders = {"cpu": folder, "memory": folder}
        else:
            for ctrl, parent in hierarchy.parents.items():
                folder = parent / name
                folder.mkdir()
                group.folders[ctrl] = folder
    except OSError:
        group.remove()
        raise
    return group


def _remove_folder(folder: Path, timeout: float) -> bool:
    if not folder.exists():
        return True
    deadline = time.monotonic() + timeout
    while True:
        for line in (_read(folder / "cgroup.procs") or "").split():
            try:
                os.kill(int(line), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _owner_alive(pid: int, created: float) -> bool:
    """Whether the pid in a group's name is still the process that made it."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return False
    try:
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in (_read(Path("/proc/stat")) or "").splitlines()
                    if line.startswith("btime "))
        started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (IndexError, ValueError, StopIteration):
        return True  # unreadable: assume alive, never remove what may be in use
    # A pid reused by a process that started after the group was made is not its owner.
    return started <= created + 1.0


def leftovers(hierarchy: Hierarchy) -> list[Path]:
    """Groups named hmb-ops-<pid>-<n> under our parents whose owner process is dead."""
    found = []
    for parent in set(hierarchy.parents.values()):
        try:
            children = list(parent.iterdir())
        except OSError:
            continue
        for child in children:
            match = _NAME.match(child.name)
            if not match or not child.is_dir():
                continue
            try:
                created = child.stat().st_mtime
            except OSError:
                continue
            if not _owner_alive(int(match.group(1)), created):
                found.append(child)
    return sorted(found)


def remove_leftovers(hierarchy: Hierarchy) -> list[str]:
    """Remove what killed runs left (see `leftovers`); the folders removed."""
    removed = []
    for folder in leftovers(hierarchy):
        if _remove_folder(folder, 5.0):
            removed.append(str(folder))
    return removed
