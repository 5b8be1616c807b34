"""Shared fixtures: one real PostgreSQL server per test session, fresh databases, the CLI as a user runs it.

The server is the embedded one (started in a temporary state folder) unless
HMB_OPS_TEST_DATABASE_URL names an existing server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Importing locust runs gevent's monkey.patch_all() in the importing process. Tests that import
# hmb-ops' load-test modules in-process must not do that to pytest's own process: patched
# threads are greenlets, and a "background" thread blocked in psycopg2's C code then freezes
# the whole session (the index-build watchdog tests failed and the lock-wait test hung CI).
# So locust is imported here once, unpatched; the generator child processes patch themselves
# (hmb_ops/loadtest/worker.py) and do not inherit this setting, which is removed at once.
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    import locust  # noqa: F401 - imported for its side effect on later imports (see above)
finally:
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]


@pytest.fixture(autouse=True)
def _test_process_stays_unpatched():
    """Fail the test that monkey-patched pytest's process, naming it, instead of a later victim."""
    yield
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        pytest.fail("this test monkey-patched the test process (gevent patch_all): run the code "
                    "that patches in a child process", pytrace=False)

# Area fixtures shared by several test folders (tests/ is on pythonpath, see pyproject.toml).
pytest_plugins = ["fixtures_indexes", "fixtures_foreign", "fixtures_shop"]
HMB_OPS = [sys.executable, "-m", "hmb_ops.cli.main"]


@pytest.fixture(scope="session")
def pg_state_dir():
    # Outside pytest's tmp root on purpose: a second pytest session resets that root to 0700,
    # which would lock the unprivileged postgres service user out of this session's server.
    path = Path(tempfile.mkdtemp(prefix="hmb-ops-test-state-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_state_dir):
    """(admin URL, EmbeddedServer or None). Starts the embedded server once per session."""
    external = os.environ.get("HMB_OPS_TEST_DATABASE_URL")
    if external:
        yield external, None
        return
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(pg_state_dir)
    status, _ = server.up()
    yield status.url, server
    server.down()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    return pg_server[0]


def _create_database(admin_url: str, name: str) -> str:
    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse

    with connection(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return parse(admin_url).with_database(name).url


def _drop_database(admin_url: str, name: str) -> None:
    from hmb_ops.db.connect import connection

    with connection(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def new_database(pg_url):
    """Factory: a fresh empty database on the session server; dropped after the test."""
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        created.append(name)
        return _create_database(pg_url, name)

    yield make
    for name in created:
        _drop_database(pg_url, name)


@pytest.fixture(scope="module")
def module_database(pg_url):
    """A fresh database shared by the tests of one module (for expensive set-up such as seeding)."""
    name = f"m_{uuid.uuid4().hex[:10]}"
    url = _create_database(pg_url, name)
    yield url
    _drop_database(pg_url, name)


def run_hmb(args: list[str], *, env: dict | None = None, cwd: str | Path | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `hmb-ops` in a real subprocess, the way a user does."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    full_env.update(env or {})
    return subprocess.run(HMB_OPS + list(args), capture_output=True, text=True, env=full_env,
                          cwd=str(cwd or REPO), timeout=timeout, input=input)


@pytest.fixture
def hmb():
    return run_hmb
