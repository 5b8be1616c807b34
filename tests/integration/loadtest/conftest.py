"""A seeded database with the declared indexes, and the reference app under real Gunicorn, both
shared by the tests of one module (starting Gunicorn took 5-9 s per test on a busy machine).

Tests may kill a worker (Gunicorn replaces it) but never stop the shared app."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def seeded_url(module_database):
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes

    ensure_seeded(module_database, scale="small")
    ensure_indexes(module_database)
    return module_database


@pytest.fixture(scope="module")
def app(seeded_url, tmp_path_factory):
    from hmb_ops.stack.gunicorn import GunicornProcess

    proc = GunicornProcess(seeded_url, workers=2, threads=4, log_dir=str(tmp_path_factory.mktemp("app")))
    proc.start(ready_timeout=60)
    yield proc
    proc.stop()
