"""Deciding the app's confinement before anything starts: what is exact, what is warned, what is
refused (no cgroups needed: the method and the host's CPUs are given)."""

from __future__ import annotations

import pytest

from hmb_ops.errors import EnvironmentUnusable, ExitStatus, UsageError
from hmb_ops.stack.confinement import Confined, check_memory, plan_confinement

GiB = 1024 ** 3


def test_one_cpu_on_two_is_exact_and_leaves_a_cpu_to_postgres_and_the_generator():
    plan = plan_confinement(1, GiB, method="affinity", host_cpus=[0, 1])
    assert (plan.app_cpus, plan.other_cpus) == ([0], [1])
    rec = plan.record()
    assert rec["isolated"] is True and rec["host_cpus"] == 2
    # affinity cannot limit memory: said, and not exact
    assert rec["exact"] is False and rec["memory_bytes"] is None
    assert any("memory was not limited" in w for w in rec["warnings"])


def test_more_cpus_than_the_host_is_measured_with_a_warning_never_silently():
    plan = plan_confinement(4, None, method="affinity", host_cpus=[0, 1])
    assert plan.exact is False and plan.cpus == 2 and plan.requested_cpus == 4
    assert "asks for 4 CPUs but this host has 2" in plan.warnings[0]
    assert any("no CPU to spare" in w for w in plan.warnings)


def test_require_confinement_turns_the_impossible_tier_into_exit_3():
    with pytest.raises(EnvironmentUnusable) as err:
        plan_confinement(4, None, method="affinity", host_cpus=[0, 1], require=True)
    assert err.value.exit_code == ExitStatus.ENVIRONMENT
    assert "asks for 4 CPUs" in err.value.message and "--require-confinement" in (err.value.hint or "")


def test_half_a_cpu_without_cgroups_is_a_whole_pinned_cpu_and_says_so():
    plan = plan_confinement(0.5, None, method="affinity", host_cpus=[0, 1, 2, 3])
    assert plan.app_cpus == [0] and plan.other_cpus == [1, 2, 3] and not plan.exact
    assert "needs a CPU quota" in plan.warnings[0]


def test_all_host_cpus_is_exact_but_warns_that_nothing_is_spare():
    plan = plan_confinement(2, None, method="affinity", host_cpus=[0, 1])
    assert plan.exact and plan.other_cpus is None
    assert plan.warnings and "share the app's CPUs" in plan.warnings[0]


def test_no_limit_asked_is_method_none_and_changes_nothing():
    plan = plan_confinement(None, None)
    assert plan.method == "none" and plan.exact and not plan.warnings
    with Confined(plan) as box:
        assert box.wrap(["gunicorn", "app"]) == ["gunicorn", "app"]
    assert box.record()["method"] == "none"


def test_affinity_wraps_the_command_so_it_pins_itself_before_exec():
    plan = plan_confinement(1, None, method="affinity", host_cpus=[0, 1])
    box = Confined(plan)
    cmd = box.wrap(["/usr/bin/python3", "-m", "gunicorn"])
    assert cmd[1:3] == ["-m", "hmb_ops.stack.confinement.enter"]
    assert cmd[cmd.index("--cpus") + 1] == "0" and cmd[-3:] == ["/usr/bin/python3", "-m", "gunicorn"]


def test_a_memory_limit_below_one_worker_and_the_master_is_exit_2():
    with pytest.raises(UsageError) as err:
        check_memory(64 * 2 ** 20, 60 * 2 ** 20, 30 * 2 ** 20, "measured")
    assert err.value.exit_code == ExitStatus.BAD_INPUT
    assert "below what one worker and the master take" in err.value.message
    check_memory(GiB, 60 * 2 ** 20, 30 * 2 ** 20, "measured")  # enough: no error


def test_the_report_shows_the_confinement_its_warnings_and_the_kills():
    from hmb_ops.documents.results import Confinement, DataState
    from hmb_ops.report.fmt import confinement_facts

    rec = plan_confinement(4, GiB, method="affinity", host_cpus=[0, 1]).record()
    rec["memory_bytes"] = GiB  # as a cgroup method would have applied it
    rec["oom_kills"] = [{"at": "2026-12-01T10:00:00+00:00", "t": 12.5, "count": 1}]
    conf = Confinement.model_validate(rec)
    data = DataState(reset=False, changes_user_database=True, note="this run writes to your database")
    facts = confinement_facts(conf, data)
    by = dict(facts)
    assert by["confinement"].startswith("affinity: 2 CPUs / 1 GiB (NOT exact)")
    assert "asks for 4 CPUs" in next(v for k, v in facts if k == "confinement warning")
    assert by["killed by memory limit"] == "1: at 12.5 s"
    assert by["data"].startswith("WARNING: this run writes to your database")
    assert confinement_facts(None, None) == []
