"""`app serve --host` (issue #11 "Robustness" findings 3 and 4): an IPv6 loopback literal serves,
bare (`::1`) or bracketed (`[::1]`), and the port probe uses the IPv6 family; an address other
machines can reach serves with a warning on stderr and in --json."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from hmb_ops.ports import free_port, port_is_free

from cli_helpers import error_line, stop_serve, wait_health

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
UNREACHABLE = "postgresql://u:secretpw@127.0.0.1:1/nothing"
EXPOSED = "reachable from other machines"


def _ipv6_loopback() -> str | None:
    """Why IPv6 loopback cannot be used here, or None when it can."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as exc:
        return f"cannot bind ::1 on this machine: {exc}"
    return None


needs_ipv6 = pytest.mark.skipif(_ipv6_loopback() is not None, reason=_ipv6_loopback() or "")


def _start(args, env):
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", *args], env=full, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@needs_ipv6
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serve_on_ipv6_loopback(new_database, tmp_path, host):
    port = free_port("::1")
    proc = _start(["--state-dir", str(tmp_path), "app", "serve", "--host", host, "--port", str(port),
                   "--workers", "1", "--threads", "2"], {"DATABASE_URL": new_database()})
    try:
        assert wait_health(f"http://[::1]:{port}", proc)
    finally:
        out, err = stop_serve(proc)
    assert f"http://[::1]:{port}" in out
    assert "warning" not in err  # loopback: nothing to warn about


@needs_ipv6
def test_ipv6_port_probe_uses_the_ipv6_family():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert not port_is_free("[::1]", taken) and not port_is_free("::1", taken)
    free = free_port("[::1]")
    assert port_is_free("[::1]", free) and port_is_free("::1", free)


@needs_ipv6
def test_serve_ipv6_port_really_taken_exits_3(hmb, new_database, tmp_path):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--host", "[::1]", "--port", str(port)],
                   env={"DATABASE_URL": new_database()})
    assert f"port {port} on ::1 is already in use" in error_line(proc, 3, alone=True)


def test_serve_on_every_interface_warns_in_text_and_json(new_database, tmp_path):
    port = free_port("0.0.0.0")
    proc = _start(["--state-dir", str(tmp_path), "app", "serve", "--host", "0.0.0.0", "--port", str(port),
                   "--workers", "1", "--threads", "2", "--json"], {"DATABASE_URL": new_database()})
    try:
        assert wait_health(f"http://127.0.0.1:{port}", proc)  # traffic to loopback only
    finally:
        out, err = stop_serve(proc)
    doc, _ = json.JSONDecoder().raw_decode(out.lstrip())  # the ready document (indented)
    assert len(doc["warnings"]) == 1 and EXPOSED in doc["warnings"][0]
    warned = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warned) == 1 and EXPOSED in warned[0] and "0.0.0.0" in warned[0]


def test_non_loopback_warning_comes_before_any_failure(hmb, tmp_path):
    # The warning is printed before the app starts, so it shows even when serving then fails.
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--host", "0.0.0.0", "--port", "0"],
               env={"DATABASE_URL": UNREACHABLE, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    error_line(proc, 3)
    assert EXPOSED in proc.stderr.splitlines()[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_host_does_not_warn(hmb, tmp_path, host):
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--host", host, "--port", "0"],
               env={"DATABASE_URL": UNREACHABLE, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    error_line(proc, 3, alone=True)
    assert EXPOSED not in proc.stderr
