"""The ASGI variant's pieces that need no server: request parsing (the Flask app's rules), the pool
shape from tune's environment, the database URL for asyncpg, the missing-extra refusal."""

from __future__ import annotations

import pytest

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.refapp_asgi import db as adb, parse, require_extra


@pytest.mark.parametrize("env,expected", [
    ({}, (5, 0)),
    ({"SQLALCHEMY_POOL_SIZE": "5", "SQLALCHEMY_MAX_OVERFLOW": "10"}, (5, 10)),
    ({"SQLALCHEMY_POOL_SIZE": "x"}, (5, 0)),
])
def test_pool_shape(env, expected):
    assert adb.pool_shape(5, env) == expected


def test_async_url_keeps_the_server_and_drops_libpq_only_options():
    url = adb.async_url("postgresql://u:p@127.0.0.1:5433/db?sslmode=require&connect_timeout=3")
    assert url.drivername == "postgresql+asyncpg" and url.port == 5433 and url.database == "db"
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize("text,status", [("abc", 404), ("-1", 404), ("0", 404), (str(2**63), 404)])
def test_path_ids_like_flask_int_converter(text, status):
    with pytest.raises(parse.ApiError) as err:
        parse.path_id(text)
    assert err.value.status == status and err.value.code == "not_found"


def test_body_and_query_rules():
    assert parse.json_object("application/json; charset=utf-8", b'{"a": 1}') == {"a": 1}
    for ctype, raw, status in [("text/plain", b"{}", 415), ("application/json", b"{oops", 400),
                               ("application/json", b"[1]", 422)]:
        with pytest.raises(parse.ApiError) as err:
            parse.json_object(ctype, raw)
        assert err.value.status == status
    assert parse.arg_limit({"limit": "7"}) == 7
    with pytest.raises(parse.ApiError):
        parse.arg_limit({"limit": "101"})
    with pytest.raises(parse.ApiError):
        parse.arg_bool({"remote": "maybe"}, "remote")
    with pytest.raises(parse.ApiError) as err:
        parse.required_str({"content": "x\x00"}, "content")
    assert err.value.status == 422


def test_missing_extra_is_exit_3_naming_pip_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "asyncpg" else real(name, *a))
    with pytest.raises(EnvironmentUnusable) as err:
        require_extra()
    assert err.value.exit_code == 3 and "pip install 'hmb-ops[asgi]'" in str(err.value) and "asyncpg" in str(err.value)
