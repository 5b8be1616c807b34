"""docs/schemas/*.schema.json are generated from the models and must match them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmb_ops.documents import schema

FOLDER = Path(__file__).resolve().parents[3] / "docs" / "schemas"
REGENERATE = "regenerate with: python -m hmb_ops.documents.schema (and commit docs/schemas/)"


@pytest.mark.parametrize("name", sorted(schema.SCHEMAS))
def test_committed_schema_matches_the_model(name):
    path = FOLDER / schema.file_name(name)
    assert path.is_file(), f"{path} is missing; {REGENERATE}"
    assert path.read_text(encoding="utf-8") == schema.schema_text(name), f"{path} differs from the model; {REGENERATE}"


def test_the_generator_writes_every_schema(tmp_path):
    written = schema.write_all(tmp_path)
    assert sorted(p.name for p in written) == ["capacity.schema.json", "claims.schema.json", "results.schema.json",
                                                  "search.schema.json"]
    results = json.loads((tmp_path / "results.schema.json").read_text())
    # Fields added later have defaults, so the schema does not require them (old files stay valid).
    assert "stages" not in results["required"] and "kind" not in results["required"]
    assert {"profile", "summary", "generator"} <= set(results["required"])
    capacity = json.loads((tmp_path / "capacity.schema.json").read_text())
    assert "lambda" in capacity["$defs"]["UslSummary"]["properties"]  # the key as written, not lambda_


def test_a_model_change_shows_up_as_a_difference(monkeypatch):
    from pydantic import create_model

    from hmb_ops.documents.claims import ClaimsDocument

    changed = create_model("ClaimsDocument", __base__=ClaimsDocument, extra_field=(int, 0))
    monkeypatch.setitem(schema.SCHEMAS, "claims", changed)
    assert (FOLDER / "claims.schema.json").read_text(encoding="utf-8") != schema.schema_text("claims")
