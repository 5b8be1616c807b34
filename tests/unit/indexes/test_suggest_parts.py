"""indexes suggest, the parts that need no database: plan walking, candidates, existing-index relations,
workload files, declared-query text."""

from __future__ import annotations

import pytest

from hmb_ops.indexes.suggest import candidates as cand
from hmb_ops.indexes.suggest.conditions import facts
from hmb_ops.indexes.suggest.samples import to_pyformat
from hmb_ops.indexes.suggest.service import relations_to_existing
from hmb_ops.indexes.suggest.workload import from_file, split_statements

# EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) of the feed query on PostgreSQL 18, trimmed to what matters
FEED_PLAN = [{"Plan": {
    "Node Type": "Limit", "Total Cost": 421.3, "Plans": [{
        "Node Type": "Sort", "Sort Key": ["f.created_at DESC", "f.id DESC"], "Plans": [{
            "Node Type": "Hash Join", "Hash Cond": "(p.id = f.post_id)", "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "posts", "Schema": "public", "Alias": "p"},
                {"Node Type": "Hash", "Plans": [{
                    "Node Type": "Seq Scan", "Relation Name": "feed_items", "Schema": "public", "Alias": "f",
                    "Filter": "(f.user_id = $1)"}]}]}]}]}}]


def test_feed_plan_gives_equality_join_sort_and_parameter_columns():
    f = facts(FEED_PLAN)
    assert f.total_cost == 421.3
    feed = f.uses["f"]
    assert (feed.table, feed.equality, feed.join, feed.sort) == ("feed_items", ["user_id"], ["post_id"],
                                                                 ["created_at DESC", "id DESC"])
    assert feed.params == {1: "user_id"}
    assert f.uses["p"].join == ["id"]
    assert f.relations == {("public", "posts"), ("public", "feed_items")}


