"""How many CPUs and how much memory this process may really use, and where each number came from.

Containers lie through the usual APIs: ``os.cpu_count()`` and ``/proc/meminfo`` show the host. The
limits that matter live in cgroups (v2 ``cpu.max`` / ``memory.max``, v1 CFS quota and
``memory.limit_in_bytes``), in the cpuset and in the scheduler affinity mask. Everything is read
through ``root`` so tests can hand in a fake ``/proc`` + ``/sys/fs/cgroup`` tree.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hmb_ops.errors import UsageError

# v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is not a real limit.
_V1_UNLIMITED = 1 << 60
_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2,
    "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3,
    "t": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4,
}


# Bounds for declared machines. The largest cloud machines have a few hundred CPUs and a few
# dozen TiB; beyond these a number is a typo (1e400 is infinity) and would overflow the plan.
MAX_CPUS = 1024
MAX_SIZE = 64 * 1024 ** 4
_MAX_SIZE_TEXT = "64 TiB"


def parse_size(value: str | int | float, *, what: str = "memory") -> int:
    """'2GB', '512MiB', '1.5G', 1073741824 → bytes. Units are binary (1 GB = 1024 MiB), as PaaS plans mean them."""
    if isinstance(value, bool):
        raise UsageError(f"{what}: expected a size such as 512MB or 2GB, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{what}: must be a finite size of at most {_MAX_SIZE_TEXT}, got {value!r}")
        number, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise UsageError(f"{what}: cannot read size {value!r}",
                             hint="use a number with a unit, e.g. 512MB, 1GB, 1.5GiB")
        number, unit = float(m.group(1)), m.group(2).lower()
    if not math.isfinite(number * _UNITS[unit]):  # '9' * 400 + 'GB' parses to infinity
        raise UsageError(f"{what}: must be a finite size of at most {_MAX_SIZE_TEXT}, got {value!r}")
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise UsageError(f"{what}: must be greater than zero, got {value!r}")
    if size > MAX_SIZE:
        raise UsageError(f"{what}: must be at most {_MAX_SIZE_TEXT}, got {value!r}")
    return size


def format_size(n: int) -> str:
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.2f} GiB".replace(".00 ", " ")
    return f"{n / 1024 ** 2:.0f} MiB"


def parse_cpus(value: str | float | int, *, what: str = "cpus") -> float:
    if isinstance(value, bool):  # YAML `cpus: yes` is not one CPU
        raise UsageError(f"{what}: expected a number of CPUs such as 2 or 0.5, got {value!r}")
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: expected a number of CPUs such as 2 or 0.5, got {value!r}") from None
    if not math.isfinite(cpus):
        raise UsageError(f"{what}: must be a finite number of CPUs, greater than 0 and at most {MAX_CPUS}, "
                         f"got {value!r}")
    if cpus <= 0:
        raise UsageError(f"{what}: must be greater than zero, got {value!r}",
                         hint="fractional limits such as 0.5 are fine")
    if cpus > MAX_CPUS:
        raise UsageError(f"{what}: must be at most {MAX_CPUS} CPUs, got {value!r}")
    return cpus


def parse_cpu_list(text: str) -> int:
    """'0-3,8,10-11' → 7."""
    count = 0
    for raw in text.strip().split(","):
        part = raw.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            count += int(hi) - int(lo) + 1
        else:
            int(part)
            count += 1
    return count


@dataclass(frozen=True)
class Candidate:
    """One reading: a value (None = 'no limit here') and where it came from."""

    kind: str          # "cpus" | "memory"
    value: float | int | None
    source: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "source": self.source}


@dataclass(frozen=True)
class Resources:
    cpus: float
    cpus_source: str
    memory_bytes: int
    memory_source: str
    dev_shm: bool = True
    somaxconn: int | None = None
    candidates: tuple[Candidate, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "cpus": self.cpus,
            "cpus_source": self.cpus_source,
            "memory_bytes": self.memory_bytes,
            "memory": format_size(self.memory_bytes),
            "memory_source": self.memory_source,
            "dev_shm": self.dev_shm,
            "somaxconn": self.somaxconn,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _proc_cgroups(root: Path) -> tuple[dict[str, str], str | None]:
    """(/proc/self/cgroup v1 controller → path, v2 path)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    text = _read(root / "proc/self/cgroup") or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            v2 = path
        else:
            for c in controllers.split(","):
                if c:
                    v1[c] = path
    return v1, v2


def _chain(mount: Path, cgroup_path: str | None) -> list[Path]:
    """The process's cgroup directory and its ancestors up to the mount (an ancestor's limit binds too).

    Inside a container with a cgroup namespace the mount *is* the process's cgroup while
    /proc/self/cgroup may still name a host path; then only the mount itself exists.
    """
    dirs: list[Path] = []
    if cgroup_path and cgroup_path not in ("/", ""):
        d = mount / cgroup_path.lstrip("/")
        if d.is_dir():
            while True:
                dirs.append(d)
                if d == mount or mount not in d.parents:
                    break
                d = d.parent
    if mount.is_dir() and mount not in dirs:
        dirs.append(mount)
    return dirs


