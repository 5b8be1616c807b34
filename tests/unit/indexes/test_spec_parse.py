"""Spec text is proven to be ONE expression (or one name) offline, before any SQL runs (issue #11 item 2)."""

from __future__ import annotations

import pytest

from hmb_ops.indexes import ddl, sqltext
from hmb_ops.indexes.spec import IndexDef, load, text_problems

VALID = [
    "lower(email)",
    "(lower(email))",
    "created_at > '2024-01-01'::timestamp",
    "status = 'a;b'",                       # a semicolon inside a string is data
    "status = 'it''s -- not a comment'",
    "status = E'a\\';b'",                    # E'' with a backslash-escaped quote
    "status = $$x; DROP TABLE t; --$$",      # dollar quoting
    "status = $tag$a $$ b;$tag$",
    '"Mixed Col" IS NOT NULL',
    "extract(year FROM created_at)",          # FROM inside a call's parentheses is its syntax
    "substring(title FOR 3)",
    "CASE WHEN a > 1 THEN 'x' ELSE 'y' END",
    "created_at::timestamp with time zone",
    "coalesce(a, b) = ANY (ARRAY[1, 2])",
    "email COLLATE \"C\"",
    "title ILIKE '%x%'",
    "a->>'k'",
    "date_trunc('day', created_at)",
    "x::numeric(10,2) > 1.5e-3",
    "lower(start) || load || \"order\"",   # unreserved statement words are column names
]

INVALID = [
    ("true; COMMIT; DROP TABLE orders; --", "';'"),
    ("true; CREATE TABLE x(i int)", "';'"),
    ("true --", "comment"),
    ("lower(email) /* hi */", "comment"),
    ("lower(email)) FROM users; --", "unbalanced"),
    ("true) OR (true", "unbalanced"),
    ("lower(email", "unclosed"),
    ("a[1)", "closing"),
    ("status = 'open", "unterminated"),
    ('"unterminated', "unterminated"),
    ("x = $abc$never closed", "unterminated dollar"),
    ("x = $1", "parameter"),
    ("(SELECT 1)", "SELECT"),
    ("true UNION SELECT 1", "UNION"),
    ("a, b", "','"),
    ("lower(email) DESC", "DESC"),
    ("id FROM users", "FROM"),
    ("true ORDER BY 1", "ORDER"),
    ("", "empty"),
    ("   ", "empty"),
    ("a -- b", "comment"),
    ("a+/*b*/c", "comment"),
    ("a\x00b", "NUL"),
    ("U&'d\\0061t\\+000061'", "U& escapes are not accepted; write the name plainly"),
    ('U&"pg\\005fterminate\\005fbackend"(1)', "U& escapes are not accepted"),
    ('u&"x" UESCAPE \'!\'', "U& escapes"),
    ("EXISTS (VALUES (1))", "EXISTS"),
    ("a IN (VALUES (1), (2))", "VALUES"),
    ("a = ANY (TABLE t)", "TABLE"),
    ("a = ANY (ARRAY(SELECT 1))", "SELECT"),
]


@pytest.mark.parametrize("text", VALID)
def test_one_expression_passes(text):
    sqltext.check_expression(text)


@pytest.mark.parametrize("text,why", INVALID)
def test_not_one_expression_is_refused_with_the_reason(text, why):
    with pytest.raises(sqltext.NotOneExpression) as exc:
        sqltext.check_expression(text)
    assert why.lower() in str(exc.value).lower(), str(exc.value)


def test_function_names_are_found_but_type_modifiers_are_not():
    toks = sqltext.check_expression("pg_catalog.lower(x::varchar(20)) = set_config('a.b', '1', false) "
                                    "AND CAST(y AS numeric(10, 2)) > \"My Fn\"(z)")
    assert sqltext.function_names(toks) == [("pg_catalog", "lower"), (None, "set_config"), (None, "cast"),
                                            (None, "My Fn")]


