"""PNG charts of the documents (matplotlib, headless Agg backend): load results, capacity, claims."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, ClaimsDocument, Document, Results


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def chart(doc: Document) -> bytes:
    """The PNG that fits the document: results against load or time, capacity per tier, claims."""
    if doc.kind == "capacity":
        return capacity_chart(doc)
    if doc.kind == "claims":
        return claims_chart(doc)
    return results_chart(doc)


def slo_p95_ms(expressions) -> float | None:
    """The p95 latency limit of an SLO (the line the charts draw), or None."""
    from hmb_ops.gates import thresholds as th

    return next((t.limit for t in th.parse_all(expressions) if t.metric == "p95" and t.op in ("<", "<=")
                 and t.endpoint is None), None)


def results_chart(results: Results, *, knee_users: float | None = None, slo_p95_ms: float | None = None) -> bytes:
    """Throughput and p95/p99 against users per step; against time when the run has no steps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax2 = ax.twinx()
    steps = results.steps
    x: list[float]
    # One step (a constant profile) says nothing against load: show the run over time instead.
    if len(steps) >= 2:
        x = [float(s.users) for s in steps]
        ax.plot(x, [s.rps for s in steps], "o-", color="tab:blue", label="throughput (req/s)")
        ax2.plot(x, [s.latency_ms.p95 for s in steps], "s--", color="tab:red", label="p95 (ms)")
        ax2.plot(x, [s.latency_ms.p99 for s in steps], "^:", color="tab:orange", label="p99 (ms)")
        ax.set_xlabel("load (users per step)")
        if knee_users is not None:
            ax.axvline(knee_users, color="tab:green", linewidth=1, label=f"knee ({knee_users:g} users)")
    else:
        ts = results.timeseries
        x = [p.t for p in ts]
        ax.plot(x, [p.rps for p in ts], "-", color="tab:blue", label="throughput (req/s)")
        ax2.plot(x, [p.p95_ms for p in ts], "--", color="tab:red", label="p95 (ms)")
        ax.set_xlabel("time (s)")
    if slo_p95_ms is not None:
        ax2.axhline(slo_p95_ms, color="grey", linewidth=1, linestyle="-.", label=f"SLO p95 {slo_p95_ms:g} ms")
    ax.set_ylabel("requests/s")
    ax2.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    against = "load" if len(steps) >= 2 else "time"
    ax.set_title(f"hmb-ops {results.profile}: throughput and latency vs {against}"
                 + (f" (tier {results.tier})" if results.tier else ""))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def capacity_chart(doc: CapacityDocument) -> bytes:
    """Per tier: throughput vs users (left) and p95 vs users (right), the sustainable point marked."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, tier in enumerate(doc.tiers):
        color = f"C{i}"
        steps = tier.knee.steps
        x = [s.users for s in steps]
        left.plot(x, [s.rps for s in steps], "o-", color=color, label=tier.tier)
        right.plot(x, [s.p95_ms for s in steps], "s-", color=color, label=tier.tier)
        if tier.knee_users is not None:
            # The sustainable point sits where the SLO breaks, which may lie between two steps.
            at = tier.knee.slo_crossing_users or tier.knee_users
            left.plot([at], [tier.sustainable_rps], "*", color=color, markersize=14)
        usl = tier.usl
        if usl.ok and x and usl.lambda_ is not None and usl.sigma is not None and usl.kappa is not None:
            import numpy as np

            grid = np.linspace(min(x), max(x), 60)
            lam, sig, kap = usl.lambda_, usl.sigma, usl.kappa
            left.plot(grid, lam * grid / (1 + sig * (grid - 1) + kap * grid * (grid - 1)), ":", color=color,
                      alpha=0.7)
    p95 = slo_p95_ms(doc.slo)
    if p95 is not None:
        right.axhline(p95, color="grey", linestyle="-.", linewidth=1, label=f"SLO {p95:g} ms")
    left.set_title("throughput (★ sustainable, dotted: USL fit)")
    left.set_xlabel("users")
    left.set_ylabel("requests/s")
    right.set_title("p95 latency")
    right.set_xlabel("users")
    right.set_ylabel("ms")
    for ax in (left, right):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def claims_chart(doc: ClaimsDocument) -> bytes:
    """Claimed (lowest promised factor) vs measured factor per claim, on a log axis."""
    plt = _pyplot()
    names = [c.name for c in doc.claims]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.7 * max(1, len(names))))
    y = list(range(len(names)))
    ax.barh([v + 0.2 for v in y], [c.claimed_low for c in doc.claims], height=0.4, color="tab:grey",
            label="claimed (lowest factor)")
    measured = [c.measured or 0.0 for c in doc.claims]
    colors = ["tab:green" if c.holds else "tab:red" for c in doc.claims]
    ax.barh([v - 0.2 for v in y], measured, height=0.4, color=colors, label="measured")
    for v, c in zip(y, doc.claims, strict=True):
        text = f"{c.measured:.2f}x" if c.measured is not None else "not measured"
        ax.annotate(text, (max(c.measured or 1.0, 1.0), v - 0.2), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xscale("log")
    ax.set_xlabel("factor (×, log scale)")
    ax.set_title("hmb-ops: the seed's claims, claimed vs measured")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)
