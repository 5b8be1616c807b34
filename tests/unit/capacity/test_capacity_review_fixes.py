"""Issue 14, new-user review: steps that measured nothing, plans bounded by the host, worker restarts,
--require-confinement on a host with no CPU to spare, the plans JUnit, --results' recorded seed scale."""

from __future__ import annotations

import pytest

from hmb_ops.capacity import knee as kn
from hmb_ops.capacity.runner import analyse, finish
from hmb_ops.capacity.service import nothing_measured
from hmb_ops.capacity.users import UsersModel

SLO = kn.slo_for_steps(("p95<100ms",))


def _silent(results):
    """The same run with no request completed in any step (a stuck generator, a scenario that cannot run)."""
    steps = [s.model_copy(update={"requests": 0, "failures": 0, "error_rate": 0.0, "rps": 0.0,
                                  "latency_ms": s.latency_ms.model_copy(update={"p95": 0.0, "p50": 0.0})})
             for s in results.steps]
    return results.model_copy(update={"steps": steps, "valid": False,
                                      "invalid_reasons": ["no request completed"]})


def test_steps_without_answers_never_meet_the_slo(step_results, tmp_path):
    cap = analyse(_silent(step_results), SLO, UsersModel(), tier="small")
    assert cap.knee.step is None and cap.sustainable_rps == 0.0
    assert "no step recorded a completed request" in cap.knee.reason
    assert "SLO held" not in cap.knee.reason and all(not s.passed for s in cap.knee.steps)
    doc = finish([cap], SLO, UsersModel(), None, tmp_path, {"profile": "step"})
    assert "tier small: no step recorded a completed request" in nothing_measured(doc)


def test_one_silent_step_fails_but_the_others_still_count(step_results):
    steps = list(step_results.steps)
    steps[0] = steps[0].model_copy(update={"requests": 0, "rps": 0.0})
    cap = analyse(step_results.model_copy(update={"steps": steps}), SLO, UsersModel(), tier="small")
    assert not cap.knee.steps[0].passed and kn.NO_ANSWER in cap.knee.steps[0].breaches
    assert cap.knee.step is not None and cap.sustainable_rps > 0


def test_a_measured_run_is_not_flagged(step_results, tmp_path):
    doc = finish([analyse(step_results, SLO, UsersModel(), tier="small")], SLO, UsersModel(), None, tmp_path,
                 {"profile": "step"})
    assert nothing_measured(doc) is None


def _confined(results, cpus: float, throttled: int = 0, exits_at: tuple[float, ...] = ()):
    """The run as confined to `cpus` (cgroup, exact), with worker exits seen at the given run seconds."""
    d = results.model_dump(mode="json", by_alias=True)
    d["confinement"] = {"method": "cgroup-v1", "cpus": cpus, "memory_bytes": 2**30, "exact": True,
                        "throttling": {"nr_periods": 1200, "throttled_periods": throttled, "throttled_s": 0.0}}
    d["server"]["samples"] = [{"t": float(t), "worker_exits": 1 if t in exits_at else 0} for t in range(180)]
    d["server"]["summary"]["worker_restarts"] = len(exits_at)
    return type(results).model_validate(d)


def test_a_plan_whose_app_never_reached_its_cpus_is_flagged_host_bound(step_results, tmp_path):
    # 4 workers at most 87.6 % each = 350 % of one CPU: 44 % of 8 CPUs, never throttled.
    cap = analyse(_confined(step_results, 8), SLO, UsersModel(), tier="big")
    assert cap.host_bound and "at most 350 % of its 8 CPUs" in cap.host_bound and "not the plan" in cap.host_bound
    assert analyse(_confined(step_results, 4), SLO, UsersModel(), tier="fits").host_bound is None
    assert analyse(_confined(step_results, 8, throttled=30), SLO, UsersModel(), tier="t").host_bound is None
    assert analyse(step_results, SLO, UsersModel(), tier="unconfined").host_bound is None


def test_the_cheapest_plan_on_host_bound_figures_carries_the_warning(step_results, tmp_path):
    from dataclasses import replace

    from hmb_ops.capacity.plan_cost import plan_info
    from hmb_ops.plans import load_plans
    from hmb_ops.report import render

    cap = replace(analyse(_confined(step_results, 8), SLO, UsersModel(), tier="render-pro"),
                  plan=plan_info("render-pro", load_plans()))
    doc = finish([cap], SLO, UsersModel(), 1000, tmp_path, {"profile": "step"})
    assert doc.cheapest_plan == "render-pro" and "WARNING: the app used at most" in doc.cheapest_reason
    row = doc.tiers[0]
    assert row.host_bound and row.app_cpu_percent_max == pytest.approx(350.4)
    for fmt_name in ("console", "markdown", "html"):
        assert "bounded by the host" in render(fmt_name, doc), fmt_name


def test_worker_restarts_per_step_and_a_restart_at_the_knee(step_results, tmp_path):
    from hmb_ops.report import render

    # The knee is the 80-users step (105-125 s); the 100-users step (130-150 s) broke the SLO.
    cap = analyse(_confined(step_results, 4, exits_at=(20.0, 110.0, 140.0)), SLO, UsersModel(), tier="small")
    assert cap.worker_restarts == 3 and cap.restarts == {0: 1, 1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 0}
    assert "80 users (1), 100 users (1)" in cap.knee_restart()
    doc = finish([cap], SLO, UsersModel(), None, tmp_path, {"profile": "step"})
    row = doc.tiers[0]
    assert row.worker_restarts == 3 and row.knee_restart
    assert [s.worker_restarts for s in row.knee.steps] == [1, 0, 0, 0, 1, 1, 0]
    text = render("console", doc)
    assert "restarts" in text and "3 (at knee!)" in text and "worker restarts per step: 10 users: 1" in text
    quiet = analyse(_confined(step_results, 4, exits_at=(20.0,)), SLO, UsersModel(), tier="small")
    assert quiet.knee_restart() is None and quiet.worker_restarts == 1


