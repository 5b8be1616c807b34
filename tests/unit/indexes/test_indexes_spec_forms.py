"""Spec forms added for `indexes export`: storage parameters, NULLS NOT DISTINCT, a query's unsampled params."""

from __future__ import annotations

import pytest

from hmb_ops.indexes import ddl
from hmb_ops.indexes.export import shorthand
from hmb_ops.indexes.spec import IndexDef, IndexSpec, QuerySpec, text_problems


def test_storage_and_nulls_not_distinct_become_sql_from_data():
    ix = IndexDef(name="i", table="t", columns=["code"], unique=True, nulls_distinct=False,
                  storage={"fillfactor": 70, "fastupdate": False, "buffering": "auto"})
    assert ddl.create_index_sql(ix, "public", concurrently=False) == (
        "CREATE UNIQUE INDEX i ON public.t USING btree (code) NULLS NOT DISTINCT "
        "WITH (fillfactor = 70, fastupdate = off, buffering = E'auto')")
    plain = IndexDef(name="i", table="t", columns=["code"])
    assert ddl.create_index_sql(plain, "public", concurrently=False) == "CREATE INDEX i ON public.t USING btree (code)"


@pytest.mark.parametrize("storage", [{"fill factor": 70}, {"x); DROP TABLE t; --": 1}, {"fillfactor": ""}])
def test_a_storage_name_or_value_that_is_not_plain_is_a_spec_problem(storage):
    spec = IndexSpec.model_validate({"declared": [{"name": "i", "table": "t", "columns": ["a"], "storage": storage}]})
    assert [p.index for p in text_problems(spec)] == ["i"]


def test_unsampled_params_are_part_of_a_query_and_old_specs_stay_valid():
    q = QuerySpec(name="q", sql="SELECT 1 FROM t WHERE a = %(p1)s", params={"p1": None}, unsampled=["p1"])
    assert q.unsampled == ["p1"]
    old = IndexDef(name="i", table="t", columns=["a"])
    assert old.storage == {} and old.nulls_distinct is True


def test_shorthand_keeps_plain_columns_and_expressions_short():
    assert shorthand({"column": "created_at", "order": "desc", "nulls": "last"}) == "created_at DESC NULLS LAST"
    assert shorthand({"expression": "lower(title)"}) == "lower(title)"
    assert shorthand({"column": "Title"}) == {"column": "Title"}          # needs quoting: the long form
    assert shorthand({"column": "t", "opclass": "text_pattern_ops"}) == {"column": "t", "opclass": "text_pattern_ops"}
