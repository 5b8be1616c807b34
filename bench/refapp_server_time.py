"""Median server time of the reference app's read endpoints on the medium data set, with and
without the declared indexes (`hmb_ops.indexes.api`).

Server time is the app's own `Server-Timing: app;dur=` header (request start to response, in the
Gunicorn worker); the client-side round trip is reported next to it. Requests are sequential (one
at a time), so the figures are per-request cost, not throughput.

    .venv/bin/python bench/refapp_server_time.py                   # medium, 200 requests per endpoint
    .venv/bin/python bench/refapp_server_time.py --scale small --requests 50 --json

Without DATABASE_URL an embedded server is started in a temporary folder and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmb_ops.db.connect import connection
from hmb_ops.db.dsn import parse
from hmb_ops.db.seed import ensure_seeded
from hmb_ops.stack.gunicorn import GunicornProcess


def call(base: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, float, float, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
    if data:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        payload = resp.read()
        wall = (time.perf_counter() - t0) * 1000
        server = float(resp.headers["Server-Timing"].split("dur=")[1])
        return resp.status, server, wall, json.loads(payload)


def sample_paths(url: str, n: int) -> dict[str, list[str]]:
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM users ORDER BY md5(id::text) LIMIT %s", (n,))
        users = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT DISTINCT ON (participant_1_id) participant_1_id, id FROM conversations"
                    " WHERE participant_1_id = ANY(%s)", (users,))
        convs = dict(cur.fetchall())
        cur.execute("SELECT DISTINCT title FROM jobs ORDER BY 1")
        words = sorted({w.lower() for (t,) in cur.fetchall() for w in t.split() if len(w) > 4})
    return {"users": users, "convs": convs, "words": words}


def measure(base: str, sample: dict, requests: int) -> dict:
    users = sample["users"]
    tokens = {}
    for u in users:
        login = {"email": f"user{u}@example.test", "password": "hmb-ops-demo"}
        tokens[u] = call(base, "/api/auth/login", body=login)[3]["token"]
    words = sample["words"]
    plans = {
        "GET /api/feed": lambda i, u: "/api/feed",
        "GET /api/jobs?q=": lambda i, u: f"/api/jobs?q={words[i % len(words)]}",
        "GET /api/jobs?category=&remote=": lambda i, u: "/api/jobs?category=technology&remote=false",
        "GET /api/messages/conversations": lambda i, u: "/api/messages/conversations",
        "GET /api/messages/conversations/<id>/messages": lambda i, u: (
            f"/api/messages/conversations/{sample['convs'][u]}/messages" if u in sample["convs"] else None),
        "GET /api/messages/unread-count": lambda i, u: "/api/messages/unread-count",
        "GET /api/notifications": lambda i, u: "/api/notifications",
    }
    out = {}
    for name, make in plans.items():
        server, wall = [], []
        i = 0
        for _ in range(requests * 3):  # some users have no conversation: skip them, bounded
            if len(server) >= requests:
                break
            u = users[i % len(users)]
            i += 1
            path = make(i, u)
            if path is None:
                continue
            status, s_ms, w_ms, _ = call(base, path, tokens[u])
            assert status == 200, (name, status)
            server.append(s_ms)
            wall.append(w_ms)
        out[name] = {"requests": len(server), "server_ms_p50": round(statistics.median(server), 3),
                     "server_ms_p95": round(sorted(server)[int(0.95 * (len(server) - 1))], 3),
                     "client_ms_p50": round(statistics.median(wall), 3)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--without-indexes", action="store_true", help="also measure with the declared indexes dropped")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    server = tmp = None
    admin = os.environ.get("DATABASE_URL")
    if not admin:
        from hmb_ops.db.embedded import EmbeddedServer

        tmp = tempfile.TemporaryDirectory(prefix="hmb-bench-")
        server = EmbeddedServer(tmp.name)
        admin = server.up()[0].url
    try:
        name = f"hmb_bench_{args.scale}"
        with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        url = parse(admin).with_database(name).url
        ensure_seeded(url, scale=args.scale, hash_rounds=4)
        sample = sample_paths(url, args.users)
        try:
            from hmb_ops.indexes.api import drop_declared_indexes, ensure_indexes
        except ImportError:
            ensure_indexes = drop_declared_indexes = None
        results = {}
        if ensure_indexes is not None:
            ensure_indexes(url)
            with GunicornProcess(url, workers=1, threads=2) as app:
                results["with_indexes"] = measure(app.url, sample, args.requests)
        if args.without_indexes or ensure_indexes is None:
            if drop_declared_indexes is not None:
                drop_declared_indexes(url)
            with GunicornProcess(url, workers=1, threads=2) as app:
                results["without_indexes"] = measure(app.url, sample, max(10, args.requests // 10))
            if ensure_indexes is not None:
                ensure_indexes(url)
    finally:
        if server is not None:
            server.down()
            tmp.cleanup()
    doc = {"scale": args.scale, "requests_per_endpoint": args.requests, "target_server_ms_p50": 5.0,
           "indexes_api": ensure_indexes is not None, **results}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for variant, rows in results.items():
        print(f"{variant} ({args.scale} scale):")
        for name, r in rows.items():
            flag = "ok" if r["server_ms_p50"] < 5 else "over 5 ms"
            print(f"  {name:<48} server p50 {r['server_ms_p50']:7.3f} ms  p95 {r['server_ms_p95']:7.3f} ms"
                  f"  client p50 {r['client_ms_p50']:7.3f} ms  [{flag}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
