"""Issue #11 item 8: `loadtest --target` never follows a redirect, and the generator counts every 3xx
as a failure of its own kind (`redirect`) that makes the run not valid.

Real servers on loopback only: a redirector on 127.0.0.1 that answers 3xx pointing at a second
listener on 127.0.0.2, which records every connection it accepts. That second listener proves no
request (probe or load) ever reaches a Location. Nothing here sends traffic off loopback.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli_helpers import error_line

ELSEWHERE_HOST = "127.0.0.2"
SECRET = "s3cr3t-Pa55"
TOKEN = "tok-98765"

PROFILE = ("profiles:\n  redirected:\n    users: 2\n    spawn_rate: 10\n    duration: 3\n"
           "    think_time: [0.05, 0.1]\n    request_timeout: 2\n"
           "    mix: {health: 1, feed: 1, jobs: 1}\n")
# The reference app's requests as a user's scenario (a login step, no token needed): the reference
# scenario itself stops at once when its login is redirected (exit 3, tested below).
SCENARIO = """\
scenario:
  name: redirected
  setup:
    - {name: POST /api/auth/login, method: POST, path: /api/auth/login, json: {email: a, password: b}}
  requests:
    - {key: health, name: GET /health, path: /health}
    - {key: feed, name: GET /api/feed, path: /api/feed}
    - {key: jobs, name: GET /api/jobs, path: /api/jobs}
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, handler):
        super().__init__((host, 0), handler)
        self.connections = 0
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def verify_request(self, request, client_address) -> bool:
        with self.lock:  # every accepted TCP connection, whether or not a request follows
            self.connections += 1
        return True


def _serve(host: str, handler) -> _Server:
    server = _Server(host, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Recording(BaseHTTPRequestHandler):
    """The Location's host: answers 200 and records what reached it (nothing should)."""

    def log_message(self, *_a):
        pass

    def _any(self):
        with self.server.lock:
            self.server.requests.append((self.command, self.path))
        body = b'{"token": "t", "items": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _any


def redirector(location_base: str, *, status: int = 302, probe_path_answers: int | None = None):
    """A handler class answering `status` with Location = location_base + path to everything,
    except the probe's path "/" when probe_path_answers is given (any non-3xx status)."""

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *_a):
            pass

        def _any(self):
            with self.server.lock:
                self.server.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            code = probe_path_answers if (self.path == "/" and probe_path_answers) else status
            self.send_response(code)
            if code != probe_path_answers:
                self.send_header("Location", location_base + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_HEAD = _any

    return Redirect


@pytest.fixture
def elsewhere():
    server = _serve(ELSEWHERE_HOST, Recording)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def serve_redirector(elsewhere):
    started: list[_Server] = []

    def make(location_base: str | None = None, **kw) -> _Server:
        base = location_base or f"http://{ELSEWHERE_HOST}:{elsewhere.server_address[1]}"
        server = _serve("127.0.0.1", redirector(base, **kw))
        started.append(server)
        return server

    yield make
    for server in started:
        server.shutdown()
        server.server_close()


def _url(server: _Server, userinfo: str = "") -> str:
    return f"http://{userinfo}127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_probe_refuses_a_redirect_exit_3_and_never_contacts_the_location(hmb, tmp_path, elsewhere,
                                                                         serve_redirector, status):
    red = serve_redirector(status=status)
    out = tmp_path / "out"
    res = hmb(["--state-dir", str(tmp_path / "state"), "loadtest", "--profile", "health", "--duration", "2",
               "--target", _url(red), "--out", str(out)], timeout=60)
    line = error_line(res, 3)
    assert f"answered with a redirect (HTTP {status}" in line, line
    assert f"to http://{ELSEWHERE_HOST}:{elsewhere.server_address[1]}/" in line, line
    assert "never follows redirects" in line and "--target" in line
    assert red.requests == [("GET", "/")]  # one probe, no load run
    assert elsewhere.connections == 0 and elsewhere.requests == []
    assert not out.exists()  # a run that never started leaves nothing behind


def test_probe_message_masks_credentials_of_the_location_and_the_target(hmb, tmp_path, elsewhere,
                                                                        serve_redirector):
    port = elsewhere.server_address[1]
    red = serve_redirector(f"http://admin:{SECRET}@{ELSEWHERE_HOST}:{port}/login?token={TOKEN}&next=")
    res = hmb(["loadtest", "--profile", "health", "--target", _url(red, f"me:{SECRET}@"),
               "--out", str(tmp_path / "o")], timeout=60)
    line = error_line(res, 3)
    assert SECRET not in res.stderr + res.stdout and TOKEN not in res.stderr + res.stdout
    assert f"the target http://***@127.0.0.1:{red.server_address[1]} answered" in line, line
    assert f"to http://***@{ELSEWHERE_HOST}:{port}/login?…" in line, line
    assert elsewhere.connections == 0


