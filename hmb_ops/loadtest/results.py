"""The results document (results.json), its CSV time series and the self-contained HTML report."""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hmb_ops.errors import ConfigError
from hmb_ops.loadtest import histogram
from hmb_ops.loadtest.sampling import SATURATED_CPU_PERCENT

SCHEMA_VERSION = 1
BASE_KINDS = ("connection", "timeout", "rate_limited_429")
REDIRECT_KIND = "redirect"  # any 3xx answer (behaviour.failure_kind); never followed


def _merge_failures(into: dict[str, int], kinds: dict[str, int]) -> None:
    for k, n in kinds.items():
        into[k] = into.get(k, 0) + n


def _block(values_iter, requests: int, failures: int, seconds: float) -> dict:
    h = histogram.new()
    for arr in values_iter:
        histogram.record_all(h, arr)
    return {"requests": requests, "failures": failures,
            "error_rate": round(failures / requests, 6) if requests else 0.0,
            "rps": round(requests / seconds, 3) if seconds > 0 else 0.0,
            "latency_ms": histogram.latency_ms(h)}


def _requests_in(sec, name: str | None = None) -> int:
    """Requests of a second (or of one endpoint in it): latencies recorded + connection failures."""
    if name is None:
        n = sum(len(a) for a in sec.values.values())
        return n + sum(k.get("connection", 0) for k in sec.failures.values())
    return len(sec.values.get(name, ())) + sec.failures.get(name, {}).get("connection", 0)


def _failures_in(sec, name: str | None = None) -> int:
    if name is None:
        return sum(n for kinds in sec.failures.values() for n in kinds.values())
    return sum(sec.failures.get(name, {}).values())


def _step_windows(stages, spawn_rate: float, seconds: dict) -> list[tuple[int, int, int, float, float]]:
    """(index, users, first second, stage start, stage end) with the ramp excluded."""
    out, start, previous = [], 0.0, 0
    for i, (users, length) in enumerate(stages):
        end = start + length
        first = None
        for s in range(int(math.floor(start)), int(math.ceil(end))):
            if s in seconds and seconds[s].users == users:
                first = s + 1  # the second in which the ramp finished still holds part of it
                break
        if first is None:
            first = int(math.ceil(start + abs(users - previous) / spawn_rate))
        first = min(first, max(int(math.floor(start)), int(math.floor(end)) - 1))
        out.append((i, users, first, start, end))
        start, previous = end, users
    return out


def _server_window(samples: list[dict], w0: float, w1: float) -> dict:
    inside = [s for s in samples if w0 <= s["wall"] < w1]
    cpu = [sum(w["cpu_percent"] for w in s["workers"]) / len(s["workers"]) for s in inside if s["workers"]]
    rss = [sum(w["rss_mb"] for w in s["workers"]) / len(s["workers"]) for s in inside if s["workers"]]
    conns = [s["db_connections"] for s in inside if s["db_connections"] is not None]
    return {"cpu_percent_per_worker": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "rss_mb_per_worker": round(sum(rss) / len(rss), 1) if rss else None,
            "db_connections": max(conns) if conns else None}