def _rel(root: Path, p: Path) -> str:
    try:
        return "/" + str(p.relative_to(root))
    except ValueError:
        return str(p)


def _v1_mount(root: Path, controller: str) -> Path | None:
    base = root / "sys/fs/cgroup"
    for name in (controller, f"{controller},cpuacct", f"cpuacct,{controller}"):
        d = base / name
        if d.is_dir() and (controller != "cpu" or (d / "cpu.cfs_quota_us").exists()):
            return d
    return None


def _is_v2(root: Path) -> bool:
    return (root / "sys/fs/cgroup/cgroup.controllers").exists()


def _limit(c: Candidate) -> float:
    """The value of a candidate that is a limit (callers pass only those: the unlimited ones are the defaults)."""
    assert c.value is not None, c
    return c.value


def _tightest(found: Iterable[Candidate | None], unlimited: Candidate) -> Candidate:
    """The smallest limit along the cgroup chain (a parent's limit binds its children too)."""
    return min((c for c in found if c is not None), key=_limit, default=unlimited)


def _v1_quota(root: Path, d: Path) -> Candidate | None:
    quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
    if quota is None or period is None:
        return None
    try:
        q, p = int(quota.strip()), int(period.strip())
    except ValueError:
        return None
    if q <= 0 or p <= 0:
        return None
    return Candidate("cpus", q / p, f"cgroup v1 CFS quota {q}/{p} ({_rel(root, d)}/cpu.cfs_quota_us)")


def _v2_cpu_max(root: Path, d: Path) -> Candidate | None:
    fields = (_read(d / "cpu.max") or "").split()
    if not fields or fields[0] == "max":
        return None
    try:
        q = int(fields[0])
        p = int(fields[1]) if len(fields) > 1 else 100000
    except ValueError:
        return None
    if q <= 0 or p <= 0:
        return None
    return Candidate("cpus", q / p, f"cgroup v2 cpu.max {q} {p} ({_rel(root, d)}/cpu.max)")


def _cgroup_cpu(root: Path) -> list[Candidate]:
    v1, v2 = _proc_cgroups(root)
    out: list[Candidate] = []
    base = root / "sys/fs/cgroup"
    if "cpu" in v1 and (mount := _v1_mount(root, "cpu")):
        out.append(_tightest((_v1_quota(root, d) for d in _chain(mount, v1["cpu"])),
                             Candidate("cpus", None, "cgroup v1 CFS quota: -1 (no limit)")))
    elif v2 is not None and _is_v2(root):
        out.append(_tightest((_v2_cpu_max(root, d) for d in _chain(base, v2)),
                             Candidate("cpus", None, "cgroup v2 cpu.max: max (no limit)")))
    # cpuset: the CPUs the kernel will schedule us on at all.
    if "cpuset" in v1 and (mount := _v1_mount(root, "cpuset")):
        for d in _chain(mount, v1["cpuset"]):
            for name in ("cpuset.effective_cpus", "cpuset.cpus"):
                text = _read(d / name)
                if text and text.strip():
                    out.append(Candidate("cpus", parse_cpu_list(text),
                                         f"cgroup v1 {name} {text.strip()} ({_rel(root, d)}/{name})"))
                    break
            else:
                continue
            break
    elif v2 is not None and _is_v2(root):
        for d in _chain(base, v2):
            text = _read(d / "cpuset.cpus.effective")
            if text and text.strip():
                out.append(Candidate("cpus", parse_cpu_list(text), f"cgroup v2 cpuset.cpus.effective {text.strip()} "
                                                                   f"({_rel(root, d)}/cpuset.cpus.effective)"))
                break
    return out


