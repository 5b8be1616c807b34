"""Knee, USL fit and users model on hand-written step results."""

import numpy as np
import pytest

from hmb_ops.capacity import knee, users, usl
from hmb_ops.documents import Latency, Step
from hmb_ops.errors import ConfigError, UsageError


def _line_at(points, x):
    slope, intercept = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    return slope * x + intercept


def test_knee_is_the_highest_step_meeting_the_slo(step_results):
    k = knee.find_knee(step_results.steps, knee.slo_for_steps(["p95<100ms"]))
    assert k.step.users == 80 and k.step.rps == pytest.approx(187.3)
    # p95 88.04 ms at 80 users, 116.09 at 100: 100 ms is crossed 42.6 % of the way.
    crossing = 80 + 20 * (100 - 88.04) / (116.09 - 88.04)
    assert k.crossing_users == pytest.approx(crossing)
    assert k.sustainable_rps == pytest.approx(_line_at([(60, 186.98), (80, 187.3), (100, 181.45)], crossing))
    d = k.to_dict()
    assert d["rps_from_users"] == [60, 80, 100] and d["knee_step_rps"] == 187.3
    assert d["slo_crossing_users"] == pytest.approx(crossing)
    assert not k.slo_held_throughout and not k.non_monotonic
    assert "next step (100 users) breached: p95<100ms" in k.reason
    assert "read at 88.5 users, where the SLO breaks" in k.reason and "60, 80, 100 users" in k.reason
    assert "own window: 187.3 req/s" in k.reason
    assert [s.passed for s in k.steps] == [True] * 5 + [False] * 2


def test_error_limit_is_added_when_the_slo_has_none(step_results):
    slo = knee.slo_for_steps(["p95<1s"])
    assert [t.name for t in slo] == ["p95<1000ms", "error_rate<1%"]
    k = knee.find_knee(step_results.steps, slo)
    assert k.step.users == 100  # 0.4 % errors pass, 3 % at 120 users does not
    assert "error_rate<1%: 3%" in k.reason
    # The 120-user step failed by errors: no latency crossing to interpolate, and its throughput
    # was not served, so it is no neighbour either: the line through 80 and 100 read at 100.
    d = k.to_dict()
    assert d["slo_crossing_users"] == 100 and d["rps_from_users"] == [80, 100]
    assert k.sustainable_rps == pytest.approx(181.45)


def _steps(points, errors=None):
    def lat(p):
        return Latency(p50=0.5 * p, p90=0.9 * p, p95=p, p99=1.5 * p, p999=2 * p, max=2 * p, mean=0.6 * p)

    return [Step(index=i, users=u, start_s=0, end_s=1, requests=0, failures=0, rps=x, latency_ms=lat(p),
                 error_rate=(errors or {}).get(u, 0.0)) for i, (u, x, p) in enumerate(points)]


def test_sustainable_rps_is_read_where_the_slo_breaks():
    slo = knee.slo_for_steps(["p95<100ms"])
    # A rising line is read exactly, at the crossing (31.7 users), not at the last passing step.
    rising = knee.find_knee(_steps([(10, 100, 20), (20, 200, 40), (30, 300, 90), (40, 400, 150)]), slo)
    assert rising.step.users == 30 and rising.crossing_users == pytest.approx(30 + 10 / 6)
    assert rising.sustainable_rps == pytest.approx(10 * (30 + 10 / 6))
    # Noise around a flat line: the three steps are averaged, with their trend.
    noisy = knee.find_knee(_steps([(8, 540, 40), (16, 430, 80), (24, 560, 120)]), slo)
    assert noisy.step.rps == 430 and noisy.crossing_users == 20
    assert noisy.sustainable_rps == pytest.approx(_line_at([(8, 540), (16, 430), (24, 560)], 20))
    # The first step is the knee: the line through it and the next one, read at the crossing.
    first = knee.find_knee(_steps([(8, 540, 90), (16, 430, 180)]), slo)
    assert first.sustainable_rps == pytest.approx(540 - 110 * (10 / 90))
    assert first.to_dict()["rps_from_users"] == [8, 16]


def test_sustainable_rps_stays_at_the_knee_without_a_latency_crossing():
    slo = knee.slo_for_steps(["p95<100ms"])
    held = knee.find_knee(_steps([(8, 540, 50), (16, 430, 60)]), slo)
    assert held.slo_held_throughout and held.crossing_users is None and held.sustainable_rps == 430
    assert "own window" not in held.reason  # two points read at the knee: its own value stands
    errors = knee.find_knee(_steps([(8, 300, 40), (16, 500, 60), (24, 520, 150)], errors={24: 0.05}), slo)
    assert errors.crossing_users == 16 and errors.sustainable_rps == pytest.approx(500)
    by_rps = knee.find_knee(_steps([(8, 300, 40), (16, 500, 60), (24, 520, 80)]),
                            knee.slo_for_steps(["p95<100ms", "rps<510"]))
    assert by_rps.step.users == 16 and by_rps.crossing_users == 16
    # Two latency limits breached: the SLO breaks where the first of them does.
    both = knee.find_knee(_steps([(8, 300, 40), (16, 400, 80), (24, 400, 120)]),
                          knee.slo_for_steps(["p95<100ms", "p99<132ms"]))
    assert both.crossing_users == pytest.approx(16 + 8 * (132 - 120) / (180 - 120))