def test_names_and_operator_classes():
    assert sqltext.check_qualified_name("gin_trgm_ops", "operator class") == ("gin_trgm_ops",)
    assert sqltext.check_qualified_name("public.text_pattern_ops", "operator class") == ("public", "text_pattern_ops")
    for bad in ("text_ops; DROP TABLE t", "a.b.c", "x y", ""):
        with pytest.raises(sqltext.NotOneExpression):
            sqltext.check_qualified_name(bad, "operator class")
    with pytest.raises(sqltext.NotOneExpression, match="63"):
        sqltext.check_name("x" * 64)
    with pytest.raises(sqltext.NotOneExpression, match="control"):
        sqltext.check_name("a\nb")


def test_declared_queries_are_one_query():
    sqltext.check_statement("SELECT 1 FROM t WHERE a = %(a)s;")
    sqltext.check_statement("WITH x AS (SELECT 1) SELECT * FROM x")
    with pytest.raises(sqltext.NotOneExpression, match="one statement"):
        sqltext.check_statement("SELECT 1; DROP TABLE orders")
    with pytest.raises(sqltext.NotOneExpression, match="not a query"):
        sqltext.check_statement("DELETE FROM orders")
    for writes in ("WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
                   "SELECT * INTO copy_of_orders FROM orders", "SELECT * FROM orders FOR UPDATE"):
        with pytest.raises(sqltext.NotOneExpression, match="must only read"):
            sqltext.check_statement(writes)


SPEC = """indexes:
  schema: Sales
  declared:
    - name: ok_one
      table: orders
      columns: ["lower(note)", {column: note, collation: "C", opclass: text_pattern_ops}]
      where: "note <> 'a;b'"
    - name: injected
      table: orders
      columns: [id]
      where: "true; COMMIT; DROP TABLE orders; --"
    - name: bad_parts
      table: orders
      method: "btree (id); DROP TABLE orders; --"
      columns: ["lower(note) /* x */", {column: note, opclass: "text_ops; DROP"}]
      include: ["a\\nb"]
      queries:
        - {name: q, sql: "SELECT 1; DROP TABLE orders"}
"""


