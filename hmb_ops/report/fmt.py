"""Number formatting and the rows every rendering shares, so console, Markdown and HTML agree."""

from __future__ import annotations

LAT_KEYS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")


def ms(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def pct(fraction) -> str:
    return "–" if fraction is None else f"{float(fraction) * 100:.2f}%"


def num(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


def run_facts(results: dict) -> list[tuple[str, str]]:
    s = results.get("summary") or {}
    facts = [("profile", str(results.get("profile"))), ("tier", str(results.get("tier") or "–")),
             ("target", str(results.get("target") or "–")), ("started", str(results.get("started_at") or "–")),
             ("duration", f"{num(results.get('duration_s'))} s"), ("model", str(results.get("model") or "closed")),
             ("requests", num(s.get("requests"))), ("failures", num(s.get("failures"))),
             ("error rate", pct(s.get("error_rate"))), ("throughput", f"{num(s.get('rps'))} req/s")]
    kinds = {k: v for k, v in sorted((s.get("failures_by_kind") or {}).items()) if v}
    if kinds:  # a redirect, 429 or timeout is a different problem from a 500: name them
        facts.insert(8, ("failures by kind", ", ".join(f"{k}={num(v)}" for k, v in kinds.items())))
    if results.get("offered_rps") is not None:
        facts.append(("offered / achieved", f"{num(results.get('offered_rps'))} / {num(results.get('achieved_rps'))} req/s"))
    valid = results.get("valid", True) is not False
    facts.append(("valid", "yes" if valid else "NO: " + "; ".join(results.get("invalid_reasons") or [])))
    return facts


def latency_header() -> list[str]:
    return ["p50", "p90", "p95", "p99", "p99.9", "max", "mean"]


def latency_cells(block: dict) -> list[str]:
    lat = block.get("latency_ms") or {}
    return [ms(lat.get(k)) for k in LAT_KEYS]


def endpoint_rows(results: dict) -> list[list[str]]:
    rows = []
    for e in results.get("endpoints") or []:
        rows.append([str(e.get("name")), num(e.get("requests")), num(e.get("failures")), pct(e.get("error_rate")),
                     num(e.get("rps")), *latency_cells(e)])
    return rows


def step_rows(results: dict) -> list[list[str]]:
    rows = []
    for st in results.get("steps") or []:
        srv = st.get("server") or {}
        lat = st.get("latency_ms") or {}
        rows.append([str(st.get("index")), num(st.get("users")), num(st.get("rps")), ms(lat.get("p50")),
                     ms(lat.get("p95")), ms(lat.get("p99")), pct(st.get("error_rate")),
                     num(srv.get("cpu_percent_per_worker")), num(srv.get("rss_mb_per_worker")),
                     num(srv.get("db_connections"))])
    return rows


STEP_HEADER = ["step", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU %/worker",
               "RSS MB/worker", "DB conns"]
ENDPOINT_HEADER = ["endpoint", "requests", "failures", "errors", "req/s"]


def check_rows(verdict) -> list[list[str]]:
    rows = []
    if verdict is None:
        return rows
    if verdict.checked and not verdict.valid:
        rows.append(["results valid", "no" if not verdict.allow_invalid else "no (allowed)",
                     "FAIL" if verdict.refused_invalid else "pass"])
    for r in verdict.thresholds:
        from hmb_ops.gates.thresholds import format_value

        rows.append([r.threshold.name, format_value(r.threshold.metric, r.actual), "pass" if r.passed else "FAIL"])
    for c in verdict.comparisons:
        shown = f"{c.ratio:.2f}× (allowed {'≤' if c.metric != 'rps' else '≥'} {c.limit:g}×)" if c.ratio is not None else "n/a"
        rows.append([c.name, shown, "pass" if c.passed else "FAIL"])
    return rows
