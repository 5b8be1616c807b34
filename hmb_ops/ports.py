"""Loopback ports: pick a free one, or ask whether a given one is free.

Servers we start (PostgreSQL, Gunicorn) bind with SO_REUSEADDR, so the probe does too: otherwise a
port whose old connections sit in TIME_WAIT looks taken and a restart would move to a new port.
"""

from __future__ import annotations

import socket


def _address(host: str) -> tuple[int, str]:
    """(address family, bare address) for a host as users write it: `[::1]` and `::1` are the
    same IPv6 address; a name is probed at the first address it resolves to, in that address's
    family, since that is what the server will bind. Probing `[::1]` as an IPv4 name failed and
    reported a free port as taken."""
    bare = host.strip().removeprefix("[").removesuffix("]")
    if ":" in bare:
        return socket.AF_INET6, bare
    try:
        socket.inet_aton(bare)
        return socket.AF_INET, bare
    except OSError:
        pass
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(bare, None, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        return socket.AF_INET, bare  # the bind below fails and says so
    return family, str(sockaddr[0])  # an IPv4 or IPv6 address: always text


def free_port(host: str = "127.0.0.1") -> int:
    family, addr = _address(host)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    family, addr = _address(host)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True
