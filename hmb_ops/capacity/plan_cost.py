"""Plans priced: cost per 1,000 users supported, and the cheapest plan that meets the target.

A plan "meets the target" when its sustainable throughput (the SLO held there, errors under the
limit, the run valid) reaches the req/s the users model needs for the target users at the peak
hour. Among those the lowest monthly price wins; a plan without a price (self-hosted, or a price
not in the catalog's sources) is never the cheapest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityTier
    from hmb_ops.plans import Plan


def plan_info(name: str, catalog: dict[str, Plan]) -> dict:
    """The fields of documents.capacity.PlanInfo for a web plan of the catalog."""
    plan = catalog[name]
    db = catalog.get(plan.database) if plan.database else None
    return {"name": name, "provider": plan.provider, "cpus": plan.cpus, "memory_bytes": plan.memory,
            "price_usd_month": plan.price_usd_month, "price_note": plan.price_note, "database": plan.database,
            "database_max_connections": db.max_connections if db else None, "source": plan.source,
            "checked_on": plan.checked_on.isoformat(), "notes": plan.notes}


def cost_per_1000(price: float | None, users: int) -> float | None:
    if price is None or users <= 0:
        return None
    return price / (users / 1000)


def price_plans(rows: list[CapacityTier], target_rps: float) -> tuple[list[CapacityTier], str | None, str | None]:
    """(rows with cost and meets_target set, the cheapest plan's name, why) — None, None without plans."""
    if not any(r.plan for r in rows):
        return rows, None, None
    priced = []
    for r in rows:
        if r.plan is None:
            priced.append(r)
            continue
        meets = (r.valid and r.knee.step_index is not None and r.sustainable_rps >= target_rps)
        priced.append(r.model_copy(update={"meets_target": meets,
                                           "cost_per_1000_users": cost_per_1000(r.plan.price_usd_month,
                                                                                r.users_supported)}))
    fits = [r for r in priced if r.plan and r.meets_target and r.plan.price_usd_month is not None]
    if not fits:
        best = max((r for r in priced if r.plan), key=lambda r: r.sustainable_rps)
        why = (f"no plan meets the target ({target_rps:.1f} req/s at the peak hour within the SLO); the most: "
               f"{best.tier} at {best.sustainable_rps:.1f} req/s" + _too_close(best, priced) + _bound_warning(best))
        return priced, None, why
    win = min(fits, key=lambda r: (r.plan.price_usd_month if r.plan else 0.0, r.cost_per_1000_users or 0.0))
    assert win.plan is not None
    why = (f"{win.tier} (${win.plan.price_usd_month:g}/month) is the cheapest plan that serves the target's "
           f"{target_rps:.1f} req/s within the SLO ({win.sustainable_rps:.1f} req/s sustainable)"
           + _bound_warning(win))
    return [r.model_copy(update={"cheapest": True}) if r is win else r for r in priced], win.tier, why


# One run per plan on a shared machine: repeated runs of one plan spread up to 1.3-1.5x (docs/capacity.md,
# Benches), so plans this close are not told apart.
CLOSE_SHARE = 0.25


def _too_close(best: CapacityTier, rows: list[CapacityTier]) -> str:
    """Plans within CLOSE_SHARE of the best: naming one 'the most' would be noise."""
    close = [r for r in rows if r.plan and r is not best and best.sustainable_rps > 0
             and r.sustainable_rps >= best.sustainable_rps * (1 - CLOSE_SHARE)]
    if not close:
        return ""
    return (f" ({', '.join(f'{r.tier} {r.sustainable_rps:.1f}' for r in close)} within {CLOSE_SHARE:.0%}: one run "
            "per plan does not tell them apart on a shared machine; see docs/capacity.md, Benches)")


def _bound_warning(row: CapacityTier) -> str:
    """A plan named on figures the host bounded carries that warning wherever it is named."""
    return f" — WARNING: {row.host_bound}" if row.host_bound else ""
