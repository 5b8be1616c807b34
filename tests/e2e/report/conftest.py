"""Debian's Chromium driven by Playwright, for the HTML report's browser test.

CI runs on a fresh machine: when /usr/bin/chromium is missing and we are root, the session installs
it from Debian's packages (apt-get); anywhere it cannot be installed the tests skip and say why.
Playwright never downloads a browser here (`playwright install` is not used): it drives the
system Chromium through executable_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches out: no QUIC, no background updates, no sync, no first-run pages.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
APT_TIMEOUT_S = 900


def _install_chromium() -> str | None:
    """Install Debian's chromium; None when done, else why it could not be."""
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install it (apt-get install chromium as root, then rerun)"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine (install Chromium at /usr/bin/chromium to run this test)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "chromium"]  # as tested: with its recommended fonts
    for cmd in (["apt-get", "update", "-qq"], install):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` took longer than {APT_TIMEOUT_S} s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"`{' '.join(cmd)}` failed: {' / '.join(tail)}"
    return None if CHROMIUM.exists() else "apt-get installed chromium but /usr/bin/chromium is still missing"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        why = _install_chromium()
        if why:
            pytest.skip(f"Chromium is not installed and could not be: {why}")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
