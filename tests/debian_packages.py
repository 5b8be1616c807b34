"""Debian packages a test needs (Chromium, PgBouncer, PostgreSQL 15 + HypoPG), installed by the test set-up.

CI runs on a fresh machine, so every package a test needs is installed here, not by hand: `apt-get
update` once, then `apt-get install`. An exclusive file lock serialises the installs of test processes
running side by side (apt holds its own lock and fails rather than waits). Where nothing can be
installed (not root, no apt-get, apt failing) the caller skips and says why.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

APT_TIMEOUT_S = 900
LOCK = Path("/tmp/hmb-ops-tests-apt.lock")


def install(packages: Sequence[str], present: Path) -> str | None:
    """Install ``packages`` unless ``present`` exists; None when it exists afterwards, else why not."""
    if present.exists():
        return None
    names = " ".join(packages)
    if os.geteuid() != 0:
        return f"not root, so apt-get cannot install {names} (apt-get install {names} as root, then rerun)"
    if shutil.which("apt-get") is None:
        return f"no apt-get on this machine (install {names} to run this test)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if present.exists():  # another test process installed it while this one waited
            return None
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return f"`{' '.join(cmd)}` took longer than {APT_TIMEOUT_S} s"
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                return f"`{' '.join(cmd)}` failed: {' / '.join(tail)}"
    return None if present.exists() else f"apt-get installed {names} but {present} is still missing"
