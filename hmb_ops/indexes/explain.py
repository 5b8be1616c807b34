"""EXPLAIN helpers: which indexes a plan uses (the whole tree), and timing a query repeatedly."""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

from hmb_ops.indexes.spec import QuerySpec, placeholders


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


def explain(cur, query: QuerySpec, *, generic: bool) -> Any:
    if generic:
        text, _ = placeholders(query.sql)
        cur.execute("EXPLAIN (FORMAT JSON, GENERIC_PLAN) " + text)
    else:
        cur.execute("EXPLAIN (FORMAT JSON) " + query.sql, query.params)
    plan = cur.fetchone()[0]
    return plan if not isinstance(plan, str) else __import__("json").loads(plan)


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
    """Client-side wall time of execute + fetch, in ms. Stops early when the time budget is spent."""
    for _ in range(warmup):
        cur.execute(query.sql, query.params)
        cur.fetchall()
    samples: list[float] = []
    deadline = time.monotonic() + budget_s
    for _ in range(runs):
        t0 = time.perf_counter()
        cur.execute(query.sql, query.params)
        cur.fetchall()
        samples.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() > deadline and len(samples) >= 5:
            break
    return samples
