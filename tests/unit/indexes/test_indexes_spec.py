"""The spec model, SQL rendering and pure helpers (no database)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hmb_ops.errors import ConfigError, EnvironmentUnusable
from hmb_ops.indexes import ddl
from hmb_ops.indexes.apply import check_server_version
from hmb_ops.indexes.catalog import canonical_definition
from hmb_ops.indexes.explain import indexes_in_plan, percentile
from hmb_ops.indexes.normalize import structural_problems
from hmb_ops.indexes.spec import KeyPart, load, placeholders


def write(tmp_path, text: str):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_shipped_spec_is_the_seed_set_without_the_redundant_prefix_plus_the_feed():
    spec = load()
    names = [ix.name for ix in spec.declared]
    assert len(names) == len(set(names)) == 39
    assert "idx_follows_follower" not in names
    assert "idx_follows_follower_followed" in names
    feed = spec.by_name()["idx_feed_items_user_created"]
    assert feed.table == "feed_items" and [k.column for k in feed.columns] == ["user_id", "created_at", "id"]
    targets = {q.name: q.target_ms for ix in spec.declared for q in ix.queries}
    assert targets["login"] == 5 and targets["feed"] == 10 and targets["unread_messages"] == 10
    assert targets["job_search_title"] == 15
    assert all(ix.queries for ix in spec.declared), "every index names the queries it serves"
    assert spec.extensions == ["pg_trgm"]


def test_key_shorthand():
    assert KeyPart.model_validate("created_at DESC").model_dump(exclude_none=True) == {"column": "created_at",
                                                                                       "order": "desc"}
    assert KeyPart.model_validate("lower(email)").expression == "lower(email)"
    assert KeyPart.model_validate("a nulls first").nulls == "first"
    with pytest.raises(ValidationError, match="give exactly one of 'column' or 'expression'"):
        KeyPart.model_validate({"column": "a", "expression": "lower(a)"})


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "indexes:\n  declared:\n    - name: a\n      table: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load(p)
    line = exc.value.one_line()
    assert line.startswith(f"{p}:") and "YAML syntax error" in line and exc.value.line in (4, 5)


def test_unknown_key_and_missing_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        load(write(tmp_path, "indexes:\n  declared:\n    - {name: a, table: t, columns: [x], uniq: true}\n"))
    with pytest.raises(ConfigError, match="top-level 'indexes:'"):
        load(write(tmp_path, "other: 1\n"))


def test_query_parameters_need_sample_values(tmp_path):
    text = ("indexes:\n  declared:\n    - name: a\n      table: t\n      columns: [x]\n      queries:\n"
            "        - {name: q, sql: 'SELECT 1 FROM t WHERE x = %(x)s'}\n")
    with pytest.raises(ConfigError, match="without sample values: x"):
        load(write(tmp_path, text))


def test_names_longer_than_postgres_allows_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="63"):
        load(write(tmp_path, f"indexes:\n  declared:\n    - {{name: {'x' * 64}, table: t, columns: [a]}}\n"))


def test_duplicate_names_are_reported_by_name(tmp_path):
    spec = load(write(tmp_path, "indexes:\n  declared:\n    - {name: a, table: t, columns: [x]}\n"
                                "    - {name: a, table: t, columns: [y]}\n"))
    assert structural_problems(spec) == ["a: declared 2 times (index names must be unique)"]


def test_create_sql_is_concurrent_and_never_if_not_exists():
    spec = load()
    for ix in spec.declared:
        text = ddl.create_index_sql(ix, "public")
        assert "CONCURRENTLY" in text and "IF NOT EXISTS" not in text.upper()
    trgm = ddl.create_index_sql(spec.by_name()["idx_jobs_title_trgm"], "public")
    assert trgm == "CREATE INDEX CONCURRENTLY idx_jobs_title_trgm ON public.jobs USING gin (title gin_trgm_ops)"
    email = ddl.create_index_sql(spec.by_name()["idx_users_email_lower"], "public", concurrently=False)
    assert email == "CREATE UNIQUE INDEX idx_users_email_lower ON public.users USING btree ((lower(email)))"


def test_quote_ident():
    assert ddl.quote_ident("users") == "users"
    assert ddl.quote_ident("user") == '"user"'
    assert ddl.quote_ident("Mixed") == '"Mixed"'
    assert ddl.quote_ident('a"b') == '"a""b"'
    assert len(ddl.temp_name("x" * 63, "hmbnew")) == 63


@pytest.mark.parametrize("num,broken", [(140000, True), (140003, True), (140004, False), (130012, False),
                                        (150000, False), (180006, False), (139999, False)])
def test_cic_refused_on_14_0_to_14_3(num, broken):
    assert ddl.is_cic_broken(num) is broken
    if broken:
        with pytest.raises(EnvironmentUnusable) as exc:
            check_server_version(num)
        assert "14.4" in exc.value.one_line() and f"14.{num % 100}" in exc.value.one_line()
    else:
        check_server_version(num)


def test_placeholders_for_generic_plans():
    sql, order = placeholders("SELECT 1 FROM t WHERE a = %(a)s AND b < %(b)s AND c = %(a)s AND d LIKE 'x%%'")
    assert sql == "SELECT 1 FROM t WHERE a = $1 AND b < $2 AND c = $1 AND d LIKE 'x%'"
    assert order == ["a", "b"]


def test_canonical_definition_ignores_name_and_schema():
    a = canonical_definition("CREATE UNIQUE INDEX x ON public.users USING btree (lower(email))", True)
    b = canonical_definition("CREATE UNIQUE INDEX y ON scratch_1.users USING btree (lower(email))", True)
    assert a == b == "UNIQUE USING btree (lower(email))"


def test_index_names_found_anywhere_in_the_plan_tree():
    bitmap_and = {"Node Type": "BitmapAnd", "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "a"},
                                                      {"Node Type": "Bitmap Index Scan", "Index Name": "b"}]}
    plan = [{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Bitmap Heap Scan", "Relation Name": "t",
                                                        "Plans": [bitmap_and]}]}}]
    assert indexes_in_plan(plan) == ["a", "b"]


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3, 1, 2], 50) == 2
    assert percentile(range(1, 101), 95) == 95
