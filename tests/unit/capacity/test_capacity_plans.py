"""capacity with hosting plans: cost per 1,000 users, the cheapest plan meeting the target, the users
model's stated assumptions, the data-scale warning, the USL cross-check gate, and every rendering."""

from __future__ import annotations

import json

import pytest

from hmb_ops.capacity import knee as kn, usl
from hmb_ops.capacity.data_scale import data_scale
from hmb_ops.capacity.plan_cost import cost_per_1000, plan_info
from hmb_ops.capacity.runner import analyse, confinement_of, finish
from hmb_ops.capacity.service import with_overrides
from hmb_ops.capacity.users import UsersModel, required_rps, users_supported
from hmb_ops.errors import UsageError
from hmb_ops.plans import load_plans

SLO = kn.slo_for_steps(("p95<100ms",))


def _scaled(results, factor: float):
    """The same run with every step's throughput scaled (a slower or faster machine)."""
    steps = [s.model_copy(update={"rps": s.rps * factor}) for s in results.steps]
    return results.model_copy(update={"steps": steps})


def _doc(step_results, tmp_path, plans=("render-starter", "render-standard", "render-pro"),
         factors=(0.3, 1.0, 2.0), target=100_000, seed_scale="small"):
    from dataclasses import replace

    catalog = load_plans()
    model = UsersModel()
    caps = [replace(analyse(_scaled(step_results, f), SLO, model, tier=p), plan=plan_info(p, catalog))
            for p, f in zip(plans, factors, strict=True)]
    return finish(caps, SLO, model, target, tmp_path, {"profile": "step"}, seed_scale=seed_scale)


def test_users_model_short_form_matches_the_session_chain():
    m = UsersModel()
    assert m.user_hour_rate == pytest.approx(1.5) and m.peak_factor == pytest.approx(2.4)
    assert required_rps(m, 100_000) == pytest.approx(100.0)
    assert users_supported(m, 100.0).registered_users == pytest.approx(100_000)
    short = with_overrides(m, 3.0, 3.0)
    assert required_rps(short, 100_000) == pytest.approx(100_000 * 3 * 3 / 3600)
    words = users_supported(short, 10.0).assumptions()
    assert any("3 (averaged over a day)" in w for w in words) and any("3× (stated)" in w for w in words)
    with pytest.raises(UsageError, match="--peak-factor"):
        with_overrides(m, None, 0.5)
    with pytest.raises(UsageError, match="--requests-per-user-hour"):
        with_overrides(m, -1.0, None)


def test_cost_per_1000_users_and_the_cheapest_plan_meeting_the_target(step_results, tmp_path):
    doc = _doc(step_results, tmp_path)
    rows = {t.tier: t for t in doc.tiers}
    starter, standard, pro = rows["render-starter"], rows["render-standard"], rows["render-pro"]
    # 0.3× the throughput cannot serve the 100 req/s the target needs; the others can.
    assert starter.meets_target is False and standard.meets_target and pro.meets_target
    assert doc.cheapest_plan == "render-standard" and standard.cheapest and not pro.cheapest
    assert standard.cost_per_1000_users == pytest.approx(25 / (standard.users_supported / 1000))
    assert starter.plan.price_usd_month == 7 and starter.plan.database_max_connections == 100
    assert "cheapest plan" in doc.cheapest_reason
    saved = json.loads((tmp_path / "capacity.json").read_text())
    assert saved["cheapest_plan"] == "render-standard"
    assert saved["tiers"][1]["plan"]["checked_on"] == "2026-05-04"
    assert saved["users_model"]["requests_per_user_hour"] == pytest.approx(1.5)


def test_no_plan_meets_the_target(step_results, tmp_path):
    doc = _doc(step_results, tmp_path, target=10_000_000)
    assert doc.cheapest_plan is None and "no plan meets the target" in doc.cheapest_reason
    assert not any(t.cheapest for t in doc.tiers)


def test_an_unpriced_plan_is_never_the_cheapest(step_results, tmp_path):
    doc = _doc(step_results, tmp_path, plans=("seed-small", "render-pro"), factors=(1.0, 1.0))
    seed = next(t for t in doc.tiers if t.tier == "seed-small")
    assert seed.cost_per_1000_users is None and seed.meets_target
    assert doc.cheapest_plan == "render-pro"
    assert cost_per_1000(None, 5000) is None and cost_per_1000(10.0, 0) is None


def test_data_scale_far_below_the_claim_offers_the_larger_scale():
    d = data_scale("small", 331_000)
    assert d.far_below and d.seeded_users == 1000 and d.larger_scale == "medium"
    assert "hmb-ops db seed --scale medium" in d.message and "--seed-scale medium" in d.message
    assert not data_scale("small", 9_000).far_below
    assert data_scale(None, 5000).scale == "unknown"


def test_usl_cross_check_only_on_a_good_fit():
    users = [1, 2, 3, 4, 6, 8, 12, 16]
    lam, sigma, kappa = 50.0, 0.05, 0.002
    rps = [lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1)) for n in users]
    good = usl.fit(users, rps)
    assert good.quality == "good"
    check = usl.cross_check(good, 8, rps[5])
    assert check.used and check.predicted_rps == pytest.approx(rps[5], rel=0.02) and "agrees" in check.text
    flat = usl.fit(users, [100, 40, 130, 60, 120, 50, 110, 70])
    assert flat.quality != "good"
    off = usl.cross_check(flat, 8, 100.0)
    assert not off.used and f"below {usl.GOOD_FIT_R2}" in off.text


def test_confinement_record_and_its_absence(step_results):
    rec, note = confinement_of(step_results)
    assert rec is None and note.startswith("not confined")

    from types import SimpleNamespace

    confined = SimpleNamespace(confinement={"method": "cgroup-v1", "cpus": 1.0, "memory_bytes": 2**31,
                                            "exact": True, "warnings": []})
    rec, note = confinement_of(confined)  # type: ignore[arg-type]
    assert rec["method"] == "cgroup-v1" and note == "confined by cgroup-v1 to 1 CPU, 2048 MiB"
    # a plan larger than this host: measured anyway, never silently
    big = SimpleNamespace(confinement={"method": "cgroup-v1", "cpus": 2.0, "memory_bytes": 2**33, "exact": False,
                                       "warnings": ["the plan asks for 8 CPUs but this host has 2"],
                                       "oom_kills": [{"at": "2026-12-01T10:00:05Z", "t": 5.2, "count": 1}]})
    _rec, note = confinement_of(big)  # type: ignore[arg-type]
    assert "NOT exact: the plan asks for 8 CPUs but this host has 2" in note
    assert "1 app process(es) killed by the memory limit, the first at 5 s" in note


@pytest.mark.parametrize("fmt_name", ["console", "markdown", "html"])
def test_every_rendering_shows_plans_cost_and_assumptions(step_results, tmp_path, fmt_name):
    from hmb_ops.report import render

    doc = _doc(step_results, tmp_path)
    text = render(fmt_name, doc)
    for needle in ("render-standard", "cheapest", "per 1K users", "requests per user per hour",
                   "hmb-ops db seed --scale medium", "cross-check"):
        assert needle in text, (fmt_name, needle)
