"""JUnit XML: one test case per threshold and per baseline comparison, which CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hmb_ops.gates.verdict import Verdict


def render(results: dict, verdict: Verdict) -> str:
    cases: list[tuple[str, str, str | None, str]] = []  # (classname, name, failure message or None, output)
    if verdict.checked:
        ok = verdict.valid or verdict.allow_invalid
        reasons = "; ".join(verdict.invalid_reasons) or "no reason given"
        msg = None if ok else f"results not valid: {reasons} (rerun, or pass --allow-invalid)"
        out = "valid" if verdict.valid else f"not valid ({reasons}); allowed by --allow-invalid"
        cases.append(("hmb-ops.validity", "results are valid", msg, out))
    for r in verdict.thresholds:
        cases.append(("hmb-ops.thresholds", r.threshold.name, None if r.passed else r.message, r.message))
    for c in verdict.comparisons:
        cases.append(("hmb-ops.baseline", c.name, None if c.passed else c.message, c.message))

    failures = sum(1 for c in cases if c[2] is not None)
    suite_name = f"hmb-ops {results.get('profile', 'results')}"
    root = ET.Element("testsuites", name="hmb-ops", tests=str(len(cases)), failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures),
                          errors="0", skipped="0", time=f"{float(results.get('duration_s') or 0):.3f}",
                          timestamp=str(results.get("started_at") or ""))
    props = ET.SubElement(suite, "properties")
    for key in ("profile", "tier", "target", "model"):
        if results.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=str(results[key]))
    for classname, name, failure, output in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
        if failure is not None:
            ET.SubElement(case, "failure", message=failure, type="threshold").text = failure
        ET.SubElement(case, "system-out").text = output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
