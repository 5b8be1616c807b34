"""EXPLAIN helpers: which indexes a plan uses (the whole tree), and timing a query repeatedly."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hmb_ops.errors import ConfigError
from hmb_ops.indexes import sqltext
from hmb_ops.indexes.spec import QuerySpec, _plain_value


def _nodes(node: Any):
    """Every plan node of an EXPLAIN (FORMAT JSON) document, depth first (Bitmap Index Scans sit deep)."""
    if isinstance(node, dict):
        if "Node Type" in node or "Index Name" in node:
            yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def indexes_in_plan(node: Any) -> list[str]:
    """Every "Index Name" anywhere in an EXPLAIN (FORMAT JSON) tree, in order of first appearance."""
    found: list[str] = []
    for n in _nodes(node):
        name = n.get("Index Name")
        if name and name not in found:
            found.append(name)
    return found


def top_node(plan_json: Any) -> dict:
    doc = plan_json[0] if isinstance(plan_json, list) and plan_json else plan_json
    return (doc or {}).get("Plan", {}) if isinstance(doc, dict) else {}


def scan_nodes(node: Any) -> list[str]:
    """Node types that read a table (Seq Scan on users, Index Scan using x on y) for reasons."""
    out: list[str] = []
    for n in _nodes(node):
        t = n.get("Node Type", "")
        if "Scan" in t and n.get("Relation Name"):
            via = f" using {n['Index Name']}" if n.get("Index Name") else ""
            out.append(f"{t}{via} on {n['Relation Name']}")
    return out


def _statement(query: QuerySpec) -> tuple[str, list]:
    """The text to PREPARE (``$n`` parameters, proven one read-only query) and the values in ``$n`` order."""
    try:
        text, order = sqltext.prepared_statement(query.sql)
    except sqltext.NotOneExpression as exc:
        raise ConfigError(f"query {query.name!r} is not one query: {exc}",
                          hint="fix the spec; nothing was run") from None
    missing = [n for n in order if n not in query.params]
    if missing:
        raise ConfigError(f"query {query.name!r} uses parameters without sample values: {', '.join(missing)}")
    values = [query.params[n] for n in order]
    for name, v in zip(order, values, strict=True):
        if not (_plain_value(v) or (isinstance(v, list) and all(_plain_value(x) for x in v))):
            raise ConfigError(f"query {query.name!r}: params.{name} is not a plain value (it is bound as data)")
    return text, values


@contextmanager
def prepared(cur, query: QuerySpec) -> Iterator[str]:
    """PREPARE the declared query server-side; yields ``name(args)`` for ``EXECUTE`` / ``EXPLAIN EXECUTE``.

    Why server-side binding and not psycopg2's client-side ``%(name)s`` interpolation: psycopg2
    pastes each value into the SQL text wherever the placeholder stands, inside comments and string
    literals too, so a sample value could end a comment and run statements (it did: verify created
    a table, bench committed an index drop). Here the query text is PREPAREd with ``$n`` parameters
    and no value in it (after the lexer proved it one query), and the values travel only as the
    arguments of ``EXECUTE name(...)``, a statement hmb-ops writes, quoted by psycopg2 where a value
    stands: the server parses them as constants of the parameters' types, never as query text.
    ``plan_cache_mode = force_custom_plan`` keeps every run planned with its values, as the literal
    text was before, so "custom plan" and the timings mean what they did.
    """
    import psycopg2.extensions as ext

    text, values = _statement(query)
    name = "hmb_q_" + uuid.uuid4().hex
    if cur.connection.server_version >= 120000:
        cur.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
    cur.execute(f"PREPARE {name} AS {text}")
    try:
        args = cur.mogrify("(" + ", ".join(["%s"] * len(values)) + ")", values).decode() if values else ""
        yield name + args
    finally:
        # In a failed transaction DEALLOCATE cannot run; the statement dies with the session then.
        if cur.connection.get_transaction_status() != ext.TRANSACTION_STATUS_INERROR:
            cur.execute(f"DEALLOCATE {name}")


def explain(cur, query: QuerySpec, *, generic: bool) -> Any:
    if generic:
        text, _ = _statement(query)
        cur.execute("EXPLAIN (FORMAT JSON, GENERIC_PLAN) " + text)
        plan = cur.fetchone()[0]
    else:
        with prepared(cur, query) as call:
            cur.execute("EXPLAIN (FORMAT JSON) EXECUTE " + call)
            plan = cur.fetchone()[0]
    return plan if not isinstance(plan, str) else json.loads(plan)


def percentile(values: Iterable[float], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    rank = max(1, math.ceil(q / 100 * len(data)))
    return data[rank - 1]


def summarize(samples_ms: list[float]) -> dict:
    return {"p50": _r(percentile(samples_ms, 50)), "p95": _r(percentile(samples_ms, 95)),
            "max": _r(max(samples_ms) if samples_ms else None), "runs": len(samples_ms)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def time_query(cur, query: QuerySpec, *, runs: int, warmup: int = 2, budget_s: float = 30.0) -> list[float]:
    """Client-side wall time of EXECUTE + fetch, in ms. Stops early when the time budget is spent."""
    samples: list[float] = []
    with prepared(cur, query) as call:
        statement = "EXECUTE " + call
        for _ in range(warmup):
            cur.execute(statement)
            cur.fetchall()
        deadline = time.monotonic() + budget_s
        for _ in range(runs):
            t0 = time.perf_counter()
            cur.execute(statement)
            cur.fetchall()
            samples.append((time.perf_counter() - t0) * 1000)
            if time.monotonic() > deadline and len(samples) >= 5:
                break
    return samples
