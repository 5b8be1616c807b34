"""Bad input through the real CLI (issue #11 items 7 and 12, "every problem shown"): exit 2 (or 3
for a reachable-looking URL with nothing listening), one `error:` line, no traceback, no password."""

from __future__ import annotations

import json
import os

import pytest

from cli_helpers import error_line

SECRET = "ssWORD"

# (how the URL is given, URL, exit code): exit 2 when malformed, 3 when valid but nothing listens.
URLS = [
    ("postgresql://u:pa/ssWORD@127.0.0.1:1/db", 2),
    ("postgresql://u:p@ssWORD@127.0.0.1:1/db", 2),
    ("postgresql://u:p%ssWORD@127.0.0.1:1/db", 2),
    ("postgresql://u:p?ssWORD@127.0.0.1:1/db", 2),
    ("postgresql://127.0.0.1:1/db?password=p&ssWORD", 2),
    ("host=127.0.0.1 port=1 password='p ssWORD'", 2),
    ("postgresql://u:p:ssWORD@127.0.0.1:1/db", 3),
    ("postgresql://u:pa%2FssWORD@127.0.0.1:1/db?sslmode=disable", 3),
]


@pytest.mark.parametrize("url,code", URLS)
def test_database_url_password_never_printed(hmb, tmp_path, url, code):
    state = ["--state-dir", str(tmp_path)]
    flag = hmb(state + ["--database-url", url, "db", "status"], env={"HMB_OPS_CONNECT_TIMEOUT": "2"})
    as_json = hmb(state + ["--json", "db", "status"], env={"DATABASE_URL": url, "HMB_OPS_CONNECT_TIMEOUT": "2"})
    for proc in (flag, as_json):
        assert SECRET not in proc.stdout + proc.stderr
        if code == 2:
            assert "malformed database URL" in error_line(proc, 2, alone=True)
        else:  # valid URL, nothing on port 1: db status reports it (stdout) and exits 3
            assert proc.returncode == 3 and "Traceback" not in proc.stderr
    if code == 3:
        doc = json.loads(as_json.stdout)
        assert doc["running"] is False and "***" in doc["url"] and "cannot connect" in doc["error"]


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


HOSTILE = {
    "self.yaml": "tiers: &a [*a]\n",
    "bomb.yaml": "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n" for i in range(1, 10)),
    "deep.yaml": "tiers: " + "[" * 5000 + "]" * 5000 + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_config_and_spec_files_exit_2(hmb, tmp_path, name):
    path = _write(tmp_path, name, HOSTILE[name])
    state = ["--state-dir", str(tmp_path / "state")]
    for args in (["--config", str(path), "tune", "tiers"], ["indexes", "plan", "--file", str(path)]):
        line = error_line(hmb(state + args, timeout=120), 2, alone=True)
        assert str(path) in line


def test_huge_and_special_config_files_exit_2(hmb, tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(5 * 1024 * 1024)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    state = ["--state-dir", str(tmp_path / "state")]
    assert "too large" in error_line(hmb(state + ["--config", str(big), "tune", "tiers"]), 2, alone=True)
    for special in ("/dev/zero", str(fifo)):
        assert "not a regular file" in error_line(hmb(state + ["--config", special, "tune", "tiers"]), 2,
                                                  alone=True)
    assert "not a regular file" in error_line(hmb(state + ["indexes", "plan", "--file", "/dev/zero"]), 2,
                                              alone=True)


def test_profile_file_with_several_problems_shows_them_all(hmb, tmp_path):
    path = _write(tmp_path, "profiles.yaml", "profiles:\n  mine:\n    users: lots\n    spawn_rate: 5\n"
                  "    duration: 10\n    mix: {feed: 1}\n    bogus: 3\n  other:\n    users: 2\n"
                  "    spawn_rate: -1\n    duration: 10\n    mix: {nope: 1}\n")
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--config", str(path), "loadtest", "--profile", "mine"])
    line = error_line(proc, 2, alone=True)
    assert line.startswith(f"error: {path}:3: field 'profiles.mine.users'")
    for shown in ("field 'profiles.mine.bogus' (line 7): unknown key", "field 'profiles.other.spawn_rate' (line 10)",
                  "field 'profiles.other.mix' (line 12)"):
        assert shown in line
    assert "more problem" not in line


@pytest.mark.parametrize("host,needle", [
    ("256.1.1.1", "is not an IP address or host name"),
    ("no-such-host.invalid", "does not resolve"),
    ("192.0.2.1", "is not an address of this machine"),
    ("", "is not an IP address or host name"),
])
def test_app_serve_refuses_a_host_it_cannot_bind(hmb, tmp_path, host, needle):
    proc = hmb(["--state-dir", str(tmp_path), "app", "serve", "--host", host, "--port", "0"], timeout=60)
    line = error_line(proc, 2, alone=True)
    assert "--host" in line and needle in line
    assert not (tmp_path / "pgdata").exists()  # refused before any database was started


def test_report_reads_only_regular_result_files(hmb, tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    deep = _write(tmp_path, "deep.json", "[" * 100000 + "]" * 100000)
    text = _write(tmp_path, "text.json", "hello")
    foreign = _write(tmp_path, "foreign.json", '{"a": 1}')
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    for target, needle in [("/dev/zero", "not a regular file"), (str(fifo), "not a regular file"),
                           (str(big), "too large"), (str(deep), "nested too deep"),
                           (str(text), "not a readable JSON document"), (str(foreign), "schema_version"),
                           (str(empty_dir), "results file not found")]:
        proc = hmb(["report", target], timeout=60)
        assert needle in error_line(proc, 2, alone=True), target
        assert len(proc.stdout) < 10_000
