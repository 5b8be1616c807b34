"""The typed documents: old files still load, every kind is recognised, anything else is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmb_ops.documents import SCHEMA_VERSION, CapacityDocument, ClaimsDocument, Results, read_document, read_results
from hmb_ops.errors import ConfigError

DATA = Path(__file__).parents[1] / "capacity" / "data"


def _write(tmp_path: Path, doc: dict, name: str = "doc.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize("name", ["results_step.json", "results_ci.json"])
def test_stored_results_documents_load_as_results(name):
    doc = read_document(DATA / name)
    assert isinstance(doc, Results)
    assert doc.kind == "loadtest" and doc.schema_version == SCHEMA_VERSION
    assert doc.summary.latency_ms.p95 > 0


def test_an_old_results_document_without_the_new_fields_loads_with_defaults(tmp_path):
    raw = json.loads((DATA / "results_step.json").read_text())
    assert "kind" not in raw and "stages" not in raw
    for point in raw["timeseries"]:
        point.pop("p99_ms", None)
    doc = read_document(_write(tmp_path, raw))
    assert isinstance(doc, Results)
    assert doc.stages == [] and doc.summary.percentile_spectrum == []
    assert doc.timeseries[0].p99_ms is None
    assert all(e.timeseries == [] and e.failures_by_kind == {} for e in doc.endpoints)
    assert doc.steps[0].server.cpu_percent_per_worker == 25.3


def test_a_folder_means_its_results_json(tmp_path):
    (tmp_path / "results.json").write_text((DATA / "results_ci.json").read_text())
    assert isinstance(read_results(tmp_path), Results)


def test_capacity_and_claims_documents_are_recognised_by_kind(tmp_path):
    claims = {"schema_version": 1, "kind": "claims", "conditions": {}, "out_dir": str(tmp_path),
              "claims": [{"name": "workers", "claim": "2x", "claimed": "2x", "claimed_low": 2.0, "measured": 1.5,
                          "holds": False, "detail": "d", "conditions": {}, "runs": []}], "notes": []}
    doc = read_document(_write(tmp_path, claims))
    assert isinstance(doc, ClaimsDocument) and doc.claims[0].holds is False
    with pytest.raises(ConfigError, match="not load test results"):
        read_results(_write(tmp_path, claims))


def test_capacity_document_round_trips_with_the_lambda_key():
    usl = {"points": 6, "ok": True, "reason": "fit", "lambda": 9.0, "sigma": 0.1, "kappa": 0.0}
    knee = {"sustainable_rps": 10.0, "reason": "r", "slo_held_throughout": False, "non_monotonic": False}
    tier = {"tier": "small", "profile": "step", "valid": True, "sustainable_rps": 10.0, "users_supported": 5,
            "concurrent_users_supported": 1.0, "knee": knee, "usl": usl}
    doc = CapacityDocument.model_validate(
        {"schema_version": 1, "kind": "capacity", "target_users": 10, "target_rps": 1.0, "tiers": [tier],
         "users_model": {"registered_users": 10, "daily_active_share": 0.3, "sessions_per_day": 1,
                         "peak_hour_share": 0.1, "session_minutes": 10, "requests_per_active_minute": 12}})
    assert doc.tiers[0].usl.lambda_ == 9.0
    assert json.loads(doc.model_dump_json())["tiers"][0]["usl"]["lambda"] == 9.0


@pytest.mark.parametrize("raw, needle", [
    ({"a": 1}, "schema_version"),
    ([1, 2], "expected a JSON object"),
    ({"kind": "weather", "schema_version": 1}, "unknown document kind"),
    ({"kind": "capacity", "schema_version": 1}, "field"),
    ({"schema_version": 99}, "unsupported schema_version 99"),
])
def test_anything_else_is_one_config_error(tmp_path, raw, needle):
    with pytest.raises(ConfigError) as exc:
        read_document(_write(tmp_path, raw))
    line = exc.value.one_line()
    assert needle in line and "\n" not in line
