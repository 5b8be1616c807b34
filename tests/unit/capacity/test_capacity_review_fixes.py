"""Issue 14, new-user review: steps that measured nothing, plans bounded by the host, worker restarts,
--require-confinement on a host with no CPU to spare, the plans JUnit, --results' recorded seed scale."""

from __future__ import annotations

from hmb_ops.capacity import knee as kn
from hmb_ops.capacity.runner import analyse, finish
from hmb_ops.capacity.service import nothing_measured
from hmb_ops.capacity.users import UsersModel

SLO = kn.slo_for_steps(("p95<100ms",))


def _silent(results):
    """The same run with no request completed in any step (a stuck generator, a scenario that cannot run)."""
    steps = [s.model_copy(update={"requests": 0, "failures": 0, "error_rate": 0.0, "rps": 0.0,
                                  "latency_ms": s.latency_ms.model_copy(update={"p95": 0.0, "p50": 0.0})})
             for s in results.steps]
    return results.model_copy(update={"steps": steps, "valid": False,
                                      "invalid_reasons": ["no request completed"]})


def test_steps_without_answers_never_meet_the_slo(step_results, tmp_path):
    cap = analyse(_silent(step_results), SLO, UsersModel(), tier="small")
    assert cap.knee.step is None and cap.sustainable_rps == 0.0
    assert "no step recorded a completed request" in cap.knee.reason
    assert "SLO held" not in cap.knee.reason and all(not s.passed for s in cap.knee.steps)
    doc = finish([cap], SLO, UsersModel(), None, tmp_path, {"profile": "step"})
    assert "tier small: no step recorded a completed request" in nothing_measured(doc)


def test_one_silent_step_fails_but_the_others_still_count(step_results):
    steps = list(step_results.steps)
    steps[0] = steps[0].model_copy(update={"requests": 0, "rps": 0.0})
    cap = analyse(step_results.model_copy(update={"steps": steps}), SLO, UsersModel(), tier="small")
    assert not cap.knee.steps[0].passed and kn.NO_ANSWER in cap.knee.steps[0].breaches
    assert cap.knee.step is not None and cap.sustainable_rps > 0


def test_a_measured_run_is_not_flagged(step_results, tmp_path):
    doc = finish([analyse(step_results, SLO, UsersModel(), tier="small")], SLO, UsersModel(), None, tmp_path,
                 {"profile": "step"})
    assert nothing_measured(doc) is None
