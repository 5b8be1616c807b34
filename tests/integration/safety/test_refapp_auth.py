"""The reference app's logins, tokens and bodies against the real database (issue #11 items 6, 9, 14).

- A login with an unknown e-mail does the same bcrypt work as a wrong password for an account
  (the check runs against a dummy hash of the accounts' cost) and gets the same answer.
- A token stops working on every authenticated endpoint once its account is deactivated.
- A chunked body over the limit gets 413 like a sized one, instead of being cut and accepted.
"""

from __future__ import annotations

import http.client
import json
import uuid

import pytest

from hmb_ops.refapp import auth

from fixtures_indexes import run_sql as sql

PASSWORD = "correct horse battery staple"
SECRET = "safety-test-secret-of-at-least-32-characters"
COST = 5  # not the seed's default (10) nor the app's fallback: the dummy must learn it from the table


@pytest.fixture(scope="module")
def app_db(module_database):
    """The reference schema with four accounts (user 4 deactivated) and one post."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import create_schema

    hashed = auth.hash_password(PASSWORD, COST)
    with connection(module_database) as conn:
        create_schema(conn)
        with conn.cursor() as cur:
            for i in range(1, 5):
                cur.execute("INSERT INTO users (id, email, hashed_password, username, is_active)"
                            " VALUES (%s, %s, %s, %s, %s)", (i, f"user{i}@example.test", hashed, f"user{i}", i != 4))
            cur.execute("INSERT INTO posts (user_id, content) VALUES (2, 'hello')")
        conn.commit()
    return module_database


# -- login costs the same with or without the account (item 6) ---------------------------------------
@pytest.fixture
def flask_app(app_db):
    """The real app in this process (so its password check can be observed), on the real database."""
    from hmb_ops.refapp import create_app
    from hmb_ops.refapp.settings import Settings

    app = create_app(Settings.from_env({"DATABASE_URL": app_db, "HMB_REFAPP_TOKEN_SECRET": SECRET}))
    yield app
    app.extensions["hmb"].close()


@pytest.fixture
def checks(monkeypatch):
    """Every bcrypt check the login makes: (password, cost of the hash it was checked against)."""
    seen: list[tuple[str, int | None]] = []
    real = auth.check_password

    def observed(password, hashed):
        seen.append((password, auth.hash_cost(hashed)))
        return real(password, hashed)

    monkeypatch.setattr(auth, "check_password", observed)
    return seen


def login(client, email: str, password: str):
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    return r.status_code, r.json


@pytest.mark.parametrize("first", ["unknown", "known"])
def test_unknown_email_costs_one_check_of_the_accounts_cost(flask_app, checks, first):
    client = flask_app.test_client()
    attempts = {"unknown": ("nobody@example.test", "whatever"), "known": ("user1@example.test", "wrong")}
    order = [first, "known" if first == "unknown" else "unknown"]
    answers = {}
    for name in order:  # a fresh worker: the first miss comes before or after any account lookup
        before = len(checks)
        answers[name] = login(client, *attempts[name])
        assert checks[before:] == [(attempts[name][1], COST)], (name, checks)
    assert answers["unknown"] == answers["known"] == (401, {"error": "unauthorized",
                                                            "message": "wrong e-mail or password"})


def test_deactivated_account_with_the_right_password_answers_like_a_wrong_one(flask_app, checks):
    client = flask_app.test_client()
    inactive = login(client, "user4@example.test", PASSWORD)
    unknown = login(client, "ghost@example.test", PASSWORD)
    assert inactive == unknown and inactive[0] == 401
    assert [cost for _, cost in checks] == [COST, COST]


def test_the_dummy_hash_matches_no_password(flask_app, checks):
    client = flask_app.test_client()
    for password in (PASSWORD, "", "x" * 72):
        assert login(client, "ghost@example.test", password)[0] == 401
    status, doc = login(client, "user1@example.test", PASSWORD)
    assert status == 200 and doc["user_id"] == 1
    assert len(checks) == 4


# -- the real app under Gunicorn ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(app_db, tmp_path_factory):
    from hmb_ops.stack.gunicorn import GunicornProcess

    with GunicornProcess(app_db, workers=2, threads=4, token_secret=SECRET,
                         log_dir=str(tmp_path_factory.mktemp("gunicorn"))) as proc:
        yield proc


def request(served, method: str, path: str, *, body=None, token: str | None = None,
            headers: dict | None = None, encode_chunked: bool = False):
    conn = http.client.HTTPConnection(served.host, served.port, timeout=30)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs, encode_chunked=encode_chunked)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, dict(resp.getheaders()), (json.loads(raw) if raw else None)
    finally:
        conn.close()


def token_for(served, i: int) -> str:
    status, _, doc = request(served, "POST", "/api/auth/login",
                             body={"email": f"user{i}@example.test", "password": PASSWORD})
    assert status == 200, doc
    return doc["token"]


# -- a deactivated account's tokens stop working (item 14) ----------------------------------------------
AUTHENTICATED = [
    ("GET", "/api/feed", None),
    ("POST", "/api/posts", {"content": "still here?"}),
    ("GET", "/api/posts/1", None),
    ("POST", "/api/posts/1/like", None),
    ("GET", "/api/jobs", None),
    ("GET", "/api/messages/conversations", None),
    ("GET", "/api/messages/conversations/1/messages", None),
    ("GET", "/api/messages/unread-count", None),
    ("GET", "/api/notifications", None),
]


def test_deactivated_account_token_is_refused_everywhere_until_reactivated(served, app_db):
    token = token_for(served, 3)
    for method, path, body in AUTHENTICATED:
        assert request(served, method, path, body=body, token=token)[0] in (200, 201, 404), path
    sql(app_db, "UPDATE users SET is_active = false WHERE id = 3")
    try:
        posts_before = sql(app_db, "SELECT count(*) FROM posts")
        for method, path, body in AUTHENTICATED:
            status, headers, doc = request(served, method, path, body=body, token=token)
            assert status == 401, (path, status, doc)
            assert doc == {"error": "unauthorized", "message": "the token's account is deactivated"}, path
            assert headers.get("WWW-Authenticate") == "Bearer"
        assert sql(app_db, "SELECT count(*) FROM posts") == posts_before  # nothing was written
        assert sql(app_db, "SELECT count(*) FROM post_likes WHERE user_id = 3")[0][0] == 1  # from before
    finally:
        sql(app_db, "UPDATE users SET is_active = true WHERE id = 3")
    # Checked on each request, nothing cached: reactivation restores the same token at once.
    assert request(served, "GET", "/api/feed", token=token)[0] == 200


def test_deleted_account_token_is_refused(served, app_db):
    sql(app_db, "INSERT INTO users (id, email, hashed_password, username) VALUES (50, 'gone@example.test',"
                " %s, 'gone')", params=(auth.hash_password(PASSWORD, 4),))
    status, _, doc = request(served, "POST", "/api/auth/login",
                             body={"email": "gone@example.test", "password": PASSWORD})
    assert status == 200
    sql(app_db, "DELETE FROM users WHERE id = 50")
    for method, path, body in AUTHENTICATED:
        status, _, answer = request(served, method, path, body=body, token=doc["token"])
        assert (status, answer["message"]) == (401, "the token's user no longer exists"), path


def test_bad_input_from_a_deactivated_account_is_still_refused_as_bad_input(served, app_db):
    # The account check rides on the endpoint's first database use: input errors come first.
    token = token_for(served, 1)
    sql(app_db, "UPDATE users SET is_active = false WHERE id = 1")
    try:
        assert request(served, "GET", "/api/feed?limit=0", token=token)[0] == 400
        assert request(served, "GET", "/api/feed", token=token)[0] == 401
    finally:
        sql(app_db, "UPDATE users SET is_active = true WHERE id = 1")


# -- chunked bodies are bounded like sized ones (item 9) ---------------------------------------------
LIMIT = 64 * 1024  # MAX_BODY_BYTES default


def padded_post(marker: str, size: int) -> bytes:
    """A valid JSON post padded with whitespace to exactly `size` bytes (valid when cut, too)."""
    doc = json.dumps({"content": marker}).encode()
    return doc + b" " * (size - len(doc))


def chunks(data: bytes, size: int = 8192) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def posts_with(app_db, marker: str) -> int:
    return sql(app_db, "SELECT count(*) FROM posts WHERE content = %s", params=(marker,))[0][0]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_body_over_the_limit_is_413_and_writes_nothing(served, app_db, chunked):
    token = token_for(served, 2)
    marker = f"too-big-{uuid.uuid4().hex}"
    data = padded_post(marker, 80_000)
    headers = {"Content-Type": "application/json"}
    body = chunks(data) if chunked else data
    status, _, doc = request(served, "POST", "/api/posts", body=body, token=token, headers=headers,
                             encode_chunked=chunked)
    assert status == 413, doc
    assert doc["error"] and doc["message"]
    assert posts_with(app_db, marker) == 0


@pytest.mark.parametrize("size, expected", [(LIMIT, 201), (LIMIT + 1, 413), (200, 201)])
def test_chunked_body_at_the_limit_is_accepted_and_one_byte_more_is_not(served, app_db, size, expected):
    token = token_for(served, 2)
    marker = f"edge-{uuid.uuid4().hex}"
    status, _, doc = request(served, "POST", "/api/posts", body=chunks(padded_post(marker, size)), token=token,
                             headers={"Content-Type": "application/json"}, encode_chunked=True)
    assert status == expected, doc
    assert posts_with(app_db, marker) == (1 if expected == 201 else 0)


def test_chunked_login_over_the_limit_is_413(served):
    body = json.dumps({"email": "user1@example.test", "password": PASSWORD}).encode()
    body += b" " * (80_000 - len(body))
    status, _, doc = request(served, "POST", "/api/auth/login", body=chunks(body),
                             headers={"Content-Type": "application/json"}, encode_chunked=True)
    assert status == 413 and "token" not in doc
