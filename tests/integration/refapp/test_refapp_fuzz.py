"""Property-based fuzzing of every endpoint against a seeded database: whatever arrives, the answer
is JSON and never a 5xx (the database is up, so 503 would be a bug too)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hmb_ops.refapp import auth

ENDPOINTS = [
    ("GET", "/health"), ("HEAD", "/health"), ("GET", "/ready"),
    ("POST", "/api/auth/login"), ("GET", "/api/feed"), ("POST", "/api/posts"), ("GET", "/api/posts/{id}"),
    ("POST", "/api/posts/{id}/like"), ("GET", "/api/jobs"), ("GET", "/api/messages/conversations"),
    ("GET", "/api/messages/conversations/{id}/messages"), ("GET", "/api/messages/unread-count"),
    ("GET", "/api/notifications"),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
SECRET = "fuzz-secret-of-at-least-32-characters"

ids = st.one_of(st.integers(-5, 3000), st.integers(2**62, 2**80), st.text(max_size=20))
query_keys = st.sampled_from(["limit", "cursor", "q", "category", "location", "remote", "unread", "x"])
query = st.dictionaries(query_keys, st.one_of(st.text(max_size=120), st.integers(-10, 200).map(str),
                                              st.sampled_from(["true", "false", "MTc6MQ", "%", "_", "'--"])),
                        max_size=4)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                           max_leaves=10)
bodies = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"email": json_values | st.sampled_from(["user1@example.test", "' OR 1=1 --"]),
                                        "password": json_values | st.just("hmb-ops-demo"),
                                        "content": json_values | st.text(min_size=1, max_size=6000),
                                        "post_type": json_values | st.sampled_from(["text", "image", "x"]),
                                        "image_url": json_values}).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
)
content_types = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "application/json; charset=latin-1", "application/problem+json"])


@pytest.fixture(scope="module")
def fuzz_app(seeded_url):
    from hmb_ops.refapp import create_app
    from hmb_ops.refapp.settings import Settings

    app = create_app(Settings.from_env({"DATABASE_URL": seeded_url, "HMB_REFAPP_TOKEN_SECRET": SECRET,
                                        "DB_POOL_TIMEOUT": "10"}))
    yield app
    app.extensions["hmb"].close()


def make_case():
    return st.fixed_dictionaries({
        "endpoint": st.sampled_from(ENDPOINTS),
        "method": st.one_of(st.none(), st.sampled_from(METHODS)),
        "id": ids, "query": query, "body": bodies, "content_type": content_types,
        "auth": st.sampled_from(["valid", "none", "garbage", "expired", "other-user"]),
    })


def run_case(app, case):
    method, template = case["endpoint"]
    method = case["method"] or method
    path = template.replace("{id}", quote(str(case["id"]), safe=""))
    headers = {}
    if case["auth"] == "valid":
        headers["Authorization"] = "Bearer " + auth.issue(1, SECRET.encode(), 60)
    elif case["auth"] == "other-user":
        headers["Authorization"] = "Bearer " + auth.issue(987654321, SECRET.encode(), 60)
    elif case["auth"] == "garbage":
        headers["Authorization"] = "Bearer a.b"
    elif case["auth"] == "expired":
        headers["Authorization"] = "Bearer " + auth.issue(1, SECRET.encode(), 1, now=1)
    if case["content_type"]:
        headers["Content-Type"] = case["content_type"]
    client = app.test_client()
    resp = client.open(path, method=method, query_string=case["query"], data=case["body"], headers=headers)
    assert resp.status_code < 500, (method, path, case, resp.get_data()[:300])
    if method != "HEAD" and path != "/metrics":
        assert resp.is_json, (method, path, resp.get_data()[:200])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=make_case())
def test_fuzz_every_endpoint_no_5xx(fuzz_app, case):
    run_case(fuzz_app, case)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=make_case())
def test_fuzz_every_endpoint_no_5xx_long(fuzz_app, case):
    run_case(fuzz_app, case)
