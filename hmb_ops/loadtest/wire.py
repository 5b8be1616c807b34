"""One simulated user's keep-alive HTTP/1.1 connection: send a prepared request, read the answer.

The scenario engine's hot path. geventhttpclient's pooled response object costs about 100 µs of
CPU per request (a parser callback per header, a Headers object, the pool's queue, semaphore and a
select() per checkout); on a 2-core machine that CPU is taken from the server under test. A user
sends one request at a time, so it needs no pool: it owns one socket and reads the answer with
a few `bytes.find` calls. Supported: Content-Length, chunked (with trailers), read-to-close bodies,
1xx interim answers, HEAD/204/304 without a body, `Connection: close` and HTTP/1.0 answers. Plain
http only; https targets keep geventhttpclient (see behaviour.py).

Broken connections are errors, never silently resent (like wrk and k6): a worker killed mid-request
is a measured failure. A socket the server closed while idle is found before use (a non-blocking
peek) and replaced, so keep-alive expiry is not a failure.

The request timeout is not a socket timeout: gevent arms a timer object for every blocking wait of
a socket that has one (about 15 µs of CPU per request, measured). Instead one watchdog greenlet per
process closes the socket of any exchange older than its timeout; the waiting user then gets a
TimeoutError. A timeout therefore fires up to one watchdog tick (at most 0.25 s) late.
"""

from __future__ import annotations

import _socket  # the C module: monkey-patching never replaces it, so recv here cannot block
import time
import weakref

import gevent
from gevent import socket as gsocket

MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers; more is a protocol error
RECV_BYTES = 64 * 1024
_PEEK = _socket.MSG_PEEK | _socket.MSG_DONTWAIT
_NO_BODY_STATUS = frozenset({204, 304})
_NO_HEADERS: dict[str, str] = {}


class ProtocolError(ConnectionError):
    """The answer is not HTTP/1.x we can read, or the connection ended inside it."""


def resolve(host: str, port: int) -> list[tuple]:
    """The target's socket addresses, looked up once per process (not once per connection)."""
    return [(family, addr) for family, _t, _p, _c, addr in
            gsocket.getaddrinfo(host, port, type=gsocket.SOCK_STREAM)]


