"""The pure recommendation: seed tiers, CPU/memory/DB bounds, every value explained."""

from __future__ import annotations

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.resources import Resources
from hmb_ops.tune.plan import AppProfile
from hmb_ops.tune.recommend import recommend
from hmb_ops.tune.tiers import Tier, load_tiers

MiB = 1024 ** 2
GiB = 1024 ** 3


def machine(cpus, memory, somaxconn=4096):
    return Resources(cpus=cpus, cpus_source="test", memory_bytes=memory, memory_source="test",
                     dev_shm=True, somaxconn=somaxconn)


def tier_plan(name, **profile):
    t = load_tiers()[name]
    return recommend(machine(t.cpus, t.memory), AppProfile(**profile), tier=t, tier_name=name)


@pytest.mark.parametrize("name,workers,background", [("small", 2, 2), ("default", 4, 4), ("high", 8, 8)])
def test_seed_tiers(name, workers, background):
    plan = tier_plan(name, worker_memory_bytes=64 * MiB, max_connections=300, max_connections_source="test")
    v = plan.values
    assert (v["workers"], v["threads"], v["background_workers"]) == (workers, 4, background)
    assert v["worker_class"] == "gthread"
    assert plan.item("workers").binding == "tier"
    assert not plan.warnings


def test_every_value_has_formula_and_binding():
    plan = recommend(machine(2, 4 * GiB), AppProfile())
    expected = {"workers", "threads", "worker_class", "timeout", "graceful_timeout", "keepalive", "max_requests",
                "max_requests_jitter", "preload_app", "worker_tmp_dir", "backlog", "db_pool_min", "db_pool_max",
                "background_workers"}
    assert expected <= set(plan.values)
    for item in plan.items:
        assert item.formula and item.binding, item


@pytest.mark.parametrize("cpus,gthread,sync", [(0.5, 1, 2), (1, 2, 3), (1.5, 3, 4), (2, 4, 5), (4, 8, 9)])
def test_cpu_rule_on_fractional_cpus(cpus, gthread, sync):
    profile = AppProfile(max_connections=10000, max_connections_source="t")
    plan = recommend(machine(cpus, 64 * GiB), profile)
    assert plan.values["workers"] == gthread
    assert plan.item("workers").binding == "CPU"
    plan = recommend(machine(cpus, 64 * GiB), AppProfile(max_connections=10000, worker_class="sync"))
    assert plan.values["workers"] == sync
    assert plan.item("workers").formula.startswith("(2 × CPUs) + 1")


def test_big_host_small_memory_is_memory_bound():
    plan = recommend(machine(64, GiB), AppProfile(worker_memory_bytes=200 * MiB, max_connections=10000))
    # (0.9 × 1024 MiB − 48 MiB) ÷ 200 MiB = 4
    assert plan.values["workers"] == 4
    assert plan.item("workers").binding == "memory"
    assert plan.budgets["memory"]["ok"]


def test_memory_too_small_for_one_worker_says_how_much():
    with pytest.raises(UsageError, match=r"too small for even one worker: needs at least 196 MiB"):
        recommend(machine(1, 64 * MiB), AppProfile())


def test_tier_that_overflows_memory_is_capped_and_says_so():
    t = Tier(cpus=2, memory="1GB", workers=8, threads=4, background_workers=2)
    plan = recommend(machine(2, GiB), AppProfile(worker_memory_bytes=200 * MiB), tier=t, tier_name="fat")
    assert plan.values["workers"] == 4
    assert plan.item("workers").binding == "memory"
    assert any("tier fat's 8 workers would need" in w for w in plan.warnings)


def test_db_budget_binds_computed_workers():
    # budget ⌊0.8 × 50⌋ = 40 → 20 per release of which 4 background
    plan = recommend(machine(16, 64 * GiB), AppProfile(max_connections=50, max_connections_source="declared",
                                                      background_workers=4))
    assert plan.values["workers"] == 3  # (20 − 4) ÷ 5
    assert plan.item("workers").binding == "database connections"
    db = plan.budgets["db_connections"]
    assert db["peak_during_deploy"] == (3 * 5 + 4) * 2 <= db["budget"] == 40


def test_db_budget_error_for_fixed_tier_names_numbers_and_fixes():
    t = load_tiers()["high"]
    with pytest.raises(ConfigError) as exc:
        recommend(machine(4, 4 * GiB), AppProfile(max_connections=100, max_connections_source="declared"),
                  tier=t, tier_name="high")
    msg = exc.value.one_line()
    assert "(8 workers × pool max 5 + 8 background) × 2 during deploys = 96 > 0.8 × max_connections 100 = 80" in msg
    assert "--pool-max" in msg and "PgBouncer" in msg and "fewer workers" in msg


def test_db_budget_unknown_only_warns_for_tier():
    plan = tier_plan("high")
    assert plan.values["workers"] == 8
    assert any("PostgreSQL's default max_connections" in w for w in plan.warnings)
    assert not plan.budgets["db_connections"]["ok"]


def test_db_budget_no_room_for_one_worker():
    with pytest.raises(ConfigError, match="over budget"):
        recommend(machine(2, 4 * GiB), AppProfile(max_connections=10, max_connections_source="declared"))


def test_sync_worker_has_one_thread_and_small_pool():
    plan = recommend(machine(2, 4 * GiB), AppProfile(worker_class="sync"))
    assert plan.values["threads"] == 1
    assert plan.values["db_pool_max"] == 2


def test_pool_min_above_max_is_rejected():
    with pytest.raises(UsageError, match="pool min 6 is larger than pool max 3"):
        recommend(machine(2, 4 * GiB), AppProfile(pool_min=6, pool_max=3))


def test_preload_follows_app_profile():
    assert recommend(machine(2, 4 * GiB), AppProfile()).values["preload_app"] is False
    assert recommend(machine(2, 4 * GiB), AppProfile(opens_db_at_import=True)).values["preload_app"] is False
    assert recommend(machine(2, 4 * GiB), AppProfile(opens_db_at_import=False)).values["preload_app"] is True


def test_backlog_capped_by_somaxconn_and_tmp_dir():
    plan = recommend(machine(2, 4 * GiB, somaxconn=128), AppProfile())
    assert plan.values["backlog"] == 128
    assert plan.item("backlog").binding == "platform"
    assert plan.values["worker_tmp_dir"] == "/dev/shm"


def test_pure_same_inputs_same_plan():
    a = recommend(machine(3, 3 * GiB), AppProfile())
    b = recommend(machine(3, 3 * GiB), AppProfile())
    assert a.to_dict() == b.to_dict()
