"""Every endpoint against a seeded database under real Gunicorn: shapes, auth, pagination, fan-out."""

from __future__ import annotations

import time

from hmb_ops.refapp import auth


def most_followed(url: str) -> tuple[int, list[int]]:
    from hmb_ops.db.connect import connection

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT followed_id FROM follows GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        author = cur.fetchone()[0]
        cur.execute("SELECT follower_id FROM follows WHERE followed_id = %s ORDER BY 1", (author,))
        return author, [r[0] for r in cur.fetchall()]


def test_health_ready(client):
    assert client.get("/health")[0] == 200
    status, _, doc = client.get("/ready")
    assert status == 200 and doc == {"status": "ready"}


def test_login_is_case_insensitive_and_checks_password(client):
    status, _, doc = client.post("/api/auth/login", body={"email": "USER3@Example.TEST", "password": "hmb-ops-demo"})
    assert status == 200 and doc["user_id"] == 3 and doc["token"]
    status, _, doc = client.post("/api/auth/login", body={"email": "user3@example.test", "password": "wrong"})
    assert status == 401 and doc["error"] == "unauthorized"
    status, _, _ = client.post("/api/auth/login", body={"email": "nobody@example.test", "password": "x"})
    assert status == 401


def test_login_sql_injection_is_just_a_wrong_login(client, seeded_url):
    for email in ["' OR '1'='1", "user1@example.test'; DROP TABLE users; --", "%", "\\"]:
        status, _, _ = client.post("/api/auth/login", body={"email": email, "password": "' OR ''='"})
        assert status == 401
    assert client.login(1)  # users table intact


def test_feed_pagination_is_ordered_without_gaps_or_repeats(client):
    token = client.login(2)
    seen, cursor, pages = [], None, 0
    while pages < 50:
        path = "/api/feed?limit=7" + (f"&cursor={cursor}" if cursor else "")
        status, _, doc = client.get(path, token=token)
        assert status == 200
        seen += doc["items"]
        cursor = doc["next_cursor"]
        pages += 1
        if not cursor:
            break
    assert len(seen) >= 7
    keys = [(p["created_at"], p["id"]) for p in seen]
    assert keys == sorted(keys, reverse=True)
    assert len({p["id"] for p in seen}) == len(seen)
    status, _, full = client.get("/api/feed?limit=100", token=token)
    assert [p["id"] for p in full["items"]][:len(seen)] == [p["id"] for p in seen][:100]


def test_post_fans_out_to_followers_feeds(client, seeded_url):
    author, followers = most_followed(seeded_url)
    assert len(followers) >= 20  # the skew: a few users have many followers
    status, headers, doc = client.post("/api/posts", body={"content": "fan-out check", "post_type": "text"},
                                       token=client.login(author))
    assert status == 201 and doc["id"] and headers["Location"] == f"/api/posts/{doc['id']}"
    post_id = doc["id"]
    for follower in (followers[0], followers[-1]):
        token = client.login(follower)
        deadline = time.monotonic() + 20
        while True:
            ids = [p["id"] for p in client.get("/api/feed?limit=5", token=token)[2]["items"]]
            if post_id in ids or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert post_id in ids
    status, _, post = client.get(f"/api/posts/{post_id}", token=client.login(author))
    assert status == 200 and post["content"] == "fan-out check" and post["author_id"] == author


def test_post_bad_input(client):
    token = client.login(4)
    assert client.post("/api/posts", body={}, token=token)[0] == 422
    assert client.post("/api/posts", body={"content": ""}, token=token)[0] == 422
    assert client.post("/api/posts", body={"content": 3}, token=token)[0] == 422
    assert client.post("/api/posts", body={"content": "x", "post_type": "poll"}, token=token)[0] == 422
    assert client.post("/api/posts", body={"content": "x" * 5001}, token=token)[0] == 422
    assert client.post("/api/posts", raw=b"x" * 200_000, token=token,
                       headers={"Content-Type": "application/json"})[0] == 413
    assert client.post("/api/posts", raw=b"{oops", token=token, headers={"Content-Type": "application/json"})[0] == 400
    assert client.post("/api/posts", raw=b"content=x", token=token,
                       headers={"Content-Type": "text/plain"})[0] == 415


def test_like_is_idempotent_and_notifies_author(client, seeded_url):
    from hmb_ops.db.connect import connection

    token = client.login(5)
    with connection(seeded_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT p.id, p.user_id, p.like_count FROM posts p WHERE p.user_id <> 5 AND NOT EXISTS"
                    " (SELECT 1 FROM post_likes l WHERE l.post_id = p.id AND l.user_id = 5) ORDER BY p.id LIMIT 1")
        post_id, author, likes = cur.fetchone()
    status, _, doc = client.post(f"/api/posts/{post_id}/like", token=token)
    assert status == 201 and doc["created"] and doc["like_count"] == likes + 1
    status, _, doc = client.post(f"/api/posts/{post_id}/like", token=token)
    assert status == 200 and not doc["created"] and doc["like_count"] == likes + 1
    items = client.get("/api/notifications?limit=100&unread=true", token=client.login(author))[2]["items"]
    assert any(n["type"] == "like" and n["related_id"] == post_id and n["actor_id"] == 5 for n in items)
    assert client.post("/api/posts/999999999/like", token=token)[0] == 404


