"""Number formatting and the rows every rendering shares, so console, Markdown and HTML agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, CapacityTier, ClaimsDocument, Generator, Results
    from hmb_ops.documents.results import Confinement, DataState

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


def users(n: float) -> str:
    """A user count people can read at a glance: 950, 12K, 1.20M."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}K"
    return f"{n:,.0f}"


# -- load results ---------------------------------------------------------------------------------
def generator_text(g: Generator) -> str:
    """The load generator's own cost in words (above ~90 % of a core it, not the server, was measured)."""
    per_request = f", {g.cpu_ms_per_request} ms CPU per request" if g.cpu_ms_per_request is not None else ""
    return (f"{g.processes} process{'es' if g.processes != 1 else ''}, CPU max {num(g.cpu_percent_max)} % "
            f"mean {num(g.cpu_percent_mean)} % of a core{per_request}")


def run_facts(results: Results) -> list[tuple[str, str]]:
    s = results.summary
    facts = [("profile", results.profile), ("tier", results.tier or "–"), ("target", results.target or "–"),
             ("started", results.started_at or "–"), ("duration", f"{num(results.duration_s)} s"),
             ("model", results.model or "closed"), ("requests", num(s.requests)), ("failures", num(s.failures)),
             ("error rate", pct(s.error_rate)), ("throughput", f"{num(s.rps)} req/s")]
    kinds = {k: v for k, v in sorted(s.failures_by_kind.items()) if v}
    if kinds:  # a redirect, 429 or timeout is a different problem from a 500: name them
        facts.insert(8, ("failures by kind", ", ".join(f"{k}={num(v)}" for k, v in kinds.items())))
    if results.offered_rps is not None:
        facts.append(("offered / achieved", f"{num(results.offered_rps)} / {num(results.achieved_rps)} req/s"))
    facts.append(("generator", generator_text(results.generator)))
    facts.append(("valid", "yes" if results.valid else "NO: " + "; ".join(results.invalid_reasons)))
    facts += [(k, v) for k, v in confinement_facts(results.confinement, results.data) if v]
    if results.interrupted:
        facts.append(("interrupted", "yes: partial results"))
    if results.aborted:
        facts.append(("aborted", results.aborted))
    return facts


def confinement_facts(c: Confinement | None, d: DataState | None = None) -> list[tuple[str, str]]:
    """How the app was confined and which data the run started from (docs/confinement.md), in words;
    every warning of an inexact confinement is its own line: it must never go unseen."""
    facts: list[tuple[str, str]] = []
    if c is not None and c.method != "none":
        limits = []
        if c.cpus is not None:
            limits.append(f"{c.cpus:g} CPU" + ("" if c.cpus == 1 else "s"))
        if c.memory_bytes is not None:
            mib = c.memory_bytes / 2 ** 20
            limits.append(f"{mib / 1024:.3g} GiB" if mib >= 1024 else f"{mib:,.0f} MiB")
        where = f", app on CPUs {c.app_cpus}" if c.app_cpus else ""
        if c.other_cpus:
            where += f", PostgreSQL and generator on {c.other_cpus}"
        facts.append(("confinement", f"{c.method}: {' / '.join(limits) or 'no limit'}"
                      + (" (exact)" if c.exact else " (NOT exact)") + where))
        facts += [("confinement warning", w) for w in c.warnings]
        if c.oom_kills:
            facts.append(("killed by memory limit",
                          f"{len(c.oom_kills)}: at " + ", ".join(f"{k.t:g} s" for k in c.oom_kills)))
    if d is not None:
        facts.append(("data", ("WARNING: " if d.changes_user_database else "") + (d.note or "")))
    return facts


def latency_header() -> list[str]:
    return ["p50", "p90", "p95", "p99", "p99.9", "max", "mean"]


def latency_cells(block) -> list[str]:
    """The latency percentiles of a Summary, Endpoint or Step."""
    return [ms(getattr(block.latency_ms, k)) for k in LAT_KEYS]


def summary_row(results: Results) -> list[str]:
    s = results.summary
    return ["TOTAL", num(s.requests), num(s.failures), pct(s.error_rate), num(s.rps), *latency_cells(s)]


# Failure kinds with no latency (hmb_ops/loadtest/results.py UNTIMED_KINDS): never sent, or no answer.
NO_LATENCY_KINDS = ("connection", "missing_variable", "invalid_request")


