"""Index spec text is parsed, never pasted; plan/status/verify change nothing (issue #11 items 2 and 11).

Against the real embedded server, on a database holding the user's own tables (fixture
`foreign_database`: users, orders with a foreign key, a view).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from cli_helpers import error_line
from fixtures_foreign import foreign_snapshot
from fixtures_indexes import env_for, run_sql as sql, write_spec as spec_file


def user_objects(url: str) -> list:
    """Every non-temporary schema and relation (with its kind) outside the system catalogs."""
    return sql(url, "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%' "
                    "UNION ALL SELECT nspname, '', 'n' FROM pg_namespace WHERE nspname NOT LIKE 'pg_%%' "
                    "AND nspname <> 'information_schema' ORDER BY 1, 2")


INJECTED = """indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id]
      where: "true; COMMIT; DROP TABLE orders; --"
"""


@pytest.mark.parametrize("command", ["plan", "apply", "status", "verify"])
def test_where_with_commit_and_drop_is_a_spec_error_and_orders_survive(foreign_database, hmb, tmp_path, command):
    before, objects = foreign_snapshot(foreign_database), user_objects(foreign_database)
    spec = spec_file(tmp_path, INJECTED)
    proc = hmb(["indexes", command, "--file", spec], env=env_for(foreign_database))
    line = error_line(proc, 2)
    assert f"{spec}:6:" in line, line                       # file:line of the bad `where:`
    assert "idx_orders_user: where is not one expression" in line and "';'" in line
    assert "nothing was changed" in line
    assert foreign_snapshot(foreign_database) == before
    assert before["orders"] and before["orders_fks"] == 1
    assert user_objects(foreign_database) == objects        # no scratch schema, table or index left behind
    assert sql(foreign_database, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'hmb_ops_scratch%%'")[0][0] == 0


@pytest.mark.parametrize("where,why", [
    ("true; CREATE TABLE x(i int)", "';'"),
    ("true) OR (true", "unbalanced ')'"),
    ("true ORDER BY 1", "ORDER"),
    ("(SELECT true)", "SELECT"),
])
def test_other_multi_statement_or_non_expression_predicates_exit_2(foreign_database, hmb, tmp_path, where, why):
    objects = user_objects(foreign_database)
    spec = spec_file(tmp_path, INJECTED.replace("true; COMMIT; DROP TABLE orders; --", where.replace('"', '\\"')))
    proc = hmb(["indexes", "plan", "--file", spec], env=env_for(foreign_database))
    line = error_line(proc, 2)
    assert f"{spec}:6:" in line and why in line, line
    assert sql(foreign_database, "SELECT to_regclass('x')")[0][0] is None
    assert user_objects(foreign_database) == objects


def test_comments_and_every_bad_item_are_listed_together_with_database_problems(foreign_database, hmb, tmp_path):
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_dash
      table: users
      columns: ["lower(email) -- hide the rest"]
    - name: idx_block
      table: users
      columns: ["lower(/* x */ email)"]
    - name: idx_opclass
      table: users
      columns: [{column: email, opclass: "text_ops; DROP TABLE orders"}]
    - name: idx_no_table
      table: nope
      columns: [a]
""")
    proc = hmb(["indexes", "plan", "--file", spec], env=env_for(foreign_database))
    line = error_line(proc, 2)
    assert "4 problems" in line
    assert "idx_dash: columns[0] expression: a comment" in line and "(line 5)" in line
    assert "idx_block: columns[0] expression: a comment" in line and "(line 8)" in line
    assert "idx_opclass: columns[0] opclass" in line
    assert "idx_no_table: unknown table public.nope" in line
    assert foreign_snapshot(foreign_database)["orders"]


def test_a_semicolon_inside_a_string_is_data_and_the_index_is_built(foreign_database, hmb, tmp_path):
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_users_odd_names
      table: users
      columns: ["lower(email)"]
      where: "name <> 'a;b -- c' AND email <> $$x; DROP TABLE orders; --$$"
