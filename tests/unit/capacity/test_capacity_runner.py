"""The pure part of capacity runs: analysis of a results document, the report, input parsing."""

import json

import pytest

from hmb_ops.capacity import claims, knee, runner, users
from hmb_ops.documents import Claim, ClaimsDocument, read_document
from hmb_ops.errors import UsageError
from hmb_ops.report import render


def render_capacity(doc):
    return render("console", doc)


def _cap(doc, slo=("p95<100ms",)):
    return runner.analyse(doc, knee.slo_for_steps(slo), users.load_model(), tier=doc.tier, results_path="r.json")


def test_analyse_reads_the_knee_step_server_figures(step_results):
    cap = _cap(step_results)
    d = cap.to_document()
    # The knee step measured 187.3 req/s; the line through 60-100 users reads 184.06 at 88.5 users,
    # where p95 crosses 100 ms (both worked out in test_capacity_analysis).
    assert d.sustainable_rps == pytest.approx(184.0644) and d.knee_users == 80
    assert d.p95_ms_at_knee == pytest.approx(88.04) and d.knee.knee_step_rps == 187.3
    assert d.cpu_percent_per_worker == pytest.approx(71.6) and d.db_connections == 12
    assert d.users_supported == 184064 and d.headroom == pytest.approx(1.840644)
    assert d.usl.ok and d.workers == 4 and d.threads == 4


def test_report_writes_json_and_chart(tmp_path, step_results):
    slo = knee.slo_for_steps(["p95<100ms"])
    rep = runner.finish([_cap(step_results)], slo, users.load_model(), 50_000, tmp_path, {"machine": "test"})
    saved = json.loads((tmp_path / "capacity.json").read_text())
    assert saved["schema_version"] == 1 and saved["kind"] == "capacity"
    assert saved["target_users"] == 50_000 and saved["target_rps"] == pytest.approx(50.0)
    assert saved["tiers"][0]["headroom"] == pytest.approx(3.681288)
    assert read_document(tmp_path / "capacity.json") == rep  # what was written reads back as the same document
    assert (tmp_path / "capacity.png").read_bytes().startswith(b"\x89PNG")
    text = render_capacity(rep)
    assert "default" in text and "184.1" in text and "3.68×" in text
    assert "requests per active minute: 12" in text and "188 @ 70" in text


def test_fewer_steps_than_the_fit_needs_reports_the_knee_alone(tmp_path, step_results):
    step_results.steps = step_results.steps[:4]
    cap = _cap(step_results)
    assert not cap.fit.ok and cap.knee.step.users == 60
    rep = runner.finish([cap], knee.slo_for_steps(["p95<100ms"]), users.load_model(), None, tmp_path, {})
    assert any("needs at least 6" in n and "knee alone" in n for n in rep.notes)
    assert "n/a (<6 steps)" in render_capacity(rep)


def test_slo_held_throughout_is_a_lower_bound(step_results):
    cap = _cap(step_results, slo=("p95<10s", "error_rate<5%"))
    assert cap.knee.slo_held_throughout
    text = render_capacity(runner.finish([cap], knee.slo_for_steps(["p95<10s"]), users.load_model(), None, None, {}))
    assert "≥173.2" in text


@pytest.mark.parametrize("text, seconds, expected", [
    ("10,20,40", None, ((10, 30.0), (20, 30.0), (40, 30.0))),
    ("5, 10", 4, ((5, 4.0), (10, 4.0))),
    (None, None, None),
])
def test_parse_steps(text, seconds, expected):
    assert runner.parse_steps(text, seconds) == expected


@pytest.mark.parametrize("text, seconds, fragment", [
    ("10,x", None, "comma-separated"), ("0,10", None, "at least 1"), ("20,10", None, "increase"),
    ("10", 0.5, "between 1 and 3600"), (None, 5, "needs --steps"),
])
def test_parse_steps_rejects_nonsense(text, seconds, fragment):
    with pytest.raises(UsageError, match=fragment):
        runner.parse_steps(text, seconds)


def test_parse_tiers():
    assert runner.parse_tiers("small, default") == ["small", "default"]
    for bad in ("", "small,small", ",,"):
        with pytest.raises(UsageError):
            runner.parse_tiers(bad)


