"""Load-testing an app that is not the reference app, as a user does (issue #13).

The shop app (tests/fixtures/shop_app) runs under real Gunicorn; `hmb-ops loadtest` runs the
shipped examples (examples/shop/scenario.yaml and locustfile.py) against it, samples the Gunicorn
master's process tree and its /metrics, and gates on them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg2
import yaml
from fixtures_shop import SHOP_ITEMS

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "shop"
NAMES = {"POST /login", "GET /items", "GET /items/{id}", "POST /items"}
USERS = 4


def load_args(shop_app, out: Path, *extra: str) -> list[str]:
    url, pid, _db = shop_app
    return ["loadtest", "--target", url, "--profile", "ci", "--users", str(USERS), "--spawn-rate", "50",
            "--duration", "8s", "--out", str(out), "--server-pid", str(pid),
            "--metrics-url", url + "/metrics", "--metric", "shop_http_request_duration_seconds",
            "--metric", "shop_http_requests_in_flight", *extra]


def item_count(database_url: str) -> int:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM shop_items")
            return cur.fetchone()[0]
    finally:
        conn.close()


def assert_server_sampled(doc: dict, pid: int) -> None:
    server = doc["server"]
    assert server["pid"] == pid and len(server["samples"]) >= 3, server
    summary = server["summary"]
    assert len(summary["worker_pids_seen"]) == 2 and summary["rss_mb_max"] > 10, summary
    assert summary["worker_restarts"] == 0
    assert any(len(s["workers"]) == 2 for s in server["samples"])
    metrics = server["metrics"]
    assert metrics["shop_http_request_duration_seconds"]["type"] == "histogram"
    assert metrics["shop_http_request_duration_seconds"]["samples"] >= 2
    assert 0 < metrics["shop_http_request_duration_seconds"]["p95"] < 5
    assert metrics["shop_http_requests_in_flight"]["type"] == "gauge"


def test_the_example_scenario_runs_with_names_grouped_server_sampled_and_gated(hmb, shop_app, tmp_path):
    _url, pid, database_url = shop_app
    out = tmp_path / "run"
    # the shop's own database is sampled too (a global --database-url, as a user gives it)
    res = hmb(["--database-url", database_url,
               *load_args(shop_app, out, "--scenario", str(EXAMPLES / "scenario.yaml"),
                          "--check", "server.rss_mb.max<1500", "--check", "server.cpu_percent.p95<400",
                          "--check", "metric.shop_http_request_duration_seconds.p95<5s",
                          "--check", "db.connections.max<50", "--check", "GET /items/{id}: error_rate<1%")],
              timeout=180)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "PASS: 6 checks passed" in res.stderr and "error_rate<50% (default)" in res.stderr

    doc = json.loads((out / "results.json").read_text())
    by_name = {e["name"]: e for e in doc["endpoints"]}
    # /items/401, /items/402 … are one row; nothing else appears
    assert set(by_name) == NAMES, sorted(by_name)
    assert by_name["POST /login"]["requests"] == USERS  # the setup runs once per simulated user
    assert by_name["GET /items/{id}"]["requests"] > 120  # beyond id 500: the 404s it expects were sent
    assert doc["summary"]["failures"] == 0, doc["summary"]
    # every POST /items carried the token captured at login: the shop stored them all
    assert by_name["POST /items"]["requests"] > 0
    assert item_count(database_url) == SHOP_ITEMS + by_name["POST /items"]["requests"]
    assert_server_sampled(doc, pid)
    assert doc["server"]["database_sampled"] is True
    # the shop's two workers each hold a pool connection (application_name shop_app) during the run
    assert doc["server"]["summary"]["db_connections_max"] >= 2
    md = (out / "summary.md").read_text()
    assert "| server.rss_mb.max<1500MB |" in md and "| error_rate<50% (default) | 0% | pass |" in md


def test_failures_by_kind_and_a_failing_server_gate(hmb, shop_app, tmp_path):
    """The example with three things wrong: 404s no longer expected, a wrong token, a capture that never
    matches; each is counted under its name and kind, and a server gate that cannot hold exits 1."""
    spec = yaml.safe_load((EXAMPLES / "scenario.yaml").read_text())
    sc = spec["scenario"]
    by_name = {r["name"]: r for r in sc["requests"]}
    del by_name["GET /items/{id}"]["expect"]
    by_name["POST /items"]["headers"] = {"Authorization": "Bearer {{ token }}-not"}  # still needs the login
    by_name["GET /items"]["capture"] = {"never": {"json": "$.no_such_field"}}
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(EXAMPLES / "accounts.csv", tmp_path / "accounts.csv")
    out = tmp_path / "run"
    res = hmb(load_args(shop_app, out, "--scenario", str(tmp_path / "wrong.yaml"),
                        "--check", "server.rss_mb.max<1", "--check", "error_rate<=100%"), timeout=180)
    assert res.returncode == 1, (res.stdout[-3000:], res.stderr[-3000:])
    assert "FAIL server.rss_mb.max<1MB" in res.stderr, res.stderr[-3000:]
    assert "(default)" not in res.stderr  # the user's own error_rate check replaced the default

    doc = json.loads((out / "results.json").read_text())
    ep = {e["name"]: e for e in doc["endpoints"]}
    assert set(ep) == NAMES
    items = ep["GET /items/{id}"]
    assert set(items["failures_by_kind"]) == {"http_404"} and 0 < items["failures"] < items["requests"], items
    posts = ep["POST /items"]
    assert posts["failures_by_kind"] == {"http_401": posts["requests"]} and posts["requests"] > 0, posts
    listing = ep["GET /items"]
    assert listing["failures_by_kind"] == {"capture_failed": listing["requests"]}, listing
    assert ep["POST /login"]["failures"] == 0
    kinds = doc["summary"]["failures_by_kind"]
    assert kinds["http_404"] == items["failures"] and kinds["http_401"] == posts["requests"]
    assert kinds["capture_failed"] == listing["requests"]
    assert_server_sampled(doc, pid=shop_app.pid)
    # the failed gate's summary names the requests that failed most, with their statuses
    md = (out / "summary.md").read_text()
    assert "### Top failing requests" in md and f"| 401 ×{posts['requests']} |" in md


def test_the_example_locustfile_runs_with_names_grouped_and_server_sampled(hmb, shop_app, tmp_path):
    _url, pid, database_url = shop_app
    out = tmp_path / "run"
    res = hmb(load_args(shop_app, out, "--locustfile", str(EXAMPLES / "locustfile.py"),
                        "--check", "server.rss_mb.max<1500", "--check", "GET /items/{id}: error_rate<1%"),
              timeout=180)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    doc = json.loads((out / "results.json").read_text())
    by_name = {e["name"]: e for e in doc["endpoints"]}
    assert set(by_name) == NAMES, sorted(by_name)
    assert by_name["POST /login"]["requests"] == USERS and by_name["POST /login"]["failures"] == 0
    # ids up to 520: the 404s are marked a success by the locustfile's catch_response
    assert by_name["GET /items/{id}"]["requests"] > 50 and by_name["GET /items/{id}"]["failures"] == 0
    assert by_name["POST /items"]["failures"] == 0
    assert item_count(database_url) == SHOP_ITEMS + by_name["POST /items"]["requests"]
    assert_server_sampled(doc, pid)