def endpoint_rows(results: Results) -> list[list[str]]:
    """A row none of whose requests got an answer shows – for latency, not a measured-looking 0.0 ms."""
    rows = []
    for e in results.endpoints:
        untimed = sum(n for kind, n in e.failures_by_kind.items() if kind in NO_LATENCY_KINDS)
        lat = latency_cells(e) if e.requests > untimed else ["–"] * len(LAT_KEYS)
        rows.append([e.name, num(e.requests), num(e.failures), pct(e.error_rate), num(e.rps), *lat])
    return rows


def step_rows(results: Results) -> list[list[str]]:
    rows = []
    for st in results.steps:
        srv, lat = st.server, st.latency_ms
        rows.append([str(st.index), num(st.users), num(st.rps), ms(lat.p50), ms(lat.p95), ms(lat.p99),
                     pct(st.error_rate), num(srv.cpu_percent_per_worker), num(srv.rss_mb_per_worker),
                     num(srv.db_connections)])
    return rows


OPEN_STAGE_HEADER = ["stage", "rate req/s", "scheduled", "sent", "dropped", "late"]


def open_stage_rows(results: Results) -> list[list[str]]:
    """Per stage of a ramping arrival rate: what it scheduled and what became of it ([] for one rate)."""
    om = results.open_model
    if om is None:
        return []
    return [[str(st.index), num(st.rate), num(st.scheduled), num(st.sent), num(st.dropped), num(st.late)]
            for st in om.stages]


FAILING_HEADER = ["request", "requests", "failures", "statuses"]


def failing_rows(results: Results) -> list[list[str]]:
    """The requests that failed most, with their statuses (404 ×120, 3xx ×4, timeout ×2)."""
    from hmb_ops.gates.most_failed import top_failing

    return [[r.name, num(r.requests), num(r.failures), ", ".join(f"{label} ×{n}" for label, n in r.statuses)]
            for r in top_failing(results)]


STEP_HEADER = ["step", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU %/worker",
               "RSS MB/worker", "DB conns"]
ENDPOINT_HEADER = ["endpoint", "requests", "failures", "errors", "req/s"]


def check_rows(verdict) -> list[list[str]]:
    rows: list[list[str]] = []
    if verdict is None:
        return rows
    if verdict.checked and not verdict.valid:
        rows.append(["results valid", "no" if not verdict.allow_invalid else "no (allowed)",
                     "FAIL" if verdict.refused_invalid else "pass"])
    if verdict.aborted:
        rows.append(["abort-on-fail", verdict.aborted, "FAIL"])
    for r in verdict.thresholds:
        from hmb_ops.gates.most_failed import MARK, is_default
        from hmb_ops.gates.thresholds import format_value

        label = f"{r.threshold.name} {MARK}" if is_default(r.threshold) else r.threshold.name
        rows.append([label, format_value(r.threshold.metric, r.actual), "pass" if r.passed else "FAIL"])
    for c in verdict.comparisons:
        bound = f"{'≤' if c.metric != 'rps' else '≥'} {c.limit:g}×"
        shown = f"{c.ratio:.2f}× (allowed {bound})" if c.ratio is not None else "n/a"
        rows.append([c.name, shown, "pass" if c.passed else "FAIL"])
    return rows


# -- capacity -------------------------------------------------------------------------------------
# Short names: the table must fit a 170-column terminal uncut (the lines below it say the rest).
CAPACITY_HEADER = ["tier", "w×t", "sustainable req/s", "knee users", "p95 ms", "CPU %/w", "RSS MB/w", "DB conns",
                   "users", "headroom", "USL peak", "restarts", "valid"]


def capacity_per(doc: CapacityDocument) -> str:
    return "plan" if doc.tiers and all(t.plan for t in doc.tiers) else "tier"


def capacity_header(doc: CapacityDocument) -> list[str]:
    return [capacity_per(doc), *CAPACITY_HEADER[1:]]


def capacity_title(doc: CapacityDocument) -> str:
    per = capacity_per(doc)
    return (f"Capacity per {per} (SLO: {', '.join(doc.slo)}; target {doc.target_users:,} users "
            f"= {doc.target_rps:.1f} req/s at the peak hour)")


def usl_peak(t: CapacityTier) -> str:
    fit = t.usl
    if not fit.ok:
        return "n/a (<6 steps)"
    if fit.quality == "poor":
        return f"poor fit (R² {fit.r_squared:.2f})"
    if fit.n_max is not None and fit.x_max is not None:
        return f"{fit.x_max:.0f} @ {fit.n_max:g}"
    return "no peak in reach"