def build_document(*, plan, collected, target: str, tier: str | None, started_iso: str,
                   server: dict | None, server_samples: list[dict] | None, config: dict,
                   extra_reasons: list[str] = ()) -> dict:
    secs = collected.seconds
    t0 = collected.started_at or 0.0
    last = max(secs) if secs else 0
    duration = max(0.001, min((collected.ended_at or t0) - t0, plan.duration + 5)) if secs else 0.0
    names = sorted({n for s in secs.values() for n in (*s.values, *s.failures)})

    total_req = sum(_requests_in(s) for s in secs.values())
    total_fail = sum(_failures_in(s) for s in secs.values())
    by_kind = {k: 0 for k in BASE_KINDS}
    for s in secs.values():
        for kinds in s.failures.values():
            _merge_failures(by_kind, kinds)
    summary = _block((a for s in secs.values() for a in s.values.values()), total_req, total_fail, duration)
    summary["failures_by_kind"] = dict(sorted(by_kind.items()))

    endpoints = []
    for name in names:
        req = sum(_requests_in(s, name) for s in secs.values())
        fail = sum(_failures_in(s, name) for s in secs.values())
        block = _block((s.values[name] for s in secs.values() if name in s.values), req, fail, duration)
        kinds: dict[str, int] = {}
        for s in secs.values():
            _merge_failures(kinds, s.failures.get(name, {}))
        endpoints.append({"name": name, **block, "failures_by_kind": dict(sorted(kinds.items()))})

    gen = collected.generator
    gen_by_sec: dict[int, float] = {}
    for g in (gen.samples if gen else []):
        idx = int(g["t"] - t0 - 0.5)
        if 0 <= idx <= last:
            gen_by_sec[idx] = max(gen_by_sec.get(idx, 0.0), g["max"])

    timeseries = []
    for s in range(0, last + 1):
        sec = secs.get(s)
        if sec is None:
            timeseries.append({"t": float(s + 1), "users": 0, "rps": 0.0, "p50_ms": 0.0, "p95_ms": 0.0,
                               "failures": 0, "generator_cpu_percent": gen_by_sec.get(s)})
            continue
        lat = histogram.latency_ms(histogram.of(v for a in sec.values.values() for v in a))
        timeseries.append({"t": float(s + 1), "users": sec.users, "rps": float(_requests_in(sec)),
                           "p50_ms": lat["p50"], "p95_ms": lat["p95"], "failures": _failures_in(sec),
                           "generator_cpu_percent": gen_by_sec.get(s)})

    steps = []
    for index, users, first, start, end in _step_windows(plan.stages, plan.spawn_rate, secs):
        window = [secs[s] for s in range(first, int(math.ceil(end))) if s in secs and s <= last]
        span = max(1.0, float(len(window)))
        req = sum(_requests_in(s) for s in window)
        fail = sum(_failures_in(s) for s in window)
        block = _block((a for s in window for a in s.values.values()), req, fail, span)
        w0, w1 = t0 + first, t0 + first + span
        steps.append({"index": index, "users": users, "start_s": float(first), "end_s": float(first + span),
                      **block, "server": _server_window(server_samples or [], w0, w1)})

    reasons = list(extra_reasons) + list(collected.problems)
    # The first second carries the spawn (greenlets, connections): report steady CPU, while the
    # saturation check below still sees every sample.
    in_run = [g for g in (gen.samples if gen else []) if t0 <= g["t"] <= (collected.ended_at or t0)]
    cpu_values = [g["max"] for g in in_run if g["t"] >= t0 + 1.5] or [g["max"] for g in in_run]
    saturated_at = gen.saturated_since(t0) if gen else None
    if saturated_at is not None:
        reasons.append(f"generator CPU stayed above {SATURATED_CPU_PERCENT:g} % of a core from t={saturated_at - t0:.0f} s:"
                       " this run measured the load generator, not the server (use --processes or fewer users)")
    if collected.interrupted:
        reasons.append(f"interrupted by {collected.interrupted} after {duration:.1f} s: partial results")
    if total_req == 0:
        reasons.append("no request completed")
    redirects = by_kind.get(REDIRECT_KIND, 0)
    if redirects:
        # The generator does not follow redirects, so these requests never reached the endpoints the
        # profile names: their latency is the redirect's, and the run did not measure the app.
        reasons.append(f"{redirects} of {total_req} answers were redirects (3xx, not followed): the target sends "
                       "requests elsewhere (http to https, a login page, another host), so the endpoints were "
                       "not measured; give --target the URL the app itself answers on")
    cpu_seconds = gen.total_cpu_seconds() if gen else 0.0

    offered = plan.arrival_rate
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "profile": plan.profile, "target": target, "tier": tier,
        "started_at": started_iso, "duration_s": round(duration, 3), "valid": not reasons,
        "invalid_reasons": reasons, "model": plan.model, "offered_rps": offered,
        "achieved_rps": summary["rps"], "summary": summary, "endpoints": endpoints, "steps": steps,
        "timeseries": timeseries, "server": None,
        "generator": {"processes": plan.processes,
                      "cpu_percent_max": round(max(cpu_values), 1) if cpu_values else 0.0,
                      "cpu_percent_mean": round(sum(cpu_values) / len(cpu_values), 1) if cpu_values else 0.0,
                      "cpu_ms_per_request": round(cpu_seconds * 1000 / total_req, 4) if total_req else None},
        "config": config, "interrupted": bool(collected.interrupted),
    }
    if offered:
        scheduled = int(offered * duration)
        sent = sum(s.slots for s in secs.values())
        doc["open_model"] = {"scheduled": scheduled, "sent": sent, "dropped": max(0, scheduled - sent),
                             "late": sum(s.late for s in secs.values())}
    if server is not None:
        samples = [{k: v for k, v in s.items() if k != "wall"} for s in (server_samples or [])]
        all_cpu = [w["cpu_percent"] for s in samples for w in s["workers"]]
        all_rss = [w["rss_mb"] for s in samples for w in s["workers"]]
        conns = [s["db_connections"] for s in samples if s["db_connections"] is not None]
        depth = [s["background_queue_depth"] for s in samples if s["background_queue_depth"] is not None]
        doc["server"] = {**server, "samples": samples, "summary": {
            "cpu_percent_per_worker_mean": round(sum(all_cpu) / len(all_cpu), 1) if all_cpu else None,
            "cpu_percent_per_worker_max": max(all_cpu) if all_cpu else None,
            "rss_mb_per_worker_max": max(all_rss) if all_rss else None,
            "db_connections_max": max(conns) if conns else None,
            "background_queue_depth_max": max(depth) if depth else None,
            "worker_pids_seen": sorted({w["pid"] for s in samples for w in s["workers"]})}}
    return doc


