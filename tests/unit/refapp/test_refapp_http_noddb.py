"""Bad input that the app rejects before it needs a database (Flask test client, no server)."""

from __future__ import annotations

import pytest

from hmb_ops.refapp import auth, create_app
from hmb_ops.refapp.settings import Settings


@pytest.fixture(scope="module")
def client():
    # A URL nothing listens on: any request that reached the database would get a 503.
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/none",
                                  "HMB_REFAPP_TOKEN_SECRET": "s" * 32, "DB_POOL_TIMEOUT": "1"})
    app = create_app(settings)
    return app.test_client(), settings


def token(settings, ttl=60, now=None):
    return auth.issue(1, settings.token_secret, ttl, now=now)


def test_health_needs_no_database(client):
    c, _ = client
    r = c.get("/health")
    assert r.status_code == 200 and r.json["status"] == "ok"
    assert c.head("/health").status_code == 200


def test_ready_is_503_without_database(client):
    c, _ = client
    r = c.get("/ready")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json["error"] == "unavailable"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Token x"}])
def test_api_without_valid_token_is_401(client, headers):
    c, _ = client
    r = c.get("/api/feed", headers=headers)
    assert r.status_code == 401 and r.is_json and "WWW-Authenticate" in r.headers


def test_expired_token_is_401(client):
    c, s = client
    r = c.get("/api/feed", headers={"Authorization": "Bearer " + token(s, ttl=1, now=1000)})
    assert r.status_code == 401 and "expired" in r.json["message"]


@pytest.mark.parametrize("kwargs, status", [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": "[1, 2]", "content_type": "application/json"}, 422),
    ({"data": "email=a", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "{}"}, 415),
    ({"json": {"email": "a@b"}}, 422),
    ({"json": {"email": 5, "password": "x"}}, 422),
    ({"json": {"email": "a\u0000b", "password": "x"}}, 422),
    ({"data": '{"email": "\\ud800", "password": "x"}', "content_type": "application/json"}, 422),
    ({"json": {"email": "x" * 1000, "password": "x"}}, 422),
    ({"data": "{" + '"a":"' + "x" * 100_000 + '"}', "content_type": "application/json"}, 413),
])
def test_login_bad_bodies(client, kwargs, status):
    c, _ = client
    r = c.post("/api/auth/login", **kwargs)
    assert r.status_code == status, r.data
    assert r.is_json and r.json["error"]


@pytest.mark.parametrize("path", ["/api/feed?limit=0", "/api/feed?limit=abc", "/api/feed?limit=101",
                                  "/api/feed?cursor=%%%", "/api/feed?cursor=bm9wZQ",
                                  "/api/jobs?remote=maybe", "/api/jobs?q=%00", "/api/jobs?q=" + "x" * 300,
                                  "/api/notifications?unread=2"])
def test_bad_query_parameters_are_400(client, path):
    c, s = client
    r = c.get(path, headers={"Authorization": "Bearer " + token(s)})
    assert r.status_code == 400, (path, r.data)
    assert r.is_json


def test_unknown_route_and_method(client):
    c, s = client
    assert c.get("/nope").status_code == 404
    r = c.delete("/api/feed", headers={"Authorization": "Bearer " + token(s)})
    assert r.status_code == 405 and r.is_json and "GET" in r.headers["Allow"]


def test_huge_id_is_404_not_500(client):
    c, s = client
    r = c.get("/api/posts/99999999999999999999999", headers={"Authorization": "Bearer " + token(s)})
    assert r.status_code == 404 and r.is_json


def test_database_down_is_503_with_retry_after(client):
    c, s = client
    r = c.get("/api/feed", headers={"Authorization": "Bearer " + token(s)})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
