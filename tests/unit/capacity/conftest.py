import json
from pathlib import Path

import pytest

from hmb_ops.documents import Results

DATA = Path(__file__).parent / "data"


def _load(name: str) -> Results:
    return Results.model_validate_json((DATA / name).read_text())


@pytest.fixture
def step_results() -> Results:
    """A hand-written results document of a `step` run (engineer D's shape), seven steps."""
    return _load("results_step.json")


@pytest.fixture
def ci_results() -> Results:
    """A hand-written results document of a `ci` run (no steps)."""
    return _load("results_ci.json")


@pytest.fixture
def write_json(tmp_path):
    def write(doc, name="results.json") -> Path:
        p = tmp_path / name
        p.write_text(doc.model_dump_json() if isinstance(doc, Results) else json.dumps(doc))
        return p

    return write