def capacity_rows(doc: CapacityDocument) -> list[list[str]]:
    rows = []
    for t in doc.tiers:
        # When the SLO held at every step the knee was not reached: the figures are lower bounds.
        at_least = "≥" if t.knee.slo_held_throughout else ""
        rows.append([t.tier, f"{t.workers or '?'}×{t.threads or '?'}", f"{at_least}{t.sustainable_rps:.1f}",
                     f"{t.knee_users:g}" if t.knee_users is not None else "none", ms(t.p95_ms_at_knee),
                     num(t.cpu_percent_per_worker), num(t.rss_mb_per_worker), num(t.db_connections, 0),
                     at_least + users(t.users_supported),
                     f"{at_least}{t.headroom:.2f}×" if t.headroom is not None else "–", usl_peak(t),
                     _restarts_cell(t), "yes" if t.valid else "NO"])
    return rows


def _restarts_cell(t: CapacityTier) -> str:
    """Worker restarts in the run, marked when one fell in the steps that set the knee."""
    if t.worker_restarts is None:
        return "–"
    return f"{t.worker_restarts}" + (" (at knee!)" if t.knee_restart else "")


def capacity_lines(doc: CapacityDocument) -> list[str]:
    """The words under the tier table: how each knee was found, the USL fit, every assumption."""
    lines = []
    for t in doc.tiers:
        lines.append(f"{t.tier}: {t.knee.reason}")
        fit = t.usl
        if fit.ok and fit.sigma is not None and fit.kappa is not None and fit.lambda_ is not None:
            lines.append(f"{t.tier}: USL σ={fit.sigma:.4f} κ={fit.kappa:.6f} λ={fit.lambda_:.2f} req/s per user; "
                         f"{fit.reason}")
        if fit.cross_check:
            lines.append(f"{t.tier}: USL cross-check: {fit.cross_check}")
        if t.confinement_note:
            lines.append(f"{t.tier}: {t.confinement_note}")
        if t.host_bound:
            lines.append(f"{t.tier}: WARNING: {t.host_bound}")
        if t.knee_restart:
            lines.append(f"{t.tier}: WARNING: {t.knee_restart}")
        per_step = [f"{s.users:g} users: {s.worker_restarts}" for s in t.knee.steps if s.worker_restarts]
        if per_step:
            lines.append(f"{t.tier}: worker restarts per step: {', '.join(per_step)}")
        d = t.data_state
        if d:
            if d.get("reset"):
                secs = d.get("reset_seconds")
                lines.append(f"{t.tier}: data reset to the seeded template {d.get('template') or ''} before the run"
                             + (f" ({secs:.1f} s)" if isinstance(secs, (int, float)) else ""))
            elif d.get("note"):
                lines.append(f"{t.tier}: data: {d['note']}")
    return lines


PLAN_HEADER = ["plan", "CPUs", "memory", "$/month", "sustainable req/s", "users supported", "$ per 1K users",
               "meets target", "confinement"]


def _confinement_cell(t: CapacityTier) -> str:
    c = t.confinement
    if not c or c.get("method") in (None, "none"):
        return "none"
    shared = "" if c.get("isolated") else ", CPUs shared with PostgreSQL"
    return f"{c.get('method')}{'' if c.get('exact') else ' (not exact)'}{shared}"


def plan_rows(doc: CapacityDocument) -> list[list[str]]:
    """One row per plan measured with --plans (empty without): price, capacity, cost per 1,000 users."""
    rows = []
    for t in doc.tiers:
        p = t.plan
        if p is None:
            continue
        at_least = "≥" if t.knee.slo_held_throughout else ""
        price = f"{p.price_usd_month:g}" if p.price_usd_month is not None else "–"
        cost = f"{t.cost_per_1000_users:.3f}" if t.cost_per_1000_users is not None else "–"
        meets = "–" if t.meets_target is None else ("yes" if t.meets_target else "no")
        rows.append([p.name + (" ← cheapest" if t.cheapest else ""), f"{p.cpus:g}", f"{p.memory_bytes / 2**20:.0f} MiB",
                     price, f"{at_least}{t.sustainable_rps:.1f}", at_least + users(t.users_supported), cost, meets,
                     _confinement_cell(t)])
    return rows


