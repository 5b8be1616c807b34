"""Locust user classes for the reference app. Imported only inside the generator child processes.

Each simulated user logs in as a seeded user, learns a few post and conversation ids from its own
feed and inbox, then loops over the profile's weighted mix. Requests go straight through the
FastHttpUser's geventhttpclient connection pool and are timed here; the only per-request work is
one `array.append` of the latency in microseconds (plus a dict bump on failure): no Locust
request event, no rounding, no per-request allocation beyond the response.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import socket
import time
from array import array

import gevent
import geventhttpclient.client as _ghc_client
from geventhttpclient.response import HTTPSocketPoolResponse
from geventhttpclient.url import URL
from locust import LoadTestShape, task
from locust.contrib.fasthttp import FastHttpUser

from hmb_ops.loadtest.endpoints import ENDPOINTS

# geventhttpclient silently resends an idempotent request whose connection broke mid-flight, so a
# Gunicorn worker killed under load would show up as slower answers instead of errors. Count every
# broken connection as a failure, like wrk and k6 do. (Pooled sockets the server closed while idle
# are still detected and replaced before use, so keep-alive expiry does not become a failure.)
_ghc_client._may_retry_after_send_error = lambda method: False

SEARCH_WORDS = ("engineer", "chef", "nurse", "driver", "teacher", "manager", "sales", "remote")
LATE_SEND_S = 0.010  # an open-model send leaving later than this after its slot counts as late


class Recorder:
    """Raw latencies (µs) and failure counts since the last drain, per endpoint name."""

    def __init__(self) -> None:
        self.values: dict[str, array] = {}
        self.failures: dict[str, dict[str, int]] = {}
        self.late = 0
        self.sent = 0
        self.slots = 0  # open model: scheduled sends dispatched (log-ins outside the schedule excluded)
        self.ready = 0  # users past on_start (logged in, ids learned): the ramp ends when all are

    def series(self, name: str) -> array:
        v = self.values.get(name)
        if v is None:
            v = self.values[name] = array("I")
        return v

    def fail(self, name: str, kind: str) -> None:
        by_kind = self.failures.setdefault(name, {})
        by_kind[kind] = by_kind.get(kind, 0) + 1

    def drain(self) -> dict:
        values, failures, late, sent, slots = self.values, self.failures, self.late, self.sent, self.slots
        self.values, self.failures, self.late, self.sent, self.slots = {}, {}, 0, 0, 0
        return {"t": time.time(), "ready": self.ready, "slots": slots,
                "v": {k: base64.b64encode(a.tobytes()).decode() for k, a in values.items()},
                "f": failures, "late": late, "sent": sent}


RECORDER = Recorder()


def failure_kind(status: int) -> str | None:
    if status < 300:
        return None
    if status < 400:
        # Never followed (see `send`): a redirect is not the endpoint's answer, so it is a failure
        # of its own kind, not a fast success (a target answering only 302s looked healthy).
        return "redirect"
    if status == 429:
        return "rate_limited_429"
    return f"http_{status}"


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError, gevent.Timeout)) or "timed out" in str(exc).lower():
        return "timeout"
    return "connection"


class OpenSchedule:
    """Intended send times for a constant arrival rate, shared by the users of one process."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.start: float | None = None
        self.counter = itertools.count()

    def next_slot(self) -> float:
        if self.start is None:
            self.start = time.perf_counter()
        return self.start + next(self.counter) * self.interval


