"""Measurement maths: HDR percentiles of raw times, per-step windows without ramps, the document shape."""

from __future__ import annotations

import base64
import json
from array import array

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.loadtest import histogram
from hmb_ops.loadtest.api import load_results
from hmb_ops.loadtest.orchestrate import check_target
from hmb_ops.loadtest.profiles import build_plan
from hmb_ops.loadtest.results import build_document, write_outputs
from hmb_ops.loadtest.runner import Collected
from hmb_ops.loadtest.sampling import GeneratorSampler, parse_queue_depth

T0 = 1_800_000_000.0


def enc(values):
    return base64.b64encode(array("I", values).tobytes()).decode()


def test_percentiles_are_raw_not_rounded_like_locust():
    # Locust would store 147 ms as 150 ms; the HDR histogram keeps 3 significant digits.
    h = histogram.of([147_000] * 100)
    lat = histogram.latency_ms(h)
    assert 146.9 <= lat["p50"] <= 147.1 and 146.9 <= lat["max"] <= 147.1
    h = histogram.of(list(range(1, 1001)))  # 1 µs .. 1 ms
    lat = histogram.latency_ms(h)
    assert lat["p50"] == pytest.approx(0.5, abs=0.001) and lat["p99"] == pytest.approx(0.99, abs=0.002)
    assert histogram.latency_ms(histogram.new()) == dict.fromkeys(histogram.LATENCY_KEYS, 0.0)


def _collected(plan, seconds):
    got = Collected(started_at=T0, ended_at=T0 + plan.duration, processes=1)
    for s, (users, values, failures) in seconds.items():
        got.ingest({"t": T0 + s + 1.0, "users": users, "v": {"GET /api/feed": enc(values)},
                    "f": {"GET /api/feed": failures} if failures else {}, "sent": len(values),
                    "slots": len(values)})
    return got


def test_document_shape_steps_exclude_the_ramp_and_failures_are_split_by_kind():
    plan = build_plan("smoke", stages=((2, 3), (4, 3)), spawn_rate=1)
    seconds = {0: (1, [50_000] * 5, None),             # ramping 0 -> 2 (slow answers)
               1: (2, [1000] * 10, None), 2: (2, [1000] * 10, None),
               3: (3, [90_000] * 10, {"http_500": 2}),  # ramping 2 -> 4
               4: (4, [2000] * 20, {"rate_limited_429": 1}), 5: (4, [2000] * 20, {"connection": 3})}
    doc = build_document(plan=plan, collected=_collected(plan, seconds), target="http://127.0.0.1:1", tier=None,
                         started_iso="2027-01-15T08:00:00+00:00", server=None, server_samples=None, config={})
    assert doc.schema_version == 1 and doc.model == "closed" and doc.offered_rps is None
    s = doc.summary
    assert s.requests == 75 + 3 and s.failures == 6
    assert s.failures_by_kind == {"connection": 3, "http_500": 2, "rate_limited_429": 1, "timeout": 0}
    assert set(s.latency_ms.model_dump()) == {"p50", "p90", "p95", "p99", "p999", "max", "mean"}
    assert [st.users for st in doc.steps] == [2, 4]
    step0, step1 = doc.steps
    # step 0: the second where the ramp finished (0) is excluded; only the 1 ms answers remain
    assert step0.start_s == 2.0 and step0.latency_ms.max < 1.01
    # step 1: the ramp second 3 (90 ms) is out, second 4 (users reached 4) is out too; second 5 stays
    assert step1.latency_ms.max < 2.01 and step1.failures == 3
    assert [r.users for r in doc.timeseries] == [1, 2, 2, 3, 4, 4]
    assert doc.timeseries[3].failures == 2 and doc.timeseries[0].p95_ms == pytest.approx(50, rel=0.01)
    assert doc.valid is True and doc.endpoints[0].name == "GET /api/feed"
    json.loads(doc.model_dump_json())


def test_document_carries_what_the_html_report_draws():
    plan = build_plan("smoke", stages=((2, 3), (4, 3)), spawn_rate=1)
    seconds = {0: (1, [50_000] * 5, None), 1: (2, [1000] * 96 + [9000] * 4, None), 2: (2, [1000] * 10, None),
               4: (4, [2000] * 20, {"http_500": 2})}
    samples = [{"t": 0.2, "wall": T0 + 1.5, "workers": [{"pid": 7, "cpu_percent": 50.0, "rss_mb": 60.0}],
                "db_connections": 3, "db_connections_active": 1, "background_queue_depth": 0}]
    doc = build_document(plan=plan, collected=_collected(plan, seconds), target="http://127.0.0.1:1", tier=None,
                         started_iso="", server={"workers": 1, "threads": 2}, server_samples=samples, config={},
                         out_dir="/tmp/run")
    assert [(s.users, s.start_s, s.end_s) for s in doc.stages] == [(2, 0.0, 3.0), (4, 3.0, 6.0)]
    assert doc.timeseries[1].p99_ms == pytest.approx(9.0, rel=0.01) and doc.timeseries[1].p95_ms < 1.01
    assert doc.timeseries[3].rps == 0 and doc.timeseries[3].p99_ms == 0.0  # a silent second is drawn as zero
    (feed,) = doc.endpoints
    assert [p.t for p in feed.timeseries] == [p.t for p in doc.timeseries]
    assert feed.timeseries[4].failures == 2 and feed.timeseries[4].rps == 20
    spectrum = doc.summary.percentile_spectrum
    assert 10 < len(spectrum) <= 200 and spectrum[-1].percentile == 100.0
    assert spectrum[-1].latency_ms == pytest.approx(doc.summary.latency_ms.max, rel=0.01)
    assert [p.percentile for p in spectrum] == sorted(p.percentile for p in spectrum)
    sample = doc.server.samples[0]
    assert sample.t == pytest.approx(1.5) and sample.workers[0].rss_mb == 60.0  # run seconds, like timeseries
    assert doc.server.summary.worker_pids_seen == [7] and doc.out_dir == "/tmp/run"


