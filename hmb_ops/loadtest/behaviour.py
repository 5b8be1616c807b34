"""The scenario engine: a Locust user class running a compiled scenario. Imported only inside the
generator child processes.

Each simulated user draws its per-user feeder values, runs the scenario's setup steps (the
reference app's: log in, learn post and conversation ids from its feed and inbox), then loops
over the weighted requests. On http targets each user sends on its own keep-alive connection
(`wire`, no pool, a lean answer reader); https goes through the FastHttpUser's geventhttpclient
client. Templates were parsed at load time, request heads are cached per user, and the only
recording is one `array.append` of the latency in microseconds (plus a dict bump on failure): no
Locust request event, no rounding.
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

from hmb_ops.loadtest import arrival, wire

# geventhttpclient silently resends an idempotent request whose connection broke mid-flight, so a
# Gunicorn worker killed under load would show up as slower answers instead of errors. Count every
# broken connection as a failure, like wrk and k6 do. (Pooled sockets the server closed while idle
# are still detected and replaced before use, so keep-alive expiry does not become a failure.)
_ghc_client._may_retry_after_send_error = lambda method: False

LATE_SEND_S = 0.010  # an open-model send leaving later than this after its slot counts as late
# A user whose setup failed (login refused, token not captured) retries it at this pace instead of
# looping over requests that could only fail for want of its variables: with no think time those
# were never sent, so the user never yielded to gevent and the generator spun recording nothing.
SETUP_RETRY_S = 1.0
# A request that could not be sent (a variable still unset) pauses its user this long when the
# request has no think time: nothing else would make the user yield.
UNSENT_PAUSE_S = 0.1


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


class InvalidRequest(Exception):
    """A rendered request HTTP cannot carry (a captured value with a line break in a header)."""


_UNPARSED = object()
_NO_HEADERS: dict = {}


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, InvalidRequest):
        return "invalid_request"
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


def _runtime_feeders(compiled) -> dict:
    from hmb_ops.loadtest.scenario.feeders import ChoiceFeeder, CsvFeeder, SequenceFeeder

    out: dict = {}
    for name, f in compiled.feeders.items():
        if f["kind"] == "csv":
            out[name] = CsvFeeder(name, f["rows"], f["order"], f["offset"])
        elif f["kind"] == "sequence":
            out[name] = SequenceFeeder(name, f["start"], f["stop"], f["step"], f["offset"])
        else:
            out[name] = ChoiceFeeder(name, f["values"])
    return out


def compile_from_spec(spec: dict):
    """The child's compiled scenario: the spec's file (None: the shipped reference scenario),
    weighted by the plan's mix; the reference app's seeded user count and password as variables."""
    from hmb_ops.loadtest.scenario.load import load_scenario

    path = spec.get("scenario")
    overrides = None
    if path is None:
        overrides = {"seeded_users": max(1, int(spec.get("seeded_users") or 1000)),
                     "password": spec.get("password", "hmb-ops-demo")}
    return load_scenario(path, mix=spec.get("mix"), overrides=overrides, offset=int(spec.get("user_offset", 0)))


def make_user_class(spec: dict) -> type:
    """A FastHttpUser subclass running the spec's scenario (target, mix, think time, model)."""
    from hmb_ops.loadtest.scenario import jsonpath
    from hmb_ops.loadtest.scenario.load import MAX_HEAD_CACHE, render_json

    compiled = compile_from_spec(spec)
    feeders = _runtime_feeders(compiled)
    calls = compiled.requests
    chosen = [c for c in calls if c.weight > 0]
    weights = list(itertools.accumulate(c.weight for c in chosen))
    setup = compiled.setup
    per_user = [feeders[n] for n in compiled.per_user]
    run_think = tuple(spec["think_time"]) if spec.get("think_time") is not None else None
    default_think = run_think or compiled.think
    for c in calls:
        c.run_think = c.think if c.think is not None else default_think
    # One rate per stage (--arrival-rate R1,R2,...: loadtest.arrival), or one constant rate.
    schedule = arrival.schedule_for(spec) or (
        OpenSchedule(spec["arrival_rate"] / spec.get("processes", 1)) if spec.get("arrival_rate") else None)
    timeout = float(spec["request_timeout"])
    rec = RECORDER
    addresses: dict[str, list] = {}  # the target's resolved addresses, looked up once per process
    single = chosen[0] if len(chosen) == 1 else None
    json_ct = {"Content-Type": "application/json"}
    form_ct = {"Content-Type": "application/x-www-form-urlencoded"}

    class ScenarioUser(FastHttpUser):
        host = spec["target"]
        network_timeout = timeout
        connection_timeout = timeout
        max_retries = 0
        concurrency = 1

        def on_start(self) -> None:
            url = URL(self.host)
            self.http = self.client.client.clientpool.get_client(url)
            self.heads: dict[tuple, bytes] = {}  # request heads per (call, path) for this user
            self.fast = hasattr(self.http, "_build_request") and hasattr(self.http, "_connection_pool")
            self.conn = self._connection(url) if self.fast else None
            self.vars: dict = {}
            self.lists: dict[str, list] = {}  # pick: random captures: one value drawn per use
            for feeder in per_user:
                self.vars.update(feeder.draw())
            self.set_up = self.run_setup()
            rec.ready += 1

        def run_setup(self) -> bool:
            """The scenario's setup steps in order; False (and the rest skipped) at the first that
            failed: its failure is recorded under its own name, the root cause of what follows."""
            for step in setup:
                if not self.perform(step, None):
                    return False
                if step.think is not None and step.think[1] > 0:
                    gevent.sleep(random.uniform(*step.think))
            return True

        def _connection(self, url: URL) -> wire.Connection | None:
            """This user's own connection (http targets); None: geventhttpclient's pool (https,
            or a host that does not resolve now: its requests then fail as connection errors)."""
            if url.scheme != "http":
                return None
            if self.host not in addresses:
                try:
                    addresses[self.host] = wire.resolve(url.host, url.port or 80)
                except OSError:
                    return None
            return wire.Connection(addresses[self.host], timeout)

        def on_stop(self) -> None:
            conn = getattr(self, "conn", None)
            if conn is not None:
                conn.close()

        def perform(self, call, intended: float | None) -> bool | None:
            """Send one request and record it: True when it passed, False when it failed, None when
            it could not be sent (a variable it needs is unset)."""
            ns = self.vars
            if call.draws:
                ns = dict(ns)
                for name in call.draws:
                    feeder = feeders.get(name)
                    if feeder is not None:
                        ns.update(feeder.draw())
                    else:
                        values = self.lists.get(name)
                        if values:
                            ns[name] = random.choice(values)
            try:
                path = call.uri_const if call.uri_const is not None else "".join(t.render(ns) for t in call.uri)
                key = (call, path)
                head = None if call.headers_vary else self.heads.get(key)
                payload = b""
                if call.body is not None:
                    payload = call.body if isinstance(call.body, bytes) else self.payload(call, ns)
                    if not isinstance(call.body, bytes):
                        head = None
                headers = None
                if head is None:
                    headers = {"Connection": "keep-alive"}
                    if call.body_kind is not None:
                        headers.update(json_ct if call.body_kind == "json" else form_ct)
                    for name, tpl in call.headers:
                        headers[name] = tpl.render(ns)
            except KeyError:
                if call.fallback is not None:
                    return self.perform(calls[call.fallback], intended)
                rec.fail(call.name, "missing_variable")
                return None
            start = time.perf_counter()
            try:
                status, data, got = self.send(call, path, payload, headers, head, key)
            except Exception as exc:  # noqa: BLE001 - every transport error is a measured failure
                rec.fail(call.name, error_kind(exc))
                rec.sent += 1
                if isinstance(exc, (socket.timeout, TimeoutError)):
                    rec.series(call.name).append(int((time.perf_counter() - (intended or start)) * 1e6))
                return False
            rec.series(call.name).append(int((time.perf_counter() - (intended or start)) * 1e6))
            rec.sent += 1
            if status not in call.ok:
                rec.fail(call.name, failure_kind(status) or f"http_{status}")
                return False
            if call.captures:
                return self.capture(call, data, got)
            return True

        def payload(self, call, ns: dict) -> bytes:
            if call.body_kind == "json":
                return json.dumps(render_json(call.body, ns), separators=(",", ":")).encode()
            return "&".join(f"{k}={t.render(ns)}" for k, t in call.body).encode()

        def capture(self, call, data: bytes, got: dict) -> bool:
            doc: object = _UNPARSED
            failed = False
            for cap in call.captures:
                if cap.json_steps is not None:
                    if doc is _UNPARSED:
                        try:
                            doc = json.loads(data)
                        except ValueError:
                            doc = None
                    values = jsonpath.find(doc, cap.json_steps) if doc is not None else []
                else:
                    value = got.get(cap.header)
                    values = [value] if value else []
                if not values:
                    failed = failed or cap.required
                    continue
                if cap.pick == "random":
                    self.lists[cap.name] = values
                elif self.vars.get(cap.name) != values[0]:
                    self.vars[cap.name] = values[0]
                    self.heads = {}  # heads built with the old value are stale
            if failed:
                rec.fail(call.name, "capture_failed")
            return not failed

        def send(self, call, path: str, payload: bytes, headers: dict | None, head: bytes | None,
                 key: tuple) -> tuple[int, bytes, dict]:
            """One request on this user's pooled connection. The request head (method, path, headers
            with the token) is built once per (request, path) and reused: geventhttpclient's
            request() rebuilds and re-validates it every time, which is most of its per-request cost.

            Redirects are never followed: `wire` never does, and the other paths use the plain
            HTTPClient of the target's own pool (Locust's FastHttpSession and geventhttpclient's
            UserAgent would follow them, and a 3xx could then send load to any host the target names)."""
            http = self.http
            want = call.capture_headers
            if not self.fast:
                resp = http.request(call.method, path, body=payload or None, headers=headers)
                try:
                    return resp.status_code, resp.read(), {h: resp.get(h) for h in want}
                finally:
                    resp.release()
            if head is None:
                try:
                    head = http._build_request(call.method, path, body=payload, headers=headers,
                                               chunked=False).encode("latin-1")
                except (ValueError, UnicodeEncodeError) as exc:
                    raise InvalidRequest(str(exc)) from None
                if not call.headers_vary and (not payload or isinstance(call.body, bytes)):
                    if len(self.heads) >= MAX_HEAD_CACHE:
                        self.heads = {}
                    self.heads[key] = head
            if self.conn is not None:
                return self.conn.exchange(head + payload if payload else head, call.method, want)
            pool = http._connection_pool
            sock = pool.get_socket()
            try:
                sock.sendall(head + payload if payload else head)
            except BaseException:
                pool.release_socket(sock)
                raise
            resp = HTTPSocketPoolResponse(sock, pool, block_size=http.block_size, method=call.method,
                                          headers_type=http.headers_type)
            try:
                return resp.status_code, resp.read(), {h: resp.get(h) for h in want} if want else _NO_HEADERS
            finally:
                resp.release()

        def pick(self):
            return single or random.choices(chosen, cum_weights=weights)[0]

        @task
        def loop(self) -> None:
            # One long task instead of Locust's per-task scheduling: cheaper per request.
            while not self.set_up:
                gevent.sleep(SETUP_RETRY_S)
                self.set_up = self.run_setup()
            if schedule is not None:
                while True:
                    intended = schedule.next_slot()
                    delay = intended - time.perf_counter()
                    if delay > 0:
                        gevent.sleep(delay)
                    elif -delay > LATE_SEND_S:
                        rec.late += 1
                    rec.slots += 1
                    self.perform(self.pick(), intended)
            while True:
                call = self.pick()
                sent = self.perform(call, None)
                lo, hi = call.run_think
                if hi > 0:
                    gevent.sleep(random.uniform(lo, hi))
                elif sent is None:
                    gevent.sleep(UNSENT_PAUSE_S)

    ScenarioUser.__name__ = ScenarioUser.__qualname__ = "HmbUser"
    return ScenarioUser


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
