"""Profiles: shipped set, user files, overrides and the nonsense the CLI must refuse."""

from __future__ import annotations

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.loadtest.profiles import build_plan, load_profiles, ramp_problem
from hmb_ops.loadtest.scenario.load import read_scenario


def test_shipped_profiles_are_complete_and_valid():
    profiles = load_profiles()
    reference = {r.key for r in read_scenario(None).model.requests}
    assert {"smoke", "baseline", "step", "spike", "soak", "ci"} <= set(profiles)
    smoke = profiles["smoke"]
    assert smoke.users <= 10 and 10 <= smoke.duration <= 30
    assert profiles["step"].stages and len(profiles["step"].stages) >= 4
    for name, p in profiles.items():
        assert p.mix and set(p.mix) <= reference, name
    mix = profiles["baseline"].mix
    reads = mix["feed"] + mix["jobs"] + mix.get("conversations", 0) + mix.get("unread_count", 0)
    writes = mix["create_post"] + mix["like"] + mix["login"]
    assert reads > 5 * writes  # mostly reads; occasional login, post, like


def test_stepped_plan_keeps_stages_and_flat_override_collapses_them():
    plan = build_plan("step")
    # starts at 1 user (points on the rising curve for the USL fit), two minutes at most
    assert plan.stepped and plan.stages[0][0] == 1 and len(plan.stages) >= 6 and plan.duration == 120
    flat = build_plan("step", users=7, duration=4)
    assert flat.stages == ((7, 4.0),) and not flat.stepped
    custom = build_plan("smoke", stages=((2, 3), (4, 3)))
    assert custom.stages == ((2, 3.0), (4, 3.0)) and custom.stepped


def test_spike_needs_a_spawn_rate_that_finishes_each_ramp_inside_its_stage():
    assert ramp_problem([(10, 20), (150, 20)], 5) is not None
    assert ramp_problem([(10, 20), (150, 20)], 50) is None
    with pytest.raises(UsageError, match=r"spawn_rate must be above 7\.0"):
        build_plan("spike", spawn_rate=5)


@pytest.mark.parametrize("kwargs", [
    {"users": 0}, {"users": -3}, {"users": 10**7}, {"users": 2.5}, {"duration": 0}, {"duration": -1},
    {"duration": 10**9}, {"spawn_rate": 0}, {"arrival_rate": -5}, {"processes": 0}, {"processes": 1000},
    {"users": True},
])
def test_nonsense_overrides_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        build_plan("smoke", **kwargs)


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        build_plan("nope")
    assert "unknown profile 'nope'" in err.value.one_line() and "smoke" in err.value.one_line()


def test_user_profile_file_adds_and_replaces(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("profiles:\n  mine:\n    users: 3\n    spawn_rate: 3\n    duration: 5\n    mix: {feed: 1}\n"
                 "  smoke:\n    users: 1\n    spawn_rate: 1\n    duration: 2\n    mix: {health: 1}\n")
    profiles = load_profiles((str(f),))
    assert profiles["mine"].users == 3
    assert profiles["smoke"].mix == {"health": 1}
    assert profiles["step"].stages  # the rest stays shipped


@pytest.mark.parametrize("body, where", [
    ("profiles:\n  bad:\n    users: 3\n    spawn_rate: 3\n    duration: 5\n    mix: {fed: 1}\n", ":6"),
    ("profiles:\n  bad:\n    users: lots\n    spawn_rate: 3\n    duration: 5\n    mix: {feed: 1}\n", ":3"),
    (("profiles:\n  bad:\n    users: 3\n    spawn_rate: 3\n    duration: 5\n    colour: red\n"
      "    mix: {feed: 1}\n"), ":6"),
    ("profiles:\n  bad:\n    spawn_rate: 1\n    stages: [{users: 100, duration: 5}]\n    mix: {feed: 1}\n", ""),
    ("profiles:\n  bad: [1, 2\n", ":"),
    (("profiles:\n  bad:\n    users: 3\n    spawn_rate: 3\n    duration: 5\n    think_time: [2, 1]\n"
      "    mix: {feed: 1}\n"), ""),
])
def test_malformed_profile_file_is_a_config_error_with_file_and_line(tmp_path, body, where):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(ConfigError) as err:
        build_plan("bad", config_files=(str(f),))
    assert str(f) in err.value.one_line()
    assert where in err.value.one_line()
