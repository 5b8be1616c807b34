"""build_plan is pure: synthetic catalogs in, actions with timeouts and hazards out."""

from __future__ import annotations

import json

from hmb_ops.indexes.catalog import BuildProgress, Catalog, LiveIndex
from hmb_ops.indexes.normalize import Normalized
from hmb_ops.indexes.plan import PlanOptions, build_plan, redundancy
from hmb_ops.indexes.spec import IndexSpec

SPEC = IndexSpec.model_validate({"extensions": ["pg_trgm"], "declared": [
    {"name": "idx_a", "table": "t", "columns": ["a"]},
    {"name": "idx_b", "table": "t", "columns": ["b DESC"], "unique": True},
    {"name": "idx_c", "table": "u", "columns": ["c"]},
]})
CANON = {"idx_a": "USING btree (a)", "idx_b": "UNIQUE USING btree (b DESC)", "idx_c": "USING btree (c)"}


def live(name, table, body, *, unique=False, valid=True, ready=True, keys=(), scans=5, primary=False,
         constraint=False, predicate=None, owned=True):
    # owned: the synthetic indexes sit on a table hmb-ops created unless a test says otherwise
    return LiveIndex(name=name, table=table, method="btree",
                     definition=f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON public.{table} {body}",
                     unique=unique, primary=primary, valid=valid, ready=ready, live=True,
                     constraint_backed=constraint, size_bytes=8192, scans=scans, key_parts=tuple(keys),
                     options=tuple(0 for _ in keys), opclasses=tuple(1 for _ in keys), predicate=predicate,
                     table_owned=owned)


def all_ok(**kw):
    return [live("idx_a", "t", "USING btree (a)", keys=["a"]),
            live("idx_b", "t", "USING btree (b DESC)", unique=True, keys=["b"]),
            live("idx_c", "u", "USING btree (c)", keys=["c"]),
            live("t_pkey", "t", "USING btree (id)", unique=True, primary=True, constraint=True, keys=["id"])]


def catalog(indexes, building=()):
    return Catalog(schema="public", server_version_num=180006, indexes=tuple(indexes), building=tuple(building),
                   tables=("t", "u"), extensions=("pg_trgm",))


def norm(missing_ext=()):
    return Normalized(canonical=CANON, missing_extensions=tuple(missing_ext))


def test_everything_in_place_gives_an_empty_plan():
    plan = build_plan(SPEC, catalog(all_ok()), norm())
    assert plan.actions == ()
    assert {s.status for s in plan.indexes} == {"ok"}
    doc = json.loads(json.dumps(plan.to_dict()))
    assert doc["actions"] == [] and doc["summary"]["ok"] == 3


def test_missing_indexes_are_built_concurrently_then_analyzed():
    plan = build_plan(SPEC, catalog([]), norm())
    kinds = [(a.kind, a.index or a.table) for a in plan.actions]
    assert kinds == [("create", "idx_a"), ("create", "idx_b"), ("create", "idx_c"), ("analyze", "t"),
                     ("analyze", "u")]
    build = plan.actions[0]
    assert build.statements == ("CREATE INDEX CONCURRENTLY idx_a ON public.t USING btree (a)",)
    opts = PlanOptions()
    assert build.lock_timeout_ms == opts.build_lock_wait_ms and build.statement_timeout_ms == opts.build_timeout_ms
    assert plan.actions[-1].lock_timeout_ms == opts.lock_timeout_ms and plan.actions[-1].retries == opts.lock_retries
    assert [h.code for h in plan.actions[1].hazards] == ["unique_build"]


def test_invalid_index_is_dropped_concurrently_and_rebuilt():
    idx = all_ok()
    idx[1] = live("idx_b", "t", "USING btree (b DESC)", unique=True, valid=False, keys=["b"])
    plan = build_plan(SPEC, catalog(idx), norm())
    assert [s.status for s in plan.indexes] == ["ok", "invalid", "ok"]
    assert [(a.kind, a.statements[0]) for a in plan.actions[:2]] == [
        ("drop", "DROP INDEX CONCURRENTLY public.idx_b"),
        ("create", "CREATE UNIQUE INDEX CONCURRENTLY idx_b ON public.t USING btree (b DESC)")]
    assert plan.refused == []


def test_definition_change_is_a_refused_replace_unless_allowed():
    idx = all_ok()
    idx[0] = live("idx_a", "t", "USING btree (a DESC)", keys=["a"])
    plan = build_plan(SPEC, catalog(idx), norm())
    assert plan.indexes[0].status == "different"
    assert [a.kind for a in plan.actions] == ["build_replacement", "swap", "drop", "analyze"]
    assert {h.flag for _, h in plan.refused} == {"--allow-replace"}
    swap = plan.actions[1]
    assert swap.transactional and swap.statements == ("ALTER INDEX public.idx_a RENAME TO idx_a_hmbold",
                                                      "ALTER INDEX public.idx_a_hmbnew RENAME TO idx_a")
    allowed = build_plan(SPEC, catalog(idx), norm(), PlanOptions(allow_replace=True))
    assert allowed.refused == []


