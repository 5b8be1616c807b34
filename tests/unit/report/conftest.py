from pathlib import Path

import pytest

from hmb_ops.documents import Results

DATA = Path(__file__).resolve().parents[1] / "capacity" / "data"


@pytest.fixture
def step_results() -> Results:
    return Results.model_validate_json((DATA / "results_step.json").read_text())


@pytest.fixture
def ci_results() -> Results:
    return Results.model_validate_json((DATA / "results_ci.json").read_text())


def capacity_of(results: Results):
    """The capacity document of one stepped run, analysed as `hmb-ops capacity --results` would."""
    from hmb_ops.capacity import knee, runner, users

    slo = knee.slo_for_steps(["p95<100ms"])
    model = users.load_model()
    cap = runner.analyse(results, slo, model, tier="default", results_path="default/results.json")
    return runner.finish([cap], slo, model, None, None, {"machine": "test", "cpus": 2})


@pytest.fixture
def capacity_doc(step_results):
    return capacity_of(step_results)


@pytest.fixture
def claims_doc():
    from hmb_ops.documents import Claim, ClaimsDocument

    return ClaimsDocument(claims=[
        Claim(name="workers", claim="Workers: 4 (was 2) — 2x capacity increase", claimed="2x", claimed_low=2.0,
              measured=1.12, holds=False, detail="throughput at saturation: 2 workers 100 req/s vs 4 workers 112",
              conditions={"tier": "default"}, runs=["workers-2/results.json", "workers-4/results.json"]),
        Claim(name="background", claim="Response time 7050 ms → 50 ms — 140x faster", claimed="140x",
              claimed_low=140.0, measured=150.0, holds=True, detail="POST /api/posts p50 inline 300 ms vs 2 ms"),
        Claim(name="indexes", claim="Feed: 10-50x faster with indexes", claimed="10–50x", claimed_low=10.0,
              detail="not run")],
        conditions={"machine": "vm", "cpus": 2}, out_dir="/tmp/claims")
