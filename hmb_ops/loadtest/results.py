"""The results document (results.json) built from a run's raw measurements, and its CSV time series.

The document is the public model hmb_ops.documents.Results; its HTML rendering lives in hmb_ops.report.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from hmb_ops.documents.results import (
    Endpoint,
    EndpointPoint,
    Generator,
    Latency,
    MetricSummary,
    PercentilePoint,
    Results,
    Server,
    ServerSample,
    ServerSummary,
    Stage,
    Statement,
    Step,
    StepServer,
    Summary,
    TimePoint,
)
from hmb_ops.loadtest import arrival, histogram
from hmb_ops.loadtest.sampling import SATURATED_CPU_PERCENT

BASE_KINDS = ("connection", "timeout", "rate_limited_429")
REDIRECT_KIND = "redirect"  # any 3xx answer (behaviour.failure_kind); never followed

STARTUP_S = 1.5  # seconds after the start whose generator CPU is the start-up, not the load


def _merge_failures(into: dict[str, int], kinds: dict[str, int]) -> None:
    for k, n in kinds.items():
        into[k] = into.get(k, 0) + n


def _histogram(values_iter):
    h = histogram.new()
    for arr in values_iter:
        histogram.record_all(h, arr)
    return h


def _block(hist, requests: int, failures: int, seconds: float) -> dict:
    """The fields Summary, Endpoint and Step share."""
    return {"requests": requests, "failures": failures,
            "error_rate": round(failures / requests, 6) if requests else 0.0,
            "rps": round(requests / seconds, 3) if seconds > 0 else 0.0,
            "latency_ms": Latency(**histogram.latency_ms(hist))}


# Failures that have no latency: the request never got an answer (connection) or was never sent
# (a scenario variable with no value, a rendered value HTTP cannot carry). Each still counts as a
# request, so a run where every request fails has an error rate of 1, not 0.
UNTIMED_KINDS = ("connection", "missing_variable", "invalid_request")


def _untimed(kinds: dict[str, int]) -> int:
    return sum(kinds.get(k, 0) for k in UNTIMED_KINDS)


def _requests_in(sec, name: str | None = None) -> int:
    """Requests of a second (or of one endpoint in it): latencies recorded + untimed failures."""
    if name is None:
        n = sum(len(a) for a in sec.values.values())
        return n + sum(_untimed(k) for k in sec.failures.values())
    return len(sec.values.get(name, ())) + _untimed(sec.failures.get(name, {}))


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
        for s in range(math.floor(start), math.ceil(end)):
            if s in seconds and seconds[s].users == users:
                first = s + 1  # the second in which the ramp finished still holds part of it
                break
        if first is None:
            first = math.ceil(start + abs(users - previous) / spawn_rate)
        first = min(first, max(math.floor(start), math.floor(end) - 1))
        out.append((i, users, first, start, end))
        start, previous = end, users
    return out


def _server_window(samples: list[dict], w0: float, w1: float) -> StepServer:
    inside = [s for s in samples if w0 <= s["wall"] < w1]
    cpu = [sum(w["cpu_percent"] for w in s["workers"]) / len(s["workers"]) for s in inside if s["workers"]]
    rss = [sum(w["rss_mb"] for w in s["workers"]) / len(s["workers"]) for s in inside if s["workers"]]
    conns = [s["db_connections"] for s in inside if s["db_connections"] is not None]
    return StepServer(cpu_percent_per_worker=round(sum(cpu) / len(cpu), 1) if cpu else None,
                      rss_mb_per_worker=round(sum(rss) / len(rss), 1) if rss else None,
                      db_connections=max(conns) if conns else None)


def _stages(plan) -> list[Stage]:
    out, start = [], 0.0
    for i, (users, length) in enumerate(plan.stages):
        out.append(Stage(index=i, users=users, start_s=start, end_s=start + length))
        start += length
    return out


def _second_latency(arrays) -> dict[str, float]:
    return histogram.latency_ms(histogram.of(v for a in arrays for v in a))


def _timeseries(secs: dict, last: int, gen_by_sec: dict[int, float]) -> list[TimePoint]:
    out = []
    for s in range(last + 1):
        sec = secs.get(s)
        if sec is None:
            out.append(TimePoint(t=float(s + 1), users=0, rps=0.0, p50_ms=0.0, p95_ms=0.0, p99_ms=0.0, failures=0,
                                 generator_cpu_percent=gen_by_sec.get(s)))
            continue
        lat = _second_latency(sec.values.values())
        out.append(TimePoint(t=float(s + 1), users=sec.users, rps=float(_requests_in(sec)), p50_ms=lat["p50"],
                             p95_ms=lat["p95"], p99_ms=lat["p99"], failures=_failures_in(sec),
                             generator_cpu_percent=gen_by_sec.get(s)))
    return out


def _endpoint_timeseries(secs: dict, last: int, name: str) -> list[EndpointPoint]:
    out = []
    for s in range(last + 1):
        sec = secs.get(s)
        if sec is None:
            out.append(EndpointPoint(t=float(s + 1), rps=0.0, p50_ms=0.0, p95_ms=0.0, p99_ms=0.0, failures=0))
            continue
        lat = _second_latency([sec.values.get(name, ())])
        out.append(EndpointPoint(t=float(s + 1), rps=float(_requests_in(sec, name)), p50_ms=lat["p50"],
                                 p95_ms=lat["p95"], p99_ms=lat["p99"], failures=_failures_in(sec, name)))
    return out


def _pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _metric_summaries(samples: list[ServerSample], info: dict) -> dict[str, MetricSummary]:
    out = {}
    for name in info.get("families", ()):
        vals = [s.metrics[name] for s in samples if s.metrics.get(name) is not None]
        typ = info.get("types", {}).get(name)
        vals_f = [float(v) for v in vals if v is not None]
        p95 = info.get("run_quantiles", {}).get(name) if typ == "histogram" else _pctl(vals_f, 0.95)
        out[name] = MetricSummary(type=typ, samples=len(vals_f), min=min(vals_f) if vals_f else None,
                                  max=max(vals_f) if vals_f else None,
                                  mean=round(sum(vals_f) / len(vals_f), 6) if vals_f else None,
                                  p95=p95, last=vals_f[-1] if vals_f else None,
                                  note=info.get("notes", {}).get(name))
    return out


def _server(server: dict, server_samples: list[dict], t0: float) -> Server:
    # Sample times in run seconds (the same clock as `timeseries`), so the charts line up; samples
    # taken while the generator was starting have t < 0.
    server = dict(server)
    info = server.pop("sampling", None) or {}
    samples = [ServerSample(t=round(s["wall"] - t0, 3) if t0 else s["t"],
                            **{k: v for k, v in s.items() if k not in ("wall", "t")}) for s in server_samples]
    all_cpu = [w.cpu_percent for s in samples for w in s.workers]
    all_rss = [w.rss_mb for s in samples for w in s.workers]
    conns = [s.db_connections for s in samples if s.db_connections is not None]
    depth = [s.background_queue_depth for s in samples if s.background_queue_depth is not None]
    by_state: dict[str, int] = {}
    for s in samples:
        for state, n in (s.db.by_state if s.db else {}).items():
            by_state[state] = max(by_state.get(state, 0), n)
    waits = [s.db.lock_waits for s in samples if s.db is not None]
    summary = ServerSummary(
        cpu_percent_per_worker_mean=round(sum(all_cpu) / len(all_cpu), 1) if all_cpu else None,
        cpu_percent_per_worker_max=max(all_cpu) if all_cpu else None,
        rss_mb_per_worker_max=max(all_rss) if all_rss else None,
        db_connections_max=max(conns) if conns else None,
        background_queue_depth_max=max(depth) if depth else None,
        worker_pids_seen=sorted({w.pid for s in samples for w in s.workers}),
        cpu_percent_p95=_pctl(all_cpu, 0.95), rss_mb_max=max(all_rss) if all_rss else None,
        worker_restarts=samples[-1].restarts if samples else 0,
        db_connections_by_state_max=dict(sorted(by_state.items())),
        db_lock_waits_max=max(waits) if waits else None,
        gap_seconds=sum(1 for s in samples if s.gaps))
    return Server(**server, samples=samples, summary=summary, metrics=_metric_summaries(samples, info),
                  top_statements=[Statement(**st) for st in info.get("top_statements", ())],
                  statements_note=info.get("statements_note"))


def with_sampling(server_info: dict, sampler) -> dict:
    """The server block's fields plus what only the sampler knows (families, run quantiles, statements)."""
    info = dict(server_info)
    sc = sampler.scraper
    info["sampling"] = {
        "families": sc.families if sc else (), "types": dict(sc.types) if sc else {},
        "run_quantiles": {n: sc.run_quantile(n) for n in sc.families if sc.types.get(n) == "histogram"} if sc else {},
        "notes": sc.notes() if sc else {},
        "top_statements": sampler.top_statements,
        "statements_note": sampler.db.statements_note if sampler.db else None}
    return info


