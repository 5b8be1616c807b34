"""A scenario run once, sequentially, by one simulated user: the warm-up before a memory reading.

`tune --measure-memory` needs the worker to have done real work (pool connections opened, caches
and request buffers grown) before its RSS is read; this walks a compiled scenario (setup steps,
then every request `rounds` times, captures applied) over one plain HTTP connection. No Locust,
no gevent: it runs in hmb-ops's own process. Loopback only, redirects never followed.
"""

from __future__ import annotations

import http.client
import json
import random
from urllib.parse import urlsplit

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.loadtest.scenario import jsonpath
from hmb_ops.loadtest.scenario.load import Call, Compiled, load_scenario, render_json
from hmb_ops.loadtest.scenario.preflight import _first_values

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _payload(call: Call, ns: dict) -> bytes | None:
    if call.body is None:
        return None
    if isinstance(call.body, bytes):
        return call.body
    if call.body_kind == "json":
        return json.dumps(render_json(call.body, ns), separators=(",", ":")).encode()
    return "&".join(f"{k}={t.render(ns)}" for k, t in call.body).encode()


def _capture(call: Call, data: bytes, headers: dict[str, str], ns: dict) -> None:
    doc = None
    for cap in call.captures:
        if cap.json_steps is not None:
            if doc is None:
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = False
            values = jsonpath.find(doc, cap.json_steps) if doc is not False else []
        else:
            value = headers.get(cap.header or "")
            values = [value] if value else []
        if values:
            ns[cap.name] = random.choice(values) if cap.pick == "random" else values[0]


def run_scenario(compiled: Compiled, base_url: str, *, rounds: int = 3, timeout: float = 10) -> dict[int, int]:
    """Status counts of one user doing the setup once and each request `rounds` times."""
    url = urlsplit(base_url)
    if url.scheme != "http" or url.hostname not in LOOPBACK:
        raise EnvironmentUnusable(f"a warm-up goes to loopback only, not {base_url}")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    ns: dict = dict(_first_values(compiled))
    statuses: dict[int, int] = {}
    try:
        for call in [*compiled.setup, *(r for _ in range(rounds) for r in compiled.requests)]:
            try:
                path = call.uri_const if call.uri_const is not None else "".join(t.render(ns) for t in call.uri)
                headers = {name: t.render(ns) for name, t in call.headers}
                body = _payload(call, ns)
            except KeyError:
                continue   # needs a capture an earlier step did not give: skipped, like a run counts it
            if call.body_kind == "json":
                headers["Content-Type"] = "application/json"
            elif call.body_kind == "form":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            try:
                conn.request(call.method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise EnvironmentUnusable(f"warm-up {call.name} failed: {exc.__class__.__name__}: {exc}") from None
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if call.accepts(resp.status) and call.captures:
                _capture(call, data, {k.lower(): v for k, v in resp.getheaders()}, ns)
    finally:
        conn.close()
    return statuses


def scenario_warmup(path: str | None, *, rounds: int = 3):
    """(description, run) for `tune --measure-memory`: the scenario at `path` (None: the shipped
    reference scenario, which logs in and reads and writes through the database)."""
    compiled = load_scenario(path)
    name = path or "the reference scenario"

    def run(base_url: str) -> str:
        statuses = run_scenario(compiled, base_url, rounds=rounds)
        total = sum(statuses.values())
        ok = sum(c for s, c in statuses.items() if s < 400)
        if total and ok == 0:
            raise EnvironmentUnusable(f"no warm-up request of {name} succeeded "
                                      f"({', '.join(f'{s}×{c}' for s, c in sorted(statuses.items()))})",
                                      hint="is the database seeded (hmb-ops db seed) and the scenario right "
                                           "for the app?")
        summary = ", ".join(f"{c}×{s}" for s, c in sorted(statuses.items()))
        return f"{total} requests of {name} ({summary})"

    return f"{name} × {rounds}", run
