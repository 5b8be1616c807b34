"""Server-side sampling pieces without a server: Prometheus parsing and quantiles, thresholds on
server.*/db.*/metric.*, the live judge of --abort-on-fail."""

from __future__ import annotations

import pytest

from hmb_ops.documents.results import DbSample, MetricSummary, Server, ServerSample, WorkerSample
from hmb_ops.errors import UsageError
from hmb_ops.gates import thresholds as th
from hmb_ops.gates.live import LiveJudge, abort_thresholds
from hmb_ops.loadtest import prom_scrape

HIST = """# HELP req_seconds x
# TYPE req_seconds histogram
req_seconds_bucket{le="0.1",route="a"} 50
req_seconds_bucket{le="0.5",route="a"} 90
req_seconds_bucket{le="+Inf",route="a"} 100
req_seconds_bucket{le="0.1",route="b"} 50
req_seconds_bucket{le="0.5",route="b"} 90
req_seconds_bucket{le="+Inf",route="b"} 100
req_seconds_count{route="a"} 100
req_seconds_sum{route="a"} 10
# TYPE depth gauge
depth{q="x"} 3
depth{q="y"} 4
# TYPE hits_total counter
hits_total 10
"""


def test_parse_sums_label_sets_and_merges_histogram_buckets():
    fams = prom_scrape.parse(HIST)
    assert fams["depth"].value == 7
    assert fams["hits"].type == "counter" and fams["hits"].value == 10
    assert fams["hits_total"] is fams["hits"]
    assert fams["req_seconds"].buckets == [(0.1, 100.0), (0.5, 180.0), (float("inf"), 200.0)]


@pytest.mark.parametrize("text", ['{"status": "ok"}', "<html><body>hi</body></html>", "ok", ""])
def test_anything_but_prometheus_text_is_refused(text):
    with pytest.raises(prom_scrape.NotPrometheus):
        prom_scrape.parse(text)


