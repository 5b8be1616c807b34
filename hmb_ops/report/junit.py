"""JUnit XML, which CI systems read: one test case per check (load results), per tier (capacity) or
per claim (claims)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import CapacityDocument, ClaimsDocument, Document, Results
    from hmb_ops.gates.verdict import Verdict

# (classname, name, failure message or None, output, skipped)
Case = tuple[str, str, "str | None", str, bool]


def render(doc: Document, verdict: Verdict | None = None) -> str:
    if doc.kind == "capacity":
        return _xml("hmb-ops capacity", _capacity_cases(doc), time=0.0, timestamp="", props={})
    if doc.kind == "claims":
        return _xml("hmb-ops claims", _claims_cases(doc), time=0.0, timestamp="", props={})
    props = {k: getattr(doc, k) for k in ("profile", "tier", "target", "model")}
    return _xml(f"hmb-ops {doc.profile or 'results'}", _results_cases(doc, verdict), time=doc.duration_s,
                timestamp=doc.started_at, props=props)


def _results_cases(results: Results, verdict: Verdict | None) -> list[Case]:
    cases: list[Case] = []
    if verdict is None:
        return cases
    if verdict.checked:
        ok = verdict.valid or verdict.allow_invalid
        reasons = "; ".join(verdict.invalid_reasons) or "no reason given"
        msg = None if ok else f"results not valid: {reasons} (rerun, or pass --allow-invalid)"
        out = "valid" if verdict.valid else f"not valid ({reasons}); allowed by --allow-invalid"
        cases.append(("hmb-ops.validity", "results are valid", msg, out, False))
    if verdict.aborted:  # --abort-on-fail stopped the run
        cases.append(("hmb-ops.abort", "run not aborted", verdict.aborted, verdict.aborted, False))
    for r in verdict.thresholds:
        cases.append(("hmb-ops.thresholds", r.threshold.name, None if r.passed else r.message, r.message, False))
    for c in verdict.comparisons:
        cases.append(("hmb-ops.baseline", c.name, None if c.passed else c.message, c.message, False))
    return cases


def _capacity_cases(doc: CapacityDocument) -> list[Case]:
    """A tier or plan fails when no step met the SLO or its runs were not valid (its figure is then no
    capacity); a plan also fails when it does not meet the target, so a CI job gating on this file is
    red when no plan is enough."""
    cases: list[Case] = []
    for t in doc.tiers:
        out = f"{t.sustainable_rps:.1f} req/s sustainable, {t.users_supported:,} users supported; {t.knee.reason}"
        out += "".join(f"; WARNING: {w}" for w in (t.host_bound, t.knee_restart) if w)
        failure = None
        if t.knee.step_index is None:
            failure = f"no step met the SLO ({', '.join(doc.slo)}): {t.knee.reason}"
        elif not t.valid:
            failure = f"results not valid: {'; '.join(t.invalid_reasons)}"
        elif t.plan is not None and t.meets_target is False:
            failure = (f"does not meet the target: {t.sustainable_rps:.1f} req/s sustainable, "
                       f"{doc.target_rps:.1f} req/s needed for {doc.target_users:,} users at the peak hour")
        cases.append(("hmb-ops.capacity", f"{'plan' if t.plan is not None else 'tier'} {t.tier}", failure, out,
                      False))
    return cases


def _claims_cases(doc: ClaimsDocument) -> list[Case]:
    cases: list[Case] = []
    for c in doc.claims:
        failure = None if c.holds is not False else f"claimed {c.claimed}, measured {c.measured:.2f}x: {c.detail}"
        cases.append(("hmb-ops.claims", c.name, failure, c.detail, c.holds is None))
    return cases


def _xml(suite_name: str, cases: list[Case], *, time: float, timestamp: str, props: dict) -> str:
    failures = sum(1 for c in cases if c[2] is not None)
    skipped = sum(1 for c in cases if c[4])
    root = ET.Element("testsuites", name="hmb-ops", tests=str(len(cases)), failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures),
                          errors="0", skipped=str(skipped), time=f"{float(time or 0):.3f}",
                          timestamp=str(timestamp or ""))
    properties = ET.SubElement(suite, "properties")
    for key, value in props.items():
        if value is not None:
            ET.SubElement(properties, "property", name=key, value=str(value))
    for classname, name, failure, output, skip in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
        if skip:
            ET.SubElement(case, "skipped", message="not measured")
        elif failure is not None:
            ET.SubElement(case, "failure", message=failure, type="threshold").text = failure
        ET.SubElement(case, "system-out").text = output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
