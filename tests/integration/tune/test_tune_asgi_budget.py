"""The ASGI plan's connection budget holds for real: the FastAPI reference variant, started under
Gunicorn with Uvicorn workers from the files `tune` writes for it, never opens more database
connections than the plan's workers × pool max while the smoke load runs."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest

UVICORN = "uvicorn_worker.UvicornWorker"


@pytest.fixture(scope="module")
def seeded_url(module_database):
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes

    ensure_seeded(module_database, scale="small")
    ensure_indexes(module_database)
    return module_database


@pytest.mark.slow
def test_asgi_plan_budget_holds_under_load(seeded_url, pg_url, tmp_path):
    from hmb_ops.db.connect import connection
    from hmb_ops.loadtest.api import LoadRequest, run_load
    from hmb_ops.refapp_asgi import ASGI_APP
    from hmb_ops.stack.gunicorn import GunicornProcess
    from hmb_ops.tune.api import plan_for, tier_environment, write_files

    # SQLAlchemy pool of 3 + 0 per worker (the variant sizes its engine from DB_POOL_MAX, no overflow).
    plan = plan_for(cpus=2, memory="2GB", app=ASGI_APP, worker_class=UVICORN, worker_memory="96MB",
                    pool_size=3, max_overflow=0, max_connections=300)
    v = plan.values
    assert (v["workers"], v["threads"], v["db_pool_max"]) == (2, 1, 3)
    assert plan.item("workers").formula.startswith("⌈CPUs⌉")
    deploy = tmp_path / "deploy"
    write_files(plan, deploy)
    conf = (deploy / "gunicorn.conf.py").read_text()
    assert "threads =" not in conf and f'worker_class = "{UVICORN}"' in conf

    dbname = urlsplit(seeded_url).path.lstrip("/")
    peak = {"db": 0}
    stop = threading.Event()

    def sample():
        with connection(pg_url, autocommit=True) as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                            "AND backend_type = 'client backend'", (dbname,))
                peak["db"] = max(peak["db"], cur.fetchone()[0])
                stop.wait(0.1)

    with GunicornProcess(seeded_url, config_file=str(deploy / "gunicorn.conf.py"), env=tier_environment(plan),
                         app=ASGI_APP, log_dir=str(tmp_path / "app")) as app:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            doc = run_load(LoadRequest(profile="smoke", users=12, spawn_rate=12, target=app.url,
                                       out_dir=str(tmp_path / "load")))
        finally:
            stop.set()
            sampler.join(timeout=10)
        assert len(app.worker_pids()) == v["workers"]
    print(f"\nASGI plan {v['workers']} workers × pool {v['db_pool_max']}: {doc.summary.requests} requests, "
          f"{doc.summary.failures} failures, peak {peak['db']} database connections")
    assert doc.summary.requests > 20
    assert doc.summary.failures <= doc.summary.requests * 0.01, doc.summary.failures_by_kind
    assert 1 <= peak["db"] <= v["workers"] * v["db_pool_max"], peak
