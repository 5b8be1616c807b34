"""User locustfile pieces without a run: raw µs from request events, failure kinds, host conflicts,
and saturation judged per reporting worker."""

from __future__ import annotations

import base64
import json
from array import array

import pytest

from hmb_ops.loadtest.api import results_from_raw
from hmb_ops.loadtest.behaviour import Recorder
from hmb_ops.loadtest.cpu_report import ReportedCpu
from hmb_ops.loadtest.user_locustfile import attach_recorder, failure_kind, host_conflict


class _Hook:
    def __init__(self):
        self.listeners = []

    def add_listener(self, fn):
        self.listeners.append(fn)

    def fire(self, **kw):
        for fn in self.listeners:
            fn(**kw)


class _Events:
    def __init__(self):
        self.request = _Hook()


class _Resp:
    def __init__(self, status_code):
        self.status_code = status_code


def test_request_events_are_recorded_in_microseconds_without_rounding_to_ms():
    rec, events = Recorder(), _Events()
    attach_recorder(events, rec)
    events.request.fire(request_type="GET", name="GET /a", response_time=1.2346, response_length=2,
                        response=_Resp(200), context={}, exception=None, start_time=0.0, url="/a")
    events.request.fire(request_type="GET", name="GET /a", response_time=0.0004, response_length=2,
                        response=_Resp(404), context={}, exception=RuntimeError("404"), start_time=0.0, url="/a")
    assert list(rec.values["GET /a"]) == [1235, 0]
    assert rec.failures == {"GET /a": {"http_404": 1}}
    assert rec.sent == 2


def test_a_connection_failure_has_no_latency_but_is_counted():
    rec, events = Recorder(), _Events()
    attach_recorder(events, rec)
    events.request.fire(name="GET /b", response_time=3.0, response=_Resp(0),
                        exception=ConnectionRefusedError(111, "Connection refused"))
    assert "GET /b" not in rec.values
    assert rec.failures == {"GET /b": {"connection": 1}}


def test_failure_kinds():
    class CatchResponseError(Exception):
        pass

    class ConnectTimeout(Exception):
        pass

    assert failure_kind(_Resp(200), None) is None
    assert failure_kind(_Resp(302), RuntimeError()) == "redirect"
    assert failure_kind(_Resp(429), RuntimeError()) == "rate_limited_429"
    assert failure_kind(_Resp(503), RuntimeError()) == "http_503"
    assert failure_kind(_Resp(0), TimeoutError("timed out")) == "timeout"
    assert failure_kind(_Resp(0), ConnectTimeout("x")) == "timeout"
    assert failure_kind(_Resp(0), ConnectionResetError()) == "connection"
    assert failure_kind(_Resp(200), CatchResponseError("body check failed")) == "exception_CatchResponseError"
    assert failure_kind(None, ValueError("bad json")) == "exception_ValueError"


def test_host_conflicts():
    assert host_conflict([{"name": "U", "host": None}], "http://127.0.0.1:8000") is None
    assert host_conflict([{"name": "U", "host": "http://127.0.0.1:8000/"}], "http://127.0.0.1:8000") is None
    assert "not the target" in host_conflict([{"name": "U", "host": "http://x:1"}], "http://127.0.0.1:8000")
    assert "no --target" in host_conflict([{"name": "U", "host": "http://x:1"}], None)


def test_one_saturated_worker_among_idle_ones_is_saturation():
    reports = []
    for t in range(6):
        reports.append({"t": 100.0 + t, "id": "idle", "percent": 5.0, "cpu_s": 0.05 * t})
        reports.append({"t": 100.2 + t, "id": "busy", "percent": 99.0 if t >= 2 else 20.0, "cpu_s": 1.0 * t})
    cpu = ReportedCpu(reports)
    assert cpu.saturated_since(100.0) == 102.2
    assert max(s["max"] for s in cpu.samples) == 99.0
    cpu.mark_start(100.0)
    assert round(cpu.total_cpu_seconds(), 3) == round(0.25 + 5.0, 3)
    assert ReportedCpu([r for r in reports if r["id"] == "idle"]).saturated_since(100.0) is None


def test_a_single_spike_is_not_saturation():
    reports = [{"t": 100.0 + t, "id": "w", "percent": 99.0 if t == 3 else 10.0, "cpu_s": t} for t in range(6)]
    assert ReportedCpu(reports).saturated_since(0.0) is None


def _raw_line(doc: dict) -> str:
    return json.dumps(doc)


@pytest.mark.parametrize("busy_percent, valid", [(99.0, False), (60.0, True)])
def test_from_raw_judges_each_workers_reported_cpu(tmp_path, busy_percent, valid):
    """A distributed run's raw file: one worker idle, one reporting `busy_percent` every second."""
    t0 = 1_700_000_000.0
    lines = [_raw_line({"type": "started", "t": t0, "target": "http://127.0.0.1:9"})]
    for i in range(1, 6):
        for worker, pct in (("idle", 5.0), ("busy", busy_percent)):
            values = base64.b64encode(array("I", [1500] * 10).tobytes()).decode()
            lines.append(_raw_line({"type": "interval", "t": t0 + i, "v": {"GET /x": values}, "f": {}, "users": 2,
                                    "ready": 2, "late": 0, "sent": 10, "slots": 0,
                                    "cpu": {"id": worker, "percent": pct, "cpu_s": i * pct / 100}}))
    lines.append(_raw_line({"type": "done", "t": t0 + 6}))
    raw = tmp_path / "raw.jsonl"
    raw.write_text("\n".join(lines) + "\n")
    doc = results_from_raw(raw, profile="smoke", out_dir=str(tmp_path / "r"))
    assert doc.generator.cpu_percent_max == busy_percent
    assert doc.config["generator_cpu"] == "reported by each worker"
    assert doc.generator.processes == 2  # the workers that reported, not the profile's 1
    assert doc.valid is valid
    assert any("generator CPU stayed above 90 %" in r for r in doc.invalid_reasons) is not valid


def test_the_start_up_second_is_not_generator_saturation(tmp_path):
    """A locustfile's import and the spawn fill the first second (~97 % of a core, seen in CI, twice
    in a row when reported every half second); the load after it is 30 %: the run is valid."""
    t0 = 1_700_000_000.0
    lines = [_raw_line({"type": "started", "t": t0, "target": "http://127.0.0.1:9"})]
    for t, pct in ((0.5, 97.0), (1.0, 98.0), (2.0, 30.0), (3.0, 31.0), (4.0, 29.0), (5.0, 30.0)):
        values = base64.b64encode(array("I", [1500] * 10).tobytes()).decode()
        lines.append(_raw_line({"type": "interval", "t": t0 + t, "v": {"GET /x": values}, "f": {}, "users": 2,
                                "ready": 2, "late": 0, "sent": 10, "slots": 0,
                                "cpu": {"id": "w", "percent": pct, "cpu_s": t * pct / 100}}))
    lines.append(_raw_line({"type": "done", "t": t0 + 6}))
    raw = tmp_path / "raw.jsonl"
    raw.write_text("\n".join(lines) + "\n")
    doc = results_from_raw(raw, profile="smoke", out_dir=str(tmp_path / "r"))
    assert doc.valid, doc.invalid_reasons
