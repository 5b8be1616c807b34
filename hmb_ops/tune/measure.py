"""Facts about the running system that a plan needs: per-worker memory, the database's max_connections."""

from __future__ import annotations

import urllib.request

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.resources import format_size
from hmb_ops.tune.plan import REFAPP

# /health needs no database; a URL nothing listens on keeps the measurement from opening one.
_NO_DATABASE = "postgresql://hmb:unused@127.0.0.1:9/hmb_ops_measure"


def worker_memory(*, app: str = REFAPP, database_url: str | None = None, requests: int = 5,
                  threads: int = 4) -> tuple[int, int, str]:
    """(worker RSS, master RSS, source) of one gthread worker after a few GET /health.

    RSS rather than USS: without preload every worker imports the app itself, so its RSS is what
    one more worker costs, give or take shared libraries (the conservative side).
    """
    import psutil

    from hmb_ops.stack.gunicorn import GunicornProcess

    proc = GunicornProcess(database_url or _NO_DATABASE, workers=1, threads=threads,
                           worker_class="gthread", app=app)
    try:
        proc.start(ready_timeout=30)
        for _ in range(max(1, min(requests, 50))):
            with urllib.request.urlopen(proc.url + "/health", timeout=5) as resp:
                resp.read()
        pids = proc.worker_pids()
        if not pids:
            raise EnvironmentUnusable("could not measure worker memory: the worker is gone",
                                      hint=f"see {proc.log_file}, or declare it with --worker-memory")
        worker = psutil.Process(pids[0]).memory_full_info()
        master = psutil.Process(proc.pid).memory_info().rss
    except psutil.Error as exc:
        raise EnvironmentUnusable(f"could not measure worker memory: {exc}",
                                  hint="declare it with --worker-memory SIZE") from None
    finally:
        proc.stop()
        proc.cleanup_logs()
    source = (f"measured: RSS of 1 gthread worker of {app} after {requests} GET /health "
              f"({format_size(worker.rss)}; USS {format_size(worker.uss)})")
    return worker.rss, master, source


def max_connections(url: str, *, timeout: int = 3) -> int:
    from hmb_ops.db.connect import connection

    with (connection(url, autocommit=True, timeout=timeout, application_name="hmb-ops tune") as conn,
          conn.cursor() as cur):
        cur.execute("SHOW max_connections")
        return int(cur.fetchone()[0])