def plan_lines(doc: CapacityDocument) -> list[str]:
    """Under the plan table: the cheapest plan, where each plan's figures come from."""
    lines = []
    if doc.cheapest_reason:
        lines.append(("cheapest: " if doc.cheapest_plan else "") + doc.cheapest_reason)
    for t in doc.tiers:
        p = t.plan
        if p is None:
            continue
        extra = f"; {p.price_note}" if p.price_note else ""
        extra += f"; database {p.database}: max_connections {p.database_max_connections}" if p.database else ""
        extra += f"; {p.notes}" if p.notes else ""
        lines.append(f"{p.name}: {p.provider}, source {p.source} (checked {p.checked_on}){extra}")
    return lines


def data_lines(doc: CapacityDocument) -> list[str]:
    """The data scale measured against the users claimed, and the requests per user it assumed."""
    m, d = doc.users_model, doc.data
    lines = []
    if m.requests_per_user_hour is not None and m.peak_to_average is not None:
        lines.append(f"users supported assumes {m.requests_per_user_hour:.3g} requests per user per hour (day average) "
                     f"× a peak-to-average factor of {m.peak_to_average:.3g}")
    if d is not None:
        seeded = f" ({d.seeded_users:,} seeded users)" if d.seeded_users else ""
        lines.append(d.message or f"data scale measured: '{d.scale}'{seeded}")
    return lines


def conditions_text(conditions: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in conditions.items() if k != "files")


# -- claims ---------------------------------------------------------------------------------------
CLAIMS_HEADER = ["claim", "seed says", "claimed", "measured", "verdict"]


def claim_verdict(holds: bool | None) -> str:
    return "not measured" if holds is None else ("holds" if holds else "does NOT hold")


def claims_rows(doc: ClaimsDocument) -> list[list[str]]:
    return [[c.name, c.claim, c.claimed, f"{c.measured:.2f}x" if c.measured is not None else "–",
             claim_verdict(c.holds)] for c in doc.claims]


# -- server and database sampled during a run (docs/sampling.md) -----------------------------------
SERVER_HEADER = ["server", "value"]
METRIC_HEADER = ["metric", "type", "min", "mean", "max", "p95"]
STATEMENT_HEADER = ["statement", "calls", "total ms", "mean ms"]


def server_rows(results: Results) -> list[list[str]]:
    """The server block in words: per-worker CPU and RSS, restarts, DB connections, gaps."""
    srv = results.server
    if srv is None or not srv.samples:
        return []
    s = srv.summary
    rows = []
    if srv.pid is not None:
        rows.append(["pid", str(srv.pid)])
    if s.worker_pids_seen or any(smp.workers for smp in srv.samples):
        cpu = f"{num(s.cpu_percent_per_worker_mean)} / {num(s.cpu_percent_p95)} / {num(s.cpu_percent_per_worker_max)}"
        rows += [["workers seen", num(len(s.worker_pids_seen))], ["CPU %/worker mean / p95 / max", cpu],
                 ["RSS MB/worker max", num(s.rss_mb_per_worker_max)],
                 ["worker restarts", num(s.worker_restarts)]]
    if s.db_connections_max is not None or s.db_connections_by_state_max:
        states = ", ".join(f"{k}={v}" for k, v in s.db_connections_by_state_max.items())
        rows.append(["DB connections max", f"{num(s.db_connections_max)}" + (f" ({states})" if states else "")])
        rows.append(["DB lock waits max", num(s.db_lock_waits_max)])
    if s.gap_seconds:
        first = next((g for smp in srv.samples for g in smp.gaps), "")
        rows.append(["gaps", f"{num(s.gap_seconds)} s, e.g. {first}"])
    if srv.statements_note:
        rows.append(["statements", srv.statements_note])
    return rows


def metric_rows(results: Results) -> list[list[str]]:
    srv = results.server
    if srv is None:
        return []
    return [[name, m.type or "–", num(m.min, 4), num(m.mean, 4), num(m.max, 4), num(m.p95, 4)]
            for name, m in srv.metrics.items()]


def statement_rows(results: Results, width: int = 70) -> list[list[str]]:
    srv = results.server
    if srv is None:
        return []
    return [[st.query if len(st.query) <= width else st.query[:width - 1] + "…", num(st.calls),
             num(st.total_ms), num(st.mean_ms, 3)] for st in srv.top_statements]