def test_index_being_built_elsewhere_is_left_alone():
    idx = all_ok()
    idx[2] = live("idx_c", "u", "USING btree (c)", valid=False, ready=False, keys=["c"])
    prog = BuildProgress(pid=77, table="u", index="idx_c", command="CREATE INDEX CONCURRENTLY",
                         phase="building index", lockers_total=0, lockers_done=0, current_locker_pid=0,
                         blocks_total=10, blocks_done=5, tuples_total=0, tuples_done=0)
    plan = build_plan(SPEC, catalog(idx, [prog]), norm())
    assert plan.indexes[2].status == "building" and "pid 77" in plan.indexes[2].detail
    assert plan.actions == ()


def test_undeclared_is_reported_and_dropped_only_with_the_flag():
    idx = all_ok() + [live("idx_extra", "t", "USING btree (z)", keys=["z"])]
    plan = build_plan(SPEC, catalog(idx), norm())
    assert plan.actions == ()
    assert [(f.kind, f.index) for f in plan.findings if f.kind == "undeclared"] == [("undeclared", "idx_extra")]
    dropping = build_plan(SPEC, catalog(idx), norm(), PlanOptions(drop_undeclared=True))
    assert [(a.kind, a.index) for a in dropping.actions] == [("drop", "idx_extra")]


def test_leftover_of_an_interrupted_replace_is_dropped():
    idx = all_ok() + [live("idx_a_hmbnew", "t", "USING btree (a DESC)", valid=False, keys=["a"])]
    plan = build_plan(SPEC, catalog(idx), norm())
    assert [(a.kind, a.index) for a in plan.actions] == [("drop", "idx_a_hmbnew")]


def test_missing_extension_needs_the_flag():
    plan = build_plan(SPEC, catalog(all_ok()), norm(["pg_trgm"]))
    assert plan.actions[0].kind == "create_extension"
    assert [h.flag for _, h in plan.refused] == ["--create-extensions"]
    assert build_plan(SPEC, catalog(all_ok()), norm(["pg_trgm"]), PlanOptions(create_extensions=True)).refused == []


def test_prefix_redundant_and_duplicate_indexes():
    follower = live("idx_follows_follower", "follows", "USING btree (follower_id)", keys=["follower_id"])
    pair = live("idx_follows_follower_followed", "follows", "USING btree (follower_id, followed_id)", unique=True,
                keys=["follower_id", "followed_id"])
    followed = live("idx_follows_followed", "follows", "USING btree (followed_id)", keys=["followed_id"])
    dup = live("idx_dup", "follows", "USING btree (followed_id)", keys=["followed_id"])
    found = {(f.kind, f.index, f.covered_by) for f in redundancy([follower, pair, followed, dup])}
    assert ("redundant", "idx_follows_follower", "idx_follows_follower_followed") in found
    assert ("duplicate", "idx_follows_followed", "idx_dup") in found
    assert not any(f[1] == "idx_follows_follower_followed" for f in found), "a unique index is never redundant"
    partial = live("idx_p", "follows", "USING btree (follower_id) WHERE x", keys=["follower_id"], predicate="x")
    assert redundancy([partial, pair]) == []


def test_sql_script_sets_timeouts_per_step_and_wraps_only_the_swap():
    idx = all_ok()
    idx[0] = live("idx_a", "t", "USING btree (a DESC)", keys=["a"])
    script = build_plan(SPEC, catalog(idx), norm(), PlanOptions(allow_replace=True)).sql_script()
    assert script.count("BEGIN;") == 1
    before_begin = script.split("BEGIN;")[0]
    assert "CREATE INDEX CONCURRENTLY idx_a_hmbnew" in before_begin
    assert "SET lock_timeout = '60000ms';" in script and "SET lock_timeout = '2000ms';" in script
    assert "nothing to do" in build_plan(SPEC, catalog(all_ok()), norm()).sql_script()


def test_partition_bound_undeclared_indexes_are_never_dropped():
    # DROP INDEX CONCURRENTLY fails on a partitioned index and on a partition's part of one.
    from dataclasses import replace

    import pytest

    from hmb_ops.errors import UsageError

    parent = replace(live("ev_at", "ev", "USING btree (at)", keys=["at"]), partitioned=True)
    child = replace(live("ev_2026_at_idx", "ev_2026", "USING btree (at)", keys=["at"]), parent_index="ev_at")
    plan = build_plan(SPEC, catalog([*all_ok(), parent, child]), norm(), PlanOptions(drop_undeclared=True))
    assert plan.actions == ()
    details = {f.index: f.detail for f in plan.findings if f.kind == "undeclared"}
    assert details["ev_2026_at_idx"].endswith("kept: a partition's part of the partitioned index ev_at "
                                              "(dropped only with it)")
    assert "DROP INDEX CONCURRENTLY cannot drop it" in details["ev_at"]
    with pytest.raises(UsageError, match="--adopt ev_2026_at_idx: indexes apply cannot drop it"):
        build_plan(SPEC, catalog([*all_ok(), parent, child]), norm(),
                   PlanOptions(drop_undeclared=True, adopt=("ev_2026_at_idx",)))
