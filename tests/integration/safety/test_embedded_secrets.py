"""The embedded server's secrets and state folder (issue #11 items 5 and 13), on the real server.

Modes are checked at every moment a test can observe: when initdb runs (the password file it
reads exists only then), throughout `db up` (a thread watching the folder) and afterwards.
Two `db up` started together on a fresh state folder must share one server.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from hmb_ops.db.embedded import LOCK_FILE, SERVICE_USER, EmbeddedServer

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def tmp_path():
    """Outside pytest's tmp root on purpose (see tests/conftest.py pg_state_dir): another pytest
    session resets that root to 0700, which locks the server's unprivileged user out mid-run."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="hmb-ops-test-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def expected_dir_mode() -> int:
    # As root the server runs as an unprivileged user that needs search (x) on the way to its data.
    return 0o710 if AS_ROOT else 0o700


def assert_private_dir(path) -> None:
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == expected_dir_mode(), (path, oct(st.st_mode))
    if AS_ROOT:
        import grp

        assert st.st_uid == 0 and grp.getgrgid(st.st_gid).gr_name == SERVICE_USER


class Watched(EmbeddedServer):
    """The real server; records what the folders and the initdb password file look like when initdb runs."""

    seen: dict

    def _run(self, args, **kw):
        if Path(args[0]).name == "initdb":
            pwfile = next(a.split("=", 1)[1] for a in args if a.startswith("--pwfile="))
            st = os.stat(pwfile)
            self.seen = {"pwfile": stat.S_IMODE(st.st_mode), "pwfile_uid": st.st_uid,
                         "state": mode(self.state_dir), "root": mode(self.root), "data": mode(self.data)}
        return super()._run(args, **kw)


def watch(folder: Path, stop: threading.Event, seen: dict) -> None:
    """Every file and folder hmb-ops writes in the state folder (the data folder is initdb's), with
    the widest mode it was ever seen with."""
    while not stop.is_set():
        for dirpath, dirs, files in os.walk(folder):
            if Path(dirpath).name == "data":
                dirs[:] = []
                continue
            for name in files + dirs:
                path = os.path.join(dirpath, name)
                try:
                    m = mode(path)
                except FileNotFoundError:
                    continue
                seen[path] = seen.get(path, 0) | m
        time.sleep(0.002)


def test_secret_files_and_folders_are_private_from_the_first_moment(tmp_path):
    state = tmp_path / "state"
    server = Watched(state)
    seen: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(tmp_path, stop, seen), daemon=True)
    watcher.start()
    try:
        status, started = server.up()
    finally:
        stop.set()
        watcher.join()
    try:
        assert started and status.running
        # when initdb read it, the superuser password file was 0600 (owned by the server's user as root)
        assert server.seen["pwfile"] == 0o600, oct(server.seen["pwfile"])
        if AS_ROOT:
            import pwd

            assert server.seen["pwfile_uid"] == pwd.getpwnam(SERVICE_USER).pw_uid
        assert server.seen["state"] == expected_dir_mode() and server.seen["root"] == expected_dir_mode()
        assert server.seen["data"] == 0o700
        assert not (server.root / ".initpw").exists()
        # the watcher: no file ever wider than 0600, no folder wider than the private mode
        assert seen, "the watcher saw nothing"
        for path, m in seen.items():
            if os.path.isdir(path):
                assert m & 0o077 & ~0o010 == 0, (path, oct(m))
            else:
                assert m & 0o077 == 0, (path, oct(m))
        # afterwards
        assert_private_dir(state)
        assert_private_dir(server.root)
        assert mode(server.password_file) == 0o600 and os.stat(server.password_file).st_uid == os.geteuid()
        assert mode(server.data) == 0o700
        assert mode(state / LOCK_FILE) == 0o600
        # it still works: connect with the password from the private file
        from hmb_ops.db.connect import connection

        with connection(server.url()) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        server.down()


def test_an_old_wide_open_default_state_folder_is_narrowed(tmp_path):
    """A .hmb-ops folder made before this fix (0755, password chmod'ed late) is made private on the next start."""
    state = tmp_path / ".hmb-ops"
    server = EmbeddedServer(state)
    try:
        server.up()
        server.down()
        os.chmod(state, 0o755)
        os.chmod(server.root, 0o755)
        server.up()
        assert_private_dir(state)
        assert_private_dir(server.root)
        assert server.status().running
    finally:
        server.down()


def test_a_folder_the_user_named_keeps_its_mode_but_its_postgres_folder_is_private(tmp_path):
    state = tmp_path / "project"
    state.mkdir()
    os.chmod(state, 0o755)
    server = EmbeddedServer(state)
    try:
        server.up()
        assert mode(state) == 0o755
        assert_private_dir(server.root)
    finally:
        server.down()


def _blocked_on(lock_path: Path) -> int:
    """How many flock waiters /proc/locks shows on the lock file."""
    ino = os.stat(lock_path).st_ino
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        if "->" in line and line.split()[-3].endswith(f":{ino}"):
            count += 1
    return count


def test_two_db_up_at_once_share_one_server(hmb, tmp_path):
    state = str(tmp_path / "fresh")
    env = {"HMB_OPS_STATE_DIR": state}
    results = [None, None]

    def up(i):
        results[i] = hmb(["db", "up"], env=env, timeout=180)

    threads = [threading.Thread(target=up, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(200)
    try:
        for r in results:
            assert r.returncode == 0, r.stderr
        assert results[0].stdout == results[1].stdout and results[0].stdout.startswith("postgresql://postgres:***@")
        messages = sorted(r.stderr.strip().splitlines()[-1] for r in results)
        assert messages == ["started the embedded PostgreSQL", "the embedded PostgreSQL is already running"]
    finally:
        down = hmb(["db", "down"], env=env)
    assert down.returncode == 0 and "stopped" in down.stderr
    assert not EmbeddedServer(state).status().running


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks to see the waiters")
def test_concurrent_db_up_wait_for_the_lock_holder(hmb, tmp_path):
    """Both wait while another process holds the state folder's lock (seen in /proc/locks), then share one server."""
    import fcntl
    import subprocess
    import sys

    from hmb_ops.private_files import private_dir

    state = tmp_path / "fresh"
    private_dir(state)
    lock_path = state / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["HMB_OPS_STATE_DIR"] = str(state)
    procs = [subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", "db", "up"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while _blocked_on(lock_path) < 2:
            assert time.monotonic() < deadline, "the two db up never waited on the lock"
            assert all(p.poll() is None for p in procs)
            time.sleep(0.05)
        assert not (state / "postgres" / "data").exists()  # nobody initialised behind the lock's back
    finally:
        os.close(fd)
    outs = [p.communicate(timeout=180) for p in procs]
    try:
        assert [p.returncode for p in procs] == [0, 0], outs
        assert outs[0][0] == outs[1][0]
    finally:
        EmbeddedServer(state).down()


def test_an_initdb_killed_half_way_is_redone(tmp_path):
    """A data folder without the password file (init killed) is not mistaken for a usable one."""
    state = tmp_path / "state"
    server = EmbeddedServer(state)
    try:
        server.up()
        server.down()
        server.password_file.unlink()
        status, started = server.up()
        assert started and status.running and server.password_file.exists()
    finally:
        server.down()
