"""The connection budget rule (hmb_ops/tune/budget.py) that `tune` plans with and `tune check` checks."""

from __future__ import annotations

import pytest

from hmb_ops.resources import Resources
from hmb_ops.tune.budget import connection_budget
from hmb_ops.tune.plan import AppProfile
from hmb_ops.tune.recommend import recommend

GiB = 1024 ** 3


def test_budget_is_four_fifths_and_unknown_is_postgres_default():
    assert connection_budget(None).max_connections == 100 and connection_budget(None).budget == 80
    assert connection_budget(41).budget == 32  # ⌊0.8 × 41⌋


@pytest.mark.parametrize("max_conn", [20, 41, 97, 100, 333])
@pytest.mark.parametrize("pool,background", [(1, 0), (5, 4), (9, 2)])
def test_max_workers_is_exactly_the_last_that_fits(max_conn, pool, background):
    b = connection_budget(max_conn)
    most = b.max_workers(pool, background)
    if most >= 1:
        assert b.fits(most, pool, background)
    assert not b.fits(most + 1, pool, background)
    assert b.peak(most + 1, pool, background) == (((most + 1) * pool + background) * 2)


def test_recommend_plans_with_the_same_rule():
    plan = recommend(Resources(cpus=64, cpus_source="t", memory_bytes=256 * GiB, memory_source="t", dev_shm=True,
                               somaxconn=4096),
                     AppProfile(max_connections=97, max_connections_source="declared", background_workers=3))
    db = plan.budgets["db_connections"]
    b = connection_budget(97)
    pool = plan.values["db_pool_max"]
    assert plan.values["workers"] == b.max_workers(pool, 3) == db["max_workers"]
    assert db["budget"] == b.budget and db["peak_during_deploy"] == b.peak(plan.values["workers"], pool, 3)