def test_quantile_interpolates_inside_the_bucket_like_histogram_quantile():
    buckets = [(0.1, 50.0), (0.5, 90.0), (float("inf"), 100.0)]
    assert prom_scrape.quantile(0.5, buckets) == pytest.approx(0.1)
    assert prom_scrape.quantile(0.7, buckets) == pytest.approx(0.3)
    assert prom_scrape.quantile(0.95, buckets) == 0.5  # in +Inf: the highest finite bound
    assert prom_scrape.quantile(0.95, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_bucket_delta_is_none_after_a_reset():
    assert prom_scrape.bucket_delta([(1.0, 5.0)], [(1.0, 2.0)]) == [(1.0, 3.0)]
    assert prom_scrape.bucket_delta([(1.0, 1.0)], [(1.0, 2.0)]) is None


@pytest.mark.parametrize("expr, metric, limit", [
    ("server.cpu_percent.p95<70", "server.cpu_percent.p95", 70.0),
    ("server.cpu_percent.p95 < 70%", "server.cpu_percent.p95", 70.0),
    ("server.rss_mb.max<1.5GB", "server.rss_mb.max", 1536.0),
    ("db.connections.max<80", "db.connections.max", 80.0),
    ("metric.hmb_background_queue_depth.max<100", "metric.hmb_background_queue_depth.max", 100.0),
    ("metric.job_seconds.p95<5s", "metric.job_seconds.p95", 5.0),
    ("metric.job_seconds.p95<250ms", "metric.job_seconds.p95", 0.25),
])
def test_scoped_thresholds_parse_with_their_units(expr, metric, limit):
    t = th.parse(expr)
    assert (t.metric, t.limit, t.abort) == (metric, pytest.approx(limit), False)


@pytest.mark.parametrize("expr, what", [
    ("server.cpu.p95<70", "unknown server metric"),
    ("db.conns.max<80", "unknown db metric"),
    ("metric.x.p99<1", "unknown aggregation"),
    ("server.cpu_percent.p95<70ms", "does not fit"),
    ("GET /x: server.cpu_percent.max<70", "not per endpoint"),
])
def test_bad_scoped_thresholds_are_usage_errors(expr, what):
    with pytest.raises(UsageError, match=what):
        th.parse(expr)


def test_trailing_bang_marks_abort():
    t = th.parse("p95<100ms!")
    assert t.abort and t.limit == 100 and t.name == "p95<100ms"
    assert [x.expression for x in abort_thresholds(th.parse_all(["p95<1", "rps>1!"]), False)] == ["rps>1!"]
    assert len(abort_thresholds(th.parse_all(["p95<1", "rps>1"]), True)) == 2


def _server(with_db=True) -> Server:
    samples = [ServerSample(t=-1.0, workers=[WorkerSample(pid=1, cpu_percent=500.0, rss_mb=9000.0)]),
               *[ServerSample(t=float(i), workers=[WorkerSample(pid=1, cpu_percent=10.0 * i, rss_mb=100.0 + i),
                                                   WorkerSample(pid=2, cpu_percent=5.0, rss_mb=50.0)],
                              restarts=1 if i > 5 else 0,
                              db=DbSample(connections=i, lock_waits=0) if with_db else None)
                 for i in range(1, 11)]]
    return Server(pid=1, samples=samples,
                  metrics={"q": MetricSummary(type="gauge", samples=10, max=42.0, p95=40.0),
                           "empty": MetricSummary(type="gauge", samples=0)})


def test_scoped_values_read_the_server_block_and_skip_samples_before_the_start():
    server = _server()
    assert th.scoped_value("server.cpu_percent.max", server) == 100.0  # not the 500 at t=-1
    assert th.scoped_value("server.rss_mb.max", server) == 110.0
    assert th.scoped_value("server.restarts.max", server) == 1.0
    assert th.scoped_value("server.workers.min", server) == 2.0
    assert th.scoped_value("db.connections.max", server) == 10.0
    assert th.scoped_value("metric.q.max", server) == 42.0
    assert th.scoped_value("metric.empty.max", server) is None
    assert th.scoped_value("db.connections.max", _server(with_db=False)) is None
    assert th.scoped_value("server.cpu_percent.max", None) is None


def test_a_threshold_on_what_was_not_sampled_fails_saying_so():
    res = th.evaluate_scoped(th.parse("metric.nope.max<1"), _server())
    assert not res.passed and "metric.nope was not sampled" in res.message
    res = th.evaluate_scoped(th.parse("server.rss_mb.max<100"), _server())
    assert not res.passed and "110MB (breached)" in res.message


def test_check_sampled_refuses_before_the_run_what_it_can_decide():
    ths = th.parse_all(["server.cpu_percent.p95<70"])
    with pytest.raises(UsageError, match="server is not sampled"):
        th.check_sampled(ths, server=False, database=True, families=())
    with pytest.raises(UsageError, match="database is not sampled"):
        th.check_sampled(th.parse_all(["db.connections.max<8"]), server=True, database=False, families=())
    with pytest.raises(UsageError, match="'nope' is not scraped"):
        th.check_sampled(th.parse_all(["metric.nope.max<8"]), server=True, database=True, families=("q",))
    th.check_sampled(th.parse_all(["metric.q.max<8", "p95<1"]), server=False, database=False, families=("q",))
    th.check_sampled(th.parse_all(["metric.q.max<8"]), server=False, database=False, families=None)


class _View:
    def __init__(self, server, p95=None, requests=0):
        from types import SimpleNamespace

        self.elapsed_s = 7.2
        self.server = server
        self.summary = SimpleNamespace(requests=requests, latency_ms=SimpleNamespace(p95=p95), rps=0.1,
                                       error_rate=0.0)
        self.endpoints = {}


def test_live_judge_names_when_and_which():
    judge = LiveJudge(th.parse_all(["server.cpu_percent.max<50!", "rps>1000"]))
    assert [t.metric for t in judge.thresholds] == ["server.cpu_percent.max"]  # rps is judged at the end
    assert judge(_View(_server())) == "aborted at t=7s: server.cpu_percent.max<50% breached (100%)"
    assert judge(_View(None)) is None  # not sampled yet is not a breach
    judge = LiveJudge(th.parse_all(["p95<100ms"]))
    assert judge(_View(None, p95=150.0, requests=0)) is None
    assert "p95<100ms breached (150ms)" in judge(_View(None, p95=150.0, requests=10))
