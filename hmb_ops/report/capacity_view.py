"""Human view of a capacity report (tier table, assumptions) and of the measured claims."""

from __future__ import annotations

import io

from . import fmt


def _text(c) -> str:
    return "\n".join(line.rstrip() for line in c.export_text().splitlines()) + "\n"


def _console(width: int = 170):
    from rich.console import Console

    return Console(record=True, width=width, file=io.StringIO(), color_system=None, highlight=False)


def _table(title, header, rows):
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left")
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        t.add_row(*["–" if v is None else str(v) for v in r])
    return t


def _users(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}K"
    return f"{n:,.0f}"


def render_capacity(report) -> str:
    c = _console()
    rows = []
    for t in report.tiers:
        k = t.knee.step
        fit = t.fit
        if not fit.ok:
            cross = "n/a (<6 steps)"
        elif fit.quality == "poor":
            cross = f"poor fit (R² {fit.r_squared:.2f})"
        elif fit.n_max is not None and fit.x_max is not None:
            cross = f"{fit.x_max:.0f} @ {fit.n_max:g}"
        else:
            cross = "no peak in reach"
        head = t.users.headroom
        # When the SLO held at every step the knee was not reached: the figures are lower bounds.
        at_least = "≥" if t.knee.slo_held_throughout else ""
        rows.append([t.tier, f"{t.workers or '?'}×{t.threads or '?'}", f"{at_least}{t.sustainable_rps:.1f}",
                     f"{k.users:g}" if k else "none", fmt.ms(k.p95_ms) if k else "–",
                     fmt.num(t.at_knee.get("cpu_percent_per_worker")), fmt.num(t.at_knee.get("rss_mb_per_worker")),
                     fmt.num(t.at_knee.get("db_connections"), 0),
                     at_least + _users(t.users.registered_users),
                     f"{at_least}{head:.2f}×" if head is not None else "–", cross, "yes" if t.valid else "NO"])
    c.print(_table(f"Capacity per tier (SLO: {', '.join(report.slo)}; target {report.target_users:,} users "
                   f"= {report.target_rps:.1f} req/s at the peak hour)",
                   ["tier", "w×t", "sustainable req/s", "knee users", "p95 ms", "CPU %/worker",
                    "RSS MB/worker", "DB conns", "users supported", "headroom", "USL peak (req/s @ users)",
                    "valid"], rows))
    for t in report.tiers:
        c.print(f"{t.tier}: {t.knee.reason}", markup=False)
        if t.fit.ok:
            c.print(f"{t.tier}: USL σ={t.fit.sigma:.4f} κ={t.fit.kappa:.6f} λ={t.fit.lambda_:.2f} req/s per user; "
                    f"{t.fit.reason}", markup=False)
    c.print("Users model (every assumption):", markup=False)
    for a in report.assumptions:
        c.print(f"  - {a}", markup=False)
    for n in report.notes:
        c.print(f"note: {n}", markup=False)
    conds = report.conditions
    c.print("Conditions: " + ", ".join(f"{k}={v}" for k, v in conds.items() if k != "files"), markup=False)
    if report.chart:
        c.print(f"chart: {report.chart}", markup=False)
    if report.out_dir:
        c.print(f"report: {report.out_dir}/capacity.json", markup=False)
    return _text(c)


def render_claims(report) -> str:
    c = _console()
    rows = []
    for cl in report.claims:
        verdict = "not measured" if cl.holds is None else ("holds" if cl.holds else "does NOT hold")
        rows.append([cl.name, cl.claim, cl.claimed, f"{cl.measured:.2f}x" if cl.measured is not None else "–", verdict])
    c.print(_table("The seed's claims, measured", ["claim", "seed says", "claimed", "measured", "verdict"], rows))
    for cl in report.claims:
        c.print(f"{cl.name}: {cl.detail}", markup=False)
        c.print(f"  conditions: " + ", ".join(f"{k}={v}" for k, v in cl.conditions.items()), markup=False)
    c.print("Machine: " + ", ".join(f"{k}={v}" for k, v in report.conditions.items()), markup=False)
    for n in report.notes:
        c.print(f"note: {n}", markup=False)
    c.print(f"runs: {report.out_dir}", markup=False)
    return _text(c)
