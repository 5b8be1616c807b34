"""The /api endpoints of the ASGI variant: the Flask app's SQL (hmb_ops.refapp.routes_api) with
named parameters, awaited on asyncpg; same JSON shapes, statuses and keyset pagination."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hmb_ops.refapp import auth
from hmb_ops.refapp_asgi.db import Conflict
from hmb_ops.refapp_asgi.parse import (
    ApiError,
    arg_bool,
    arg_cursor,
    arg_limit,
    arg_str,
    encode_cursor,
    field_str,
    iso,
    json_object,
    path_id,
    required_str,
    too_large,
)

router = APIRouter(prefix="/api")

POST_TYPES = ("text", "job", "image", "video")


def _state(request: Request):
    return request.app.state.hmb


async def _json_body(request: Request) -> dict:
    """The JSON object of the body, refused past MAX_BODY_BYTES (413) without reading all of it."""
    limit = _state(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large()
    content_type = request.headers.get("content-type")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return json_object(content_type, b"".join(chunks))


def _page(items: list[dict], rows: list, limit: int, key=lambda r: (r[-1], r[0])) -> JSONResponse:
    nxt = encode_cursor(*key(rows[-1])) if len(rows) == limit else None
    return JSONResponse({"items": items, "next_cursor": nxt})


async def _keyset_rows(conn, sql: list[str], params: dict, cursor, limit: int, prefix: str = "") -> list:
    """A newest-first list query, one page after `cursor`: keyset paging on (created_at, id)."""
    if cursor:
        sql = [*sql, f"AND ({prefix}created_at, {prefix}id) < (:c_at, :c_id)"]
        params = {**params, "c_at": cursor[0], "c_id": cursor[1]}
    sql = [*sql, f"ORDER BY {prefix}created_at DESC, {prefix}id DESC LIMIT :limit"]
    return (await conn.execute(text(" ".join(sql)), {**params, "limit": limit})).all()


async def _check_account(conn, request: Request) -> None:
    """401 unless the token's account exists and is active (once per request, on its connection)."""
    state = request.scope["state"]
    if state.get("account_checked"):
        return
    row = (await conn.execute(text("SELECT is_active FROM users WHERE id = :id"), {"id": state["user_id"]})).first()
    if row is None:
        raise ApiError(401, "the token's user no longer exists", headers={"WWW-Authenticate": "Bearer"})
    if not row[0]:
        raise ApiError(401, "the token's account is deactivated", headers={"WWW-Authenticate": "Bearer"})
    state["account_checked"] = True


@asynccontextmanager
async def _conn(request: Request):
    async with _state(request).db.connection() as conn:
        await _check_account(conn, request)
        yield conn


@asynccontextmanager
async def _transaction(request: Request):
    async with _state(request).db.transaction() as conn:
        await _check_account(conn, request)
        yield conn


def _me(request: Request) -> int:
    return request.scope["state"]["user_id"]


# -- auth ----------------------------------------------------------------------------------------
@router.post("/auth/login")
async def login(request: Request):
    doc = await _json_body(request)
    email = required_str(doc, "email", max_len=320, min_len=1)
    password = required_str(doc, "password", max_len=1024)
    state = _state(request)
    async with state.db.connection() as conn:
        row = (await conn.execute(text("SELECT id, hashed_password, is_active FROM users"
                                       " WHERE lower(email) = lower(:email) LIMIT 1"), {"email": email})).first()
        known = row is not None and bool(row[1])
        if known:
            state.dummy_cost = auth.hash_cost(row[1]) or state.dummy_cost
        elif not state.dummy_cost:
            found = (await conn.execute(text("SELECT hashed_password FROM users WHERE hashed_password LIKE '$2%'"
                                             " LIMIT 1"))).first()
            state.dummy_cost = (auth.hash_cost(found[0]) if found else None) or auth.DEFAULT_COST
    # bcrypt runs off the event loop and with no pooled connection held; for unknown e-mails too,
    # against a dummy hash of the same cost, so timing does not tell which accounts exist.
    hashed = row[1] if known else auth.dummy_hash(state.dummy_cost)
    matches = await asyncio.to_thread(auth.check_password, password, hashed)
    if not known or not row[2] or not matches:
        raise ApiError(401, "wrong e-mail or password")
    user_id = row[0]
    wanted = state.settings.bcrypt_rounds
    if wanted and auth.hash_cost(hashed) != wanted:
        new_hash = await asyncio.to_thread(auth.hash_password, password, wanted)
        async with state.db.connection() as conn:
            await conn.execute(text("UPDATE users SET hashed_password = :h, updated_at = now() WHERE id = :id"),
                               {"h": new_hash, "id": user_id})
    token = auth.issue(user_id, state.settings.token_secret, state.settings.token_ttl)
    return JSONResponse({"token": token, "user_id": user_id, "expires_in": state.settings.token_ttl})


