import copy
import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def step_results() -> dict:
    """A hand-written results document of a `step` run (engineer D's shape), seven steps."""
    return copy.deepcopy(_load("results_step.json"))


@pytest.fixture
def ci_results() -> dict:
    """A hand-written results document of a `ci` run (no steps)."""
    return copy.deepcopy(_load("results_ci.json"))


@pytest.fixture
def write_json(tmp_path):
    def write(doc, name="results.json") -> Path:
        p = tmp_path / name
        p.write_text(json.dumps(doc))
        return p

    return write