def test_probe_ignores_proxy_variables(hmb, tmp_path, elsewhere, serve_redirector):
    # urllib sent the probe through $http_proxy, off loopback; http.client talks to the target only.
    red = serve_redirector()
    proxy = f"http://{ELSEWHERE_HOST}:{elsewhere.server_address[1]}"
    res = hmb(["loadtest", "--profile", "health", "--target", _url(red), "--out", str(tmp_path / "o")],
              env={"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}, timeout=60)
    assert "answered with a redirect" in error_line(res, 3)
    assert red.requests == [("GET", "/")]
    assert elsewhere.connections == 0


def test_every_answer_a_redirect_is_counted_as_redirect_failures_and_fails_the_gates(hmb, tmp_path, elsewhere,
                                                                                     serve_redirector):
    """The probe's "/" answers 404 (an answer: the probe passes); login and every endpoint answer 302."""
    red = serve_redirector(probe_path_answers=404)
    (tmp_path / "p.yaml").write_text(PROFILE)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    out = tmp_path / "out"
    # Proxy variables naming the Location's host too: neither the probe nor the generator uses them.
    proxy = f"http://{ELSEWHERE_HOST}:{elsewhere.server_address[1]}"
    res = hmb(["--config", str(tmp_path / "p.yaml"), "loadtest", "--profile", "redirected",
               "--scenario", str(tmp_path / "s.yaml"),
               "--target", _url(red), "--out", str(out), "--check", "p95<5000ms"], timeout=120,
              env={"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""})
    # A latency check alone would pass (redirects are fast): the run is not valid, so the gate fails.
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "results not valid" in res.stderr and "redirects (3xx, not followed)" in res.stderr

    doc = json.loads((out / "results.json").read_text())
    s = doc["summary"]
    assert s["requests"] > 0 and s["failures"] == s["requests"], s
    assert s["failures_by_kind"]["redirect"] == s["requests"], s["failures_by_kind"]
    assert {k for k, v in s["failures_by_kind"].items() if v} == {"redirect"}
    assert s["error_rate"] == 1.0
    by_name = {e["name"]: e for e in doc["endpoints"]}
    login = by_name["POST /api/auth/login"]
    assert login["requests"] >= 2 and login["failures_by_kind"] == {"redirect": login["requests"]}
    # A user whose setup (the login) failed retries it and sends no requests (docs/scenarios.md);
    # whatever else was sent was redirected too.
    for e in by_name.values():
        assert e["failures_by_kind"] == {"redirect": e["requests"]}, e
    assert doc["valid"] is False
    assert any(r.startswith(f"{s['requests']} of {s['requests']} answers were redirects") for r in
               doc["invalid_reasons"]), doc["invalid_reasons"]

    # console summary, HTML report, junit and Markdown all say so
    assert f"redirect={s['requests']}" in res.stdout, res.stdout
    assert f"NO: {s['requests']} of {s['requests']} answers were redirects" in res.stdout, res.stdout
    assert f"redirect={s['requests']}" in (out / "report.html").read_text()
    assert "<failure" in (out / "junit.xml").read_text()
    assert f"redirect={s['requests']}" in (out / "summary.md").read_text()
    rep = hmb(["report", str(out / "results.json")], timeout=60)
    assert rep.returncode == 0 and f"redirect={s['requests']}" in rep.stdout, rep.stdout

    # Every request stayed on the redirector: the Location's host saw no connection at all.
    assert len(red.requests) >= s["requests"]
    assert elsewhere.connections == 0 and elsewhere.requests == []


def test_the_reference_scenarios_login_redirected_stops_at_once_exit_3(hmb, tmp_path, elsewhere, serve_redirector):
    red = serve_redirector(probe_path_answers=404)
    (tmp_path / "p.yaml").write_text(PROFILE)
    res = hmb(["--config", str(tmp_path / "p.yaml"), "loadtest", "--profile", "redirected",
               "--target", _url(red), "--out", str(tmp_path / "out")], timeout=60)
    line = error_line(res, 3)
    assert "answered 302" in line and "does not look like the reference app; use --scenario or --locustfile" in line
    assert red.requests == [("GET", "/"), ("POST", "/api/auth/login")]  # the probe, one login, no load
    assert elsewhere.connections == 0