# -- feed and posts ------------------------------------------------------------------------------
@router.get("/feed")
async def feed(request: Request):
    args = request.query_params
    limit, cursor = arg_limit(args), arg_cursor(args)
    sql = [("SELECT f.id, p.id, p.user_id, u.username, p.content, p.post_type, p.image_url, p.like_count,"
            " p.created_at, f.created_at FROM feed_items f JOIN posts p ON p.id = f.post_id"
            " JOIN users u ON u.id = p.user_id WHERE f.user_id = :me")]
    async with _conn(request) as conn:
        rows = await _keyset_rows(conn, sql, {"me": _me(request)}, cursor, limit, prefix="f.")
    items = [{"id": r[1], "author_id": r[2], "author": r[3], "content": r[4], "post_type": r[5],
              "image_url": r[6], "like_count": r[7], "created_at": iso(r[8])} for r in rows]
    return _page(items, rows, limit, key=lambda r: (r[9], r[0]))


async def fan_out(db, post_id: int, author_id: int, created_at, notify_delay_ms: int) -> int:
    """Write the post into every follower's feed (and the author's), then 'send' e-mail/push."""
    async with db.transaction() as conn:
        result = await conn.execute(text(
            "INSERT INTO feed_items (user_id, post_id, author_id, created_at)"
            # asyncpg types parameters from the statement: in a UNION they need their types spelled.
            " SELECT follower_id, CAST(:post AS bigint), CAST(:author AS bigint), CAST(:at AS timestamptz)"
            " FROM follows WHERE followed_id = :author"
            " UNION ALL SELECT CAST(:author AS bigint), CAST(:post AS bigint), CAST(:author AS bigint),"
            " CAST(:at AS timestamptz)"),
            {"post": post_id, "author": author_id, "at": created_at})
        delivered = result.rowcount
    if notify_delay_ms:
        await asyncio.sleep(notify_delay_ms / 1000.0)  # the e-mail/push provider's round trips
    return delivered


@router.post("/posts")
async def create_post(request: Request):
    doc = await _json_body(request)
    content = required_str(doc, "content", max_len=5000, min_len=1)
    post_type = field_str(doc, "post_type", required=False, max_len=10, default="text")
    if post_type not in POST_TYPES:
        raise ApiError(422, f"field 'post_type' must be one of {', '.join(POST_TYPES)}",
                       fields={"post_type": "unknown type"})
    image_url = field_str(doc, "image_url", required=False, max_len=500)
    state = _state(request)
    author = _me(request)
    try:
        async with _conn(request) as conn:
            post_id, created_at = (await conn.execute(text(
                "INSERT INTO posts (user_id, content, post_type, image_url) VALUES (:me, :content, :type, :image)"
                " RETURNING id, created_at"),
                {"me": author, "content": content, "type": post_type, "image": image_url})).one()
    except Conflict as exc:
        if exc.sqlstate == "23503":  # foreign key: the account went away after the check
            raise ApiError(401, "the token's user no longer exists") from None
        raise
    delay = state.settings.notify_delay_ms
    ran = await state.jobs.submit("fan_out", lambda: fan_out(state.db, post_id, author, created_at, delay))
    return JSONResponse({"id": post_id, "created_at": iso(created_at), "fan_out": ran}, status_code=201,
                        headers={"Location": f"/api/posts/{post_id}"})