""")
    env = env_for(foreign_database)
    plan = hmb(["indexes", "plan", "--file", spec, "--json"], env=env)
    assert plan.returncode == 0, plan.stderr
    create = next(a for a in json.loads(plan.stdout)["actions"] if a["kind"] == "create")["sql"][0]
    assert create.endswith("WHERE (name <> 'a;b -- c' AND email <> $$x; DROP TABLE orders; --$$)")
    applied = hmb(["indexes", "apply", "--file", spec], env=env)
    assert applied.returncode == 0, applied.stderr
    again = hmb(["indexes", "plan", "--file", spec, "--json", "--exit-code"], env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["actions"] == []
    pred = sql(foreign_database, "SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                                 "WHERE indexrelid = 'idx_users_odd_names'::regclass")[0][0]
    assert "a;b -- c" in pred and "x; DROP TABLE orders; --" in pred
    assert foreign_snapshot(foreign_database)["orders"]


SIDE_EFFECTS = [
    ('columns: ["pg_terminate_backend(pg_backend_pid())"]', "pg_terminate_backend() is VOLATILE", "expression"),
    ("columns: [email]\n      where: \"set_config('x.y', '1', false) = '1'\"", "set_config() is VOLATILE",
     "predicate"),
    ("columns: [email]\n      where: \"nextval('users_id_seq') > 0\"", "nextval() is VOLATILE", "predicate"),
    ('columns: ["pg_sleep(30)"]', "pg_sleep() is VOLATILE", "expression"),
    ("columns: [email]\n      where: \"id > 0 AND now() > '2020-01-01'\"", "now() is STABLE", "predicate"),
]


@pytest.mark.parametrize("columns,named,where", SIDE_EFFECTS)
def test_functions_with_side_effects_are_refused_before_anything_runs_them(foreign_database, tmp_path, columns,
                                                                          named, where):
    """In-process on a connection we hold: after validation it is alive and unchanged."""
    from hmb_ops.db.connect import connect
    from hmb_ops.indexes.normalize import normalize
    from hmb_ops.indexes.spec import load

    spec = load(spec_file(tmp_path,
                          f"indexes:\n  declared:\n    - name: idx_fx\n      table: users\n      {columns}\n"))
    conn = connect(foreign_database, autocommit=True)
    try:
        pid = conn.get_backend_pid()
        norm = normalize(conn, spec)
        assert len(norm.problems) == 1, norm.problems
        problem = norm.problems[0]
        assert problem.startswith(f"idx_fx: functions in index {where} must be marked IMMUTABLE") and named in problem
        with conn.cursor() as cur:  # the backend was not terminated and no setting was made
            cur.execute("SELECT pg_backend_pid(), current_setting('x.y', true)")
            assert cur.fetchone() == (pid, None)
    finally:
        conn.close()
    assert sql(foreign_database, "SELECT last_value, is_called FROM users_id_seq") == [(500, True)]


def test_volatile_function_via_the_cli_exits_2_with_file_and_line(foreign_database, hmb, tmp_path):
    spec = spec_file(tmp_path, 'indexes:\n  declared:\n    - name: idx_kill\n      table: users\n'
                               '      columns: ["pg_terminate_backend(pg_backend_pid())"]\n')
    proc = hmb(["indexes", "plan", "--file", spec], env=env_for(foreign_database))
    line = error_line(proc, 2)
    assert f"{spec}:3:" in line and "pg_terminate_backend() is VOLATILE" in line


SALES = """indexes:
  schema: Sales
  declared:
    - name: idx_sales_orders_customer
      table: Orders
      columns: [customer_id, "lower(note)"]
      queries:
        - name: by_customer
          sql: "SELECT id FROM \\"Orders\\" WHERE customer_id = %(c)s AND lower(note) = 'x'"
          params: {c: 7}
