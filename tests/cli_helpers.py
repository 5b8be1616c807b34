"""Assertions shared by the end-to-end tests of every command."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request

# The CLI as a terminal starts it, with SIGINT at its default, for tests that send Ctrl-C. A shell
# running the suite in the background (`make test &`, nohup, some CI runners) makes its children
# ignore SIGINT, and Python then installs no KeyboardInterrupt handler: the signal would be lost.
INTERRUPTIBLE_CLI = [sys.executable, "-c",
                     ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "from hmb_ops.cli.main import main; main()")]


def error_line(proc, code: int | None = None, *, alone: bool = False) -> str:
    """The CLI's error as a user sees it: one `error: ...` line, last on stderr, no traceback.

    `alone`: nothing else was printed on stderr (commands that fail before any progress output).
    """
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert sum(ln.startswith("error:") for ln in lines) == 1, proc.stderr
    if alone:
        assert len(lines) == 1, proc.stderr
    return lines[-1]


def wait_health(url: str, proc=None, timeout: float = 40) -> dict:
    """`GET url/health` once it answers; fails at once if `proc` (the serving CLI) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"app serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("app serve never answered /health")


def stop_serve(proc) -> tuple[str, str]:
    """SIGTERM to a CLI started with start_new_session, its (stdout, stderr); it must exit 0.
    Its whole process group is killed if it does not stop in time."""
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    return out, err