def test_unknown_ids_are_404(client):
    token = client.login(1)
    for path in ["/api/posts/999999999", "/api/posts/0", "/api/messages/conversations/999999999/messages",
                 "/api/posts/abc", "/api/posts/-1"]:
        status, _, doc = client.get(path, token=token)
        assert status == 404 and doc["error"], path


def test_jobs_filters_and_title_search(client):
    token = client.login(1)
    status, _, doc = client.get("/api/jobs?limit=100", token=token)
    assert status == 200 and doc["items"]
    job = doc["items"][0]
    status, _, doc = client.get(f"/api/jobs?category={job['category']}&location={job['location'].replace(' ', '%20')}"
                                f"&remote={str(job['is_remote']).lower()}", token=token)
    assert status == 200 and doc["items"]
    assert all(j["category"] == job["category"] and j["location"] == job["location"] for j in doc["items"])
    word = job["title"].split()[-1][:4].lower()
    items = client.get(f"/api/jobs?q={word}&limit=100", token=token)[2]["items"]
    assert items and all(word in j["title"].lower() for j in items)
    # LIKE wildcards in the search text are literals, not patterns.
    assert client.get("/api/jobs?q=%25%25%25", token=token)[2]["items"] == []
    assert client.get("/api/jobs?q=%27%20OR%201%3D1%20--", token=token)[0] == 200


def test_messages_and_unread(client, seeded_url):
    from hmb_ops.db.connect import connection

    with connection(seeded_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, participant_1_id, participant_2_id FROM conversations c WHERE"
                    " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) >= 3 ORDER BY id LIMIT 1")
        conv, p1, p2 = cur.fetchone()
        cur.execute("SELECT count(*) FROM messages WHERE receiver_id = %s AND NOT is_read", (p1,))
        unread = cur.fetchone()[0]
        cur.execute("SELECT u FROM generate_series(1, 1000) u WHERE u NOT IN (%s, %s) LIMIT 1", (p1, p2))
        stranger = cur.fetchone()[0]
    token = client.login(p1)
    status, _, doc = client.get("/api/messages/conversations?limit=100", token=token)
    assert status == 200 and any(c["id"] == conv for c in doc["items"])
    status, _, doc = client.get(f"/api/messages/conversations/{conv}/messages?limit=2", token=token)
    assert status == 200 and len(doc["items"]) == 2 and doc["next_cursor"]
    status, _, page2 = client.get(f"/api/messages/conversations/{conv}/messages?limit=2&cursor={doc['next_cursor']}",
                                  token=token)
    assert status == 200 and not {m["id"] for m in doc["items"]} & {m["id"] for m in page2["items"]}
    assert client.get("/api/messages/unread-count", token=token)[2] == {"unread": unread}
    # Someone else's conversation is indistinguishable from a missing one.
    assert client.get(f"/api/messages/conversations/{conv}/messages", token=client.login(stranger))[0] == 404


def test_notifications_unread_filter(client):
    token = client.login(1)
    items = client.get("/api/notifications?limit=100&unread=true", token=token)[2]["items"]
    assert all(not n["is_read"] for n in items)


def test_expired_and_forged_tokens(client):
    secret = b"refapp-test-secret-of-at-least-32-characters"  # HMB_REFAPP_TOKEN_SECRET (conftest)
    expired = auth.issue(1, secret, 60, now=time.time() - 3600)
    status, headers, doc = client.get("/api/feed", token=expired)
    assert status == 401 and "expired" in doc["message"] and headers.get("WWW-Authenticate") == "Bearer"
    forged = auth.issue(1, b"guess", 60)
    assert client.get("/api/feed", token=forged)[0] == 401
    assert client.get("/api/feed", token=auth.issue(1, secret, 60))[0] == 200


def test_wrong_method_is_405_json(client):
    status, headers, doc = client.request("PUT", "/api/jobs", token=client.login(1))
    assert status == 405 and doc["error"] and "GET" in headers["Allow"]


def test_seeded_feed_is_exactly_the_fan_out_of_posts(seeded_url):
    from hmb_ops.db.connect import connection

    with connection(seeded_url) as conn, conn.cursor() as cur:
        cur.execute(
            "WITH expected AS (SELECT f.follower_id, p.id, p.user_id, p.created_at FROM posts p"
            "  JOIN follows f ON f.followed_id = p.user_id WHERE p.id <= 2000"
            "  UNION ALL SELECT p.user_id, p.id, p.user_id, p.created_at FROM posts p WHERE p.id <= 2000),"
            " got AS (SELECT user_id, post_id, author_id, created_at FROM feed_items WHERE post_id <= 2000)"
            " SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM got) a),"
            "        (SELECT count(*) FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM expected) b),"
            "        (SELECT count(*) FROM got)")
        missing, extra, total = cur.fetchone()
    assert (missing, extra) == (0, 0) and total > 2000
