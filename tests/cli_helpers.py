"""Assertions shared by the end-to-end tests of every command."""

from __future__ import annotations

import sys

# The CLI as a terminal starts it, with SIGINT at its default, for tests that send Ctrl-C. A shell
# running the suite in the background (`make test &`, nohup, some CI runners) makes its children
# ignore SIGINT, and Python then installs no KeyboardInterrupt handler: the signal would be lost.
INTERRUPTIBLE_CLI = [sys.executable, "-c",
                     "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "from hmb_ops.cli.main import main; main()"]


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
