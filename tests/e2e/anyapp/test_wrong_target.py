"""A wrong target is never a pass: a load written for another app fails by default (issue #13)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "shop"

OTHER_APP = """\
scenario:
  name: another-shop
  feeders:
    pid: {sequence: {start: 1, stop: 50}}
  requests:
    - name: GET /api/products/{id}
      weight: 3
      path: /api/products/{{ pid }}
    - name: GET /api/cart
      path: /api/cart
    - name: GET /health
      path: /health
"""

OTHER_LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Buyer(HttpUser):
    wait_time = constant(0.01)

    @task(3)
    def orders(self):
        self.client.get("/api/v2/orders", name="GET /api/v2/orders")

    @task(1)
    def health(self):
        self.client.get("/health", name="GET /health")
"""


def run(hmb, shop_app, out: Path, *extra: str):
    return hmb(["loadtest", "--target", shop_app.url, "--profile", "ci", "--users", "3", "--spawn-rate", "50",
                "--duration", "4s", "--out", str(out), *extra], timeout=120)


def test_a_scenario_for_another_app_fails_without_any_check_naming_requests_and_statuses(hmb, shop_app, tmp_path):
    (tmp_path / "other.yaml").write_text(OTHER_APP)
    out = tmp_path / "run"
    res = run(hmb, shop_app, out, "--scenario", str(tmp_path / "other.yaml"))
    assert res.returncode == 1, (res.stdout[-2000:], res.stderr[-2000:])
    doc = json.loads((out / "results.json").read_text())
    ep = {e["name"]: e for e in doc["endpoints"]}
    products, cart = ep["GET /api/products/{id}"], ep["GET /api/cart"]
    assert ep["GET /health"]["failures"] == 0 and products["failures"] == products["requests"] > 0

    line = next(ln for ln in res.stderr.splitlines() if "most answers failed" in ln)
    assert line.strip().startswith("FAIL error_rate<50% (default): most answers failed, "
                                   f"{doc['summary']['failures']} of {doc['summary']['requests']}")
    # the top failing names, most first, with their statuses; then what to do about it
    assert re.search(rf"top failing: GET /api/products/\{{id\}}: {products['requests']} of {products['requests']} "
                     rf"failed \(404 ×{products['requests']}\); GET /api/cart: {cart['requests']} of "
                     rf"{cart['requests']} failed \(404 ×{cart['requests']}\)", line), line
    assert "is --target the app this load was written for?" in line
    assert "FAIL: 1 of 1 checks failed" in res.stderr

    md = (out / "summary.md").read_text()
    assert "**❌ FAIL: 1 of 1 checks failed**" in md and "| error_rate<50% (default) |" in md
    n = products["requests"]
    assert f"| GET /api/products/{{id}} | {n} | {n} | 404 ×{n} |" in md
    case = ET.parse(out / "junit.xml").getroot().find(".//testcase[@name='error_rate<50%']")
    assert case is not None and "most answers failed" in case.find("failure").get("message")
    # results.json keeps the checks: `report` of it later says what the run's exit code said
    assert doc["verdict"]["exit_code"] == 1 and doc["verdict"]["checks"][0]["default"] is True
    rep = hmb(["report", str(out / "results.json"), "--format", "junit"], timeout=60)
    assert rep.returncode == 0 and 'failures="1"' in rep.stdout and "most answers failed" in rep.stdout, rep.stdout
    rep = hmb(["report", str(out / "results.json"), "--format", "md"], timeout=60)
    assert "**❌ FAIL: 1 of 1 checks failed**" in rep.stdout and "No thresholds" not in rep.stdout


def test_a_locustfile_for_another_app_fails_too(hmb, shop_app, tmp_path):
    (tmp_path / "other_locustfile.py").write_text(OTHER_LOCUSTFILE)
    out = tmp_path / "run"
    res = run(hmb, shop_app, out, "--locustfile", str(tmp_path / "other_locustfile.py"))
    assert res.returncode == 1, (res.stdout[-2000:], res.stderr[-2000:])
    assert re.search(r"top failing: GET /api/v2/orders: (\d+) of \1 failed \(404 ×\1\)", res.stderr), res.stderr


def test_the_reference_profile_against_another_app_stops_at_once(hmb, shop_app, tmp_path):
    res = run(hmb, shop_app, tmp_path / "run")
    assert res.returncode == 3, (res.stdout[-2000:], res.stderr[-2000:])
    assert "this target does not look like the reference app; use --scenario or --locustfile" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_right_target_without_checks_is_not_judged(hmb, shop_app, tmp_path):
    """The default check only speaks up when it fails: a plain run writes no verdict files, as before."""
    out = tmp_path / "run"
    res = run(hmb, shop_app, out, "--scenario", str(EXAMPLES / "scenario.yaml"))
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    assert not (out / "junit.xml").exists() and not (out / "summary.md").exists()
    assert "checks" not in res.stderr