"""


def test_mixed_case_schema_through_plan_apply_verify_status(foreign_database, hmb, tmp_path):
    sql(foreign_database, 'CREATE SCHEMA "Sales"')
    sql(foreign_database, 'CREATE TABLE "Sales"."Orders" (id bigserial PRIMARY KEY, customer_id int, note text)')
    sql(foreign_database, 'INSERT INTO "Sales"."Orders" (customer_id, note) SELECT g % 50, \'n\' || g '
                          "FROM generate_series(1, 2000) g")
    spec, env = spec_file(tmp_path, SALES), env_for(foreign_database)
    plan = hmb(["indexes", "plan", "--file", spec, "--json"], env=env)
    assert plan.returncode == 0, plan.stderr
    creates = [a["sql"][0] for a in json.loads(plan.stdout)["actions"] if a["kind"] == "create"]
    assert creates == [('CREATE INDEX CONCURRENTLY idx_sales_orders_customer ON "Sales"."Orders" USING btree '
                        "(customer_id, (lower(note)))")]
    applied = hmb(["indexes", "apply", "--file", spec], env=env)
    assert applied.returncode == 0, applied.stderr
    verified = hmb(["indexes", "verify", "--file", spec, "--runs", "0", "--json"], env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["queries"][0]["status"] in ("uses_index", "usable_not_chosen")
    status = hmb(["indexes", "status", "--file", spec, "--json"], env=env)
    assert status.returncode == 0, status.stderr
    rows = {r["name"]: r for r in json.loads(status.stdout)["indexes"]}
    assert rows["idx_sales_orders_customer"]["valid"] is True
    again = hmb(["indexes", "plan", "--file", spec, "--json"], env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["actions"] == []


def test_plan_status_verify_change_nothing_not_even_statistics(foreign_database, hmb, tmp_path):
    from hmb_ops.indexes import api

    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_orders_user_total
      table: orders
      columns: [user_id, total]
      queries:
        - {name: by_user, sql: "SELECT total FROM orders WHERE user_id = %(u)s", params: {u: 3}}
""")
    api.ensure_indexes(foreign_database, spec)
    sql(foreign_database, "SELECT pg_stat_reset()")
    objects = user_objects(foreign_database)
    stats_before = sql(foreign_database, "SELECT relname, last_analyze FROM pg_stat_user_tables ORDER BY 1")
    env = env_for(foreign_database)
    for args in (["plan"], ["status"], ["verify", "--runs", "2"]):
        proc = hmb(["indexes", *args, "--file", spec], env=env)
        assert proc.returncode == 0, (args, proc.stderr)
    assert user_objects(foreign_database) == objects
    # after the reset orders counts as never analyzed: verify used to ANALYZE it, now it only reads
    assert sql(foreign_database, "SELECT relname, last_analyze FROM pg_stat_user_tables ORDER BY 1") == stats_before
    assert dict(stats_before)["orders"] is None


@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True])
def test_two_applies_at_once_end_cleanly_and_nothing_is_half_applied(foreign_database, tmp_path, wait):
    import os
    import sys

    sql(foreign_database,
        "INSERT INTO orders (user_id, total) SELECT 1 + (g % 500), g FROM generate_series(1, 60000) g")
    spec = spec_file(tmp_path, """indexes:
  declared:
    - {name: idx_orders_a, table: orders, columns: [user_id, total]}
    - {name: idx_orders_b, table: orders, columns: [total, user_id]}
    - {name: idx_orders_c, table: orders, columns: ["(total * 2)"]}
    - {name: idx_users_email, table: users, columns: ["lower(email)"], unique: true}
""")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    env.update(env_for(foreign_database))
    args = [sys.executable, "-m", "hmb_ops.cli.main", "indexes", "apply", "--file", spec] + (["--wait"] if wait else [])
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for p in procs:
        _out, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 0], [0, 3]) and (not wait or codes == [0, 0]), results
    for rc, err in results:
        assert "Traceback" not in err
        if rc == 3:
            assert "another `hmb-ops indexes apply` is running" in err and "--wait" in err
    from hmb_ops.indexes import api, service

    plan = service.make_plan(foreign_database, api.load_spec(spec))
    assert plan.actions == () and {s.status for s in plan.indexes} == {"ok"}
    assert sql(foreign_database, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                 "WHERE NOT i.indisvalid")[0][0] == 0
    assert foreign_snapshot(foreign_database)["orders_rows"] == 60300


