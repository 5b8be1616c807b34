import copy
import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "capacity" / "data"


@pytest.fixture
def step_results() -> dict:
    return copy.deepcopy(json.loads((DATA / "results_step.json").read_text()))


@pytest.fixture
def ci_results() -> dict:
    return copy.deepcopy(json.loads((DATA / "results_ci.json").read_text()))
