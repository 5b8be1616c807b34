"""PgBouncer sized from the plan: values and formulas, the rendered files, pool-mode conflicts."""

from __future__ import annotations

import configparser

import pytest

from hmb_ops.errors import UsageError
from hmb_ops.tune.api import plan_for
from hmb_ops.tune.pgbouncer import (
    POOL_MODES,
    check_pool_mode,
    client_max_connections,
    plan_pgbouncer,
    pool_mode_conflicts,
    server_of,
)
from hmb_ops.tune.render import is_generated, render_all

FAST = {"worker_memory": "100MB"}


def test_pool_modes():
    assert check_pool_mode(None) == "transaction"
    for mode in POOL_MODES:
        assert check_pool_mode(mode.upper()) == mode
    with pytest.raises(UsageError, match="PgBouncer has no pool mode 'pooled'") as exc:
        check_pool_mode("pooled")
    assert "session, transaction, statement" in exc.value.hint


def test_sizing_when_the_database_is_smaller_than_the_app():
    pb = plan_pgbouncer(peak_clients=96, per_release_clients=48, server_max_connections=40, server_source="declared")
    v = pb.values
    assert v["max_db_connections"] == 32            # ⌊0.8 × 40⌋
    assert v["reserve_pool_size"] == 3              # round(0.1 × 32)
    assert v["default_pool_size"] == 29             # 32 − 3
    assert v["default_pool_size"] + v["reserve_pool_size"] <= v["max_db_connections"]
    assert v["max_client_conn"] == 120              # ⌈96 ÷ 0.8⌉
    assert v["listen_addr"] == "127.0.0.1" and v["pool_mode"] == "transaction"
    for item in pb.items:
        assert item.formula and item.binding


def test_sizing_when_the_app_fits():
    pb = plan_pgbouncer(peak_clients=20, per_release_clients=10, server_max_connections=300, server_source="x")
    assert pb.values["default_pool_size"] == 20
    assert pb.values["max_db_connections"] == 240


def test_session_mode_with_a_small_pool_warns():
    pb = plan_pgbouncer(peak_clients=96, per_release_clients=48, server_max_connections=40, server_source="x",
                        pool_mode="session")
    assert any("session mode" in w for w in pb.warnings)
    statement = plan_pgbouncer(peak_clients=4, per_release_clients=2, server_max_connections=40, server_source="x",
                               pool_mode="statement")
    assert any("multi-statement" in w for w in statement.warnings)


def test_client_max_connections_keeps_the_peak_within_the_budget():
    from hmb_ops.tune.budget import connection_budget

    for peak in range(1, 500):
        n = client_max_connections(peak)
        assert connection_budget(n).budget >= peak - 1  # the api bumps the last rounding step


def test_server_is_parsed_never_pasted():
    assert server_of("postgresql://u:secret@db.example:5433/app") == {"host": "db.example", "port": 5433,
                                                                        "dbname": "app"}
    with pytest.raises(UsageError, match=r"cannot be written into pgbouncer\.ini"):
        server_of("postgresql://u:p@h:5432/app%0Alisten_addr%3D0.0.0.0")


def test_requested_plan_writes_ini_and_userlist_without_secrets():
    plan = plan_for(tier="default", max_connections=50, pgbouncer=True,
                    database_url=None, **FAST)
    files = render_all(plan)
    ini, users = files["pgbouncer.ini"], files["userlist.txt"]
    assert is_generated(ini) and is_generated(users)
    parser = configparser.ConfigParser(comment_prefixes=("#", ";"), inline_comment_prefixes=None,
                                       interpolation=None)
    parser.read_string(ini)
    pgb = parser["pgbouncer"]
    assert pgb["pool_mode"] == "transaction" and pgb["listen_addr"] == "127.0.0.1"
    assert int(pgb["max_db_connections"]) == 40
    assert int(pgb["default_pool_size"]) + int(pgb["reserve_pool_size"]) <= 40
    assert int(pgb["max_client_conn"]) >= plan.budgets["db_connections"]["peak_during_deploy"]
    assert "PgBouncer 1.18" in ini and "prepared-statement" in ini
    assert "connect_query='SET statement_timeout = 30000" in ini
    assert '"USER" "PASSWORD"' in users  # a placeholder: no secret is ever written
    assert "password =" not in ini.lower() and "password=" not in ini.lower()
    assert "PGBOUNCER_POOL_MODE=transaction" in files["hmb-ops.env"]
    assert "--pgbouncer" in ini.splitlines()[0] and "--max-connections 50" in ini.splitlines()[0]
    assert plan.to_dict()["pgbouncer"]["values"]["max_db_connections"] == 40


