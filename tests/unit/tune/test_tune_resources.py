"""Resource detection on fake /proc + /sys/fs/cgroup trees (v1, v2, nested, fractional, unlimited)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmb_ops.errors import UsageError
from hmb_ops.resources import detect, parse_cpu_list, parse_cpus, parse_size

GiB = 1024 ** 3
MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n"
HOST_RAM = 16384000 * 1024


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def v2_tree(root: Path, *, path: str = "/", cpu_max: str | None = None, memory_max: str | None = None,
            cpuset: str | None = None) -> Path:
    write(root, "proc/self/cgroup", f"0::{path}\n")
    write(root, "proc/meminfo", MEMINFO)
    write(root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
    d = "sys/fs/cgroup" + ("" if path == "/" else path)
    if cpu_max is not None:
        write(root, f"{d}/cpu.max", cpu_max + "\n")
    if memory_max is not None:
        write(root, f"{d}/memory.max", memory_max + "\n")
    if cpuset is not None:
        write(root, f"{d}/cpuset.cpus.effective", cpuset + "\n")
    return root


def v1_tree(root: Path, *, quota: int = -1, period: int = 100000, limit: int | None = None,
            cpuset: str | None = None, path: str = "/") -> Path:
    write(root, "proc/self/cgroup",
          f"12:memory:{path}\n11:cpu,cpuacct:{path}\n10:cpuset:{path}\n1:name=systemd:{path}\n")
    write(root, "proc/meminfo", MEMINFO)
    sub = "" if path == "/" else path
    write(root, f"sys/fs/cgroup/cpu,cpuacct{sub}/cpu.cfs_quota_us", f"{quota}\n")
    write(root, f"sys/fs/cgroup/cpu,cpuacct{sub}/cpu.cfs_period_us", f"{period}\n")
    write(root, f"sys/fs/cgroup/memory{sub}/memory.limit_in_bytes",
          f"{limit if limit is not None else 9223372036854771712}\n")
    if cpuset is not None:
        write(root, f"sys/fs/cgroup/cpuset{sub}/cpuset.effective_cpus", cpuset + "\n")
    return root


def test_v2_fractional_quota_is_kept(tmp_path):
    res = detect(v2_tree(tmp_path, cpu_max="50000 100000", memory_max=str(512 * 1024 ** 2)), env={}, affinity=8)
    assert res.cpus == 0.5
    assert "cpu.max 50000 100000" in res.cpus_source
    assert res.memory_bytes == 512 * 1024 ** 2
    assert "memory.max" in res.memory_source


def test_v2_max_means_no_limit(tmp_path):
    res = detect(v2_tree(tmp_path, cpu_max="max 100000", memory_max="max"), env={}, affinity=6)
    assert res.cpus == 6
    assert "affinity" in res.cpus_source
    assert res.memory_bytes == HOST_RAM
    assert res.memory_source == "/proc/meminfo MemTotal"


def test_v2_quota_rounds_nothing_down(tmp_path):
    res = detect(v2_tree(tmp_path, cpu_max="150000 100000"), env={}, affinity=64)
    assert res.cpus == 1.5


def test_v2_path_from_proc_self_cgroup_and_ancestors(tmp_path):
    v2_tree(tmp_path, path="/kubepods/pod1/ctr", cpu_max="200000 100000", memory_max=str(2 * GiB))
    # The pod (an ancestor) is tighter than the container: the ancestor binds.
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpu.max", "100000 100000\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/memory.max", f"{GiB}\n")
    res = detect(tmp_path, env={}, affinity=32)
    assert res.cpus == 1.0
    assert "/sys/fs/cgroup/kubepods/pod1/cpu.max" in res.cpus_source
    assert res.memory_bytes == GiB


def test_v2_cpuset_limits_cpus(tmp_path):
    res = detect(v2_tree(tmp_path, cpu_max="max 100000", cpuset="0-3"), env={}, affinity=64)
    assert res.cpus == 4
    assert "cpuset" in res.cpus_source


def test_v1_quota_and_limit(tmp_path):
    res = detect(v1_tree(tmp_path, quota=150000, period=100000, limit=GiB), env={}, affinity=16)
    assert res.cpus == 1.5
    assert "cgroup v1 CFS quota 150000/100000" in res.cpus_source
    assert res.memory_bytes == GiB
    assert "memory.limit_in_bytes" in res.memory_source


def test_v1_half_cpu_is_not_floored_to_zero(tmp_path):
    res = detect(v1_tree(tmp_path, quota=50000), env={}, affinity=80)
    assert res.cpus == 0.5


def test_v1_no_quota_huge_limit_means_none(tmp_path):
    res = detect(v1_tree(tmp_path), env={}, affinity=4)
    assert res.cpus == 4
    assert res.memory_bytes == HOST_RAM
    assert any("no limit" in c.source for c in res.candidates)


def test_v1_cpuset_and_nested_path(tmp_path):
    v1_tree(tmp_path, path="/docker/abc", quota=-1, cpuset="0,2", limit=3 * GiB)
    res = detect(tmp_path, env={}, affinity=64)
    assert res.cpus == 2
    assert res.memory_bytes == 3 * GiB
    assert "/sys/fs/cgroup/memory/docker/abc" in res.memory_source


def test_v1_limit_above_ram_is_no_limit(tmp_path):
    res = detect(v1_tree(tmp_path, limit=64 * GiB), env={}, affinity=2)
    assert res.memory_bytes == HOST_RAM


def test_overrides_win_and_say_so(tmp_path):
    root = v2_tree(tmp_path, cpu_max="400000 100000")
    res = detect(root, env={"RENDER_CPU_COUNT": "1"}, affinity=8)
    assert res.cpus == 1 and res.cpus_source == "environment RENDER_CPU_COUNT=1"
    res = detect(root, env={"RENDER_CPU_COUNT": "1", "HMB_OPS_CPUS": "0.5"}, affinity=8)
    assert res.cpus == 0.5 and "HMB_OPS_CPUS" in res.cpus_source
    res = detect(root, env={"HMB_OPS_MEMORY": "768MB"}, affinity=8)
    assert res.memory_bytes == 768 * 1024 ** 2 and "HMB_OPS_MEMORY" in res.memory_source


@pytest.mark.parametrize("bad", ["0", "-2", "abc", "nan"])
def test_bad_override_is_usage_error(tmp_path, bad):
    with pytest.raises(UsageError, match="HMB_OPS_CPUS"):
        detect(v2_tree(tmp_path), env={"HMB_OPS_CPUS": bad}, affinity=2)


def test_no_cgroup_at_all(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    res = detect(tmp_path, env={}, affinity=3)
    assert (res.cpus, res.memory_bytes) == (3, HOST_RAM)
    assert not res.dev_shm


def test_real_machine_detects_something():
    res = detect()
    assert res.cpus > 0 and res.memory_bytes > 0
    assert res.cpus_source and res.memory_source


def test_parsers():
    assert parse_size("2GB") == 2 * GiB
    assert parse_size("512MiB") == 512 * 1024 ** 2
    assert parse_size("1.5G") == int(1.5 * GiB)
    assert parse_size(1000) == 1000
    assert parse_cpu_list("0-3,8,10-11") == 7
    assert parse_cpus("0.5") == 0.5
    for bad in ("lots", "-1GB", "0", "12XB"):
        with pytest.raises(UsageError):
            parse_size(bad)
    for bad in ("0", "-1", "x"):
        with pytest.raises(UsageError):
            parse_cpus(bad)


def test_v2_host_path_not_visible_in_container_uses_the_mount(tmp_path):
    # Without a cgroup namespace /proc/self/cgroup names a host path the container cannot see;
    # the cgroup mounted at /sys/fs/cgroup is then the container's own.
    v2_tree(tmp_path, cpu_max="250000 100000", memory_max=str(GiB))
    write(tmp_path, "proc/self/cgroup", "0::/system.slice/docker-abc.scope\n")
    res = detect(tmp_path, env={}, affinity=16)
    assert res.cpus == 2.5 and res.memory_bytes == GiB
