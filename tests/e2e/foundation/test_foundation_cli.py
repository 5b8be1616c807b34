"""The CLI root as a user runs it: help, version, the error funnel, exit codes, masking."""

import json
import socket
import subprocess
import sys
import threading

import pytest

from hmb_ops import __version__

from cli_helpers import error_line


def test_version(hmb):
    proc = hmb(["--version"])
    assert proc.returncode == 0 and proc.stdout.strip() == f"hmb-ops {__version__}"


def _all_command_paths():
    """Every group and command, discovered from the real click tree."""
    import click

    from hmb_ops.cli.main import COMMANDS, cli

    paths = [[]]
    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        if cmd is None:
            continue
        paths.append([name])
        if isinstance(cmd, click.Group):
            paths.extend([name, sub] for sub in cmd.list_commands(ctx))
    return paths


def test_every_command_module_imports():
    import importlib

    from hmb_ops.cli.main import COMMANDS

    for name, (module, attr, _help) in COMMANDS.items():
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not written yet")
        assert getattr(importlib.import_module(module), attr) is not None, name


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_help_on_every_command_and_group(hmb, path):
    proc = hmb(path + ["--help"])
    assert proc.returncode == 0, proc.stderr
    assert "Usage: hmb-ops" in proc.stdout
    # real help text: more than the usage line and the options block
    body = proc.stdout.split("Options:")[0]
    assert len(body.strip().splitlines()) >= 3, proc.stdout


@pytest.mark.parametrize("args,needle", [
    (["frobnicate"], "No such command"),
    (["--frobnicate"], "No such option"),
    (["db", "up", "--frobnicate"], "No such option"),
    (["db", "frobnicate"], "No such command"),
])
def test_unknown_command_or_option_is_exit_2_one_line(hmb, args, needle):
    proc = hmb(args)
    assert proc.returncode == 2
    assert needle in error_line(proc, alone=True)


def test_help_does_not_import_heavy_modules():
    code = ("import sys\nfrom hmb_ops.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('locust', 'gevent', 'flask', 'psycopg2', 'matplotlib', 'scipy', 'numpy',"
            " 'pydantic', 'rich') if m in sys.modules]\nprint('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_malformed_database_url_is_exit_2_without_password(hmb, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "db", "status"], env={"DATABASE_URL": "mysql://u:s3cretpw@h/x"})
    assert proc.returncode == 2
    line = error_line(proc, alone=True)
    assert "s3cretpw" not in proc.stderr + proc.stdout and "postgresql://" in line


def test_closed_port_reports_not_running_exit_3_and_masks(hmb, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    url = f"postgresql://u:s3cretpw@127.0.0.1:{port}/x"
    proc = hmb(["--json", "db", "status"], env={"DATABASE_URL": url}, timeout=30)
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["running"] is False and doc["url"] == f"postgresql://u:***@127.0.0.1:{port}/x"
    assert "s3cretpw" not in proc.stdout + proc.stderr


def test_server_that_never_answers_fails_within_connect_timeout(hmb):
    """A socket that accepts TCP but never speaks: the connect timeout, not a 45 s hang, decides."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        # the subprocess timeout is the bound: a hang would raise TimeoutExpired
        proc = hmb(["--connect-timeout", "1", "db", "status"],
                   env={"DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{port}/x"}, timeout=20)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        listener.close()
    assert proc.returncode == 3
    assert "timeout" in proc.stdout.lower() or "timeout" in proc.stderr.lower()


def test_state_folder_that_cannot_be_written_is_exit_3(hmb, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = hmb(["--state-dir", str(blocker / "state"), "db", "up"])
    assert proc.returncode == 3
    line = error_line(proc, alone=True)
    assert "cannot be written" in line and "--state-dir" in line


def test_bad_connect_timeout_is_usage_error(hmb):
    proc = hmb(["--connect-timeout", "0", "db", "status"])
    assert proc.returncode == 2
    error_line(proc, alone=True)
