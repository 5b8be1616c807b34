"""Debian's Chromium driven by Playwright, for the HTML report's browser test.

CI runs on a fresh machine: when /usr/bin/chromium is missing and we are root, the session installs
it from Debian's packages (apt-get); anywhere it cannot be installed the tests skip and say why.
Playwright never downloads a browser here (`playwright install` is not used): it drives the
system Chromium through executable_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from debian_packages import install

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches out: no QUIC, no background updates, no sync, no first-run pages.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    why = install(["chromium"], CHROMIUM)  # as tested: with its recommended fonts
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
