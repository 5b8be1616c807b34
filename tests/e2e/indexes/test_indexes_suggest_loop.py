"""The loop of issue #15 on the reference app: drop the feed index, run the feed's real query (the
statement the app sends), `indexes suggest` proposes an index serving it, `--spec-out` -> `plan`
shows the build, `apply` builds it online and `verify` proves the feed query uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fixtures_indexes import run_sql

FEED_INDEX = "idx_feed_items_user_created"
# what hmb_ops/refapp/routes_api.py feed() sends (first page), psycopg2 parameters
FEED_SQL = ("SELECT f.id, p.id, p.user_id, u.username, p.content, p.post_type, p.image_url, p.like_count,"
            " p.created_at, f.created_at FROM feed_items f JOIN posts p ON p.id = f.post_id"
            " JOIN users u ON u.id = p.user_id WHERE f.user_id = %s ORDER BY f.created_at DESC, f.id DESC LIMIT %s")


@pytest.mark.slow
def test_feed_index_removed_is_suggested_back_applied_and_verified(new_database, pg_server, pg_url, pg_state_dir,
                                                                    hmb, tmp_path):
    if pg_server[1] is None:
        pytest.skip("the what-if copy needs the embedded server (HMB_OPS_TEST_DATABASE_URL names another)")
    from hmb_ops.db.connect import connection
    from hmb_ops.db.seed import seed

    url = new_database("loop")
    seed(url, scale="small", seed=42)
    shipped = yaml.safe_load((Path(__file__).resolve().parents[3] / "hmb_ops/configs/indexes.yaml").read_text())
    shipped["indexes"]["declared"] = [d for d in shipped["indexes"]["declared"] if d["name"] != FEED_INDEX]
    without_feed = tmp_path / "without-feed.yaml"
    without_feed.write_text(yaml.safe_dump(shipped, sort_keys=False))
    base = ["--database-url", url, "--state-dir", str(pg_state_dir)]
    env = {"CI": "true"}
    applied = hmb([*base, "indexes", "apply", "--file", str(without_feed), "--create-extensions"], env=env)
    assert applied.returncode == 0, applied.stderr
    assert run_sql(url, "SELECT count(*) FROM pg_indexes WHERE indexname = %s", params=(FEED_INDEX,)) == [(0,)]

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        dboid = cur.fetchone()[0]
        run_sql(pg_url, "SELECT pg_stat_statements_reset(0, %s::oid, 0)", params=(dboid,))
        cur.execute("SELECT id FROM users ORDER BY id LIMIT 200")
        for (user_id,) in cur.fetchall():
            cur.execute(FEED_SQL, (user_id, 20))
            cur.fetchall()

    out = tmp_path / "suggested.yaml"
    proc = hmb([*base, "indexes", "suggest", "--spec-out", str(out), "--json"], env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    feed = [s for s in doc["suggestions"] if s["table"] == "feed_items"]
    assert feed, doc
    assert feed[0]["keys"][0] == "user_id"                          # the feed's equality column leads
    assert feed[0]["cost_after"] * 2 <= feed[0]["cost_before"]
    served = {st["id"]: st for st in doc["statements"]}
    assert any("FROM feed_items f" in served[i]["sql"] for i in feed[0]["statements"])

    spec = yaml.safe_load(out.read_text())
    name = feed[0]["name"]
    entry = next(d for d in spec["indexes"]["declared"] if d["name"] == name)
    assert entry["queries"] and "f.user_id = %(p1)s" in entry["queries"][0]["sql"]

    plan = hmb([*base, "indexes", "plan", "--file", str(out), "--json"], env=env)
    assert plan.returncode == 0, plan.stderr
    assert any(a["kind"] == "create" and a["index"] == name for a in json.loads(plan.stdout)["actions"])
    built = hmb([*base, "indexes", "apply", "--file", str(out), "--json"], env=env, timeout=180)
    assert built.returncode == 0, built.stderr
    assert "CONCURRENTLY" in built.stdout
    verified = hmb([*base, "indexes", "verify", "--file", str(out), "--runs", "3", "--json"], env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert any(q["index"] == name and q["status"] == "uses_index" for q in report["queries"])
