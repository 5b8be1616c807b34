import pytest

from hmb_ops.documents import read_results
from hmb_ops.errors import UsageError
from hmb_ops.gates import baseline as bl


def test_identical_results_pass(ci_results):
    out = bl.compare(ci_results, ci_results)
    assert [c.metric for c in out] == ["p95", "p99", "rps"]
    assert all(c.passed for c in out)


def test_latency_growth_beyond_tolerance_fails(ci_results):
    base = ci_results.model_copy(deep=True)
    ci_results.summary.latency_ms.p95 = base.summary.latency_ms.p95 * 1.25
    out = {c.metric: c for c in bl.compare(ci_results, base)}
    assert not out["p95"].passed and out["p95"].ratio == pytest.approx(1.25)
    assert out["p99"].passed
    assert all(c.passed for c in bl.compare(ci_results, base, latency_tolerance=1.3))


def test_throughput_drop_beyond_tolerance_fails(ci_results):
    base = ci_results.model_copy(deep=True)
    ci_results.summary.rps = base.summary.rps * 0.75
    out = {c.metric: c for c in bl.compare(ci_results, base)}
    assert not out["rps"].passed
    assert {c.metric: c for c in bl.compare(ci_results, base, throughput_tolerance=0.7)}["rps"].passed


def test_baseline_from_another_profile_is_bad_input(ci_results, step_results):
    with pytest.raises(UsageError) as err:
        bl.compare(ci_results, step_results, baseline_path="base.json")
    msg = err.value.one_line()
    assert "profile 'step'" in msg and "profile 'ci'" in msg and "base.json" in msg


@pytest.mark.parametrize("lat, thr", [(0.9, 0.8), (1.2, 0), (1.2, 1.5)])
def test_nonsense_tolerances_are_bad_input(ci_results, lat, thr):
    with pytest.raises(UsageError):
        bl.compare(ci_results, ci_results, latency_tolerance=lat, throughput_tolerance=thr)


def test_save_writes_a_readable_copy(tmp_path, ci_results):
    path = bl.save(ci_results, tmp_path / "sub" / "base.json")
    assert read_results(path) == ci_results
    assert [p.name for p in path.parent.iterdir()] == ["base.json"]
