"""tune against real things: PostgreSQL's max_connections, the reference app's memory, gunicorn --check-config."""

from __future__ import annotations

import pytest

from hmb_ops.errors import ConfigError, DatabaseUnavailable
from hmb_ops.tune.api import plan_for, render_files
from hmb_ops.tune.validate import validate_rendered

UNREACHABLE = "postgresql://nobody:secret@127.0.0.1:9/none"


def _show_max_connections(url):
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SHOW max_connections")
        return int(cur.fetchone()[0])


def test_max_connections_read_live(pg_url):
    plan = plan_for(tier="high", database_url=pg_url, worker_memory="64MB")
    db = plan.budgets["db_connections"]
    assert db["max_connections"] == _show_max_connections(pg_url)
    assert db["source"].startswith("live: SHOW max_connections on ")
    assert "secret" not in db["source"]


def test_declared_small_database_rejects_tier(pg_url):
    with pytest.raises(ConfigError, match="over budget"):
        plan_for(tier="default", max_connections=30, database_url=pg_url, worker_memory="64MB")


def test_unreachable_database_falls_back_unless_required():
    plan = plan_for(tier="small", database_url=UNREACHABLE, worker_memory="64MB")
    assert plan.budgets["db_connections"]["declared"] is False
    with pytest.raises(DatabaseUnavailable) as exc:
        plan_for(tier="small", database_url=UNREACHABLE, worker_memory="64MB", database_required=True)
    assert "secret" not in exc.value.one_line()


def test_worker_memory_measured_from_the_reference_app():
    plan = plan_for(tier="default", measure_memory=True)
    mem = plan.budgets["memory"]
    assert mem["worker_source"].startswith("measured: RSS of 1 gthread worker of hmb_ops.refapp.wsgi:app")
    assert 10 * 2 ** 20 < mem["worker_bytes"] < 1024 * 2 ** 20
    assert mem["ok"]


@pytest.mark.parametrize("kwargs", [{"tier": "small"}, {"tier": "default"}, {"tier": "high"},
                                    {"cpus": 0.5, "memory": "512MB"}, {"tier": "default", "worker_class": "sync"},
                                    {"tier": "default", "worker_class": "gevent"}])
def test_generated_configs_pass_gunicorn_check_config(kwargs):
    plan = plan_for(worker_memory="64MB", **kwargs)
    notes = validate_rendered(render_files(plan), plan.app)
    assert "gunicorn --check-config passed with hmb_ops.refapp.wsgi:app" in notes
