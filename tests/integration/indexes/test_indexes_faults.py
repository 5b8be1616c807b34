"""Bad specs and faults against the real server: nothing half-applied, clear messages, repairable."""

from __future__ import annotations

import time

import pytest

from hmb_ops.errors import DatabaseUnavailable, LockBusy, OperationFailed
from hmb_ops.indexes import api, service
from hmb_ops.indexes.apply import LOCK_KEYS
from hmb_ops.indexes.plan import PlanOptions
from hmb_ops.indexes.service import SpecInvalid

BAD_SPEC = """
indexes:
  extensions: [no_such_extension]
  declared:
    - {name: idx_ok, table: users, columns: [username]}
    - {name: idx_no_table, table: nope, columns: [a]}
    - {name: idx_no_cols, table: users, columns: [emial, phon]}
    - {name: idx_volatile, table: users, columns: [created_at], where: "created_at > now() - interval '1 day'"}
    - {name: idx_dup, table: users, columns: [email]}
    - {name: idx_dup, table: users, columns: [phone]}
    - {name: idx_bad_opclass, table: users, columns: [{column: email, opclass: no_such_ops}]}
    - {name: idx_bad_method, table: users, method: nosuch, columns: [email]}
    - {name: idx_bad_expr, table: users, columns: ["lower(nosuchcol)"]}
"""


def live_names(ixh, url):
    return {r[0] for r in ixh.run_sql(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}


def test_every_spec_problem_is_reported_at_once_and_nothing_changes(schema_db, ixh, tmp_path):
    before = live_names(ixh, schema_db)
    spec = api.load_spec(ixh.write_spec(tmp_path, BAD_SPEC))
    with pytest.raises(SpecInvalid) as exc:
        service.apply(schema_db, spec, PlanOptions(create_extensions=True))
    problems = exc.value.problems
    text = exc.value.one_line()
    assert "\n" not in text and text.count(";") >= 8
    expected = ["extension no_such_extension: not available", "idx_no_table: unknown table public.nope",
                "idx_no_cols: unknown column users.emial", "idx_no_cols: unknown column users.phon",
                "idx_volatile: functions in index predicate must be marked IMMUTABLE",
                "idx_dup: declared 2 times", "idx_bad_opclass: operator class \"no_such_ops\" does not exist",
                "idx_bad_method: unknown access method 'nosuch'", "idx_bad_expr: column \"nosuchcol\" does not exist"]
    for want in expected:
        assert any(want in p for p in problems), (want, problems)
    assert not any(p.startswith("idx_ok") for p in problems)
    assert exc.value.exit_code == 2
    assert live_names(ixh, schema_db) == before
    # the scratch schema of the check was rolled back
    assert ixh.run_sql(schema_db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'hmb_ops_scratch%'")[0][0] == 0


def test_unreachable_server_fails_fast():
    spec = api.load_spec()
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        service.make_plan("postgresql://u:secret@127.0.0.1:9/db", spec, timeout=2)
    assert time.monotonic() - t0 < 10


def test_unique_build_on_duplicate_data_names_the_key_then_is_repaired(schema_db, ixh, tmp_path):
    ixh.fill_users(schema_db, 50)
    ixh.run_sql(schema_db,
                "INSERT INTO users (email, hashed_password, username) VALUES ('User7@Example.test', 'x', 'dup')")
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    with pytest.raises(OperationFailed) as exc:
        service.apply(schema_db, spec)
    msg = exc.value.one_line()
    assert "idx_users_email_lower" in msg and "user7@example.test" in msg and "duplicate" in msg
    plan = service.make_plan(schema_db, spec)
    assert {s.name: s.status for s in plan.indexes}["idx_users_email_lower"] == "invalid"
    assert [a.kind for a in plan.actions][:2] == ["drop", "create"]
    ixh.run_sql(schema_db, "DELETE FROM users WHERE username = 'dup'")
    service.apply(schema_db, spec)
    assert service.make_plan(schema_db, spec).actions == ()


def test_long_transaction_blocks_the_build_bounded_wait_names_the_pid(schema_db, ixh, tmp_path, blocker):
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    b = blocker(schema_db)  # an old snapshot on an unrelated table
    events = []
    t0 = time.monotonic()
    with pytest.raises(LockBusy) as exc:
        service.apply(schema_db, spec, PlanOptions(build_lock_wait_ms=1500), progress=events.append)
    assert time.monotonic() - t0 < 20
    msg = exc.value.one_line()
    assert f"pid {b.pid}" in msg and "test blocker" in msg and "left INVALID" in msg
    assert any(b.pid in e.get("blocked_by", []) for e in events if e["event"] == "progress")
    b.release()
    plan = service.make_plan(schema_db, spec)
    assert "invalid" in {s.status for s in plan.indexes}
    service.apply(schema_db, spec)
    assert service.make_plan(schema_db, spec).actions == ()


def test_second_apply_fails_fast_or_waits(schema_db, ixh, tmp_path):
    from hmb_ops.db.connect import connect

    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    holder = connect(schema_db, autocommit=True, application_name="other apply")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEYS)
        t0 = time.monotonic()
        with pytest.raises(LockBusy) as exc:
            service.apply(schema_db, spec)
        assert time.monotonic() - t0 < 5 and f"pid {holder.get_backend_pid()}" in exc.value.one_line()
        assert exc.value.exit_code == 3
        thread, box = ixh.in_thread(service.apply, schema_db, spec, wait=True)
        time.sleep(1.0)
        assert thread.is_alive(), "--wait waits for the holder"
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEYS)
        thread.join(30)
        assert "error" not in box and box["result"].steps
    finally:
        holder.close()
    assert service.make_plan(schema_db, spec).actions == ()


@pytest.mark.parametrize("how", ["pg_terminate_backend", "pg_cancel_backend"])
def test_killed_or_cancelled_build_leaves_an_invalid_index_the_next_apply_repairs(schema_db, ixh, tmp_path,
                                                                                  blocker, how):
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    b = blocker(schema_db)  # keeps the build in its wait phase so it can be interrupted deterministically
    thread, box = ixh.in_thread(service.apply, schema_db, spec, PlanOptions(build_lock_wait_ms=60_000))
    pid = ixh.wait_for_build(schema_db, "idx_users_email_lower")
    ixh.run_sql(schema_db, f"SELECT {how}(%s)", params=(pid,))
    thread.join(30)
    err = box.get("error")
    assert isinstance(err, OperationFailed), box
    assert "idx_users_email_lower is left INVALID" in err.one_line()
    assert ("connection was lost" if how == "pg_terminate_backend" else "cancelled") in err.one_line()
    b.release()
    plan = service.make_plan(schema_db, spec)
    assert {s.name: s.status for s in plan.indexes}["idx_users_email_lower"] == "invalid"
    service.apply(schema_db, spec)
    assert service.make_plan(schema_db, spec).actions == ()