def _meminfo_total(root: Path) -> int | None:
    text = _read(root / "proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


def _v1_memory_limit(root: Path, d: Path) -> Candidate | None:
    try:
        n = int((_read(d / "memory.limit_in_bytes") or "").strip())
    except ValueError:
        return None
    if not 0 < n < _V1_UNLIMITED:
        return None
    return Candidate("memory", n, f"cgroup v1 memory.limit_in_bytes ({_rel(root, d)}/memory.limit_in_bytes)")


def _v2_memory_max(root: Path, d: Path) -> Candidate | None:
    try:
        n = int((_read(d / "memory.max") or "").strip())
    except ValueError:  # "max", empty or missing: no limit here
        return None
    return Candidate("memory", n, f"cgroup v2 memory.max ({_rel(root, d)}/memory.max)") if n > 0 else None


def _cgroup_memory(root: Path) -> Candidate | None:
    v1, v2 = _proc_cgroups(root)
    if "memory" in v1 and (mount := _v1_mount(root, "memory")):
        return _tightest((_v1_memory_limit(root, d) for d in _chain(mount, v1["memory"])),
                         Candidate("memory", None, "cgroup v1 memory.limit_in_bytes: no limit"))
    if v2 is not None and _is_v2(root):
        return _tightest((_v2_memory_max(root, d) for d in _chain(root / "sys/fs/cgroup", v2)),
                         Candidate("memory", None, "cgroup v2 memory.max: max (no limit)"))
    return None


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def detect(root: str | os.PathLike = "/", *, env: Mapping[str, str] | None = None,
           affinity: int | None = None) -> Resources:
    """CPUs and memory available to this process, each with the source that decided it.

    CPUs = min(affinity, cgroup quota, cpuset), kept fractional (a 0.5-CPU quota stays 0.5);
    an explicit ``HMB_OPS_CPUS`` or the platform's ``RENDER_CPU_COUNT`` replaces the detection.
    Memory = the tightest cgroup limit, else ``/proc/meminfo`` (``HMB_OPS_MEMORY`` replaces it).
    """
    root = Path(root)
    env = os.environ if env is None else env
    candidates: list[Candidate] = []
    if affinity is None and root == Path("/"):
        affinity = _affinity()
    if affinity:
        candidates.append(Candidate("cpus", affinity, f"scheduler affinity ({affinity} CPUs)"))
    candidates.extend(_cgroup_cpu(root))
    limited = [c for c in candidates if c.kind == "cpus" and c.value is not None]

    cpus: float | None = None
    cpus_source = ""
    for var in ("HMB_OPS_CPUS", "RENDER_CPU_COUNT"):
        if env.get(var, "").strip():
            cpus = parse_cpus(env[var], what=var)
            cpus_source = f"environment {var}={env[var].strip()}"
            candidates.append(Candidate("cpus", cpus, cpus_source))
            break
    if cpus is None:
        if limited:
            best = min(limited, key=_limit)
            cpus, cpus_source = float(_limit(best)), best.source
        else:
            cpus, cpus_source = float(os.cpu_count() or 1), "os.cpu_count()"

    total = _meminfo_total(root)
    meminfo = Candidate("memory", total, "/proc/meminfo MemTotal") if total else None
    cg = _cgroup_memory(root)
    for c in (cg, meminfo):
        if c is not None:
            candidates.append(c)
    if env.get("HMB_OPS_MEMORY", "").strip():
        memory = parse_size(env["HMB_OPS_MEMORY"], what="HMB_OPS_MEMORY")
        memory_source = f"environment HMB_OPS_MEMORY={env['HMB_OPS_MEMORY'].strip()}"
        candidates.append(Candidate("memory", memory, memory_source))
    else:
        options = [c for c in (cg, meminfo) if c is not None and c.value]
        if not options:
            raise UsageError("cannot detect the memory size (no cgroup limit and no /proc/meminfo)",
                             hint="declare it with --memory SIZE or HMB_OPS_MEMORY")
        # A cgroup limit above the machine's RAM is no limit at all.
        best = min(options, key=_limit)
        memory, memory_source = int(_limit(best)), best.source

    somaxconn = None
    text = _read(root / "proc/sys/net/core/somaxconn")
    if text and text.strip().isdigit():
        somaxconn = int(text.strip())
    return Resources(cpus=cpus, cpus_source=cpus_source, memory_bytes=memory, memory_source=memory_source,
                     dev_shm=(root / "dev/shm").is_dir(), somaxconn=somaxconn, candidates=tuple(candidates))


def declared(cpus: float | None, memory: int | None, *, base: Resources | None = None,
             source: str = "declared") -> Resources:
    """Resources for a target machine (flags or a tier); missing halves come from ``base`` (detected).

    A declared machine is assumed to be a Linux container with /dev/shm; its somaxconn is unknown.
    """
    if base is None:
        if cpus is not None and memory is not None:
            return Resources(cpus=float(cpus), cpus_source=source, memory_bytes=int(memory), memory_source=source,
                             dev_shm=True, somaxconn=None)
        base = detect()
    return Resources(
        cpus=float(cpus) if cpus is not None else base.cpus,
        cpus_source=source if cpus is not None else base.cpus_source,
        memory_bytes=int(memory) if memory is not None else base.memory_bytes,
        memory_source=source if memory is not None else base.memory_source,
        dev_shm=base.dev_shm,
        somaxconn=base.somaxconn,
    )


def field_cpus(value):
    """parse_cpus for a pydantic field validator: the same bounded message, as the ValueError
    pydantic turns into a file:line error (tiers and hosting plans share it)."""
    try:
        return parse_cpus(value, what="cpus")
    except UsageError as exc:
        raise ValueError(exc.message) from None


def field_size(value):
    """parse_size for a pydantic field validator (see field_cpus)."""
    try:
        return parse_size(value)
    except UsageError as exc:
        raise ValueError(exc.message) from None
