"""Failure kinds through the real generator: HTTP status, 429 apart, timeouts — against a tiny
misbehaving HTTP server on loopback (no database needed)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hmb_ops.loadtest.api import LoadRequest, run_load

PROFILE = ("profiles:\n  bad-server:\n    users: 3\n    spawn_rate: 10\n    duration: 3\n"
           "    think_time: [0.05, 0.1]\n    request_timeout: 0.4\n"
           "    mix: {health: 1, ready: 1, feed: 1, jobs: 1}\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_a):
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, {"token": "t"})

    def do_GET(self):
        if self.path == "/health":
            time.sleep(1.0)  # longer than the profile's request_timeout
            self._send(200, {"ok": True})
        elif self.path == "/ready":
            self._send(429, {"error": "slow down"})
        elif self.path.startswith("/api/feed"):
            self._send(500, {"error": "boom"})
        else:
            self._send(200, {"items": []})


@pytest.fixture
def bad_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_failures_are_split_by_kind_with_429_apart(bad_server, tmp_path):
    (tmp_path / "p.yaml").write_text(PROFILE)
    doc = run_load(LoadRequest(profile="bad-server", target=bad_server, config_files=(str(tmp_path / "p.yaml"),),
                               out_dir=str(tmp_path / "r")))
    kinds = doc.summary.failures_by_kind
    assert kinds["timeout"] >= 1 and kinds["rate_limited_429"] >= 1 and kinds["http_500"] >= 1, kinds
    assert "http_429" not in kinds
    by_name = {e.name: e for e in doc.endpoints}
    assert by_name["GET /health"].failures_by_kind == {"timeout": by_name["GET /health"].failures}
    # a timed-out request counts with its time (at least the timeout), not as a zero
    assert by_name["GET /health"].latency_ms.max >= 390
    assert by_name["GET /api/jobs"].failures == 0 and by_name["GET /api/jobs"].requests > 0
    assert doc.summary.failures == sum(kinds.values())
    assert sum(r.failures for r in doc.timeseries) == doc.summary.failures