def server_block(server_info: dict, sampler, t0: float) -> Server:
    return _server(with_sampling(server_info, sampler), list(sampler.samples), t0)


def build_document(*, plan, collected, target: str, tier: str | None, started_iso: str,
                   server: dict | None, server_samples: list[dict] | None, config: dict,
                   extra_reasons: Sequence[str] = (), out_dir: str | None = None) -> Results:
    secs = collected.seconds
    t0 = collected.started_at or 0.0
    last = max(secs) if secs else 0
    duration = max(0.001, min((collected.ended_at or t0) - t0, plan.duration + 5)) if secs else 0.0
    names = sorted({n for s in secs.values() for n in (*s.values, *s.failures)})

    total_req = sum(_requests_in(s) for s in secs.values())
    total_fail = sum(_failures_in(s) for s in secs.values())
    by_kind = dict.fromkeys(BASE_KINDS, 0)
    for s in secs.values():
        for kinds in s.failures.values():
            _merge_failures(by_kind, kinds)
    whole = _histogram(a for s in secs.values() for a in s.values.values())
    summary = Summary(**_block(whole, total_req, total_fail, duration), failures_by_kind=dict(sorted(by_kind.items())),
                      percentile_spectrum=[PercentilePoint(percentile=p, latency_ms=ms)
                                           for p, ms in histogram.spectrum(whole)])

    endpoints = []
    for name in names:
        req = sum(_requests_in(s, name) for s in secs.values())
        fail = sum(_failures_in(s, name) for s in secs.values())
        hist = _histogram(s.values[name] for s in secs.values() if name in s.values)
        endpoint_kinds: dict[str, int] = {}
        for s in secs.values():
            _merge_failures(endpoint_kinds, s.failures.get(name, {}))
        endpoints.append(Endpoint(name=name, **_block(hist, req, fail, duration),
                                  failures_by_kind=dict(sorted(endpoint_kinds.items())),
                                  timeseries=_endpoint_timeseries(secs, last, name)))

    gen = collected.generator
    gen_by_sec: dict[int, float] = {}
    for g in (gen.samples if gen else []):
        idx = int(g["t"] - t0 - 0.5)
        if 0 <= idx <= last:
            gen_by_sec[idx] = max(gen_by_sec.get(idx, 0.0), g["max"])

    steps = []
    for index, users, first, _start, end in _step_windows(plan.stages, plan.spawn_rate, secs):
        window = [secs[s] for s in range(first, math.ceil(end)) if s in secs and s <= last]
        span = max(1.0, float(len(window)))
        req = sum(_requests_in(s) for s in window)
        fail = sum(_failures_in(s) for s in window)
        hist = _histogram(a for s in window for a in s.values.values())
        w0, w1 = t0 + first, t0 + first + span
        steps.append(Step(index=index, users=users, start_s=float(first), end_s=float(first + span),
                          **_block(hist, req, fail, span), server=_server_window(server_samples or [], w0, w1)))

    reasons = list(extra_reasons) + list(collected.problems)
    # The first 1.5 s carry the start-up (importing a user's locustfile, spawning greenlets, opening
    # connections): near 100 % of a core for every run, which says nothing about the generator
    # keeping up. Both the steady CPU reported and the saturation check start after it.
    in_run = [g for g in (gen.samples if gen else []) if t0 <= g["t"] <= (collected.ended_at or t0)]
    cpu_values = [g["max"] for g in in_run if g["t"] >= t0 + STARTUP_S] or [g["max"] for g in in_run]
    saturated_at = gen.saturated_since(t0 + STARTUP_S) if gen else None
    if saturated_at is not None:
        reasons.append(f"generator CPU stayed above {SATURATED_CPU_PERCENT:g} % of a core from "
                       f"t={saturated_at - t0:.0f} s: this run measured the load generator, not the server "
                       "(use --processes or fewer users)")
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
    # A ramping rate (--arrival-rate R1,R2,...) accounts for each stage apart (loadtest.arrival).
    open_model = arrival.open_model(offered=offered, rates=config.get("arrival_rates"), stages=plan.stages,
                                    seconds=secs, duration=duration)
    return Results(
        profile=plan.profile, target=target, tier=tier, started_at=started_iso, duration_s=round(duration, 3),
        valid=not reasons, invalid_reasons=reasons, model=plan.model, offered_rps=offered,
        achieved_rps=summary.rps, summary=summary, endpoints=endpoints, steps=steps, stages=_stages(plan),
        timeseries=_timeseries(secs, last, gen_by_sec),
        server=_server(server, server_samples or [], collected.started_at or 0.0) if server is not None else None,
        generator=Generator(processes=collected.processes,
                            cpu_percent_max=round(max(cpu_values), 1) if cpu_values else 0.0,
                            cpu_percent_mean=round(sum(cpu_values) / len(cpu_values), 1) if cpu_values else 0.0,
                            cpu_ms_per_request=round(cpu_seconds * 1000 / total_req, 4) if total_req else None),
        config=config, interrupted=bool(collected.interrupted), open_model=open_model, out_dir=out_dir,
        aborted=getattr(collected, "aborted", None))