def test_require_confinement_refuses_a_plan_with_no_cpu_to_spare_before_any_run():
    import os

    from hmb_ops.capacity.runner import _check_limits
    from hmb_ops.errors import EnvironmentUnusable

    every = float(len(os.sched_getaffinity(0)))  # a plan as big as this host leaves nothing for PostgreSQL
    with pytest.raises(EnvironmentUnusable, match="leave no CPU") as exc:
        _check_limits({"as-big-as-host": (every, None)}, require=True)
    assert exc.value.exit_code == 3 and exc.value.message.startswith("as-big-as-host: ")
    _check_limits({"as-big-as-host": (every, None)}, require=False)  # without the flag: measured, with a warning


def test_plans_junit_fails_a_plan_that_does_not_meet_the_target(step_results, tmp_path):
    import xml.etree.ElementTree as ET
    from dataclasses import replace

    from hmb_ops.capacity.plan_cost import plan_info
    from hmb_ops.plans import load_plans
    from hmb_ops.report import render

    catalog = load_plans()
    caps = [replace(analyse(step_results, SLO, UsersModel(), tier=p), plan=plan_info(p, catalog))
            for p in ("heroku-basic", "render-standard")]
    # 184 req/s sustainable; 200,000 users need 200 req/s at the peak hour: neither plan is enough.
    short = ET.fromstring(render("junit", finish(caps, SLO, UsersModel(), 200_000, tmp_path, {"profile": "step"})))
    cases = short.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["plan heroku-basic", "plan render-standard"]
    assert short.get("failures") == "2" and "does not meet the target" in cases[0].find("failure").get("message")
    enough = ET.fromstring(render("junit", finish(caps, SLO, UsersModel(), 100_000, tmp_path, {"profile": "step"})))
    assert enough.get("failures") == "0"
    tiers = ET.fromstring(render("junit", finish([analyse(step_results, SLO, UsersModel(), tier="small")], SLO,
                                                 UsersModel(), 200_000, tmp_path, {"profile": "step"})))
    assert tiers.find(".//testcase").get("name") == "tier small" and tiers.get("failures") == "0"


def test_a_capacity_run_whose_steps_recorded_nothing_reports_no_capacity(step_results, tmp_path):
    from hmb_ops.capacity import runner, users

    def silent_run_load(req, progress=None):
        return _silent(step_results).model_copy(update={"tier": req.tier}, deep=True)

    req = runner.CapacityRequest(tiers=("small",), slo=("p95<100ms",), model=users.load_model(),
                                 stages=((1, 5.0), (2, 5.0)), out_dir=str(tmp_path), state_dir=str(tmp_path),
                                 confine=False)
    rep = runner.run_capacity(req, run_load=silent_run_load)
    row = rep.tiers[0]
    assert row.knee.step_index is None and row.sustainable_rps == 0.0 and not row.knee.slo_held_throughout
    assert "at least 0.0" not in row.knee.reason and nothing_measured(rep)
    assert not any("saturated generator" in n for n in rep.notes)


def test_a_plan_whose_every_request_failed_measured_nothing(step_results, tmp_path):
    # A scenario for another app against the reference app: answers come back, every one a failure.
    steps = [s.model_copy(update={"failures": s.requests, "error_rate": 1.0}) for s in step_results.steps]
    failing = _confined(step_results.model_copy(update={"steps": steps}), 8)
    cap = analyse(failing, SLO, UsersModel(), tier="small")
    assert cap.knee.step is None and cap.host_bound is None
    doc = finish([cap], SLO, UsersModel(), None, tmp_path, {"profile": "step"})
    assert "tier small: every request failed in every step" in nothing_measured(doc)
    half = [s.model_copy(update={"error_rate": 0.5}) for s in step_results.steps]
    doc = finish([analyse(step_results.model_copy(update={"steps": half}), SLO, UsersModel(), tier="small")], SLO,
                 UsersModel(), None, tmp_path, {"profile": "step"})
    assert nothing_measured(doc) is None  # a plan too slow or too faulty at its first step is still a figure


def test_the_most_plan_is_not_named_a_winner_over_a_plan_within_noise(step_results, tmp_path):
    from dataclasses import replace

    from hmb_ops.capacity.plan_cost import plan_info
    from hmb_ops.plans import load_plans

    catalog = load_plans()
    a = analyse(step_results, SLO, UsersModel(), tier="heroku-basic")
    slower = step_results.model_copy(update={"steps": [s.model_copy(update={"rps": s.rps * 0.99})
                                                       for s in step_results.steps]})
    b = analyse(slower, SLO, UsersModel(), tier="render-standard")
    caps = [replace(a, plan=plan_info("heroku-basic", catalog)), replace(b, plan=plan_info("render-standard", catalog))]
    doc = finish(caps, SLO, UsersModel(), 1_000_000, tmp_path, {"profile": "step"})
    assert "the most: heroku-basic" in doc.cheapest_reason
    assert "render-standard 182.2 within 25%: one run per plan does not tell them apart" in doc.cheapest_reason
