"""A ramping arrival rate without a run: the rates parsed, the staged send schedule, and the
per-stage account of scheduled, sent, dropped and late sends."""

from __future__ import annotations

import pytest

from hmb_ops.errors import UsageError
from hmb_ops.loadtest import arrival
from hmb_ops.loadtest.runner import Second


def test_rates_parse_and_bad_ones_are_usage_errors():
    assert arrival.parse_rates("50") == (50.0,)
    assert arrival.parse_rates("20, 50,0") == (20.0, 50.0, 0.0)
    for bad in ("fast", "10,,20", "-1", "0,0", "1e9"):
        with pytest.raises(UsageError):
            arrival.parse_rates(bad)
    with pytest.raises(UsageError, match="gives 2 rates but the profile has 3 stages"):
        arrival.check_stages((1, 2), ((1, 1.0), (2, 1.0), (3, 1.0)))
    assert arrival.mean_rate((10, 30), ((1, 1.0), (1, 3.0))) == 25.0


def test_the_schedule_steps_its_rate_at_each_stage_boundary():
    sched = arrival.StagedSchedule([[2, 2.0], [0, 1.0], [4, 1.0]], share=0.5)  # one of two processes
    sched.start = 0.0
    slots = [sched.next_slot() for _ in range(5)]
    # stage 0 at 1/s: 0, 1; stage 1 sends nothing; stage 2 at 2/s from t=3: 3.0, 3.5; then no more
    assert slots[:4] == [0.0, 1.0, 3.0, 3.5]
    assert slots[4] >= arrival.AFTER_LAST_STAGE_S


def test_the_open_model_is_accounted_per_stage():
    seconds = {}
    for s in range(4):
        seconds[s] = Second(slots=10, late=0)      # stage 0: 10/s asked, all sent on time
    for s in range(4, 8):
        seconds[s] = Second(slots=30, late=25)     # stage 1: 100/s asked, the pool managed 30
    om = arrival.open_model(offered=55.0, rates=(10.0, 100.0), stages=((5, 4.0), (5, 4.0)), seconds=seconds,
                            duration=8.0)
    first, second = om.stages
    assert (first.scheduled, first.sent, first.dropped, first.late) == (40, 40, 0, 0)
    assert (second.scheduled, second.sent, second.dropped, second.late) == (400, 120, 280, 100)
    assert (om.scheduled, om.sent, om.dropped, om.late) == (440, 160, 280, 100)
    constant = arrival.open_model(offered=20.0, rates=None, stages=((5, 8.0),), seconds=seconds, duration=8.0)
    assert constant.stages == [] and constant.scheduled == 160
    assert arrival.open_model(offered=None, rates=None, stages=(), seconds={}, duration=1.0) is None


def test_an_interrupted_run_schedules_only_what_it_ran():
    om = arrival.open_model(offered=10.0, rates=(10.0, 10.0), stages=((1, 4.0), (1, 4.0)), seconds={}, duration=5.0)
    assert [s.scheduled for s in om.stages] == [40, 10]


def test_a_profile_gives_one_rate_per_stage(tmp_path):
    from hmb_ops.errors import ConfigError
    from hmb_ops.loadtest.profiles import build_plan

    path = tmp_path / "p.yaml"
    path.write_text("profiles:\n  ramp:\n    spawn_rate: 50\n    mix: {health: 1}\n"
                    "    stages: [{users: 5, duration: 10, rate: 10}, {users: 5, duration: 30, rate: 50}]\n")
    plan = build_plan("ramp", config_files=(str(path),))
    assert plan.stage_rates == (10.0, 50.0) and plan.arrival_rate == 40.0 and plan.model == "open"
    constant = build_plan("ramp", config_files=(str(path),), arrival_rate=25)
    assert constant.stage_rates is None and constant.arrival_rate == 25
    path.write_text("profiles:\n  ramp:\n    spawn_rate: 50\n    mix: {health: 1}\n"
                    "    stages: [{users: 5, duration: 10, rate: 10}, {users: 5, duration: 30}]\n")
    with pytest.raises(ConfigError, match="give every stage a rate"):
        build_plan("ramp", config_files=(str(path),))
