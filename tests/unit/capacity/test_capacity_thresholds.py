import pytest

from hmb_ops.errors import UsageError
from hmb_ops.gates import thresholds as th


@pytest.mark.parametrize("expr, metric, op, limit, endpoint", [
    ("p95<100ms", "p95", "<", 100.0, None),
    ("p99<250ms", "p99", "<", 250.0, None),
    ("p99 <= 0.25 s", "p99", "<=", 250.0, None),
    ("p95<80", "p95", "<", 80.0, None),
    ("error_rate<1%", "error_rate", "<", 0.01, None),
    ("error_rate<0.02", "error_rate", "<", 0.02, None),
    ("rps>=150", "rps", ">=", 150.0, None),
    ("rps > 10/s", "rps", ">", 10.0, None),
    ("failures==0", "failures", "==", 0.0, None),
    ("requests>1000", "requests", ">", 1000.0, None),
    ("p(99.9)<1s", "p999", "<", 1000.0, None),
    ("p999<2s", "p999", "<", 2000.0, None),
    ("max<3s", "max", "<", 3000.0, None),
    ("avg<50ms", "mean", "<", 50.0, None),
    ("GET /api/feed: p95<50ms", "p95", "<", 50.0, "GET /api/feed"),
    ("GET /api/posts/<id>:p50<10ms", "p50", "<", 10.0, "GET /api/posts/<id>"),
])
def test_parse_accepts_the_documented_forms(expr, metric, op, limit, endpoint):
    t = th.parse(expr)
    assert (t.metric, t.op, t.endpoint) == (metric, op, endpoint)
    assert t.limit == pytest.approx(limit)


@pytest.mark.parametrize("expr, fragment", [
    ("p95<<100ms", "expected a number after '<', found '<' at column 5"),
    ("p95 100ms", "expected an operator"),
    ("foo<1", "unknown metric 'foo' at column 1"),
    ("p95<100kg", "unit 'kg' does not fit latency metric 'p95'"),
    ("error_rate<200%", "error_rate cannot exceed 100%"),
    ("error_rate<1ms", "unit 'ms' does not fit error_rate"),
    ("rps>=1ms", "unit 'ms' does not fit 'rps'"),
    ("<100", "expected a metric name at column 1"),
    ("GET /api/feed:", "expected a metric name at column 15"),
    ("p95<", "found 'end of expression'"),
    (": p95<1", "empty endpoint name"),
    ("", "empty expression"),
    ("p95<-5ms", "cannot be negative"),
    ("p95=100ms", "expected an operator"),
])
def test_malformed_expressions_name_the_problem_and_where(expr, fragment):
    with pytest.raises(UsageError) as err:
        th.parse(expr)
    assert fragment in err.value.one_line()
    assert err.value.exit_code == 2


def test_evaluate_summary_and_endpoint(ci_results):
    results = th.evaluate_all(th.parse_all(["p95<100ms", "error_rate<1%", "rps>=150",
                                            "GET /api/feed: p95<40ms", "failures==0"]), ci_results)
    assert [r.passed for r in results] == [True, True, True, False, False]
    assert results[0].actual == 62.0
    assert results[3].actual == 48.0
    assert "breached" in results[3].message


def test_boundaries_follow_the_operator(ci_results):
    ci_results.summary.latency_ms.p95 = 100.0
    assert not th.evaluate_all([th.parse("p95<100ms")], ci_results)[0].passed
    assert th.evaluate_all([th.parse("p95<=100ms")], ci_results)[0].passed
    assert th.evaluate_all([th.parse("p95<=0.1s")], ci_results)[0].passed


def test_unknown_endpoint_is_bad_input(ci_results):
    with pytest.raises(UsageError) as err:
        th.evaluate_all([th.parse("GET /api/nope: p95<50ms")], ci_results)
    assert "unknown endpoint 'GET /api/nope'" in err.value.one_line()
    assert "GET /api/feed" in err.value.one_line()


def test_missing_metric_value_fails_rather_than_passes(ci_results):
    ci_results.summary.latency_ms.p999 = float("nan")  # a typed document always has the key: no number
    (r,) = th.evaluate_all([th.parse("p999<1s")], ci_results)
    assert not r.passed and r.actual is None


def test_names_round_trip_in_readable_units():
    assert th.parse("error_rate<0.01").name == "error_rate<1%"
    assert th.parse("GET /api/feed : p99<0.5s").name == "GET /api/feed: p99<500ms"
