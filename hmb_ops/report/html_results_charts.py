"""The charts of a load results page, as specs (html_spec): each function returns specs, [] when the
document holds nothing to draw for it (the page then says so in a sentence)."""

from __future__ import annotations

from . import html_spec as hs
from .html_page import P50, P95, P99

GENERATOR_SATURATED_PERCENT = 90.0  # the line loadtest/sampling.py judges the generator by (a test keeps them equal)
_LAT_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))


def stage_lines(doc: dict) -> list[dict]:
    """Where each load stage starts, labelled with its users: the planned stages, else the steps."""
    stages = doc.get("stages") or doc.get("steps") or []
    if len(stages) < 2:
        return []
    return [{"x": float(s["start_s"]), "label": f"{s['users']} users", "kind": "stage",
             "legend": "stage start (users of the stage)"} for s in stages if s.get("start_s") is not None]


def over_time(doc: dict) -> list[dict]:
    ts = doc.get("timeseries") or []
    if not ts:
        return []
    t = [p.get("t") for p in ts]
    stages = stage_lines(doc)
    lat = hs.chart("latency-time", "Latency over time (whole run, per second)", hs.TIME_AXIS,
                   [{"label": "latency (ms)"}],
                   [hs.series(label, color, hs.points(t, [p.get(key) for p in ts]), unit="ms")
                    for label, key, color in (("p50", "p50_ms", P50), ("p95", "p95_ms", P95), ("p99", "p99_ms", P99))],
                   vlines=stages)
    thr = hs.chart("throughput-time", "Throughput and users over time", hs.TIME_AXIS,
                   [{"label": "throughput (req/s)"}, {"label": "users", "scale": "users"}],
                   [hs.series("req/s", hs.colour(2), hs.points(t, [p.get("rps") for p in ts]), unit="req/s"),
                    hs.series("users", "#667085", hs.points(t, [p.get("users") for p in ts]), scale="users",
                              style="step", dash=True)], vlines=stages)
    err = hs.chart("errors-time", "Errors over time (failed requests per second)", hs.TIME_AXIS,
                   [{"label": "failures (per s)"}],
                   [hs.series("failures/s", "#d92d20", hs.points(t, [p.get("failures") for p in ts]), unit="/s")],
                   vlines=stages, height=220)
    gen = hs.chart("generator-time", "Load generator CPU (% of one core)", hs.TIME_AXIS, [{"label": "CPU (%)"}],
                   [hs.series("generator CPU", hs.colour(4), hs.points(t, [p.get("generator_cpu_percent") for p in ts]),
                              unit="%")],
                   hlines=[{"y": GENERATOR_SATURATED_PERCENT, "kind": "limit",
                            "label": f"saturated above {GENERATOR_SATURATED_PERCENT:g} %"}], height=220)
    return [c for c in (lat, thr, err, gen) if c]


def _spectrum_of(block: dict) -> list[list[float]]:
    lat = block.get("latency_ms") or {}
    return hs.points([hs.percentile_x(p) for _, p in _LAT_PERCENTILES], [lat.get(k) for k, _ in _LAT_PERCENTILES])


def distribution(doc: dict) -> tuple[list[dict], bool]:
    """The HDR percentile spectrum (log percentile axis); True when the full spectrum was in the document."""
    summary = doc.get("summary") or {}
    spectrum = summary.get("percentile_spectrum") or []
    full = bool(spectrum)
    if full:
        overall = hs.points([hs.percentile_x(float(p["percentile"])) for p in spectrum],
                            [p.get("latency_ms") for p in spectrum])
    else:
        overall = _spectrum_of(summary)
    all_series = [hs.series("all requests", "#101828", overall, unit="ms", width=2.5)]
    for i, e in enumerate(doc.get("endpoints") or []):
        all_series.append(hs.series(str(e.get("name")), hs.colour(i), _spectrum_of(e), unit="ms", width=1))
    spec = hs.chart("latency-distribution", "Latency distribution (HDR percentile spectrum)",
                    {"label": "percentile", "kind": "percentile", "log": True}, [{"label": "latency (ms)"}],
                    all_series, height=340)
    return ([spec] if spec else []), full


def per_endpoint(doc: dict) -> list[dict]:
    out = []
    for i, e in enumerate(doc.get("endpoints") or []):
        ts = e.get("timeseries") or []
        t = [p.get("t") for p in ts]
        spec = hs.chart(f"endpoint-{hs.slug(e.get('name'), i)}", str(e.get("name")), hs.TIME_AXIS,
                        [{"label": "latency (ms)"}],
                        [hs.series(label, color, hs.points(t, [p.get(key) for p in ts]), unit="ms")
                         for label, key, color in (("p50", "p50_ms", P50), ("p95", "p95_ms", P95),
                                                   ("p99", "p99_ms", P99))], height=220)
        if spec:
            out.append(spec)
    return out


