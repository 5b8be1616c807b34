"""PNG charts of latency and throughput against load (matplotlib, headless Agg backend)."""

from __future__ import annotations

import io
from typing import Iterable


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


def results_chart(results: dict, *, knee_users: float | None = None, slo_p95_ms: float | None = None) -> bytes:
    """Throughput and p95/p99 against users per step; against time when the run has no steps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax2 = ax.twinx()
    steps = results.get("steps") or []
    # One step (a constant profile) says nothing against load: show the run over time instead.
    if len(steps) >= 2:
        x = [s.get("users") for s in steps]
        ax.plot(x, [s.get("rps") for s in steps], "o-", color="tab:blue", label="throughput (req/s)")
        ax2.plot(x, [(s.get("latency_ms") or {}).get("p95") for s in steps], "s--", color="tab:red", label="p95 (ms)")
        ax2.plot(x, [(s.get("latency_ms") or {}).get("p99") for s in steps], "^:", color="tab:orange", label="p99 (ms)")
        ax.set_xlabel("load (users per step)")
        if knee_users is not None:
            ax.axvline(knee_users, color="tab:green", linewidth=1, label=f"knee ({knee_users:g} users)")
    else:
        ts = results.get("timeseries") or []
        x = [p.get("t") for p in ts]
        ax.plot(x, [p.get("rps") for p in ts], "-", color="tab:blue", label="throughput (req/s)")
        ax2.plot(x, [p.get("p95_ms") for p in ts], "--", color="tab:red", label="p95 (ms)")
        ax.set_xlabel("time (s)")
    if slo_p95_ms is not None:
        ax2.axhline(slo_p95_ms, color="grey", linewidth=1, linestyle="-.", label=f"SLO p95 {slo_p95_ms:g} ms")
    ax.set_ylabel("requests/s")
    ax2.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    against = "load" if len(steps) >= 2 else "time"
    ax.set_title(f"hmb-ops {results.get('profile')}: throughput and latency vs {against}"
                 + (f" (tier {results['tier']})" if results.get("tier") else ""))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def capacity_chart(tiers: Iterable[dict], *, slo_p95_ms: float | None = None) -> bytes:
    """Per tier: throughput vs users (left) and p95 vs users (right), the knee marked."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, tier in enumerate(tiers):
        color = f"C{i}"
        steps = tier.get("steps") or []
        x = [s.get("users") for s in steps]
        left.plot(x, [s.get("rps") for s in steps], "o-", color=color, label=tier["tier"])
        right.plot(x, [(s.get("latency_ms") or {}).get("p95") for s in steps], "s-", color=color, label=tier["tier"])
        if tier.get("knee_users") is not None:
            # The sustainable point sits where the SLO breaks, which may lie between two steps.
            at = tier.get("sustainable_users") or tier["knee_users"]
            left.plot([at], [tier["knee_rps"]], "*", color=color, markersize=14)
        usl = tier.get("usl") or {}
        if usl.get("ok") and x:
            import numpy as np

            grid = np.linspace(min(x), max(x), 60)
            lam, sig, kap = usl["lambda"], usl["sigma"], usl["kappa"]
            left.plot(grid, lam * grid / (1 + sig * (grid - 1) + kap * grid * (grid - 1)), ":", color=color,
                      alpha=0.7)
    if slo_p95_ms is not None:
        right.axhline(slo_p95_ms, color="grey", linestyle="-.", linewidth=1, label=f"SLO {slo_p95_ms:g} ms")
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