def test_auto_only_when_over_budget():
    assert plan_for(tier="default", max_connections=300, pgbouncer=None, **FAST).pgbouncer is None
    plan = plan_for(tier="default", max_connections=30, pgbouncer=None, **FAST)
    assert plan.pgbouncer is not None
    assert any("over budget" in w and "PgBouncer planned" in w for w in plan.warnings)
    # the app keeps the tier's workers: its connections go to PgBouncer
    assert plan.values["workers"] == 4 and plan.budgets["db_connections"]["ok"]
    assert plan_for(tier="default", max_connections=300, **FAST).pgbouncer is None  # api default: never


def test_asgi_plan_through_pgbouncer_names_asyncpg_settings():
    plan = plan_for(cpus=2, memory="2GB", app="myapi.main:app", worker_class="uvicorn_worker.UvicornWorker",
                    max_connections=20, pgbouncer=True, pool_mode="transaction", **FAST)
    assert plan.pgbouncer.values["max_db_connections"] == 16
    assert any("statement_cache_size" in line for line in plan.pgbouncer.app_settings)


def test_bad_pool_mode_through_the_api():
    with pytest.raises(UsageError, match="no pool mode 'pooled'"):
        plan_for(tier="default", pgbouncer=True, pool_mode="pooled", **FAST)


@pytest.mark.parametrize("env,needle", [
    ({"DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:6432/app"}, "asyncpg's statement cache is on"),
    ({"DATABASE_URL": "postgresql+psycopg://u:p@127.0.0.1:6432/app"}, "prepare_threshold=None"),
    ({"DATABASE_URL": "postgresql://u:p@h:5432/app", "PGBOUNCER_POOL_MODE": "statement", "PGOPTIONS": "-c x=1"},
     "PGOPTIONS"),
    ({"DATABASE_URL": "postgresql://u:p@h:6432/app?options=-c%20statement_timeout%3D5"}, "options="),
    ({"PGBOUNCER_POOL_MODE": "pooled"}, "not a PgBouncer pool mode"),
])
def test_conflicts(env, needle):
    found = pool_mode_conflicts(env)
    assert len(found) == 1 and needle in found[0]


@pytest.mark.parametrize("env", [
    {"DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:5432/app"},                      # no pooler
    {"DATABASE_URL": "postgresql://u:p@127.0.0.1:6432/app"},                              # psycopg2 is fine
    {"DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:6432/app", "DB_STATEMENT_CACHE_SIZE": "0"},
    {"DATABASE_URL": "postgresql+asyncpg://u:p@h:6432/app?prepared_statement_cache_size=0"},
    {"DATABASE_URL": "postgresql+psycopg://u:p@h:6432/app", "DB_PREPARE_THRESHOLD": "none"},
    {"DATABASE_URL": "postgresql+asyncpg://u:p@h:6432/app", "PGBOUNCER_POOL_MODE": "session"},
    {},
])
def test_no_conflicts(env):
    assert pool_mode_conflicts(env) == []


def test_conflicts_with_an_explicit_mode():
    env = {"DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/app"}
    assert pool_mode_conflicts(env, "transaction")
    assert pool_mode_conflicts(env, "session") == []


def test_listen_address_is_parsed():
    from hmb_ops.tune.pgbouncer import check_listen

    assert check_listen("127.0.0.1") == "127.0.0.1" and check_listen("*") == "*" and check_listen("::1") == "::1"
    assert check_listen("db-proxy.internal") == "db-proxy.internal"
    for bad in ("127.0.0.1\nadmin_users = x", "a b", "", "-x"):
        with pytest.raises(UsageError, match="not an address PgBouncer can listen on"):
            check_listen(bad)
    pb = plan_pgbouncer(peak_clients=4, per_release_clients=2, server_max_connections=40, server_source="x",
                        listen_addr="0.0.0.0")
    assert any("not only on loopback" in w for w in pb.warnings)


def test_more_clients_than_pgbouncer_takes_is_said_as_such():
    # It said "max_connections 100000" (PgBouncer's ceiling, not the database's) and advised --pgbouncer.
    from hmb_ops.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        plan_for(cpus=2, memory="4GB", worker_memory="64MB", threads=100_000, pgbouncer=True)
    text = caught.value.one_line()
    assert text.startswith("even behind PgBouncer the app needs too many connections: database connections over "
                           "budget:") and "PgBouncer clients 100000" in text
    assert "max_connections" not in text and "--pgbouncer" not in text
