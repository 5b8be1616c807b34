"""The scenario engine's own HTTP/1.1 connection (hmb_ops/loadtest/wire.py) against a real socket
server answering byte-exact canned answers: every framing the reader supports, keep-alive reuse,
an idle connection the server closed, broken and garbled answers, timeouts.

gevent runs in a child process (like the generator): pytest's own process is never patched."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(r'''
    import json, socket, gevent
    from gevent.server import StreamServer
    from hmb_ops.loadtest import wire

    ANSWERS = {
        b"/len": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Token: abc\r\n\r\nhello"],
        b"/chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                      b"3;ext=1\r\nfoo\r\n", b"4\r\nbar!\r\n0\r\nX-Trailer: t\r\n\r\n"],
        b"/eof": [b"HTTP/1.0 200 OK\r\n\r\nuntil close", None],
        b"/interim": [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                      b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"],
        b"/close": [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", None],
        b"/idle-close": [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "sleep-close"],
        b"/head": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"],
        b"/204": [b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"],
        b"/404": [b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnah"],
        b"/broken": [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", None],
        b"/garbage": [b"SSH-2.0-OpenSSH\r\n\r\n", None],
        b"/silent": ["sleep"],
        b"/bytewise": ["bytewise", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Token: q\r\n\r\nslow"],
    }
    connections = []

    def handle(sock, _addr):
        connections.append(1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(4096)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            path = head.split(b" ")[1]
            parts = ANSWERS[path]
            if parts[0] == "bytewise":
                for b in parts[1]:
                    sock.sendall(bytes([b]))
                    gevent.sleep(0.001)
                continue
            for part in parts:
                if part is None:
                    sock.close()
                    return
                if part == "sleep":
                    gevent.sleep(5)
                    return
                if part == "sleep-close":
                    gevent.sleep(0.05)
                    sock.close()
                    return
                sock.sendall(part)
                gevent.sleep(0.005)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    conn = wire.Connection(wire.resolve("127.0.0.1", server.server_port), timeout=0.5)
    out = {}

    def ask(path, method="GET", want=()):
        req = f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        try:
            status, body, got = conn.exchange(req, method, want)
            return [status, body.decode(), got, len(connections)]
        except Exception as exc:
            return [type(exc).__name__, isinstance(exc, ConnectionError), isinstance(exc, TimeoutError),
                    len(connections)]

    for name, args in [("len", ("/len", "GET", ("x-token",))), ("len_again", ("/len",)),
                       ("chunked", ("/chunked",)), ("head", ("/head", "HEAD")), ("no_content", ("/204",)),
                       ("interim", ("/interim",)), ("not_found", ("/404",)), ("eof", ("/eof",)),
                       ("after_eof", ("/len",)), ("close", ("/close",)), ("after_close", ("/len",)),
                       ("idle_close", ("/idle-close",))]:
        out[name] = ask(*args)
    gevent.sleep(0.2)  # the server has closed that idle connection meanwhile
    for name, args in [("after_idle_close", ("/len",)), ("bytewise", ("/bytewise", "GET", ("x-token",))),
                       ("broken", ("/broken",)), ("after_broken", ("/len",)), ("garbage", ("/garbage",)),
                       ("silent", ("/silent",))]:
        out[name] = ask(*args)
    print(json.dumps(out))
''')


def _run() -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_wire_reads_every_framing_reuses_connections_and_reports_broken_answers_as_errors():
    out = _run()
    # Content-Length, with a wanted header (asked in lower case, sent in any case), on one connection
    assert out["len"] == [200, "hello", {"x-token": "abc"}, 1]
    assert out["len_again"] == [200, "hello", {}, 1]
    assert out["chunked"] == [200, "foobar!", {}, 1]                 # extension and trailer skipped
    assert out["head"] == [200, "", {}, 1]                           # HEAD: Content-Length but no body
    assert out["no_content"] == [204, "", {}, 1]
    assert out["interim"] == [201, "ok", {}, 1]                      # a 1xx is skipped, not the answer
    assert out["not_found"] == [404, "nah", {}, 1]                   # statuses are the caller's business
    assert out["eof"] == [200, "until close", {}, 1]                 # HTTP/1.0, no length: read to close
    assert out["after_eof"] == [200, "hello", {}, 2]                 # ...then a new connection
    assert out["close"] == [200, "ok", {}, 2]
    assert out["after_close"] == [200, "hello", {}, 3]               # Connection: close honoured
    assert out["idle_close"] == [200, "ok", {}, 3]
    assert out["after_idle_close"] == [200, "hello", {}, 4]          # closed while idle: replaced, no error
    assert out["bytewise"] == [200, "slow", {"x-token": "q"}, 4]     # an answer in 1-byte pieces
    # Broken or garbled answers and silence are errors the engine counts (never resent).
    assert out["broken"] == ["ProtocolError", True, False, 4]
    assert out["after_broken"] == [200, "hello", {}, 5]
    assert out["garbage"] == ["ProtocolError", True, False, 5]
    assert out["silent"][0] in ("timeout", "TimeoutError") and out["silent"][2] is True
