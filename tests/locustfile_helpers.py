"""Helpers shared by the tests that run user locustfiles (tests/e2e/loadtest, tests/integration/loadtest):
a small JSON app on loopback, and Locust's own distributed form (one --master, N --worker) with
hmb_ops/loadtest/locustfile.py, as the README shows it.

    with json_app() as url: ...                        # 200 {"path": ...}; /missing... answers 404
    with json_app(delay_s=0.05) as url: ...            # each answer waits (a slow app)
    run_distributed(url, env, cwd, workers=2)          # returns when the master has finished
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hmb_ops.ports import free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "locustfiles"
REPO_LOCUSTFILE = Path(__file__).resolve().parents[1] / "hmb_ops" / "loadtest" / "locustfile.py"


def _handler(delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_a):
            pass

        def do_GET(self):
            if delay_s:
                time.sleep(delay_s)
            status = 404 if self.path.startswith("/missing") else 200
            data = json.dumps({"path": self.path}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def json_app(delay_s: float = 0.0) -> Iterator[str]:
    """The base URL of a threaded JSON app on loopback, stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(delay_s))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_distributed(host: str, env: dict, cwd: Path, *, workers: int = 1, timeout: float = 90) -> None:
    """`locust -f hmb_ops/loadtest/locustfile.py --master --headless` and `workers` × `--worker` on this
    machine (env carries HMB_PROFILE, HMB_RAW_OUT...); returns once the master has finished, no process left."""
    locust = [sys.executable, "-m", "locust", "-f", str(REPO_LOCUSTFILE), "--loglevel", "ERROR"]
    port = str(free_port())
    master = subprocess.Popen([*locust, "--master", "--headless", "--expect-workers", str(workers), "--host", host,
                               "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--only-summary"],
                              env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [master] + [subprocess.Popen([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
                                         env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for _ in range(workers)]
    try:
        master.wait(timeout=timeout)
        for w in procs[1:]:
            w.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
