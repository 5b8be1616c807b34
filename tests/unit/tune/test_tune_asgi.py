"""The ASGI model: one event loop per worker, no threads, the async pool's connection budget."""

from __future__ import annotations

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.resources import Resources
from hmb_ops.tune.budget import connection_budget
from hmb_ops.tune.plan import AppProfile
from hmb_ops.tune.recommend import recommend
from hmb_ops.tune.render import plan_settings, render_all, tier_environment
from hmb_ops.tune.tiers import load_tiers

GiB = 1024 ** 3
UVICORN = "uvicorn_worker.UvicornWorker"
FOREIGN = "myapi.main:app"


def machine(cpus, memory=8 * GiB):
    return Resources(cpus=cpus, cpus_source="test", memory_bytes=memory, memory_source="test",
                     dev_shm=True, somaxconn=4096)


def asgi_plan(cpus=2, **profile):
    profile.setdefault("worker_class", UVICORN)
    profile.setdefault("app", FOREIGN)
    profile.setdefault("max_connections", 1000)
    return recommend(machine(cpus), AppProfile(**profile))


@pytest.mark.parametrize("cpus,workers", [(0.5, 1), (1, 1), (1.5, 2), (2, 2), (4, 4)])
def test_workers_follow_cpus_not_2n_plus_1(cpus, workers):
    plan = asgi_plan(cpus)
    assert plan.values["workers"] == workers
    item = plan.item("workers")
    assert item.binding == "CPU" and "one event loop per CPU" in item.formula and "not 2n+1" in item.formula


def test_no_threads_and_sqlalchemy_defaults():
    plan = asgi_plan()
    v = plan.values
    assert v["threads"] == 1 and "no request threads" in plan.item("threads").formula
    assert (v["db_pool_size"], v["db_max_overflow"], v["db_pool_max"], v["db_pool_min"]) == (5, 10, 15, 0)
    assert plan.item("db_pool_max").formula == "SQLAlchemy pool_size + max_overflow = 5 + 10 (SQLAlchemy's defaults)"
    assert v["db_pool_timeout"] == 30
    assert v["concurrency"] == 2 * 15
    assert plan.budgets["pool"]["library"] == "sqlalchemy"
    assert plan.budgets["db_connections"]["peak_during_deploy"] == (2 * 15 + v["background_workers"]) * 2
    assert not plan.warnings


def test_declared_sqlalchemy_pool_is_the_budget():
    plan = asgi_plan(pool_size=3, max_overflow=2)
    assert plan.values["db_pool_max"] == 5 and plan.item("db_pool_max").binding == "flag"
    assert plan.regenerate_flags == ("--pool-size", "3", "--max-overflow", "2")


def test_asyncpg_pool_defaults_and_declared():
    plan = asgi_plan(pool_library="asyncpg")
    assert (plan.values["db_pool_max"], plan.values["db_pool_min"]) == (10, 10)
    assert "db_pool_size" not in plan.values
    plan = asgi_plan(asyncpg_max_size=4)
    assert (plan.values["db_pool_max"], plan.values["db_pool_min"]) == (4, 4)
    assert plan.budgets["pool"]["library"] == "asyncpg"


def test_connection_budget_binds_asgi_workers():
    # budget ⌊0.8 × 60⌋ = 48 → 24 per copy; minus 4 background = 20; ÷ 15 → 1 worker
    plan = asgi_plan(4, max_connections=60, background_workers=4)
    assert plan.values["workers"] == 1 and plan.item("workers").binding == "database connections"
    assert connection_budget(60).max_workers(15, 4) == 1
    with pytest.raises(ConfigError, match=r"database connections over budget.*pool max 15"):
        asgi_plan(4, max_connections=30, background_workers=4)


def test_threads_reported_as_no_effect():
    plan = asgi_plan(threads=2)
    assert plan.values["threads"] == 1
    assert any(w.startswith("--threads: threads=2 has no effect with uvicorn_worker.UvicornWorker")
               for w in plan.warnings)


def test_tier_threads_have_no_effect_either():
    t = load_tiers()["default"]
    plan = recommend(machine(t.cpus, t.memory), AppProfile(worker_class=UVICORN, max_connections=500),
                     tier=t, tier_name="default")
    assert plan.values["workers"] == 4  # the tier fixes them
    assert any("tier default's threads: threads=4 has no effect" in w for w in plan.warnings)


def test_deprecated_path_is_flagged_with_replacement():
    plan = asgi_plan(worker_class="uvicorn.workers.UvicornWorker")
    assert any("deprecated" in w and "use uvicorn_worker.UvicornWorker" in w for w in plan.warnings)


def test_rendered_files_have_no_threads_and_the_class():
    plan = asgi_plan()
    files = render_all(plan)
    conf = files["gunicorn.conf.py"]
    assert "threads =" not in conf and f'worker_class = "{UVICORN}"' in conf
    assert "WEB_THREADS" not in files["hmb-ops.env"] and "WEB_THREADS" not in files["render.yaml"]
    assert "SQLALCHEMY_POOL_SIZE=5" in files["hmb-ops.env"] and "SQLALCHEMY_MAX_OVERFLOW=10" in files["hmb-ops.env"]
    assert "threads" not in plan_settings(plan)
    assert "WEB_THREADS" not in tier_environment(plan)
    assert f"gunicorn --config gunicorn.conf.py {FOREIGN}" in files["Procfile"]


def test_gthread_files_unchanged_in_shape():
    plan = recommend(machine(2), AppProfile(max_connections=1000))
    assert "threads = _env_int(\"WEB_THREADS\", 4)" in render_all(plan)["gunicorn.conf.py"]
    assert "concurrency" not in plan.values and "db_pool_size" not in plan.values


@pytest.mark.parametrize("profile,message", [
    ({"pool_size": 5, "asyncpg_max_size": 5}, "alternatives"),
    ({"pool_max": 5, "pool_size": 5}, "--pool-max and the pool library's own sizes are alternatives"),
    ({"pool_library": "asyncpg", "max_overflow": 3}, "SQLAlchemy's"),
    ({"pool_library": "psycopg"}, "--async-pool 'psycopg' is not known"),
    ({"pool_size": 0}, "--pool-size must be at least 1"),
    ({"max_overflow": -1}, "--max-overflow must be at least 0"),
    ({"asyncpg_max_size": 3, "pool_min": 5}, "pool min 5 is larger than pool max 3"),
])
def test_bad_pool_settings(profile, message):
    with pytest.raises(UsageError, match=message):
        asgi_plan(**profile)


def test_candidate_problem_uses_the_plans_budgets():
    from hmb_ops.tune.budget import candidate_problem

    plan = recommend(machine(2, 1 * GiB), AppProfile(max_connections=50, background_workers=2))
    # gthread: pool follows threads (threads + 1); budget 40 → 20 per copy
    assert candidate_problem(plan, 3, 4) is None  # (3 × 5 + 2) × 2 = 34 ≤ 40
    assert candidate_problem(plan, 4, 4) == ("database connections: (4 workers × pool 5 + 2 background) × 2 "
                                             "during deploys = 44 > "
                                             "budget 40 (0.8 × max_connections 50)")
    assert candidate_problem(plan, 2, 2) is None
    assert candidate_problem(plan, 9, 1).startswith("memory: ")  # 9 × 128 MiB > 0.9 GiB usable
    asgi = asgi_plan(max_connections=100, background_workers=2)
    assert candidate_problem(asgi, 2) is None
    assert "pool 15" in candidate_problem(asgi, 3)  # (3 × 15 + 2) × 2 = 94 > 80
