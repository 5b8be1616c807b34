"""Gunicorn settings for the reference app when no tier config is given (`hmb-ops app serve`).

Sane gthread defaults in the shape of the reference application's own gunicorn.conf.py; every
number can be overridden by the environment (WEB_CONCURRENCY, WEB_THREADS, GUNICORN_TIMEOUT) or
by the command line. The bind address always comes from the command line.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# A psycopg2 pool must never be shared across fork: each worker builds its own after fork.
preload_app = False
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
errorlog = "-"


def worker_exit(server, worker):
    # Finish queued background work (fan-out, notifications) before the worker goes away.
    from hmb_ops.refapp.lifecycle import on_worker_exit

    on_worker_exit()


def child_exit(server, worker):
    from hmb_ops.refapp.lifecycle import on_child_exit

    on_child_exit(worker.pid)