@router.get("/posts/{post_id}")
async def get_post(request: Request, post_id: str):
    pid = path_id(post_id)
    async with _conn(request) as conn:
        r = (await conn.execute(text(
            "SELECT p.id, p.user_id, u.username, p.content, p.post_type, p.image_url, p.like_count,"
            " p.created_at, (SELECT count(*) FROM post_comments c WHERE c.post_id = p.id)"
            " FROM posts p JOIN users u ON u.id = p.user_id WHERE p.id = :id"), {"id": pid})).first()
    if r is None:
        raise ApiError(404, f"post {pid} not found")
    return JSONResponse({"id": r[0], "author_id": r[1], "author": r[2], "content": r[3], "post_type": r[4],
                         "image_url": r[5], "like_count": r[6], "created_at": iso(r[7]), "comment_count": r[8]})


@router.post("/posts/{post_id}/like")
async def like_post(request: Request, post_id: str):
    pid = path_id(post_id)
    me = _me(request)
    try:
        async with _transaction(request) as conn:
            row = (await conn.execute(text("SELECT user_id FROM posts WHERE id = :id"), {"id": pid})).first()
            if row is None:
                raise ApiError(404, f"post {pid} not found")
            author = row[0]
            created = (await conn.execute(text(
                "INSERT INTO post_likes (user_id, post_id) SELECT :me, :id WHERE NOT EXISTS"
                " (SELECT 1 FROM post_likes WHERE user_id = :me AND post_id = :id) RETURNING id"),
                {"me": me, "id": pid})).first() is not None
            if created:
                like_count = (await conn.execute(text(
                    "UPDATE posts SET like_count = like_count + 1 WHERE id = :id RETURNING like_count"),
                    {"id": pid})).scalar_one()
                if author != me:
                    await conn.execute(text(
                        "INSERT INTO notifications (user_id, actor_id, notification_type, content, related_id)"
                        " VALUES (:author, :me, 'like', 'liked your post', :id)"),
                        {"author": author, "me": me, "id": pid})
            else:
                like_count = (await conn.execute(text("SELECT like_count FROM posts WHERE id = :id"),
                                                 {"id": pid})).scalar_one()
    except Conflict as exc:
        if exc.sqlstate == "23503":
            raise ApiError(401, "the token's user no longer exists") from None
        created, like_count = False, None  # a concurrent identical like won the race (unique index)
    return JSONResponse({"post_id": pid, "liked": True, "created": created, "like_count": like_count},
                        status_code=201 if created else 200)


# -- jobs ----------------------------------------------------------------------------------------
def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get("/jobs")
async def jobs(request: Request):
    args = request.query_params
    limit, cursor = arg_limit(args), arg_cursor(args)
    category = arg_str(args, "category", max_len=100)
    location = arg_str(args, "location", max_len=100)
    remote = arg_bool(args, "remote")
    q = arg_str(args, "q", max_len=100)
    sql = [("SELECT id, title, company, category, job_type, location, salary_min, salary_max, is_remote,"
            " employer_id, created_at FROM jobs WHERE status = 'active'")]
    params: dict = {}
    if category:
        sql.append("AND category = :category")
        params["category"] = category
    if location:
        sql.append("AND location = :location")
        params["location"] = location
    if remote is not None:
        sql.append("AND is_remote = :remote")
        params["remote"] = remote
    if q:
        sql.append("AND title ILIKE :q")  # what the pg_trgm GIN index on title serves
        params["q"] = _like_pattern(q)
    async with _conn(request) as conn:
        rows = await _keyset_rows(conn, sql, params, cursor, limit)
    items = [{"id": r[0], "title": r[1], "company": r[2], "category": r[3], "job_type": r[4],
              "location": r[5], "salary_min": r[6], "salary_max": r[7], "is_remote": r[8],
              "employer_id": r[9], "created_at": iso(r[10])} for r in rows]
    return _page(items, rows, limit)