@pytest.mark.parametrize("command", ["verify", "bench"])
def test_a_declared_query_that_writes_is_a_spec_error(foreign_database, hmb, tmp_path, command):
    before = foreign_snapshot(foreign_database)
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id]
      queries:
        - name: sneaky
          sql: "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d"
""")
    proc = hmb(["indexes", command, "--file", spec], env=env_for(foreign_database))
    line = error_line(proc, 2)
    assert f"{spec}:8:" in line and "query 'sneaky' is not one query" in line and "must only read" in line
    assert foreign_snapshot(foreign_database) == before
    assert sql(foreign_database, "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_orders_user'")[0][0] == 0


# --- Declared queries: sample params are data, never SQL (issue #11 review, "parse, never paste") ---

PARAM_IN_COMMENT = """indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id]
      queries:
        - name: by_user
          sql: "SELECT id FROM orders WHERE user_id = %(uid)s -- %(x)s"
          params:
            uid: 5
            x: "\\n; SET default_transaction_read_only = off; COMMIT; CREATE TABLE pwned_verify(); --"
"""

PARAM_IN_STRING = """indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id]
      queries:
        - name: by_user
          sql: "SELECT id FROM orders WHERE user_id = %(uid)s AND '' = '%(x)s'"
          params:
            uid: 5
            x: " ;  COMMIT; CREATE TABLE IF NOT EXISTS pwned_verify(); SELECT 1 --"
"""


@pytest.mark.parametrize("body,why", [(PARAM_IN_COMMENT, "comment"), (PARAM_IN_STRING, "inside a string")],
                         ids=["comment", "string"])
@pytest.mark.parametrize("command", ["verify", "plan", "bench"])
def test_a_param_inside_a_comment_or_string_is_a_spec_error_and_runs_nothing(foreign_database, hmb, tmp_path,
                                                                             body, why, command):
    sql(foreign_database, "CREATE INDEX idx_orders_user ON orders (user_id)")  # verify then runs the query
    before, objects = foreign_snapshot(foreign_database), user_objects(foreign_database)
    spec = spec_file(tmp_path, body)
    args = ["indexes", command, "--file", spec] + (["--allow-table-locks", "--runs", "2"] if command == "bench" else [])
    line = error_line(hmb(args, env=env_for(foreign_database)), 2)
    assert f"{spec}:8:" in line and "query 'by_user' is not one query" in line and why in line, line
    assert sql(foreign_database, "SELECT to_regclass('pwned_verify')")[0][0] is None
    assert foreign_snapshot(foreign_database) == before and user_objects(foreign_database) == objects


@pytest.mark.parametrize("params,why", [
    ("{u: {a: 1}}", "u"),                     # a mapping is not a value
    ("{u: [[1, 2]]}", "u"),                   # nor a nested list
    ('{u: "a\\0b"}', "NUL"),
])
def test_param_values_must_be_plain_data(foreign_database, hmb, tmp_path, params, why):
    spec = spec_file(tmp_path, f"""indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id]
      queries:
        - name: by_user
          sql: "SELECT id FROM orders WHERE user_id = ANY(%(u)s)"
          params: {params}