class _Watchdog:
    """Closes the socket of every exchange that has run longer than its connection's timeout."""

    def __init__(self) -> None:
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.tick = 0.25
        self.greenlet: gevent.Greenlet | None = None

    def watch(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.tick = min(self.tick, max(0.01, conn.timeout / 4))
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while self.connections:
            gevent.sleep(self.tick)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.busy_since and now - conn.busy_since > conn.timeout:
                    conn.expire()


_WATCHDOG = _Watchdog()


class Connection:
    """A user's connection to the target; opened on first use and again after the server closes it."""

    __slots__ = ("__weakref__", "_buf", "_sock", "addresses", "busy_since", "expired", "timeout")

    def __init__(self, addresses: list[tuple], timeout: float):
        self.addresses = addresses  # (family, sockaddr) from resolve()
        self.timeout = timeout
        self._sock: gsocket.socket | None = None
        self._buf = bytearray()
        self.busy_since = 0.0  # monotonic start of the exchange in flight; 0: idle
        self.expired = False
        _WATCHDOG.watch(self)

    def expire(self) -> None:
        """Called by the watchdog: the exchange in flight took too long; its wait ends in an error."""
        self.expired = True
        self.busy_since = 0.0
        self.close()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf = bytearray()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _usable(self) -> gsocket.socket:
        sock = self._sock
        if sock is not None:
            try:
                # Readable while idle: the server closed it (FIN) or sent something unasked.
                _socket.socket.recv(sock._sock, 1, _PEEK)
            except BlockingIOError:
                return sock  # idle and open: the normal case
            except OSError:
                pass
            self.close()
        self._sock = sock = self._connect()
        return sock

    def _connect(self) -> gsocket.socket:
        error: OSError | None = None
        for family, addr in self.addresses:
            sock = gsocket.socket(family, gsocket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sock.settimeout(None)  # from here on the watchdog times the exchange (see above)
            sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
            return sock
        raise error or OSError("the target has no address")

    def exchange(self, request: bytes, method: str, want: tuple[str, ...] = ()) -> tuple[int, bytes, dict]:
        """(status, body, {wanted header (lower case): value}) for one request; any error closes
        the connection and propagates (socket.timeout for a timeout, OSError otherwise)."""
        self.busy_since = time.monotonic()
        self.expired = False
        try:
            sock = self._usable()
            sock.sendall(request)
            return self._read(sock, method, want)
        except OSError:
            self.close()
            if self.expired:
                raise TimeoutError(f"timed out (no complete answer within {self.timeout:g} s)") from None
            raise
        except BaseException:
            self.close()
            raise
        finally:
            self.busy_since = 0.0

    def _recv_into(self, sock: gsocket.socket, buf: bytearray) -> None:
        data = sock.recv(RECV_BYTES)
        if not data:
            raise ProtocolError("connection closed by the server before the answer was complete")
        buf += data

    def _read(self, sock: gsocket.socket, method: str, want: tuple[str, ...]) -> tuple[int, bytes, dict]:
        buf = self._buf
        while True:  # until a final (non-1xx) answer's head
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise ProtocolError("answer headers larger than 64 KiB")
                self._recv_into(sock, buf)
                end = buf.find(b"\r\n\r\n")
            head = bytes(buf[:end])
            del buf[:end + 4]
            if head[:7] != b"HTTP/1." or len(head) < 12:
                raise ProtocolError(f"not an HTTP/1.x answer: {head[:40]!r}")
            try:
                status = int(head[9:12])
            except ValueError:
                raise ProtocolError(f"bad status line: {head[:40]!r}") from None
            if status >= 200:
                break
        length, chunked, connection, got = _headers(head, want)
        # HTTP/1.1 stays open unless the answer says close; HTTP/1.0 closes unless it says keep-alive.
        close = b"close" in connection or (head[7:8] == b"0" and b"keep-alive" not in connection)
        if method == "HEAD" or status in _NO_BODY_STATUS:
            body = b""
        elif chunked:
            body = self._chunked(sock, buf)
        elif length is not None:
            while len(buf) < length:
                self._recv_into(sock, buf)
            body = bytes(buf[:length])
            del buf[:length]
        else:  # no length: the body runs to the end of the connection
            while True:
                data = sock.recv(RECV_BYTES)
                if not data:
                    break
                buf += data
            body = bytes(buf)
            buf.clear()
            close = True
        if close or buf:  # leftover bytes after a complete answer: the stream is not trustworthy
            self.close()
        return status, body, got

    def _chunked(self, sock: gsocket.socket, buf: bytearray) -> bytes:
        body = bytearray()
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            while eol < 0:
                self._recv_into(sock, buf)
                eol = buf.find(b"\r\n", pos)
            try:
                size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            pos = eol + 2
            if size == 0:
                while True:  # trailers, up to the empty line
                    eol = buf.find(b"\r\n", pos)
                    while eol < 0:
                        self._recv_into(sock, buf)
                        eol = buf.find(b"\r\n", pos)
                    empty = eol == pos
                    pos = eol + 2
                    if empty:
                        del buf[:pos]
                        return bytes(body)
            while len(buf) < pos + size + 2:
                self._recv_into(sock, buf)
            body += buf[pos:pos + size]
            pos += size + 2


def _headers(head: bytes, want: tuple[str, ...]) -> tuple[int | None, bool, bytes, dict]:
    """(Content-Length, chunked, the Connection header lower-cased, wanted headers) from a head."""
    length: int | None = None
    chunked = False
    connection = b""
    got: dict[str, str] = {} if want else _NO_HEADERS
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower()
        if key == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            connection = value.lower()
        if want:
            text = key.decode("latin-1")
            if text in want and text not in got:
                got[text] = value.strip().decode("latin-1")
    return length, chunked, connection, got