# -- messages ------------------------------------------------------------------------------------
@router.get("/messages/conversations")
async def conversations(request: Request):
    args = request.query_params
    limit, cursor = arg_limit(args), arg_cursor(args)
    params: dict = {"me": _me(request), "limit": limit}
    cond = ""
    if cursor:
        cond = "AND (updated_at, id) < (:c_at, :c_id)"
        params.update(c_at=cursor[0], c_id=cursor[1])
    sql = ("SELECT c.id, c.other_id, u.username, c.updated_at FROM ("
           f"(SELECT id, participant_2_id AS other_id, updated_at FROM conversations"
           f" WHERE participant_1_id = :me {cond} ORDER BY updated_at DESC, id DESC LIMIT :limit)"
           " UNION ALL "
           f"(SELECT id, participant_1_id, updated_at FROM conversations"
           f" WHERE participant_2_id = :me {cond} ORDER BY updated_at DESC, id DESC LIMIT :limit)"
           ") c JOIN users u ON u.id = c.other_id ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit")
    async with _conn(request) as conn:
        rows = (await conn.execute(text(sql), params)).all()
    items = [{"id": r[0], "other_user_id": r[1], "other_username": r[2], "updated_at": iso(r[3])} for r in rows]
    return _page(items, rows, limit)


@router.get("/messages/conversations/{conversation_id}/messages")
async def conversation_messages(request: Request, conversation_id: str):
    cid = path_id(conversation_id)
    args = request.query_params
    limit, cursor = arg_limit(args), arg_cursor(args)
    me = _me(request)
    async with _conn(request) as conn:
        found = (await conn.execute(text("SELECT 1 FROM conversations WHERE id = :id AND"
                                         " (participant_1_id = :me OR participant_2_id = :me)"),
                                    {"id": cid, "me": me})).first()
        if found is None:
            raise ApiError(404, f"conversation {cid} not found")  # someone else's looks missing
        sql = [("SELECT id, sender_id, receiver_id, content, is_read, created_at FROM messages"
               " WHERE conversation_id = :id")]
        rows = await _keyset_rows(conn, sql, {"id": cid}, cursor, limit)
    items = [{"id": r[0], "sender_id": r[1], "receiver_id": r[2], "content": r[3], "is_read": r[4],
              "created_at": iso(r[5])} for r in rows]
    return _page(items, rows, limit)


@router.get("/messages/unread-count")
async def unread_count(request: Request):
    async with _conn(request) as conn:
        n = (await conn.execute(text("SELECT count(*) FROM messages WHERE receiver_id = :me AND is_read = false"),
                                {"me": _me(request)})).scalar_one()
    return JSONResponse({"unread": n})


# -- notifications -------------------------------------------------------------------------------
@router.get("/notifications")
async def notifications(request: Request):
    args = request.query_params
    limit, cursor = arg_limit(args), arg_cursor(args)
    unread = arg_bool(args, "unread")
    sql = [("SELECT id, actor_id, notification_type, content, related_id, is_read, created_at"
           " FROM notifications WHERE user_id = :me")]
    params: dict = {"me": _me(request)}
    if unread is not None:
        sql.append("AND is_read = :read")
        params["read"] = not unread
    async with _conn(request) as conn:
        rows = await _keyset_rows(conn, sql, params, cursor, limit)
    items = [{"id": r[0], "actor_id": r[1], "type": r[2], "content": r[3], "related_id": r[4],
              "is_read": r[5], "created_at": iso(r[6])} for r in rows]
    return _page(items, rows, limit)