""")
    line = error_line(hmb(["indexes", "verify", "--file", spec], env=env_for(foreign_database)), 2)
    assert f"{spec}:9" in line and why in line, line


def test_params_are_bound_by_the_server_even_past_the_lexer(foreign_database):
    """Defence in depth: explain/time_query never paste a value into SQL text, whatever the QuerySpec says."""
    from hmb_ops.db.connect import connection
    from hmb_ops.errors import ConfigError
    from hmb_ops.indexes import explain as ex
    from hmb_ops.indexes.spec import QuerySpec

    evil = "'; COMMIT; CREATE TABLE pwned_direct(); --"
    top = QuerySpec(name="q", sql="SELECT count(*) FROM users WHERE email = %(e)s OR email = %(e)s",
                    params={"e": evil})
    in_string = QuerySpec.model_construct(name="q", sql="SELECT count(*) FROM users WHERE '' = '%(e)s'",
                                          params={"e": evil}, target_ms=None)
    in_comment = QuerySpec.model_construct(name="q", sql="SELECT 1 -- %(e)s", params={"e": "\n; SELECT 2"},
                                           target_ms=None)
    with connection(foreign_database) as conn, conn.cursor() as cur:
        assert ex.indexes_in_plan(ex.explain(cur, top, generic=False)) == []
        assert len(ex.time_query(cur, top, runs=2)) == 2
        cur.execute("SELECT count(*) FROM users WHERE email = %s", (evil,))
        for q in (in_string, in_comment):
            with pytest.raises(ConfigError, match="not one query"):
                ex.explain(cur, q, generic=False)
            with pytest.raises(ConfigError, match="not one query"):
                ex.time_query(cur, q, runs=1)
        conn.rollback()
    assert sql(foreign_database, "SELECT to_regclass('pwned_direct')")[0][0] is None


@pytest.mark.parametrize("item,why", [
    ("columns: ['U&\"pg\\\\005fterminate\\\\005fbackend\"(1)']", "U& escapes are not accepted"),
    ("columns: [user_id]\n      where: \"EXISTS (VALUES (1))\"", "EXISTS"),
    ("columns: [user_id]\n      where: \"user_id IN (VALUES (1))\"", "VALUES"),
    ("columns: [user_id]\n      where: \"user_id = U&'\\\\0031'\"", "U& escapes are not accepted"),
])
def test_unicode_escapes_and_subqueries_are_refused_offline(foreign_database, hmb, tmp_path, item, why):
    spec = spec_file(tmp_path, f"""indexes:
  declared:
    - name: idx_orders_user
      table: orders
      {item}
""")
    line = error_line(hmb(["indexes", "plan", "--file", spec], env=env_for(foreign_database)), 2)
    assert f"{spec}:" in line and why in line, line


@pytest.mark.parametrize("setup,table,why", [
    (["CREATE TABLE part (k int) PARTITION BY RANGE (k)",
      "CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100)"], "part",
     "public.part is a partitioned table: CREATE INDEX CONCURRENTLY cannot build on it"),
    (["CREATE VIEW v_part AS SELECT user_id AS k FROM orders"], "v_part", "public.v_part is a view, not a table"),
    (["CREATE SEQUENCE seq_k"], "seq_k", "public.seq_k is not a table"),
])
def test_a_table_that_cannot_take_a_concurrent_index_is_a_spec_problem(foreign_database, hmb, tmp_path, setup,
                                                                         table, why):
    sql(foreign_database, *setup)
    objects = user_objects(foreign_database)
    spec = spec_file(tmp_path, f"""indexes:
  declared:
    - name: idx_part_k
      table: {table}
      columns: [k]
""")
    for command in ("plan", "apply"):
        line = error_line(hmb(["indexes", command, "--file", spec], env=env_for(foreign_database)), 2)
        assert f"{spec}:" in line and "line 3" in line and why in line, line
    assert user_objects(foreign_database) == objects, "nothing was built"


def test_a_materialized_view_is_indexed_concurrently(foreign_database, hmb, tmp_path):
    sql(foreign_database, "CREATE MATERIALIZED VIEW mv_totals AS SELECT user_id AS k, sum(total) AS s "
                          "FROM orders GROUP BY user_id")
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_mv_k
      table: mv_totals
      columns: [k]
""")
    env = env_for(foreign_database)
    assert hmb(["indexes", "plan", "--file", spec], env=env).returncode == 0
    done = hmb(["indexes", "apply", "--file", spec], env=env)
    assert done.returncode == 0, done.stderr
    assert sql(foreign_database, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_mv_k'::regclass") == [(True,)]