def server(doc: dict) -> list[dict]:
    samples = (doc.get("server") or {}).get("samples") or []
    if not samples:
        return []
    pids = sorted({w["pid"] for s in samples for w in s.get("workers") or []})
    stages = stage_lines(doc)

    def per_worker(key: str, unit: str) -> list[dict]:
        out = []
        for i, pid in enumerate(pids):
            mine = [(s.get("t"), w.get(key)) for s in samples for w in s.get("workers") or [] if w.get("pid") == pid]
            out.append(hs.series(f"worker {pid}", hs.colour(i), hs.points([m[0] for m in mine], [m[1] for m in mine]),
                                 unit=unit))
        return out

    t = [s.get("t") for s in samples]
    cpu = hs.chart("server-cpu", "Server CPU per worker (% of one core)", hs.TIME_AXIS, [{"label": "CPU (%)"}],
                   per_worker("cpu_percent", "%"), vlines=stages, height=240)
    rss = hs.chart("server-rss", "Server memory per worker (RSS, MB)", hs.TIME_AXIS, [{"label": "RSS (MB)"}],
                   per_worker("rss_mb", "MB"), vlines=stages, height=240)
    db = hs.chart("server-db", "Database connections and background queue depth", hs.TIME_AXIS,
                  [{"label": "connections, queued jobs"}],
                  [hs.series("DB connections", hs.colour(0), hs.points(t, [s.get("db_connections") for s in samples])),
                   hs.series("DB connections active", hs.colour(5),
                             hs.points(t, [s.get("db_connections_active") for s in samples]), dash=True),
                   hs.series("background queue depth", hs.colour(3),
                             hs.points(t, [s.get("background_queue_depth") for s in samples]), style="step")],
                  vlines=stages, height=240)
    return [c for c in (cpu, rss, db, *server_more(samples, stages)) if c]


def server_more(samples: list[dict], stages: list[dict]) -> list[dict | None]:
    """Workers alive and restarts, DB connections by state with lock waits, one chart per scraped family."""
    t = [s.get("t") for s in samples]
    out: list[dict | None] = []
    if any(s.get("workers") for s in samples):
        out.append(hs.chart("server-restarts", "Workers alive and worker restarts", hs.TIME_AXIS,
                            [{"label": "workers, restarts"}],
                            [hs.series("workers alive", hs.colour(0),
                                       hs.points(t, [len(s.get("workers") or []) or None for s in samples]),
                                       style="step"),
                             hs.series("restarts (cumulative)", hs.colour(3),
                                       hs.points(t, [s.get("restarts") for s in samples]), style="step")],
                            vlines=stages, height=200))
    states = sorted({k for s in samples for k in ((s.get("db") or {}).get("by_state") or {})})
    if states:
        series = [hs.series(state, hs.colour(i), hs.points(t, [((s.get("db") or {}).get("by_state") or {}).get(state, 0)
                                                                if s.get("db") else None for s in samples]))
                  for i, state in enumerate(states)]
        series.append(hs.series("waiting on a lock", hs.colour(len(states)),
                                hs.points(t, [(s.get("db") or {}).get("lock_waits") for s in samples]), dash=True))
        out.append(hs.chart("server-db-states", "Database connections by state (pg_stat_activity)", hs.TIME_AXIS,
                            [{"label": "connections"}], series, vlines=stages, height=220))
    families = sorted({k for s in samples for k in (s.get("metrics") or {})})
    for i, name in enumerate(families):
        out.append(hs.chart(f"metric-{i}", f"{name} (scraped each second)", hs.TIME_AXIS, [{"label": name}],
                            [hs.series(name, hs.colour(i), hs.points(t, [(s.get("metrics") or {}).get(name)
                                                                         for s in samples]))],
                            vlines=stages, height=200))
    return out


def steps(doc: dict, slo_lines: list[dict], knee_users: float | None) -> list[dict]:
    st = doc.get("steps") or []
    if not st:
        return []
    users = [s.get("users") for s in st]
    knee = ([{"x": float(knee_users), "label": f"knee: {knee_users:g} users", "kind": "knee"}]
            if knee_users is not None else [])
    lat = hs.chart("steps-latency", "Latency against load (per step)", hs.USERS_AXIS, [{"label": "latency (ms)"}],
                   [hs.series(label, color, hs.points(users, [(s.get("latency_ms") or {}).get(label) for s in st]),
                              unit="ms") for label, color in (("p50", P50), ("p95", P95), ("p99", P99))],
                   vlines=knee, hlines=slo_lines)
    thr = hs.chart("steps-throughput", "Throughput against load (per step)", hs.USERS_AXIS,
                   [{"label": "throughput (req/s)"}],
                   [hs.series("req/s", hs.colour(2), hs.points(users, [s.get("rps") for s in st]), unit="req/s")],
                   vlines=knee)
    return [c for c in (lat, thr) if c]
