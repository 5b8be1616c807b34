"""The /api endpoints of the reference app, each one plain SQL against the reference schema.

Lists use keyset pagination on (created_at, id): the response's `next_cursor` is passed back as
`?cursor=`; no OFFSET, so page 100 costs what page 1 costs once the indexes exist.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg2
import psycopg2.errors
from flask import Blueprint, current_app, g, jsonify

from hmb_ops.refapp import auth
from hmb_ops.refapp.http import (
    ApiError,
    arg_bool,
    arg_cursor,
    arg_limit,
    arg_str,
    check_id,
    encode_cursor,
    field_str,
    iso,
    json_body,
)

bp = Blueprint("api", __name__, url_prefix="/api")

POST_TYPES = ("text", "job", "image", "video")


def _state():
    return current_app.extensions["hmb"]


def _page(items: list[dict], rows: list, limit: int, key=lambda r: (r[-1], r[0])):
    nxt = encode_cursor(*key(rows[-1])) if len(rows) == limit else None
    return jsonify({"items": items, "next_cursor": nxt})


def _keyset_rows(cur, sql: list[str], params: list, cursor, limit: int, prefix: str = "") -> list:
    """Run a newest-first list query, one page after `cursor`: keyset paging on (created_at, id)."""
    if cursor:
        sql = [*sql, f"AND ({prefix}created_at, {prefix}id) < (%s, %s)"]
        params = [*params, *cursor]
    cur.execute(" ".join([*sql, f"ORDER BY {prefix}created_at DESC, {prefix}id DESC LIMIT %s"]),
                [*params, limit])
    return cur.fetchall()


# -- auth ----------------------------------------------------------------------------------------
@bp.post("/auth/login")
def login():
    doc = json_body()
    email = field_str(doc, "email", max_len=320, min_len=1)
    password = field_str(doc, "password", max_len=1024)
    state = _state()
    with state.db.cursor() as cur:
        cur.execute("SELECT id, hashed_password, is_active FROM users WHERE lower(email) = lower(%s) LIMIT 1",
                    (email,))
        row = cur.fetchone()
        known = row is not None and bool(row[1])
        if known:
            state.dummy_cost = auth.hash_cost(row[1]) or state.dummy_cost
        else:
            _learn_dummy_cost(state, cur)
    # The slow hash runs with no pooled connection held, so logins cannot starve the pool. It runs
    # for every login, against a dummy hash of the same cost when the e-mail is unknown: skipping it
    # made an unknown e-mail answer 20 times faster, which tells anyone which e-mails have accounts.
    hashed = row[1] if known else auth.dummy_hash(state.dummy_cost)
    matches = auth.check_password(password, hashed)
    if not known or not row[2] or not matches:
        raise ApiError(401, "wrong e-mail or password")
    user_id = row[0]
    wanted = state.settings.bcrypt_rounds
    if wanted and auth.hash_cost(hashed) != wanted:
        new_hash = auth.hash_password(password, wanted)
        with state.db.cursor() as cur:
            cur.execute("UPDATE users SET hashed_password = %s, updated_at = now() WHERE id = %s",
                        (new_hash, user_id))
    token = auth.issue(user_id, state.settings.token_secret, state.settings.token_ttl)
    return jsonify({"token": token, "user_id": user_id, "expires_in": state.settings.token_ttl})


def _learn_dummy_cost(state, cur) -> None:
    """The bcrypt cost for logins whose e-mail matches no account: that of real accounts.

    The cost of the last account this worker looked up, else (a worker's first miss) that of any
    stored hash, read once.
    """
    if state.dummy_cost:
        return
    cur.execute("SELECT hashed_password FROM users WHERE hashed_password LIKE '$2%%' LIMIT 1")
    found = cur.fetchone()
    state.dummy_cost = (auth.hash_cost(found[0]) if found else None) or auth.DEFAULT_COST


# -- the token's account, checked on each request's first database use ----------------------------
def _check_account(cur) -> None:
    """401 unless the token's account still exists and is active.

    Signatures are checked without the database (app.py), so this is where a deactivated or deleted
    account loses its tokens. It runs on the connection the endpoint already checked out, once per
    request, as a primary-key lookup: one extra round trip, no extra pool checkout, and bad input
    is still refused before the database is touched.
    """
    if g.get("account_checked"):
        return
    cur.execute("SELECT is_active FROM users WHERE id = %s", (g.user_id,))
    row = cur.fetchone()
    if row is None:
        raise ApiError(401, "the token's user no longer exists", headers={"WWW-Authenticate": "Bearer"})
    if not row[0]:
        raise ApiError(401, "the token's account is deactivated", headers={"WWW-Authenticate": "Bearer"})
    g.account_checked = True


@contextmanager
def _cursor():
    with _state().db.cursor() as cur:
        _check_account(cur)
        yield cur


@contextmanager
def _transaction():
    with _state().db.transaction() as cur:
        _check_account(cur)
        yield cur


# -- feed and posts ------------------------------------------------------------------------------
@bp.get("/feed")
def feed():
    limit = arg_limit()
    cursor = arg_cursor()
    sql = [("SELECT f.id, p.id, p.user_id, u.username, p.content, p.post_type, p.image_url, p.like_count,"
            " p.created_at, f.created_at FROM feed_items f JOIN posts p ON p.id = f.post_id"
            " JOIN users u ON u.id = p.user_id WHERE f.user_id = %s")]
    params: list = [g.user_id]
    with _cursor() as cur:
        rows = _keyset_rows(cur, sql, params, cursor, limit, prefix="f.")
    items = [{"id": r[1], "author_id": r[2], "author": r[3], "content": r[4], "post_type": r[5],
              "image_url": r[6], "like_count": r[7], "created_at": iso(r[8])} for r in rows]
    return _page(items, rows, limit, key=lambda r: (r[9], r[0]))


def fan_out(db, post_id: int, author_id: int, created_at, notify_delay_ms: int) -> int:
    """Write the post into every follower's feed (and the author's), then 'send' e-mail/push."""
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO feed_items (user_id, post_id, author_id, created_at)"
            " SELECT follower_id, %s, %s, %s FROM follows WHERE followed_id = %s"
            " UNION ALL SELECT %s, %s, %s, %s",
            (post_id, author_id, created_at, author_id, author_id, post_id, author_id, created_at))
        delivered = cur.rowcount
    if notify_delay_ms:
        time.sleep(notify_delay_ms / 1000.0)  # the e-mail/push provider's round trips
    return delivered


@bp.post("/posts")
def create_post():
    doc = json_body()
    content = field_str(doc, "content", max_len=5000, min_len=1)
    post_type = field_str(doc, "post_type", required=False, max_len=10, default="text")
    if post_type not in POST_TYPES:
        raise ApiError(422, f"field 'post_type' must be one of {', '.join(POST_TYPES)}",
                       fields={"post_type": "unknown type"})
    image_url = field_str(doc, "image_url", required=False, max_len=500)
    state = _state()
    try:
        with _cursor() as cur:
            cur.execute("INSERT INTO posts (user_id, content, post_type, image_url) VALUES (%s, %s, %s, %s)"
                        " RETURNING id, created_at", (g.user_id, content, post_type, image_url))
            post_id, created_at = cur.fetchone()
    except psycopg2.errors.ForeignKeyViolation:
        raise ApiError(401, "the token's user no longer exists") from None
    author = g.user_id
    delay = state.settings.notify_delay_ms
    ran = state.jobs.submit("fan_out", lambda: fan_out(state.db, post_id, author, created_at, delay))
    resp = jsonify({"id": post_id, "created_at": iso(created_at), "fan_out": ran})
    resp.status_code = 201
    resp.headers["Location"] = f"/api/posts/{post_id}"
    return resp


@bp.get("/posts/<int:post_id>")
def get_post(post_id: int):
    check_id(post_id)
    with _cursor() as cur:
        cur.execute("SELECT p.id, p.user_id, u.username, p.content, p.post_type, p.image_url, p.like_count,"
                    " p.created_at, (SELECT count(*) FROM post_comments c WHERE c.post_id = p.id)"
                    " FROM posts p JOIN users u ON u.id = p.user_id WHERE p.id = %s", (post_id,))
        r = cur.fetchone()
    if r is None:
        raise ApiError(404, f"post {post_id} not found")
    return jsonify({"id": r[0], "author_id": r[1], "author": r[2], "content": r[3], "post_type": r[4],
                    "image_url": r[5], "like_count": r[6], "created_at": iso(r[7]), "comment_count": r[8]})


@bp.post("/posts/<int:post_id>/like")
def like_post(post_id: int):
    check_id(post_id)
    me = g.user_id
    try:
        with _transaction() as cur:
            cur.execute("SELECT user_id FROM posts WHERE id = %s", (post_id,))
            row = cur.fetchone()
            if row is None:
                raise ApiError(404, f"post {post_id} not found")
            author = row[0]
            cur.execute("INSERT INTO post_likes (user_id, post_id) SELECT %s, %s WHERE NOT EXISTS"
                        " (SELECT 1 FROM post_likes WHERE user_id = %s AND post_id = %s) RETURNING id",
                        (me, post_id, me, post_id))
            created = cur.fetchone() is not None
            if created:
                cur.execute("UPDATE posts SET like_count = like_count + 1 WHERE id = %s RETURNING like_count",
                            (post_id,))
                like_count = cur.fetchone()[0]
                if author != me:
                    cur.execute("INSERT INTO notifications (user_id, actor_id, notification_type, content,"
                                " related_id) VALUES (%s, %s, 'like', 'liked your post', %s)",
                                (author, me, post_id))
            else:
                cur.execute("SELECT like_count FROM posts WHERE id = %s", (post_id,))
                like_count = cur.fetchone()[0]
    except psycopg2.errors.UniqueViolation:
        # A concurrent identical like won the race (with the declared unique index in place).
        created, like_count = False, None
    except psycopg2.errors.ForeignKeyViolation:
        raise ApiError(401, "the token's user no longer exists") from None
    resp = jsonify({"post_id": post_id, "liked": True, "created": created, "like_count": like_count})
    resp.status_code = 201 if created else 200
    return resp


# -- jobs ----------------------------------------------------------------------------------------
def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@bp.get("/jobs")
def jobs():
    limit = arg_limit()
    cursor = arg_cursor()
    category = arg_str("category", max_len=100)
    location = arg_str("location", max_len=100)
    remote = arg_bool("remote")
    q = arg_str("q", max_len=100)
    sql = [("SELECT id, title, company, category, job_type, location, salary_min, salary_max, is_remote,"
            " employer_id, created_at FROM jobs WHERE status = 'active'")]
    params: list = []
    if category:
        sql.append("AND category = %s")
        params.append(category)
    if location:
        sql.append("AND location = %s")
        params.append(location)
    if remote is not None:
        sql.append("AND is_remote = %s")
        params.append(remote)
    if q:
        # ILIKE '%...%' is what the pg_trgm GIN index on title serves.
        sql.append("AND title ILIKE %s")
        params.append(_like_pattern(q))
    with _cursor() as cur:
        rows = _keyset_rows(cur, sql, params, cursor, limit)
    items = [{"id": r[0], "title": r[1], "company": r[2], "category": r[3], "job_type": r[4],
              "location": r[5], "salary_min": r[6], "salary_max": r[7], "is_remote": r[8],
              "employer_id": r[9], "created_at": iso(r[10])} for r in rows]
    return _page(items, rows, limit)


# -- messages ------------------------------------------------------------------------------------
@bp.get("/messages/conversations")
def conversations():
    limit = arg_limit()
    cursor = arg_cursor()
    me = g.user_id
    cond, cparams = "", []
    if cursor:
        cond = "AND (updated_at, id) < (%s, %s)"
        cparams = list(cursor)
    # Two index-friendly branches (one per participant column) instead of an OR.
    sql = ("SELECT c.id, c.other_id, u.username, c.updated_at FROM ("
           f"(SELECT id, participant_2_id AS other_id, updated_at FROM conversations"
           f" WHERE participant_1_id = %s {cond} ORDER BY updated_at DESC, id DESC LIMIT %s)"
           " UNION ALL "
           f"(SELECT id, participant_1_id, updated_at FROM conversations"
           f" WHERE participant_2_id = %s {cond} ORDER BY updated_at DESC, id DESC LIMIT %s)"
           ") c JOIN users u ON u.id = c.other_id ORDER BY c.updated_at DESC, c.id DESC LIMIT %s")
    params = [me, *cparams, limit, me, *cparams, limit, limit]
    with _cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    items = [{"id": r[0], "other_user_id": r[1], "other_username": r[2], "updated_at": iso(r[3])} for r in rows]
    return _page(items, rows, limit)


@bp.get("/messages/conversations/<int:conversation_id>/messages")
def conversation_messages(conversation_id: int):
    check_id(conversation_id)
    limit = arg_limit()
    cursor = arg_cursor()
    me = g.user_id
    with _cursor() as cur:
        cur.execute("SELECT 1 FROM conversations WHERE id = %s AND (participant_1_id = %s OR participant_2_id = %s)",
                    (conversation_id, me, me))
        if cur.fetchone() is None:
            # Someone else's conversation looks exactly like a missing one.
            raise ApiError(404, f"conversation {conversation_id} not found")
        sql = [("SELECT id, sender_id, receiver_id, content, is_read, created_at FROM messages"
                " WHERE conversation_id = %s")]
        params: list = [conversation_id]
        rows = _keyset_rows(cur, sql, params, cursor, limit)
    items = [{"id": r[0], "sender_id": r[1], "receiver_id": r[2], "content": r[3], "is_read": r[4],
              "created_at": iso(r[5])} for r in rows]
    return _page(items, rows, limit)


@bp.get("/messages/unread-count")
def unread_count():
    with _cursor() as cur:
        cur.execute("SELECT count(*) FROM messages WHERE receiver_id = %s AND is_read = false", (g.user_id,))
        n = cur.fetchone()[0]
    return jsonify({"unread": n})


# -- notifications -------------------------------------------------------------------------------
@bp.get("/notifications")
def notifications():
    limit = arg_limit()
    cursor = arg_cursor()
    unread = arg_bool("unread")
    sql = [("SELECT id, actor_id, notification_type, content, related_id, is_read, created_at"
            " FROM notifications WHERE user_id = %s")]
    params: list = [g.user_id]
    if unread is not None:
        sql.append("AND is_read = %s")
        params.append(not unread)
    with _cursor() as cur:
        rows = _keyset_rows(cur, sql, params, cursor, limit)
    items = [{"id": r[0], "actor_id": r[1], "type": r[2], "content": r[3], "related_id": r[4],
              "is_read": r[5], "created_at": iso(r[6])} for r in rows]
    return _page(items, rows, limit)