def test_sort_keys_without_a_limit_do_not_count():
    plan = [{"Plan": {"Node Type": "Sort", "Total Cost": 10, "Sort Key": ["t.a"], "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "t", "Schema": "public", "Alias": "t", "Filter": "(t.b > $1)"}]}}]
    use = facts(plan).uses["t"]
    assert use.sort == [] and use.range == ["b"]


@pytest.mark.parametrize("cond, kind, expected", [
    ("((j.title)::text ~~* $1)", "like", ["title"]),
    ("((j.title)::text ~~ '%sea%'::text)", "like", ["title"]),
    ("((j.title)::text ~~ 'sea%'::text)", "like", []),          # no leading %: trigrams are not needed
    ("(j.id = ANY ($1))", "equality", ["id"]),
    ("((j.salary >= $1) AND (j.salary <= $2))", "range", ["salary"]),
    ("((j.note)::text = '~~'::text)", "equality", ["note"]),     # an operator inside a string stays a string
])
def test_conditions_are_read_by_structure(cond, kind, expected):
    plan = [{"Plan": {"Node Type": "Seq Scan", "Total Cost": 1, "Relation Name": "jobs", "Schema": "public",
                      "Alias": "j", "Filter": cond}}]
    assert getattr(facts(plan).uses["j"], kind) == expected


def test_candidates_equality_first_then_sort_and_trigram():
    f = facts(FEED_PLAN)
    cs = cand.for_use(f.uses["f"], {"user_id": 1000.0}, trigram=True)
    keys = [c.keys for c in cs]
    assert ("user_id",) in keys
    assert ("user_id", "created_at DESC", "id DESC") in keys
    assert ("post_id",) in keys                     # the join column, looked up by a nested loop
    like = facts([{"Plan": {"Node Type": "Seq Scan", "Total Cost": 1, "Relation Name": "jobs", "Schema": "public",
                            "Alias": "j", "Filter": "((j.title)::text ~~* $1)"}}]).uses["j"]
    trgm = cand.for_use(like, {}, trigram=True)
    assert [(c.method, c.keys) for c in trgm] == [("gin", ("title gin_trgm_ops",))]
    assert trgm[0].ddl("x") == "CREATE INDEX x ON public.jobs USING gin (title gin_trgm_ops)"
    assert cand.for_use(like, {}, trigram=False) == []


def test_most_selective_equality_column_leads():
    use = facts([{"Plan": {"Node Type": "Seq Scan", "Total Cost": 1, "Relation Name": "m", "Schema": "public",
                           "Alias": "m", "Filter": "((m.is_read = $2) AND (m.receiver_id = $1))"}}]).uses["m"]
    multi = [c.keys for c in cand.for_use(use, {"is_read": 2.0, "receiver_id": -0.2}, trigram=False) if len(c.keys) > 1]
    assert multi == [("receiver_id", "is_read")]


def test_index_names_are_unique_and_short():
    c = cand.Candidate("public", "t" * 70, "btree", ("a", "b"), "equality")
    taken = {"x"}
    first, second = cand.index_name(c, taken), cand.index_name(c, taken)
    assert first != second and len(first.encode()) <= 63 and len(second.encode()) <= 63


def test_existing_duplicate_and_prefixes_are_named():
    c = cand.Candidate("public", "orders", "btree", ("customer_id", "created_at DESC"), "sort")
    rel = relations_to_existing(c, [
        ("orders_customer", "btree", True, False, ["customer_id"]),
        ("orders_customer_created", "btree", True, False, ["customer_id DESC", "created_at"]),  # read backwards
        ("orders_wide", "btree", True, False, ["customer_id", "created_at DESC", "id"]),
        ("orders_hash", "hash", True, False, ["customer_id"]),
    ])
    kinds = {r.index: r.relation for r in rel}
    assert kinds == {"orders_customer": "existing_is_prefix", "orders_customer_created": "duplicate",
                     "orders_wide": "suggestion_is_prefix"}


def test_statement_files_and_logs(tmp_path):
    assert split_statements("select 1; select ';' -- a comment;\nfrom t; select $1") == \
        ["select 1", "select ';' from t", "select $1"]
    sql = tmp_path / "w.sql"
    sql.write_text("SELECT * FROM t WHERE a = 1;\nSELECT * FROM t WHERE a = 1;\nINSERT INTO t VALUES (1);\n"
                   "SELECT FROM WHERE ((;\nSET x = 1;\n")
    wl = from_file(sql)
    assert [(s.sql, s.calls) for s in wl.statements] == [("SELECT * FROM t WHERE a = 1", 2)]
    assert [s.reason for s in wl.skipped] == ["unparseable"]
    log = tmp_path / "pg.log"
    log.write_text("2026-01-01 10:00:00 UTC [12] LOG:  duration: 12.5 ms  statement: SELECT id FROM t\n"
                   "\tWHERE b = 2\n"
                   "2026-01-01 10:00:01 UTC [12] LOG:  checkpoint starting\n"
                   "2026-01-01 10:00:02 UTC [12] LOG:  statement: SELECT id FROM t WHERE b = 3\n")
    assert [s.sql for s in from_file(log).statements] == ["SELECT id FROM t WHERE b = 2",
                                                          "SELECT id FROM t WHERE b = 3"]


def test_declared_query_text_uses_pyformat_parameters():
    assert to_pyformat("SELECT 1 FROM t WHERE a = $1 AND b LIKE '%x$2%' LIMIT $2") == \
        "SELECT 1 FROM t WHERE a = %(p1)s AND b LIKE '%%x$2%%' LIMIT %(p2)s"


def test_a_function_of_one_column_is_an_expression_candidate():
    plan = [{"Plan": {"Node Type": "Seq Scan", "Total Cost": 1, "Relation Name": "users", "Schema": "public",
                      "Alias": "users", "Filter": "(lower((users.email)::text) = lower($1))"}}]
    use = facts(plan).uses["users"]
    assert use.params == {1: "email"}                       # sampled from the column inside the expression
    (c,) = cand.for_use(use, {}, trigram=False)
    assert c.ddl("x") == "CREATE INDEX x ON public.users ((LOWER(CAST((email) AS TEXT))))"
    assert cand.index_name(c, set()) == "idx_users_lower_email"
