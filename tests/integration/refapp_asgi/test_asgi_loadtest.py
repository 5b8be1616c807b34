"""A load run with the shipped scenario (hmb_ops/configs/scenarios/hiremebahamas.yaml, unchanged)
against the ASGI variant, started by the load runner itself the way `app serve` starts it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the asgi extra is not installed: pip install 'hmb-ops[asgi]'")

import hmb_ops

SHIPPED = Path(hmb_ops.__file__).parent / "configs" / "scenarios" / "hiremebahamas.yaml"


@pytest.mark.slow
def test_shipped_scenario_runs_clean_against_the_asgi_variant(module_database, tmp_path):
    from hmb_ops.gates.thresholds import evaluate_all, parse
    from hmb_ops.loadtest.api import LoadRequest, run_load

    doc = run_load(LoadRequest(profile="ci", users=6, duration=8, database_url=module_database,
                               state_dir=str(tmp_path / "state"), out_dir=str(tmp_path / "r"),
                               app_worker_class="uvicorn_worker.UvicornWorker", app_workers=2,
                               scenario=str(SHIPPED)))
    assert doc.server is not None and doc.server.worker_class == "uvicorn_worker.UvicornWorker"
    assert doc.summary.failures == 0, doc.summary.failures_by_kind
    names = {e.name for e in doc.endpoints}
    assert {"POST /api/auth/login", "GET /api/feed", "GET /api/jobs", "GET /api/messages/unread-count",
            "GET /api/notifications"} <= names, names
    assert doc.valid, doc.invalid_reasons
    # The CI profile's kind of checks, on the ASGI variant's run.
    for expr in ("error_rate<1%", "p95<2000ms"):
        assert evaluate_all([parse(expr)], doc)[0].passed, expr
