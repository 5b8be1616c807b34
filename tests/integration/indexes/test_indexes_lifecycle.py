"""plan → apply → empty plan → verify on the seeded reference database; normalisation; replace."""

from __future__ import annotations

import pytest

from hmb_ops.errors import UsageError
from hmb_ops.indexes import api, service
from hmb_ops.indexes.plan import PlanOptions
from hmb_ops.indexes.verify import verify


@pytest.fixture(scope="module")
def seeded(module_database):
    from hmb_ops.db.seed import seed

    seed(module_database, scale="small", seed=42)
    return module_database


def test_plan_apply_plan_verify_on_the_seeded_database(seeded):
    spec = api.load_spec()
    plan = service.make_plan(seeded, spec)
    assert plan.summary()["missing"] == 39
    assert plan.actions[0].kind == "create_extension"
    assert {h.flag for _, h in plan.refused} == {"--create-extensions"}

    with pytest.raises(UsageError, match="not allowed"):
        service.apply(seeded, spec)
    assert service.make_plan(seeded, spec).summary()["missing"] == 39, "a refused apply changes nothing"

    events = []
    result = service.apply(seeded, spec, PlanOptions(create_extensions=True), progress=events.append)
    kinds = [s.kind for s in result.steps]
    assert kinds.count("create") == 39 and "analyze" in kinds
    assert any(e["event"] == "done" for e in events)

    again = service.make_plan(seeded, spec)
    assert again.to_dict()["actions"] == [] and again.summary()["ok"] == 39

    report = verify(seeded, spec, runs=0)
    assert report.ok, report.failures()
    statuses = {q.name: q.status for q in report.queries}
    assert statuses["login"] == "uses_index" and statuses["feed"] == "uses_index"
    assert set(statuses.values()) <= {"uses_index", "usable_not_chosen"}
    small = [q for q in report.queries if q.status == "usable_not_chosen"]
    assert all("rows" in q.reason for q in small)

    assert api.ensure_indexes(seeded)["changed"] is False


def test_status_reports_declared_and_live(seeded):
    api.ensure_indexes(seeded)
    report = service.status(seeded, api.load_spec())
    rows = {r["name"]: r for r in report["indexes"]}
    assert rows["idx_users_email_lower"]["valid"] is True and rows["idx_users_email_lower"]["size_bytes"] > 0
    assert rows["users_pkey"]["state"] == "primary_key" and rows["users_pkey"]["declared"] is False


def test_equivalent_spelling_is_not_drift_and_a_real_change_is_replaced_online(schema_db, ixh, tmp_path):
    ixh.fill_users(schema_db)
    # Created by hand with a different spelling of the same definition.
    ixh.run_sql(schema_db,
                "CREATE UNIQUE INDEX idx_users_email_lower ON users USING btree (LOWER(email) ASC NULLS LAST)",
                "CREATE INDEX idx_users_created ON users (created_at)")
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    plan = service.make_plan(schema_db, spec)
    states = {s.name: s.status for s in plan.indexes}
    assert states == {"idx_users_email_lower": "ok", "idx_users_created": "different"}
    with pytest.raises(UsageError, match="--allow-replace"):
        service.apply(schema_db, spec)
    service.apply(schema_db, spec, PlanOptions(allow_replace=True))
    after = service.make_plan(schema_db, spec)
    assert after.actions == () and {s.status for s in after.indexes} == {"ok"}
    names = {r[0] for r in ixh.run_sql(schema_db, "SELECT indexname FROM pg_indexes WHERE tablename = 'users'")}
    assert names == {"users_pkey", "idx_users_email_lower", "idx_users_created"}


def test_undeclared_and_redundant_indexes_are_reported_and_dropped_only_on_request(schema_db, ixh, tmp_path):
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    service.apply(schema_db, spec)
    ixh.run_sql(schema_db, "CREATE INDEX idx_follows_follower ON follows (follower_id)",
                "CREATE UNIQUE INDEX idx_follows_pair ON follows (follower_id, followed_id)")
    plan = service.make_plan(schema_db, spec)
    kinds = {(f.kind, f.index) for f in plan.findings}
    assert ("undeclared", "idx_follows_follower") in kinds and ("redundant", "idx_follows_follower") in kinds
    assert plan.actions == ()
    service.apply(schema_db, spec, PlanOptions(drop_undeclared=True))
    names = {r[0] for r in ixh.run_sql(schema_db, "SELECT indexname FROM pg_indexes WHERE tablename = 'follows'")}
    assert names == {"follows_pkey"}


def test_drop_declared_indexes(schema_db, ixh, tmp_path):
    path = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    api.ensure_indexes(schema_db, path)
    assert sorted(api.drop_declared_indexes(schema_db, path)) == ["idx_users_created", "idx_users_email_lower"]
    assert service.make_plan(schema_db, api.load_spec(path)).summary()["missing"] == 2


def test_bench_queries_without_and_with(schema_db, ixh, tmp_path):
    ixh.fill_users(schema_db, 2000)
    rows = api.bench_queries(schema_db, ixh.write_spec(tmp_path, ixh.USERS_SPEC), runs=5)
    assert [r["name"] for r in rows] == ["login"]
    r = rows[0]
    assert r["without_ms"]["p50"] > 0 and r["with_ms"]["p50"] > 0 and r["speedup"] > 0
    assert "Seq Scan on users" in r["without_plan"] and "idx_users_email_lower" in r["with_plan"]
    # the "without" half ran in a rolled-back transaction: the index is still there
    assert service.make_plan(schema_db, api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))).actions == ()


def test_verify_measures_latency_and_fails_a_missed_target(schema_db, ixh, tmp_path):
    ixh.fill_users(schema_db, 100)
    body = ixh.USERS_SPEC.replace("target_ms: 1000", "target_ms: 0.000001")
    spec = api.load_spec(ixh.write_spec(tmp_path, body))
    service.apply(schema_db, spec)
    report = verify(schema_db, spec, runs=5)
    (login,) = report.queries
    assert login.latency_ms["runs"] == 5 and login.latency_ms["p50"] <= login.latency_ms["p95"]
    assert login.within_target is False and not login.ok and not report.ok
    assert "login: usable_not_chosen (p95" in report.failures()[0] or "login: uses_index (p95" in report.failures()[0]


def test_verify_fails_when_an_index_is_missing(schema_db, ixh, tmp_path):
    spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
    report = verify(schema_db, spec, runs=0)
    assert not report.ok
    assert "idx_users_email_lower: missing" in report.failures()
    assert report.queries[0].status == "not_usable" and "missing" in report.queries[0].reason
