"""The database during a run: connections by state and application, lock waits, top statements.

Read-only: pg_stat_activity each second, and pg_stat_statements at the start and the end of the
run when the extension is installed in that database (we never install it: that is the owner's
call, and it needs shared_preload_libraries and a restart). Statements are ranked by total
execution time spent during the run (end minus start), our own sampling queries left out.
"""

from __future__ import annotations

from typing import Any

APPLICATION_NAME = "hmb-ops-sampler"
TOP_STATEMENTS = 10

_ACTIVITY = ("SELECT coalesce(state, 'unknown'), coalesce(nullif(application_name, ''), '(none)'), "
             "count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity "
             "WHERE datname = current_database() AND backend_type = 'client backend' "
             "AND pid <> pg_backend_pid() GROUP BY 1, 2")
_HAS_PGSS = "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
_PGSS = ("SELECT s.queryid, s.query, s.calls, s.{total} FROM pg_stat_statements s "
         "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
         "AND s.query NOT ILIKE '%pg_stat_activity%' AND s.query NOT ILIKE '%pg_stat_statements%' "
         # the sampler's own _HAS_PGSS (its literal is normalised to $2, so the filter above misses it)
         "AND s.query NOT ILIKE '%FROM pg_extension WHERE extname = $%'")


class DatabaseSampler:
    def __init__(self, database_url: str):
        self.database_url = database_url
        self._conn: Any = None
        self._start: dict[Any, tuple[str, float, float]] | None = None
        self.statements_note: str | None = None

    def _cursor(self):
        from hmb_ops.db.connect import connect

        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, autocommit=True, timeout=2, application_name=APPLICATION_NAME)
        return self._conn.cursor()

    def _drop(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:  # noqa: BLE001 - a broken connection is dropped either way
            pass
        self._conn = None

    def sample(self) -> tuple[dict | None, str | None]:
        """({connections, active, idle, idle_in_transaction, lock_waits, by_state, by_application}, gap)."""
        try:
            with self._cursor() as cur:
                cur.execute(_ACTIVITY)
                rows = cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the database may be restarting: record a gap
            self._drop()
            return None, f"database: not readable ({exc.__class__.__name__})"
        by_state: dict[str, int] = {}
        by_app: dict[str, int] = {}
        waits = 0
        for state, app, n, lock in rows:
            by_state[state] = by_state.get(state, 0) + int(n)
            by_app[app] = by_app.get(app, 0) + int(n)
            waits += int(lock)
        total = sum(by_state.values())
        return {"connections": total, "active": by_state.get("active", 0),
                "idle_in_transaction": by_state.get("idle in transaction", 0)
                + by_state.get("idle in transaction (aborted)", 0),
                "lock_waits": waits, "by_state": by_state, "by_application": by_app}, None

    def _statements(self) -> dict[Any, tuple[str, float, float]] | None:
        try:
            with self._cursor() as cur:
                cur.execute(_HAS_PGSS)
                if cur.fetchone() is None:
                    self.statements_note = "pg_stat_statements is not installed in this database"
                    return None
                # total_exec_time since PostgreSQL 13 (the oldest release still supported).
                cur.execute(_PGSS.format(total="total_exec_time"))
                return {qid: (query, float(calls), float(ms)) for qid, query, calls, ms in cur.fetchall()}
        except Exception as exc:  # noqa: BLE001 - e.g. not in shared_preload_libraries: say so, run on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            self.statements_note = f"pg_stat_statements not readable: {first}"
            self._drop()
            return None

    def mark_start(self) -> None:
        self._start = self._statements()

    def top_statements(self, limit: int = TOP_STATEMENTS) -> list[dict]:
        """Statements by execution time spent during the run (call after the run)."""
        if self._start is None:
            return []
        end = self._statements()
        if end is None:
            return []
        out: list[dict[str, Any]] = []
        for qid, (query, calls, ms) in end.items():
            c0, ms0 = self._start.get(qid, (query, 0.0, 0.0))[1:]
            calls_d, ms_d = calls - c0, ms - ms0
            if calls_d <= 0 or ms_d < 0:
                continue
            out.append({"query": " ".join(query.split())[:500], "calls": int(calls_d),
                        "total_ms": round(ms_d, 3), "mean_ms": round(ms_d / calls_d, 3)})
        out.sort(key=lambda s: float(s["total_ms"]), reverse=True)
        return out[:limit]

    def close(self) -> None:
        self._drop()