# -- files ----------------------------------------------------------------------------------------
TIMESERIES_COLUMNS = ("t", "users", "rps", "p50_ms", "p95_ms", "failures", "generator_cpu_percent")


SERVER_COLUMNS = ("server_cpu_percent", "server_rss_mb", "server_workers", "server_restarts", "db_connections",
                  "db_active", "db_lock_waits", "server_gaps")


def _server_by_second(doc: Results) -> dict[int, dict]:
    """The server sample read in each run second (t in (s-1, s]), as CSV cells: CPU is the mean per
    worker, RSS the largest worker, metric columns are named metric:<family>."""
    out: dict[int, dict] = {}
    for s in (doc.server.samples if doc.server else []):
        if s.t < 0:
            continue
        cpu = [w.cpu_percent for w in s.workers]
        row = {"server_cpu_percent": round(sum(cpu) / len(cpu), 1) if cpu else None,
               "server_rss_mb": max((w.rss_mb for w in s.workers), default=None),
               "server_workers": len(s.workers) if s.workers else None, "server_restarts": s.restarts,
               "db_connections": s.db.connections if s.db else None, "db_active": s.db.active if s.db else None,
               "db_lock_waits": s.db.lock_waits if s.db else None, "server_gaps": "; ".join(s.gaps) or None}
        row.update({f"metric:{k}": v for k, v in s.metrics.items()})
        out[math.ceil(s.t)] = row
    return out


def write_outputs(doc: Results, out_dir: Path) -> None:
    """results.json, timeseries.csv and report.html (drawn by hmb_ops.report, the one renderer)."""
    from hmb_ops.report.html import render

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(doc.model_dump_json(indent=2) + "\n")
    tmp.replace(out_dir / "results.json")
    families = list(doc.server.metrics) if doc.server else []
    by_second = _server_by_second(doc)
    with open(out_dir / "timeseries.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        server_cols = SERVER_COLUMNS if doc.server else ()
        w.writerow([*TIMESERIES_COLUMNS, *server_cols, *(f"metric:{f}" for f in families)])
        for point in doc.timeseries:
            row = point.model_dump()
            extra = by_second.get(round(point.t), {})
            row.update(extra)
            w.writerow(["" if row.get(c) is None else row.get(c)
                        for c in (*TIMESERIES_COLUMNS, *server_cols, *(f"metric:{f}" for f in families))])
    (out_dir / "report.html").write_text(render(doc))