# -- files ----------------------------------------------------------------------------------------
TIMESERIES_COLUMNS = ("t", "users", "rps", "p50_ms", "p95_ms", "failures", "generator_cpu_percent")


def write_outputs(doc: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out_dir / "results.json")
    with open(out_dir / "timeseries.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TIMESERIES_COLUMNS)
        for row in doc["timeseries"]:
            w.writerow(["" if row.get(c) is None else row.get(c) for c in TIMESERIES_COLUMNS])
    (out_dir / "report.html").write_text(render_html(doc))


def _svg_chart(title: str, xs: list[float], series: list[tuple[str, str, list[float]]], unit: str) -> str:
    w, h, pad = 720, 240, 48
    ymax = max([v for _, _, ys in series for v in ys if v is not None] + [1e-9]) * 1.1
    xmax = max(xs + [1.0])

    def pt(x, y):
        return f"{pad + (w - 2 * pad) * x / xmax:.1f},{h - pad - (h - 2 * pad) * y / ymax:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<text x="{pad}" y="20" font-size="14">{html.escape(title)}</text>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
             f'<text x="{pad - 4}" y="{pad}" font-size="11" text-anchor="end">{ymax:.0f}</text>',
             f'<text x="{pad - 4}" y="{h - pad}" font-size="11" text-anchor="end">0</text>',
             f'<text x="{w - pad}" y="{h - pad + 16}" font-size="11" text-anchor="end">{xmax:.0f} s</text>',
             f'<text x="{pad}" y="{h - 8}" font-size="11">{html.escape(unit)}</text>']
    for i, (label, color, ys) in enumerate(series):
        pts = " ".join(pt(x, y) for x, y in zip(xs, ys) if y is not None)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{w - pad - 120 + 60 * i}" y="20" font-size="12" fill="{color}">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(columns: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: dict) -> str:
    ts = doc["timeseries"]
    xs = [r["t"] for r in ts]
    lat = _svg_chart("Latency per second", xs, [("p50", "#1f77b4", [r["p50_ms"] for r in ts]),
                                                ("p95", "#d62728", [r["p95_ms"] for r in ts])], "ms")
    thr = _svg_chart("Throughput and users", xs, [("req/s", "#2ca02c", [r["rps"] for r in ts]),
                                                  ("users", "#9467bd", [float(r["users"]) for r in ts])], "req/s, users")
    s = doc["summary"]
    keys = ["p50", "p90", "p95", "p99", "p999", "max", "mean"]
    summary = _table(["requests", "failures", "error rate", "req/s"] + [f"{k} ms" for k in keys],
                     [[s["requests"], s["failures"], s["error_rate"], s["rps"]] + [s["latency_ms"][k] for k in keys]])
    eps = _table(["endpoint", "requests", "failures", "req/s"] + [f"{k} ms" for k in keys],
                 [[e["name"], e["requests"], e["failures"], e["rps"]] + [e["latency_ms"][k] for k in keys]
                  for e in doc["endpoints"]])
    steps = _table(["step", "users", "window s", "req/s", "p95 ms", "error rate", "worker CPU %"],
                   [[st["index"], st["users"], f'{st["start_s"]:.0f}-{st["end_s"]:.0f}', st["rps"],
                     st["latency_ms"]["p95"], st["error_rate"], st["server"]["cpu_percent_per_worker"]]
                    for st in doc["steps"]])
    verdict = "valid" if doc["valid"] else "NOT valid: " + "; ".join(doc["invalid_reasons"])
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(s.get("failures_by_kind", {}).items()) if v)
    kinds_line = f"<p>Failures by kind: {html.escape(kinds)}</p>" if kinds else ""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>hmb-ops load test "
            f"{html.escape(doc['profile'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
            "text-align:right}</style></head><body>"
            f"<h1>Load test: {html.escape(doc['profile'])}</h1>"
            f"<p>Target {html.escape(doc['target'])}, started {html.escape(doc['started_at'])}, "
            f"{doc['duration_s']} s, {doc['model']} model. {html.escape(verdict)}</p>"
            f"{lat}{thr}<h2>Summary</h2>{summary}{kinds_line}<h2>Endpoints</h2>{eps}<h2>Steps</h2>{steps}"
            f"<p>Generator: {html.escape(json.dumps(doc['generator']))}</p></body></html>\n")


