"""Loopback ports: pick a free one, or ask whether a given one is free.

Servers we start (PostgreSQL, Gunicorn) bind with SO_REUSEADDR, so the probe does too: otherwise a
port whose old connections sit in TIME_WAIT looks taken and a restart would move to a new port.
"""

from __future__ import annotations

import socket


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
