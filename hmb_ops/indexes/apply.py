"""Execute a plan online: CONCURRENTLY, one statement per execute on an autocommit connection.

Each statement runs in a worker thread while the calling thread watches it from a second
connection (pg_stat_progress_create_index for progress, pg_blocking_pids for who is in the way)
and stays responsive to Ctrl-C, which cancels the statement server-side. A failed or cancelled
CONCURRENTLY build leaves an INVALID index; the next plan reports it and the next apply drops
and rebuilds it, so an interruption never leaves anything that cannot be repaired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hmb_ops.errors import EnvironmentUnusable, ExitStatus, LockBusy, OperationFailed
from hmb_ops.indexes import ddl
from hmb_ops.indexes.catalog import blocker_details, read_progress
from hmb_ops.indexes.plan import Action, Plan

# pg_advisory_lock(classid, objid): fixed keys shared by every hmb-ops that applies indexes.
LOCK_KEYS = (0x686D62, 5)  # "hmb", issue 5
POLL_SECONDS = 0.25

Progress = Callable[[dict], None]


class ApplyInterrupted(OperationFailed):
    """Ctrl-C during apply: the running statement was cancelled server-side."""

    exit_code = ExitStatus.INTERRUPTED


@dataclass(frozen=True)
class StepResult:
    id: int
    kind: str
    index: str | None
    table: str | None
    seconds: float
    attempts: int

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "index": self.index, "table": self.table,
                "seconds": round(self.seconds, 3), "attempts": self.attempts}


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    steps: tuple[StepResult, ...] = ()
    seconds: float = 0.0
    max_progress: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "executed": [s.to_dict() for s in self.steps],
                "seconds": round(self.seconds, 3), "changed": bool(self.steps)}


def check_server_version(version_num: int) -> None:
    if ddl.is_cic_broken(version_num):
        major, minor = version_num // 10000, version_num % 10000
        raise EnvironmentUnusable(
            f"PostgreSQL {major}.{minor} can silently corrupt indexes built with CREATE INDEX CONCURRENTLY",
            hint="upgrade to 14.4 or later before applying indexes")


def lock_holder(conn) -> int | None:
    with conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
                    "AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) LIMIT 1", LOCK_KEYS)
        row = cur.fetchone()
    return row[0] if row else None


def acquire_apply_lock(conn, *, wait: bool, progress: Progress | None = None,
                       wait_timeout: float | None = None) -> None:
    """Session-level advisory lock: a second apply fails fast (exit 3) or, with wait, polls for it."""
    deadline = time.monotonic() + wait_timeout if wait_timeout else None
    announced = False
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS)
            if cur.fetchone()[0]:
                return
        holder = lock_holder(conn)
        if not wait or (deadline and time.monotonic() > deadline):
            raise LockBusy(f"another `hmb-ops indexes apply` is running on this database (pid {holder})",
                           hint="wait for it to finish, or rerun with --wait")
        if progress and not announced:
            progress({"event": "waiting_for_lock", "holder_pid": holder})
            announced = True
        time.sleep(0.5)


def release_apply_lock(conn) -> None:
    """Best effort: a session lock also ends with its connection (e.g. after a server restart),
    and a failure here must not hide the error that ended the apply."""
    import psycopg2

    if conn.closed:
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEYS)
    except psycopg2.Error:
        pass


def _set_timeouts(conn, action: Action) -> None:
    with conn.cursor() as cur:
        # Separate executes: a multi-statement string would be one implicit transaction.
        cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{action.lock_timeout_ms}ms",))
        cur.execute("SELECT set_config('statement_timeout', %s, false)", (f"{action.statement_timeout_ms}ms",))


def _run_statements(conn, action: Action) -> None:
    if action.transactional:
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                for stmt in action.all_statements:
                    cur.execute(stmt)
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        finally:
            if not conn.closed:
                conn.autocommit = True
        return
    with conn.cursor() as cur:
        for stmt in action.all_statements:
            cur.execute(stmt)


def _built_name(action: Action) -> str | None:
    from hmb_ops.indexes.plan import NEW_SUFFIX

    if action.kind == "create":
        return action.index
    if action.kind == "build_replacement" and action.index:
        return ddl.temp_name(action.index, NEW_SUFFIX)
    return None


def _mark_leftover(mon, schema: str, action: Action) -> None:
    """Best effort: mark the INVALID index a failed or interrupted build of ours left behind.

    The mark normally follows a successful build; without this, the leftover would carry no mark
    and (on a table hmb-ops did not create) the next apply would need --adopt to repair it. Only
    an invalid, unmarked index under the name this step was building is marked, and never after a
    "relation already exists" failure (then the index is somebody else's). A lost connection
    leaves it unmarked: the plan then names it and says --adopt.
    """
    import psycopg2

    name = _built_name(action)
    if not name or not action.mark or mon.closed:
        return
    try:
        with mon.cursor() as cur:
            cur.execute("SELECT NOT i.indisvalid, obj_description(i.indexrelid, 'pg_class') FROM pg_index i "
                        "WHERE i.indexrelid = to_regclass(%s)", (ddl.qualified(schema, name),))
            row = cur.fetchone()
            if row and row[0] and row[1] is None:
                cur.execute("SELECT set_config('lock_timeout', '2000ms', false)")
                cur.execute(action.mark)
    except psycopg2.Error:
        pass


def _watch(conn, mon, action: Action, progress: Progress | None) -> tuple[BaseException | None, set[int]]:
    """Run the action in a thread; poll progress and blockers; cancel on Ctrl-C."""
    outcome: dict = {}
    pid = conn.get_backend_pid()

    def work():
        try:
            _run_statements(conn, action)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which decides how to report it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"hmb-ops-apply-{action.id}", daemon=True)
    worker.start()
    blockers: set[int] = set()
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if not worker.is_alive():
                break
            try:
                with mon.cursor() as cur:
                    cur.execute("SELECT pg_blocking_pids(%s)", (pid,))
                    now_blocking = set(cur.fetchone()[0] or [])
                mine = [p for p in read_progress(mon) if p.pid == pid]
            except Exception:  # noqa: BLE001 - the monitor is best effort; the build's own outcome decides
                continue
            if mine and mine[0].current_locker_pid:
                now_blocking.add(mine[0].current_locker_pid)
            blockers |= now_blocking
            if progress:
                event = {"event": "progress", "action": action.id, "index": action.index, "table": action.table,
                         "blocked_by": sorted(now_blocking)}
                if mine:
                    event.update(phase=mine[0].phase, fraction=mine[0].fraction,
                                 blocks_done=mine[0].blocks_done, blocks_total=mine[0].blocks_total)
                progress(event)
    except KeyboardInterrupt:
        conn.cancel()
        worker.join(30)
        raise ApplyInterrupted(
            f"interrupted during step {action.id} ({action.kind} {action.index or action.table}); the statement "
            "was cancelled", hint="run `hmb-ops indexes plan` to see what is left; the next apply repairs it") from None
    return outcome.get("error"), blockers


def _describe_blockers(mon, pids: set[int]) -> str:
    try:
        details = blocker_details(mon, sorted(pids))
    except Exception:  # noqa: BLE001 - the details only enrich a message; the pids alone still say who blocks
        details = []
    if not details:
        return ", ".join(f"pid {p}" for p in sorted(pids)) or "an unknown session"
    parts = []
    for d in details:
        age = f", transaction open {d['transaction_age_s']}s" if d["transaction_age_s"] is not None else ""
        app = f" ({d['application_name']})" if d["application_name"] else ""
        parts.append(f"pid {d['pid']}{app} {d['state']}{age}")
    return "; ".join(parts)


def _fail(action: Action, exc: BaseException, blockers: set[int], mon) -> Exception:
    import psycopg2
    from psycopg2 import errorcodes

    code = getattr(exc, "pgcode", None)
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]) if str(exc) else repr(exc)
    what = f"step {action.id} ({action.kind} {action.index or action.table})"
    leftover = (f" {action.index} is left INVALID; `hmb-ops indexes plan` reports it and the next apply rebuilds it."
                if action.kind in ("create", "build_replacement") else "")
    if code == errorcodes.UNIQUE_VIOLATION:
        detail = getattr(diag, "message_detail", None) or ""
        return OperationFailed(
            f"unique index {action.index} cannot be built: the table {action.table} has duplicate keys: "
            f"{(detail or primary).rstrip('.')}.{leftover}",
            hint="remove the duplicate rows, then rerun `hmb-ops indexes apply`")
    if code == errorcodes.LOCK_NOT_AVAILABLE:
        who = _describe_blockers(mon, blockers)
        return LockBusy(
            f"{what} waited {action.lock_timeout_ms / 1000:g}s for a lock and gave up; blocked by {who}.{leftover}",
            hint="end or wait for that transaction (pg_terminate_backend(pid) if it is stuck), "
                 "or allow a longer wait with --lock-wait")
    if code == errorcodes.QUERY_CANCELED:
        return OperationFailed(f"{what} was cancelled ({primary.rstrip('.')}).{leftover}",
                               hint="raise --build-timeout if the build needs longer")
    if isinstance(exc, psycopg2.OperationalError) or code in (errorcodes.ADMIN_SHUTDOWN, errorcodes.CRASH_SHUTDOWN):
        return OperationFailed(f"{what} was interrupted: the connection was lost ({primary.rstrip('.')}).{leftover}",
                               hint="rerun `hmb-ops indexes apply` once the server is back")
    if isinstance(exc, psycopg2.Error):
        return OperationFailed(f"{what} failed: {primary.rstrip('.')}.{leftover}")
    return exc if isinstance(exc, Exception) else OperationFailed(f"{what} failed: {exc!r}")


def execute_plan(url: str, plan: Plan, mon, *, progress: Progress | None = None,
                 connect_timeout: int | None = None) -> ApplyResult:
    """Run every action of the plan in order. Caller holds the advisory lock on ``mon``."""
    from psycopg2 import errorcodes

    from hmb_ops.db.connect import connect

    refused = plan.refused
    if refused:
        from hmb_ops.errors import UsageError

        by_flag: dict[str, set[str]] = {}
        for a, h in refused:
            if not (a.kind == "drop" and h.code == "replace"):  # its swap step already names the index
                label = h.target or a.index or a.table or (a.statements[0].split()[-1] if a.statements else h.code)
                by_flag.setdefault(h.flag or h.code, set()).add(label)
        parts, flags = [], []
        for flag, names in sorted(by_flag.items()):
            listed = ", ".join(sorted(names))
            if flag == "--adopt":
                # Ownership: the opt-in names each index hmb-ops did not build.
                parts.append(f"{listed} {'was' if len(names) == 1 else 'were'} not built by hmb-ops "
                             f"(--adopt {','.join(sorted(names))} lets hmb-ops replace or drop "
                             f"{'it' if len(names) == 1 else 'them'})")
                flags.append(f"--adopt {','.join(sorted(names))}")
            else:
                parts.append(f"{flag} for {listed}")
                flags.append(flag)
        raise UsageError(f"the plan has hazards that were not allowed ({'; '.join(parts)}); nothing was changed",
                         hint=f"rerun with {' '.join(flags)} to allow them")
    started = time.monotonic()
    steps: list[StepResult] = []
    if not plan.actions:
        return ApplyResult(plan=plan, steps=(), seconds=0.0)
    conn = connect(url, autocommit=True, timeout=connect_timeout, application_name="hmb-ops indexes apply")
    try:
        for action in plan.actions:
            if progress:
                progress({"event": "start", "action": action.id, "kind": action.kind, "index": action.index,
                          "table": action.table, "sql": list(action.statements)})
            t0 = time.monotonic()
            attempts = 0
            while True:
                attempts += 1
                if conn.closed:
                    conn = connect(url, autocommit=True, timeout=connect_timeout,
                                   application_name="hmb-ops indexes apply")
                _set_timeouts(conn, action)
                try:
                    error, blockers = _watch(conn, mon, action, progress)
                except ApplyInterrupted:
                    _mark_leftover(mon, plan.schema, action)
                    raise
                if error is None:
                    break
                retryable = getattr(error, "pgcode", None) == errorcodes.LOCK_NOT_AVAILABLE
                if retryable and attempts <= action.retries:
                    delay = min(0.5 * 2 ** (attempts - 1), 8.0)
                    if progress:
                        progress({"event": "retry", "action": action.id, "attempt": attempts, "delay_s": delay,
                                  "blocked_by": sorted(blockers)})
                    time.sleep(delay)
                    continue
                if getattr(error, "pgcode", None) != errorcodes.DUPLICATE_TABLE:
                    _mark_leftover(mon, plan.schema, action)
                raise _fail(action, error, blockers, mon)
            steps.append(StepResult(action.id, action.kind, action.index, action.table,
                                    time.monotonic() - t0, attempts))
            if progress:
                progress({"event": "done", "action": action.id, "kind": action.kind, "index": action.index,
                          "table": action.table, "seconds": round(time.monotonic() - t0, 3)})
    finally:
        conn.close()
    return ApplyResult(plan=plan, steps=tuple(steps), seconds=time.monotonic() - started)