# -- reading --------------------------------------------------------------------------------------
class _Latency(BaseModel):
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float
    mean: float


class _Summary(BaseModel):
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: _Latency
    failures_by_kind: dict[str, int]


class _Endpoint(BaseModel):
    name: str
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: _Latency


class _Step(BaseModel):
    index: int
    users: int
    start_s: float
    end_s: float
    requests: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: _Latency
    server: dict


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: int
    profile: str
    target: str
    tier: str | None
    started_at: str
    duration_s: float
    valid: bool
    invalid_reasons: list[str]
    model: str
    offered_rps: float | None
    achieved_rps: float
    summary: _Summary
    endpoints: list[_Endpoint]
    steps: list[_Step]
    timeseries: list[dict]
    server: dict | None
    generator: dict
    config: dict


def load_results(path) -> dict:
    """A results.json (or a folder holding one), validated; anything unusable is a ConfigError."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("results file not found", path=str(p), hint="give a results.json from hmb-ops loadtest") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"not a readable JSON document ({exc.__class__.__name__})", path=str(p)) from None
    if not isinstance(doc, dict):
        raise ConfigError("expected a JSON object", path=str(p))
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"unsupported schema_version {doc.get('schema_version')!r}; expected {SCHEMA_VERSION}",
                          path=str(p))
    try:
        _Document.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{err['msg']}", path=str(p), field=where,
                          hint="the file is not a results document from hmb-ops loadtest") from None
    return doc