def test_no_step_passing_and_all_passing(step_results):
    none = knee.find_knee(step_results.steps, knee.slo_for_steps(["p95<5ms"]))
    assert none.step is None and none.sustainable_rps == 0 and "no step met the SLO" in none.reason
    everything = knee.find_knee(step_results.steps, knee.slo_for_steps(["p95<10s", "error_rate<5%"]))
    assert everything.slo_held_throughout and "at least" in everything.reason


def test_noisy_run_is_flagged(step_results):
    step_results.steps[1].latency_ms.p95 = 500.0
    k = knee.find_knee(step_results.steps, knee.slo_for_steps(["p95<100ms"]))
    assert k.step.users == 80 and k.non_monotonic and "noisy" in k.reason


def test_per_endpoint_slo_cannot_judge_steps():
    with pytest.raises(UsageError, match="per-endpoint"):
        knee.slo_for_steps(["GET /api/feed: p95<50ms"])


def test_usl_recovers_known_parameters(step_results):
    fit = usl.fit_steps(step_results.steps)
    assert fit.ok
    assert fit.sigma == pytest.approx(0.02, rel=0.05)
    assert fit.kappa == pytest.approx(0.0002, rel=0.05)
    assert fit.lambda_ == pytest.approx(9.0, rel=0.02)
    assert fit.n_max == 70
    assert fit.x_max == pytest.approx(188.3, rel=0.01)
    assert fit.r_squared > 0.999


def test_usl_linear_scaling_has_no_peak():
    fit = usl.fit([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60])
    assert fit.ok and fit.n_max is None and fit.kappa == pytest.approx(0, abs=1e-6)
    assert fit.r_squared > 0.999


def test_usl_refuses_fewer_than_six_points(step_results):
    fit = usl.fit_steps(step_results.steps[:5])
    assert not fit.ok and fit.sigma is None
    assert "5 load steps" in fit.reason and "at least 6" in fit.reason and "knee alone" in fit.reason


def test_users_model_defaults_and_round_trip():
    model = users.load_model()
    assert users.required_rps(model, 100_000) == pytest.approx(100.0)
    est = users.users_supported(model, 150.0)
    assert est.registered_users == pytest.approx(150_000)
    assert est.concurrent_users == pytest.approx(750)
    assert est.headroom == pytest.approx(1.5)
    assert any("session length: 10 min" in a for a in est.assumptions())
    assert users.users_supported(model, 50.0, target_users=25_000).headroom == pytest.approx(2.0)


def test_users_model_file_overrides_and_percent_strings(tmp_path):
    f = tmp_path / "users.yaml"
    f.write_text("users_model:\n  daily_active_share: '50%'\n  requests_per_active_minute: 6\n")
    model = users.load_model((), str(f))
    assert model.daily_active_share == 0.5 and model.requests_per_active_minute == 6
    assert model.session_minutes == 10


@pytest.mark.parametrize("body, fragment", [
    ("users_model:\n  daily_active_share: '150%'\n", "impossible"),
    ("users_model:\n  peak_hour_share: 1.5\n", "impossible"),
    ("users_model:\n  peak_hour_share: 0\n", "impossible"),
    ("users_model:\n  session_minutes: -3\n", "greater than 0"),
    ("users_model:\n  daily_active_share: lots\n", "not a share"),
    ("users_model:\n  visitors: 3\n", "unknown key"),
])
def test_impossible_users_model_is_bad_input(tmp_path, body, fragment):
    f = tmp_path / "users.yaml"
    f.write_text(body)
    with pytest.raises(ConfigError) as err:
        users.load_model((), str(f))
    assert fragment in err.value.one_line()
    assert f"{f}:2" in err.value.one_line()
    assert err.value.exit_code == 2


def test_usl_flags_a_poor_fit_on_flat_throughput():
    fit = usl.fit([10, 20, 40, 60, 80, 120], [230, 180, 240, 150, 235, 170])
    assert fit.ok and fit.quality == "poor" and fit.r_squared < 0.7
    assert "poor fit" in fit.reason and "add lower steps" in fit.reason
    assert usl.fit([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]).quality == "good"
