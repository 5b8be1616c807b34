"""`hmb-ops indexes ...` as a user runs it: real subprocess, real server, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from hmb_ops.indexes.apply import LOCK_KEYS

from cli_helpers import INTERRUPTIBLE_CLI, error_line
from fixtures_indexes import env_for


@pytest.fixture(scope="module")
def seeded(module_database):
    from hmb_ops.db.seed import seed

    seed(module_database, scale="small", seed=42)
    return module_database


@pytest.mark.slow
def test_plan_apply_empty_plan_verify_status_with_the_shipped_spec(seeded, hmb):
    env = env_for(seeded)
    plan = hmb(["indexes", "plan", "--json"], env=env)
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["schema_version"] == 1 and doc["summary"]["missing"] == 39 and len(doc["actions"]) > 39
    assert "***" in doc["database"]
    first = doc["actions"][1]
    assert set(first) >= {"id", "kind", "index", "sql", "lock_timeout_ms", "statement_timeout_ms", "hazards"}

    refused = hmb(["indexes", "apply"], env=env)
    assert refused.returncode == 2 and "--create-extensions" in error_line(refused)

    sql = hmb(["indexes", "plan", "--sql"], env=env)
    assert "CREATE INDEX CONCURRENTLY idx_users_phone" in sql.stdout and "IF NOT EXISTS" not in sql.stdout

    applied = hmb(["indexes", "apply", "--create-extensions", "--json"], env=env)
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["changed"] is True

    again = hmb(["indexes", "plan", "--json", "--exit-code"], env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["actions"] == []

    # latency is reported, never asserted on (--runs 0: plans only; timing lives in bench/)
    verified = hmb(["indexes", "verify", "--json", "--runs", "0"], env=env)
    assert verified.returncode == 0, verified.stderr
    vdoc = json.loads(verified.stdout)
    assert vdoc["ok"] is True and len(vdoc["queries"]) >= 39

    status = hmb(["indexes", "status", "--json"], env=env)
    sdoc = json.loads(status.stdout)
    assert status.returncode == 0 and sum(1 for r in sdoc["indexes"] if r["declared"] and r["valid"]) == 39

    human = hmb(["indexes", "plan"], env=env)
    assert human.returncode == 0 and "nothing to do" in human.stdout


def test_plan_exit_code_flags_drift_and_shows_the_timeouts_apply_will_use(schema_db, hmb, ixh, tmp_path):
    spec = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    proc = hmb(["indexes", "plan", "--file", spec, "--exit-code"], env=env_for(schema_db))
    assert proc.returncode == 1 and "action(s) pending" in error_line(proc)
    doc = json.loads(hmb(["indexes", "plan", "--file", spec, "--json", "--lock-wait", "5", "--build-timeout", "600",
                          "--lock-timeout", "0.5"], env=env_for(schema_db)).stdout)
    builds = [a for a in doc["actions"] if a["kind"] == "create"]
    assert builds and all(a["lock_timeout_ms"] == 5000 and a["statement_timeout_ms"] == 600_000 for a in builds)
    assert [a["lock_timeout_ms"] for a in doc["actions"] if a["kind"] == "analyze"] == [500]


def test_malformed_yaml_exits_2_with_file_and_line(schema_db, hmb, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("indexes:\n  declared:\n    - name: x\n      columns: [a\n")
    proc = hmb(["indexes", "plan", "--file", str(bad)], env=env_for(schema_db))
    assert proc.returncode == 2
    assert f"{bad}:" in error_line(proc)


def test_unknown_table_and_columns_exit_2_all_named(schema_db, hmb, tmp_path, ixh):
    spec = ixh.write_spec(tmp_path, "indexes:\n  declared:\n"
                                    "    - {name: a, table: nope, columns: [x]}\n"
                                    "    - {name: b, table: users, columns: [emial, created_at]}\n"
                                    "    - {name: c, table: users, columns: [id], where: 'created_at > now()'}\n")
    proc = hmb(["indexes", "apply", "--file", spec], env=env_for(schema_db))
    assert proc.returncode == 2
    line = error_line(proc)
    assert "3 problems" in line and "unknown table public.nope" in line and "users.emial" in line
    assert "IMMUTABLE" in line


def test_unreachable_server_exits_3_fast(hmb):
    t0 = time.monotonic()
    proc = hmb(["--connect-timeout", "2", "indexes", "plan"], env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:9/x"})
    assert proc.returncode == 3 and time.monotonic() - t0 < 15
    line = error_line(proc)
    assert "pw" not in line and "127.0.0.1:9" in line


def test_second_apply_exits_3(schema_db, hmb, ixh, tmp_path):
    from hmb_ops.db.connect import connect

    spec = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    holder = connect(schema_db, autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEYS)
        proc = hmb(["indexes", "apply", "--file", spec], env=env_for(schema_db))
        assert proc.returncode == 3
        line = error_line(proc)
        assert "another `hmb-ops indexes apply` is running" in line and "--wait" in line
    finally:
        holder.close()


@pytest.mark.slow
def test_ctrl_c_mid_build_exits_130_and_the_next_apply_repairs(schema_db, ixh, tmp_path, blocker, hmb):
    spec = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    b = blocker(schema_db)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    env.update(env_for(schema_db))
    proc = subprocess.Popen([*INTERRUPTIBLE_CLI, "indexes", "apply", "--file", spec],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ixh.wait_for_build(schema_db, "idx_users_email_lower")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted during step" in err and "Traceback" not in err
    b.release()
    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--json"], env=env_for(schema_db)).stdout)
    assert {i["name"]: i["status"] for i in plan["indexes"]}["idx_users_email_lower"] == "invalid"
    assert hmb(["indexes", "apply", "--file", spec], env=env_for(schema_db)).returncode == 0
    replan = hmb(["indexes", "plan", "--file", spec, "--json"], env=env_for(schema_db))
    assert json.loads(replan.stdout)["actions"] == []


def test_bench_one_query(schema_db, hmb, ixh, tmp_path):
    ixh.fill_users(schema_db, 500)
    spec = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    proc = hmb(["indexes", "bench", "--file", spec, "--runs", "3", "--query", "login", "--json"],
               env=env_for(schema_db))
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["queries"][0]
    assert row["name"] == "login" and row["with_ms"]["runs"] == 3 and row["speedup"] > 0


def test_plan_on_a_database_without_any_of_the_spec_tables_says_so_once(new_database, hmb):
    # After `loadtest` on the embedded default (runs use a copy of the seeded template) the default
    # database is empty: one line naming the seed command, not 39 "unknown table" problems.
    proc = hmb(["indexes", "plan"], env=env_for(new_database()))
    assert proc.returncode == 2
    line = error_line(proc)
    assert "none of the spec's 13 tables" in line
    assert "hmb-ops db seed" in line and "unknown table" not in line
