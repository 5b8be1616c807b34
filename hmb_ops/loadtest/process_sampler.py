"""CPU and RSS of an app server's process tree (Gunicorn or Uvicorn master and its workers).

The workers are the master's descendants, except Python's multiprocessing helpers (`uvicorn
--workers N` spawns its workers with multiprocessing, which also starts a resource tracker process);
a master with none (a single-process server) is its own worker. A worker pid that vanishes between
two readings is a worker exit (Gunicorn and Uvicorn restart it under a new pid, which appears in the
next reading); the master vanishing is a gap, and the run goes on.
"""

from __future__ import annotations

import psutil

from hmb_ops.errors import UsageError

# Command lines of multiprocessing's own helper processes: children of a master, never workers.
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver", "multiprocessing.semaphore_tracker")


WHAT_TO_GIVE = "give the pid of the Gunicorn or Uvicorn master serving --target"


def check_pid(pid: int, target: str | None = None) -> None:
    """Before the run: a pid that does not exist (or we may not read), init, hmb-ops itself or one of
    its parents (a shell), or a tree where nothing listens on the target's port → UsageError (exit 2).
    Sampling any of those gave plausible but foreign CPU/RSS figures (pid 1: the whole machine)."""
    try:
        proc = psutil.Process(pid)
        proc.memory_info()
        proc.cpu_times()
    except psutil.NoSuchProcess:
        raise UsageError(f"--server-pid {pid}: no such process", hint=WHAT_TO_GIVE) from None
    except psutil.AccessDenied:
        raise UsageError(f"--server-pid {pid}: not allowed to read that process",
                         hint="run hmb-ops as the user running the server") from None
    if pid == 1:
        raise UsageError("--server-pid 1 is the init process: its tree is the whole machine, not the server",
                         hint=WHAT_TO_GIVE + "; for a server in a container, its pid as this host sees it")
    me = psutil.Process()
    if pid in {me.pid, *(p.pid for p in me.parents())}:
        raise UsageError(f"--server-pid {pid} is hmb-ops itself or the shell that started it, not the server",
                         hint=WHAT_TO_GIVE)
    port = _port_of(target)
    if port is not None and _listens(proc, port) is False:
        raise UsageError(f"--server-pid {pid} ({proc.name()}): nothing in its process tree listens on port {port} "
                         f"of --target", hint=f"{WHAT_TO_GIVE}; `ss -ltnp 'sport = :{port}'` names it")


def _port_of(target: str | None) -> int | None:
    if not target:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(target)
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def _listens(root: psutil.Process, port: int) -> bool | None:
    """True when the process or a descendant listens on the TCP port; None when that cannot be read
    (another user's processes): then nothing is refused."""
    unknown = False
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    for proc in tree:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.AccessDenied:
            unknown = True
            continue
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
            return True
    return None if unknown else False


class ProcessTree:
    """One reading per `sample()`; keeps psutil handles so cpu_percent measures the interval."""

    def __init__(self, root_pid: int | None = None, *, worker_pids=None):
        # Either a root pid (--server-pid) or a callable listing the workers (an app hmb-ops started).
        self.root_pid = root_pid
        self._worker_pids = worker_pids
        self.procs: dict[int, psutil.Process] = {}
        self.previous: set[int] | None = None
        self.exits = 0
        self.gone = False
        self.helpers: dict[int, bool] = {}  # pid -> is a multiprocessing helper (read once per pid)

    def _workers(self) -> list[int]:
        if self._worker_pids is not None:
            return list(self._worker_pids())
        assert self.root_pid is not None
        root = psutil.Process(self.root_pid)  # NoSuchProcess when the master has exited
        if root.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped by its parent
            raise psutil.NoSuchProcess(self.root_pid)
        children = [c.pid for c in root.children(recursive=True) if not self._helper(c)]
        return children or [self.root_pid]

    def _helper(self, proc: psutil.Process) -> bool:
        known = self.helpers.get(proc.pid)
        if known is None:
            try:
                cmdline = " ".join(proc.cmdline())
            except psutil.Error:
                return False
            known = self.helpers[proc.pid] = any(h in cmdline for h in _HELPERS)
        return known

    def sample(self) -> tuple[list[dict], int, str | None]:
        """(workers [{pid, cpu_percent, rss_mb}], worker exits since the last reading, gap reason)."""
        try:
            pids = self._workers()
        except psutil.NoSuchProcess:
            self.gone = True
            return [], 0, f"server: process {self.root_pid} has exited"
        except Exception as exc:  # noqa: BLE001 - a master that is restarting has no workers this time
            return [], 0, f"server: workers not readable ({exc.__class__.__name__})"
        exits = 0
        now = set(pids)
        if self.previous is not None:
            exits = len(self.previous - now)
            self.exits += exits
        self.previous = now
        for gone in set(self.procs) - now:
            self.procs.pop(gone, None)
        workers = []
        for pid in pids:
            p = self.procs.get(pid)
            try:
                if p is None:
                    p = self.procs[pid] = psutil.Process(pid)
                    p.cpu_percent(None)
                    continue  # the first reading of a new process has no interval yet
                with p.oneshot():
                    workers.append({"pid": pid, "cpu_percent": round(p.cpu_percent(None), 1),
                                    "rss_mb": round(p.memory_info().rss / 2**20, 1)})
            except psutil.Error:
                self.procs.pop(pid, None)
        return workers, exits, None
