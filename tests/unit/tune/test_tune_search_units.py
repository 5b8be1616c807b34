"""tune --search without a server: the grid, the budgets that skip candidates, the choice and the
noise, the chosen plan's budgets."""

from __future__ import annotations

import pytest

from hmb_ops.documents.search import SearchCandidate, SearchMeasurement
from hmb_ops.errors import UsageError
from hmb_ops.tune.api import plan_for
from hmb_ops.tune.search import grid, pick
from hmb_ops.tune.search.plan import with_workers


def test_default_grid_holds_the_formula_and_its_neighbours():
    assert grid.default_grid(2, True, (4, 4)) == [(4, 4), (3, 2), (4, 2), (5, 1), (6, 1)]
    assert grid.default_grid(2, False, (5, 1)) == [(2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]
    assert grid.default_grid(0.5, True, (1, 4))[0] == (1, 4)


@pytest.mark.parametrize("text,threaded,expected", [
    ("3x2,4x4, 5x1", True, [(3, 2), (4, 4), (5, 1)]),
    ("2,3,4", False, [(2, 1), (3, 1), (4, 1)]),
    ("3×2,3x2", True, [(3, 2)]),
])
def test_parse_grid(text, threaded, expected):
    assert grid.parse_grid(text, threaded) == expected


@pytest.mark.parametrize("text,threaded,needle", [
    ("3y2", True, "is not WORKERSxTHREADS"),
    ("0x2", True, "out of range"),
    ("3x2", False, "no threads"),
    (",", True, "at least one"),
    (",".join(f"{i}x1" for i in range(1, 15)), True, "at most"),
])
def test_parse_grid_refuses(text, threaded, needle):
    with pytest.raises(UsageError) as err:
        grid.parse_grid(text, threaded)
    assert needle in str(err.value) and err.value.exit_code == 2


def test_candidates_over_the_connection_or_memory_budget_are_skipped_with_the_reason():
    kw = dict(cpus=2, memory="1GB", max_connections=40, background_workers=2)
    formula = plan_for(**kw)
    f = (formula.values["workers"], formula.values["threads"])

    def plans(t):
        return plan_for(**kw, threads=t)

    cands = grid.candidates([(2, 2), (3, 8), (12, 1)], "gthread", f, plans)
    by = {c.label: c for c in cands}
    assert cands[0].formula and cands[0].label == f"{f[0]}x{f[1]}"
    assert by["2x2"].skipped is None and by["2x2"].pool_max == 3
    assert "database connections" in by["3x8"].skipped and "> budget 32" in by["3x8"].skipped
    big = grid.candidates([(12, 1)], "gthread", f, lambda t: plan_for(cpus=2, memory="1GB", threads=t))
    assert big[-1].label == "12x1" and big[-1].skipped.startswith("memory: master")


def _cand(label, w, t, rounds, formula=False, peaks=None):
    ms = [SearchMeasurement(round=i + 1, sustainable_rps=v, valid=v > 0, peak_rps=(peaks or rounds)[i])
          for i, v in enumerate(rounds)]
    return SearchCandidate(label=label, worker_class="gthread", workers=w, threads=t, formula=formula,
                           measurements=ms)


def test_choice_beats_the_formula_when_the_gap_exceeds_the_noise():
    c = pick.choose([_cand("4x4", 4, 4, [450, 470], formula=True), _cand("5x1", 5, 1, [560, 584]),
                     _cand("3x2", 3, 2, [529])])
    assert c.pick.label == "5x1" and c.formula.label == "4x4"
    assert c.noise == pytest.approx(20 / 460) and c.gap == pytest.approx(572 / 460 - 1)
    assert c.within_noise is False and "beats 4x4" in c.explanation[-1]


def test_choice_within_noise_says_the_formula_is_as_good():
    c = pick.choose([_cand("4x4", 4, 4, [500, 400], formula=True), _cand("3x2", 3, 2, [470, 480])])
    assert c.pick.label == "3x2" and c.within_noise is True and "within noise" in c.explanation[-1]


def test_choice_without_repeats_says_the_noise_is_unknown():
    c = pick.choose([_cand("4x4", 4, 4, [400], formula=True), _cand("3x2", 3, 2, [480])])
    assert c.noise is None and c.within_noise is None and "noise is unknown" in c.explanation[-1]


def test_when_no_candidate_met_the_slo_the_ranking_is_by_peak_and_says_so():
    c = pick.choose([_cand("4x4", 4, 4, [0, 0], formula=True, peaks=[90, 95]), _cand("3x2", 3, 2, [0], peaks=[60])])
    assert c.ranked_by == "peak_rps" and c.pick.label == "4x4"
    assert "met in 0 of 3 runs" in c.explanation[0]


def test_one_lucky_run_at_the_slo_does_not_rank_the_others_at_zero():
    c = pick.choose([_cand("4x4", 4, 4, [0, 0], formula=True, peaks=[80, 83]),
                     _cand("3x2", 3, 2, [170, 0], peaks=[172, 60])])
    assert c.ranked_by == "peak_rps" and c.pick.label == "3x2" and "met in 1 of 4 runs" in c.explanation[0]
    assert c.within_noise is True  # 3x2's own rounds: 172 and 60


def test_the_chosen_plan_carries_the_measured_workers_and_recomputed_budgets():
    plan = plan_for(cpus=2, memory="2GB", max_connections=100)
    chosen = with_workers(plan, 5, "measured by tune --search")
    assert chosen.values["workers"] == 5 and chosen.item("workers").binding == "measurement"
    db = chosen.budgets["db_connections"]
    pool, bg = plan.values["db_pool_max"], plan.values["background_workers"]
    assert db["peak_during_deploy"] == (5 * pool + bg) * 2 and db["per_release"] == 5 * pool + bg
    assert plan.values["workers"] != 5 or plan.budgets == chosen.budgets