def test_validate_refuses_unknown_tier_and_bad_slo_before_running():
    model = users.load_model()
    with pytest.raises(UsageError, match="unknown tier 'huge'"):
        runner.validate(runner.CapacityRequest(tiers=("small", "huge"), slo=("p95<100ms",), model=model))
    with pytest.raises(UsageError, match="malformed threshold"):
        runner.validate(runner.CapacityRequest(tiers=("small",), slo=("p95<<1",), model=model))
    with pytest.raises(UsageError, match="unknown data scale"):
        runner.validate(runner.CapacityRequest(tiers=("small",), slo=("p95<1s",), model=model, seed_scale="xl"))
    with pytest.raises(UsageError, match="no stages"):
        runner.validate(runner.CapacityRequest(tiers=("small",), slo=("p95<1s",), model=model, profile="smoke"))


def test_run_capacity_drives_run_load_per_tier(tmp_path, step_results):
    """run_capacity with a stand-in for D's run_load: one request per tier, in order, with the stages."""
    seen = []

    def fake_run_load(req, progress=None):
        seen.append(req)
        return step_results.model_copy(update={"tier": req.tier}, deep=True)

    req = runner.CapacityRequest(tiers=("small", "default"), slo=("p95<100ms",), model=users.load_model(),
                                 stages=((10, 5.0), (20, 5.0)), out_dir=str(tmp_path), state_dir=str(tmp_path))
    rep = runner.run_capacity(req, run_load=fake_run_load)
    assert [r.tier for r in seen] == ["small", "default"] and all(r.profile == "step" for r in seen)
    assert seen[0].stages == ((10, 5.0), (20, 5.0)) and seen[0].out_dir == str(tmp_path / "small")
    assert [t.tier for t in rep.tiers] == ["small", "default"]
    assert (tmp_path / "capacity.png").exists()


def test_claims_profiles_are_valid_loadtest_profiles(tmp_path):
    from hmb_ops.loadtest.profiles import get_profile

    path = claims.profiles_file(claims.ClaimsRequest(duration=5, users=6), tmp_path)
    sat = get_profile("claims-saturate", (str(path),))
    posts = get_profile("claims-posts", (str(path),))
    assert sat.users == 6 and sat.duration == 5 and sat.think_time == (0, 0)
    assert posts.mix == {"create_post": 1}


@pytest.mark.parametrize("kw, fragment", [
    ({"only": ("workers", "magic")}, "unknown claim 'magic'"), ({"duration": 1}, "--duration"),
    ({"notify_delay_ms": -1}, "--notify-delay-ms"), ({"tier": "nope"}, "unknown tier"),
    ({"seed_scale": "galactic"}, "unknown data scale"),
])
def test_claims_bad_input(kw, fragment):
    with pytest.raises(UsageError, match=fragment):
        claims.validate(claims.ClaimsRequest(**kw))


def test_claims_view():
    rep = ClaimsDocument(claims=[
        Claim(name="workers", claim="Workers: 4 (was 2) — 2x capacity increase", claimed="2x", claimed_low=2.0,
              measured=1.12, holds=False, detail="throughput at saturation: ...",
              conditions={"tier": "default", "users": 24}),
        Claim(name="indexes", claim="Feed: 10-50x faster", claimed="10–50x", claimed_low=10.0, detail="not run")],
        conditions={"machine": "vm", "cpus": 2}, out_dir="/tmp/x")
    text = render("console", rep)
    assert "1.12x" in text and "does NOT hold" in text and "not measured" in text and "cpus=2" in text


def test_load_progress_is_throttled():
    lines = []
    on = runner.load_progress(lines.append, "tier small", every_s=10)
    on({"phase": "setup", "message": "app: starting"})
    for t in (0.5, 3, 9, 10.6, 12, 21):
        on({"elapsed_s": t, "duration_s": 30, "users": 4, "rps": 100.0, "p95_ms": 12.5})
    assert lines[0] == "tier small: app: starting"
    assert [line.split()[2] for line in lines[1:]] == ["t=0s/30s", "t=11s/30s", "t=21s/30s"]
    assert runner.load_progress(None, "x") is None