def test_spectrum_is_capped_and_keeps_the_maximum():
    h = histogram.of(list(range(1, 2_000_000, 7)))
    points = histogram.spectrum(h, max_points=40)
    assert len(points) == 40 and points[-1][0] == 100.0
    assert points[-1][1] == pytest.approx(h.get_max_value() / 1000, rel=0.001)
    assert histogram.spectrum(histogram.new()) == []


def test_saturated_generator_or_interruption_makes_the_run_not_valid():
    plan = build_plan("smoke", users=2, duration=5)
    got = _collected(plan, {s: (2, [1000] * 5, None) for s in range(5)})
    gen = GeneratorSampler.__new__(GeneratorSampler)
    gen.samples = [{"t": T0 + i + 0.9, "max": cpu, "per_process": {}} for i, cpu in enumerate([40, 95, 50, 97, 99])]
    gen.cpu_seconds, gen.cpu_at_start = {1: 2.0}, 1.0
    got.generator = gen
    got.interrupted = "SIGINT"
    doc = build_document(plan=plan, collected=got, target="http://x", tier=None, started_iso="",
                         server=None, server_samples=None, config={})
    assert doc.valid is False
    assert any("generator CPU" in r and "t=4" in r for r in doc.invalid_reasons)
    assert any("interrupted by SIGINT" in r for r in doc.invalid_reasons)
    assert doc.generator.cpu_percent_max == 99 and doc.generator.cpu_ms_per_request == pytest.approx(40)


def test_open_model_reports_offered_achieved_and_dropped():
    plan = build_plan("smoke", users=4, duration=4, arrival_rate=100)
    got = _collected(plan, {s: (4, [1000] * 80, None) for s in range(4)})
    doc = build_document(plan=plan, collected=got, target="http://x", tier=None, started_iso="",
                         server=None, server_samples=None, config={})
    assert doc.model == "open" and doc.offered_rps == 100
    assert doc.achieved_rps == pytest.approx(80)
    assert doc.open_model.dropped == 80 and doc.open_model.sent == 320


def test_outputs_round_trip_and_corrupt_results_are_config_errors(tmp_path):
    plan = build_plan("smoke", users=2, duration=3)
    doc = build_document(plan=plan, collected=_collected(plan, {0: (2, [1000, 2000], None)}), target="http://x",
                         tier=None, started_iso="2027-01-15T08:00:00+00:00", server=None, server_samples=None,
                         config={})
    write_outputs(doc, tmp_path)
    assert load_results(tmp_path) == doc
    csv_lines = (tmp_path / "timeseries.csv").read_text().splitlines()
    assert csv_lines[0] == "t,users,rps,p50_ms,p95_ms,failures,generator_cpu_percent"
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "smoke" in page  # drawn by hmb_ops.report.html
    raw = json.loads(doc.model_dump_json())
    for bad in ("{", "[]", json.dumps({**raw, "schema_version": 9}), json.dumps({**raw, "summary": {}})):
        (tmp_path / "results.json").write_text(bad)
        with pytest.raises(ConfigError):
            load_results(tmp_path)
    with pytest.raises(ConfigError):
        load_results(tmp_path / "missing.json")


@pytest.mark.parametrize("target", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80/"])
def test_loopback_targets_pass(target):
    assert check_target(target, False).startswith("http")


@pytest.mark.parametrize("target", ["http://10.0.0.1", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:80"])
def test_other_targets_are_refused_without_allow_remote(target):
    with pytest.raises(UsageError):
        check_target(target, False)


def test_remote_allowed_only_when_asked():
    assert check_target("http://10.0.0.1:80", True) == "http://10.0.0.1:80"


def test_queue_depth_from_prometheus_text():
    text = ('# TYPE hmb_background_queue_depth gauge\nhmb_background_queue_depth{pid="1"} 3.0\n'
            'hmb_background_queue_depth{pid="2"} 4.0\nhmb_requests_total 9\n')
    assert parse_queue_depth(text) == 7
    assert parse_queue_depth("nothing") is None
