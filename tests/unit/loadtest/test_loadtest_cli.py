"""The CLI's parsing of durations (the rest of the CLI runs in e2e tests)."""

from __future__ import annotations

import pytest

from hmb_ops.cli.loadtest import parse_duration
from hmb_ops.errors import UsageError


@pytest.mark.parametrize("text, seconds", [("20", 20), ("20s", 20), ("1.5m", 90), ("1h", 3600), (None, None)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "5 days", "1e9", "10x"])
def test_nonsense_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_cli_module_does_not_import_locust_or_psycopg2():
    import subprocess
    import sys

    code = ("import sys, hmb_ops.cli.loadtest, hmb_ops.loadtest.api; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust','gevent','psycopg2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
