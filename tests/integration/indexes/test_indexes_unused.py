"""`indexes status` right after building: nothing is "unused", and it says why (statistics too young)."""

from __future__ import annotations

import json

import pytest

from fixtures_indexes import USERS_SPEC, env_for, run_sql as sql, write_spec


@pytest.mark.slow
def test_status_right_after_apply_calls_no_index_unused(schema_db, hmb, tmp_path):
    env = env_for(schema_db)
    spec = write_spec(tmp_path, USERS_SPEC)
    sql(schema_db, "CREATE INDEX users_name_by_hand ON users (username)")
    done = hmb(["indexes", "apply", "--file", spec], env=env)
    assert done.returncode == 0, done.stderr
    shown = hmb(["indexes", "status", "--file", spec], env=env)
    assert shown.returncode == 0, shown.stderr
    assert "unused needs 7 days, so no index is called unused yet" in shown.stderr
    assert "statistics are " in shown.stderr and "unused:" not in shown.stderr
    report = json.loads(hmb(["indexes", "status", "--file", spec, "--json"], env=env).stdout)
    rows = {r["name"]: r for r in report["indexes"]}
    assert report["statistics"]["unused_after_days"] == 7.0
    assert report["statistics"]["source"] in ("stats_reset", "server_start")
    assert not [f for f in report["findings"] if f["kind"] == "unused"]
    assert rows["idx_users_created"]["usage"] == "too_young"
    assert rows["idx_users_created"]["index_age_s"] is not None and rows["idx_users_created"]["index_age_s"] < 600
    assert rows["users_name_by_hand"]["index_age_s"] is None            # not built by hmb-ops: unknown
    assert rows["idx_users_email_lower"]["usage"] == "exempt"          # unique: never unused
    plan = hmb(["indexes", "plan", "--file", spec], env=env)
    assert "unused" not in plan.stderr


@pytest.mark.slow
def test_with_a_zero_day_threshold_zero_scans_are_unused_but_unique_indexes_never(schema_db, hmb, tmp_path):
    env = env_for(schema_db)
    spec = write_spec(tmp_path, USERS_SPEC)
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    report = json.loads(hmb(["indexes", "status", "--file", spec, "--unused-after", "0", "--json"], env=env).stdout)
    rows = {r["name"]: r for r in report["indexes"]}
    assert rows["idx_users_created"]["usage"] == "unused"
    assert rows["idx_users_email_lower"]["usage"] == "exempt"
    assert rows["users_pkey"]["usage"] == "exempt"
    assert {f["index"] for f in report["findings"] if f["kind"] == "unused"} >= {"idx_users_created"}
    bad = hmb(["indexes", "status", "--file", spec, "--unused-after", "-1"], env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_threshold_comes_from_the_spec_or_the_environment(schema_db, hmb, tmp_path):
    env = env_for(schema_db)
    spec = write_spec(tmp_path, USERS_SPEC.replace("indexes:\n", "indexes:\n  unused_after_days: 0\n", 1))
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    report = json.loads(hmb(["indexes", "status", "--file", spec, "--json"], env=env).stdout)
    assert report["statistics"]["unused_after_days"] == 0
    assert {r["name"]: r["usage"] for r in report["indexes"]}["idx_users_created"] == "unused"
    later = json.loads(hmb(["indexes", "status", "--file", spec, "--json"],
                           env={**env, "HMB_OPS_UNUSED_AFTER_DAYS": "30"}).stdout)
    assert later["statistics"]["unused_after_days"] == 30
    assert {r["name"]: r["usage"] for r in later["indexes"]}["idx_users_created"] == "too_young"