def test_every_text_problem_is_listed_with_its_line(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    spec = load(p)
    problems = text_problems(spec)
    text = [str(x) for x in problems]
    assert not any(x.startswith("ok_one") for x in text)
    by = {(x.index, x.line) for x in problems}
    assert ("injected", 11) in by
    assert ("bad_parts", 14) in by and ("bad_parts", 15) in by and ("bad_parts", 16) in by
    assert ("bad_parts", 18) in by
    assert sum(1 for x in problems if x.index == "bad_parts") == 5
    assert any("where is not one expression" in x and "';'" in x and "(line 11)" in x for x in text)


def test_ddl_is_built_from_structure(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    ix = load(p).by_name()["ok_one"]
    assert ddl.create_index_sql(ix, "Sales") == (
        "CREATE INDEX CONCURRENTLY ok_one ON \"Sales\".orders USING btree "
        "((lower(note)), note COLLATE \"C\" text_pattern_ops) WHERE (note <> 'a;b')")
    odd = IndexDef.model_validate({"name": "Ix", "table": "order", "columns": ["values"], "method": "btree"})
    assert ddl.create_index_sql(odd, "s", concurrently=False) == 'CREATE INDEX "Ix" ON s."order" USING btree ("values")'


@pytest.mark.parametrize("text,why", [
    ("SELECT id FROM t WHERE a = %(a)s -- %(x)s", "inside a comment"),
    ("SELECT id FROM t WHERE a = %(a)s /* %(x)s */", "inside a comment"),
    ("SELECT id FROM t WHERE a = %(a)s AND '' = '%(x)s'", "inside a string"),
    ("SELECT id FROM t WHERE a = E'%(x)s'", "inside a string"),
    ("SELECT id FROM t WHERE a = $q$ %(x)s $q$", "inside a string"),
    ('SELECT id AS "%(x)s" FROM t', "inside a quoted identifier"),
    ("SELECT id FROM t WHERE a = 1 -- harmless", "a comment"),
    ("SELECT id FROM t /* why */ WHERE a = 1", "a comment"),
    ("SELECT id FROM t WHERE a = $1", "parameter ($1)"),
    ("SELECT U&\"id\" FROM t", "U& escapes"),
    ("SELECT 1;;", "one statement"),
])
def test_declared_query_params_must_stand_where_a_value_goes(text, why):
    with pytest.raises(sqltext.NotOneExpression) as exc:
        sqltext.check_statement(text)
    assert why in str(exc.value), str(exc.value)
    with pytest.raises(sqltext.NotOneExpression):
        sqltext.prepared_statement(text)


def test_prepared_statement_binds_values_as_dollar_params():
    assert sqltext.prepared_statement("SELECT id FROM t WHERE a = %(a)s AND b LIKE 'x%%' AND c = %(a)s;") == (
        "SELECT id FROM t WHERE a = $1 AND b LIKE 'x%' AND c = $1", ["a"])
    # %% is a literal percent sign, as psycopg2 reads it: %%(a)s is no placeholder
    assert sqltext.prepared_statement("SELECT '%%(a)s', %(b)s") == ("SELECT '%(a)s', $1", ["b"])
    assert [p[0] for p in sqltext.pyformat_params("%(a)s %%(b)s %%%(c)s")] == ["a", "c"]
    text, order = sqltext.prepared_statement("WITH x AS (SELECT %(b)s::int AS v) SELECT v + %(a)s FROM x")
    assert text == "WITH x AS (SELECT $1::int AS v) SELECT v + $2 FROM x" and order == ["b", "a"]


@pytest.mark.parametrize("params,ok", [
    ({"a": 1, "b": "x", "c": 1.5, "d": True, "e": None, "f": [1, 2], "g": ["x", None]}, True),
    ({"a": {"k": 1}}, False),
    ({"a": [[1]]}, False),
    ({"a": [{"k": 1}]}, False),
    ({"a": "x\x00y"}, False),
    ({"a": b"bytes"}, False),
])
def test_param_values_are_plain_data(params, ok):
    from pydantic import ValidationError

    from hmb_ops.indexes.spec import QuerySpec

    sql = "SELECT 1 WHERE " + " AND ".join(f"%({k})s IS NULL" for k in params)
    if ok:
        QuerySpec(name="q", sql=sql, params=params)
    else:
        with pytest.raises(ValidationError, match="bound as data"):
            QuerySpec(name="q", sql=sql, params=params)


def test_a_param_in_a_string_is_listed_with_its_line(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text("""indexes:
  declared:
    - name: ix
      table: orders
      columns: [user_id]
      queries:
        - name: q
          sql: "SELECT id FROM orders WHERE user_id = %(u)s AND '' = '%(x)s'"
          params: {u: 1, x: " ; COMMIT; SELECT 1 --"}
""")
    problems = text_problems(load(p))
    assert [(x.index, x.line) for x in problems] == [("ix", 8)]
    assert "query 'q' is not one query" in problems[0].message and "inside a string" in problems[0].message


def test_an_index_name_with_a_comma_is_a_spec_error(tmp_path):
    """`--adopt u,x` would name the user's indexes u and x, not "u,x"."""
    from hmb_ops.errors import ConfigError
    from hmb_ops.indexes import api

    spec = tmp_path / "spec.yaml"
    spec.write_text('indexes:\n  declared:\n    - {name: "u,x", table: t, columns: [id]}\n')
    with pytest.raises(ConfigError) as info:
        api.load_spec(str(spec))
    assert "may not contain ','" in info.value.one_line() and "spec.yaml:3" in info.value.one_line()


def test_a_name_with_control_characters_is_printed_escaped(tmp_path):
    # The problem's prefix used to carry the NUL / escape sequence from the file to the terminal raw.
    p = tmp_path / "s.yaml"
    p.write_text('indexes:\n  declared:\n  - name: "a\\e[31mred"\n    table: posts\n    columns: [user_id]\n')
    problems = [str(x) for x in text_problems(load(p))]
    assert problems and all("\x1b" not in x for x in problems)
    assert problems[0].startswith("'a\\x1b[31mred': name: ")