def extract_ids(body: bytes, keys: tuple[str, ...]) -> list[int]:
    """Ids from a JSON list response, whatever the envelope ({"items": [...]}, {"posts": [...]}, [...])."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc
    if isinstance(doc, dict):
        items = next((v for v in doc.values() if isinstance(v, list)), [])
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            for k in keys:
                if isinstance(item.get(k), int):
                    out.append(item[k])
                    break
    return out[:50]


def make_user_class(spec: dict) -> type:
    """A FastHttpUser subclass configured from the child's spec (target, mix, think time, model)."""
    keys = [k for k, w in spec["mix"].items() if w > 0]
    weights = list(itertools.accumulate(spec["mix"][k] for k in keys))
    think_lo, think_hi = spec["think_time"]
    needs_login = any(ENDPOINTS[k].auth for k in keys)
    pool_size = max(1, int(spec.get("seeded_users") or 1000))
    password = spec.get("password", "hmb-ops-demo")
    user_numbers = itertools.count(int(spec.get("user_offset", 0)))
    schedule = OpenSchedule(spec["arrival_rate"] / spec.get("processes", 1)) if spec.get("arrival_rate") else None
    timeout = float(spec["request_timeout"])
    rec = RECORDER

    class HmbUser(FastHttpUser):
        host = spec["target"]
        network_timeout = timeout
        connection_timeout = timeout
        max_retries = 0
        concurrency = 1

        def on_start(self) -> None:
            self.http = self.client.client.clientpool.get_client(URL(self.host))
            self.heads: dict[tuple[str, str], bytes] = {}  # request heads per (method, path) for this user
            self.fast = hasattr(self.http, "_build_request") and hasattr(self.http, "_connection_pool")
            self.base_headers = {"Accept": "application/json", "Connection": "keep-alive"}
            self.headers = dict(self.base_headers)
            self.post_ids: list[int] = []
            self.conversation_ids: list[int] = []
            self.number = next(user_numbers) % pool_size + 1
            if needs_login:
                self.login()
                if any(ENDPOINTS[k].needs == "post" for k in keys):
                    self.post_ids = extract_ids(self.call("feed", learn=True) or b"", ("id", "post_id"))
                if any(ENDPOINTS[k].needs == "conversation" for k in keys):
                    self.conversation_ids = extract_ids(self.call("conversations", learn=True) or b"",
                                                        ("id", "conversation_id"))
            rec.ready += 1

        def login(self) -> None:
            body = json.dumps({"email": f"user{self.number}@example.test", "password": password})
            raw = self.call("login", body=body, learn=True)
            token = None
            if raw:
                try:
                    token = json.loads(raw).get("token")
                except (ValueError, AttributeError):
                    token = None
            self.headers = dict(self.base_headers)
            self.heads = {}
            if token:
                self.headers["Authorization"] = f"Bearer {token}"

        def path_for(self, key: str) -> str | None:
            ep = ENDPOINTS[key]
            if key == "jobs_search":
                return f"/api/jobs?q={random.choice(SEARCH_WORDS)}"
            if ep.needs == "post":
                return ep.route.replace("<id>", str(random.choice(self.post_ids))) if self.post_ids else None
            if ep.needs == "conversation":
                if not self.conversation_ids:
                    return None
                return ep.route.replace("<id>", str(random.choice(self.conversation_ids)))
            return ep.route

        def call(self, key: str, *, body: str | None = None, learn: bool = False,
                 intended: float | None = None) -> bytes | None:
            ep = ENDPOINTS[key]
            path = self.path_for(key)
            if path is None:  # no ids learned (empty feed): read the feed instead
                ep, path = ENDPOINTS["feed"], "/api/feed"
            headers = self.headers
            if ep.method == "POST":
                headers = {**headers, "Content-Type": "application/json"}
                if body is None:
                    body = self.post_body(key)
            start = time.perf_counter()
            data = None
            try:
                status, data = self.send(ep.method, path, body, headers)
            except Exception as exc:  # noqa: BLE001 - every transport error is a measured failure
                rec.fail(ep.name, error_kind(exc))
                rec.sent += 1
                if isinstance(exc, (socket.timeout, TimeoutError)):
                    rec.series(ep.name).append(int((time.perf_counter() - (intended or start)) * 1e6))
                return None
            rec.series(ep.name).append(int((time.perf_counter() - (intended or start)) * 1e6))
            rec.sent += 1
            kind = failure_kind(status)
            if kind is not None:
                rec.fail(ep.name, kind)
                if status == 401 and key != "login" and needs_login:
                    self.login()
                return None
            return data if learn else b""

        def send(self, method: str, path: str, body: str | None, headers: dict) -> tuple[int, bytes]:
            """One request on this user's pooled connection. The request head (method, path, headers
            with the token) is built once per path and reused: geventhttpclient's request() rebuilds
            and re-validates it every time, which is most of its per-request cost.

            Redirects are never followed: both paths use the plain HTTPClient of the target's own
            pool (Locust's FastHttpSession and geventhttpclient's UserAgent would follow them, and a
            3xx could then send load to any host the target names)."""
            http = self.http
            if not self.fast:
                resp = http.request(method, path, body=body, headers=headers)
                try:
                    return resp.status_code, resp.read()
                finally:
                    resp.release()
            payload = body.encode() if body else b""
            key = (method, path)
            head = self.heads.get(key) if not payload else None
            if head is None:
                head = http._build_request(method, path, body=payload, headers=headers, chunked=False).encode("latin-1")
                if not payload:
                    self.heads[key] = head
            pool = http._connection_pool
            sock = pool.get_socket()
            try:
                sock.sendall(head + payload if payload else head)
            except BaseException:
                pool.release_socket(sock)
                raise
            resp = HTTPSocketPoolResponse(sock, pool, block_size=http.block_size, method=method,
                                          headers_type=http.headers_type)
            try:
                return resp.status_code, resp.read()
            finally:
                resp.release()

        def post_body(self, key: str) -> str:
            if key == "create_post":
                return json.dumps({"content": f"load test post from user{self.number} at {time.time():.3f}",
                                   "post_type": "text"})
            return ""

        def pick(self) -> str:
            return random.choices(keys, cum_weights=weights)[0]

        @task
        def loop(self) -> None:
            # One long task instead of Locust's per-task scheduling: cheaper per request.
            if schedule is not None:
                while True:
                    intended = schedule.next_slot()
                    delay = intended - time.perf_counter()
                    if delay > 0:
                        gevent.sleep(delay)
                    elif -delay > LATE_SEND_S:
                        rec.late += 1
                    rec.slots += 1
                    self.dispatch(self.pick(), intended)
            while True:
                self.dispatch(self.pick(), None)
                if think_hi > 0:
                    gevent.sleep(random.uniform(think_lo, think_hi))

        def dispatch(self, key: str, intended: float | None) -> None:
            if key == "login":
                self.login()
            else:
                self.call(key, intended=intended)

    return HmbUser


def make_shape(stages: list, spawn_rate: float) -> LoadTestShape:
    ends = list(itertools.accumulate(float(s) for _, s in stages))

    class StagesShape(LoadTestShape):
        def tick(self):
            elapsed = self.get_run_time()
            for (users, _), end in zip(stages, ends, strict=True):
                if elapsed < end:
                    return int(users), float(spawn_rate)
            return None

    return StagesShape()
