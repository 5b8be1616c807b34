"""Before a run of the reference scenario against --target: does the target log a seeded user in?

A foreign app answers the reference app's login with 404 (or refuses it), and every request after
it would fail; one real login first turns that into an immediate exit 3 with a way out.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.loadtest.scenario.feeders import ChoiceFeeder, CsvFeeder, SequenceFeeder
from hmb_ops.loadtest.scenario.load import Compiled, render_json

NOT_REFERENCE = "this target does not look like the reference app; use --scenario or --locustfile"


def _first_values(compiled: Compiled) -> dict:
    ns: dict = {}
    for name, f in compiled.feeders.items():
        if f["kind"] == "csv":
            ns.update(CsvFeeder(name, f["rows"], "round_robin", f["offset"]).draw())
        elif f["kind"] == "sequence":
            ns.update(SequenceFeeder(name, f["start"], f["stop"], f["step"], f["offset"]).draw())
        else:
            ns.update(ChoiceFeeder(name, f["values"]).draw())
    return ns


def check_first_step(compiled: Compiled, target: str, timeout: float) -> None:
    """Send the scenario's first setup step once; EnvironmentUnusable (exit 3) unless it is accepted."""
    if not compiled.setup:
        return
    step = compiled.setup[0]
    ns = _first_values(compiled)
    try:
        path = "".join(t.render(ns) for t in step.uri)
        headers = {name: t.render(ns) for name, t in step.headers}
        body = None
        if step.body_kind == "json":
            body = step.body if isinstance(step.body, bytes) else json.dumps(render_json(step.body, ns)).encode()
            headers["Content-Type"] = "application/json"
    except KeyError:
        return  # the step needs a capture: nothing to try before the run
    url = urlsplit(target)
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request(step.method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        raise EnvironmentUnusable(f"{step.name} failed ({exc.__class__.__name__}): {NOT_REFERENCE}") from None
    finally:
        conn.close()
    if not step.accepts(status):
        raise EnvironmentUnusable(f"{step.name} answered {status}: {NOT_REFERENCE}")
