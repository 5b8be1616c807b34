"""hmb-ops replaces or drops only indexes it built (issue #11 "Ownership", applied to indexes).

Against the real embedded server, on a database holding the user's own tables (fixture
`foreign_database`: users, orders with a foreign key, a view). An index is hmb-ops's when
`indexes apply` built it (its comment is hmb-ops's mark naming the index's own table) or when it sits on a table hmb-ops
created (recorded in hmb_ops_owned); anything else needs `--adopt NAME`.
"""

from __future__ import annotations

import json
import re

import pytest

from cli_helpers import error_line
from fixtures_foreign import foreign_snapshot
from fixtures_indexes import env_for, run_sql as sql, write_spec as spec_file


def index_row(url: str, name: str):
    """(oid, definition, comment) of an index, or None."""
    rows = sql(url, "SELECT c.oid::bigint, pg_get_indexdef(c.oid), obj_description(c.oid, 'pg_class') "
                    "FROM pg_class c WHERE c.relname = %s AND c.relkind = 'i'", params=(name,))
    return rows[0] if rows else None


SPEC = """indexes:
  declared:
    - name: idx_orders_user
      table: orders
      columns: [user_id, total]
      queries:
        - {name: by_user, sql: "SELECT total FROM orders WHERE user_id = %(u)s", params: {u: 3}}
    - name: idx_users_email
      table: users
      columns: [email]
      queries:
        - {name: by_email, sql: "SELECT id FROM users WHERE email = %(e)s", params: {e: u7@example.org}}
"""

USERS_INDEX = "CREATE INDEX idx_orders_user ON orders (user_id)"  # the user's own, declared name, other definition


@pytest.fixture
def users_index(foreign_database):
    sql(foreign_database, USERS_INDEX)
    return foreign_database


def test_allow_replace_refuses_a_users_index_with_a_declared_name_and_adopt_replaces_it(users_index, hmb, tmp_path):
    url, spec, env = users_index, spec_file(tmp_path, SPEC), env_for(users_index)
    before, data = index_row(url, "idx_orders_user"), foreign_snapshot(url)

    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--allow-replace", "--json"], env=env).stdout)
    foreign = [(a["kind"], h["target"], h["allowed"]) for a in plan["actions"] for h in a["hazards"]
               if h["code"] == "foreign_index"]
    assert foreign and {t for _, t, _ in foreign} == {"idx_orders_user"} and not any(ok for *_, ok in foreign)
    assert {a["owned"] for a in plan["actions"] if a["kind"] in ("build_replacement", "swap")} == {False}
    text = hmb(["indexes", "plan", "--file", spec, "--allow-replace"], env=env).stdout
    assert "NOT hmb-ops's" in text and "needs --adopt idx_orders_user" in text

    refused = hmb(["indexes", "apply", "--file", spec, "--allow-replace"], env=env)
    line = error_line(refused, 2)
    assert "idx_orders_user" in line and "not built by hmb-ops" in line and "--adopt idx_orders_user" in line
    assert "nothing was changed" in line
    assert index_row(url, "idx_orders_user") == before, "the user's index survives unchanged"
    assert index_row(url, "idx_users_email") is None, "the whole plan was refused, not just the foreign step"
    assert index_row(url, "idx_orders_user_hmbnew") is None

    adopted = hmb(["indexes", "apply", "--file", spec, "--allow-replace", "--adopt", "idx_orders_user"], env=env)
    assert adopted.returncode == 0, adopted.stderr
    oid, definition, comment = index_row(url, "idx_orders_user")
    assert oid != before[0] and "(user_id, total)" in definition and comment.startswith("hmb-ops:")
    assert index_row(url, "idx_orders_user_hmbold") is None and index_row(url, "idx_orders_user_hmbnew") is None
    assert foreign_snapshot(url) == data

    status = hmb(["indexes", "status", "--file", spec, "--json"], env=env)
    rows = {r["name"]: r for r in json.loads(status.stdout)["indexes"]}
    assert rows["idx_orders_user"]["owned"] is True and rows["idx_orders_user"]["ownership"] == "built by hmb-ops"
    assert rows["idx_users_email"]["owned"] is True
    assert rows["users_pkey"]["owned"] is False and rows["users_pkey"]["ownership"] == "not hmb-ops's"
    table = hmb(["indexes", "status", "--file", spec], env=env).stdout
    assert "owner" in table and "not hmb-ops" in table


def test_apply_marks_what_it_builds_and_status_shows_ownership(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "CREATE INDEX users_name_idx ON users (name)")
    spec = spec_file(tmp_path, SPEC, name="my spec's.yaml")
    applied = hmb(["indexes", "apply", "--file", spec], env=env)
    assert applied.returncode == 0, applied.stderr
    _oid, _definition, comment = index_row(url, "idx_users_email")
    # the file name is reduced to plain characters: no quote reaches the COMMENT literal
    # (the mark ends with the time of the plan that built it: status reads the index's age from it)
    assert re.fullmatch(r"hmb-ops: built by indexes apply on public\.users \(spec my spec_s\.yaml, "
                        r"built \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", comment)
    report = json.loads(hmb(["indexes", "status", "--file", spec, "--json"], env=env).stdout)
    owned = {r["name"]: r["owned"] for r in report["indexes"]}
    assert owned["idx_users_email"] is True and owned["idx_orders_user"] is True
    assert owned["users_name_idx"] is False and owned["orders_pkey"] is False
    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--json"], env=env).stdout)
    assert plan["actions"] == []


def test_adopt_of_a_matching_index_only_marks_it(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "CREATE INDEX idx_users_email ON users (email)")
    before = index_row(url, "idx_users_email")
    spec = spec_file(tmp_path, SPEC)
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    assert index_row(url, "idx_users_email") == before, "a matching index of the user's is used, not touched"
    assert hmb(["indexes", "apply", "--file", spec, "--adopt", "idx_users_email"], env=env).returncode == 0
    oid, definition, comment = index_row(url, "idx_users_email")
    assert (oid, definition) == before[:2] and comment.startswith("hmb-ops: adopted")


@pytest.mark.parametrize("adopt, why", [("idx_nope", "does not declare"), ("idx_orders_user,", "empty name"),
                                        ("users_pkey", "does not declare")])
def test_adopt_needs_declared_names(foreign_database, hmb, tmp_path, adopt, why):
    spec = spec_file(tmp_path, SPEC)
    proc = hmb(["indexes", "plan", "--file", spec, "--adopt", adopt], env=env_for(foreign_database))
    assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr


def test_drop_declared_leaves_a_users_index_and_reports_it(users_index, tmp_path):
    from hmb_ops.indexes import api, service

    url = users_index
    spec = spec_file(tmp_path, SPEC.replace("columns: [user_id, total]", "columns: [user_id]"))
    api.ensure_indexes(url, spec)  # builds idx_users_email; idx_orders_user (the user's) already matches
    before = index_row(url, "idx_orders_user")
    report = api.drop_declared_report(url, spec)
    assert report == {"dropped": ["idx_users_email"], "skipped": ["idx_orders_user"]}
    assert index_row(url, "idx_orders_user") == before and index_row(url, "idx_users_email") is None
    assert api.drop_declared_indexes(url, spec) == []
    assert service.make_plan(url, api.load_spec(spec)).summary()["missing"] == 1


def test_debris_is_dropped_only_when_marked(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, SPEC)
    sql(url, "CREATE INDEX idx_orders_user_hmbnew ON orders (total)")  # the user's, by an unlucky name
    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--json"], env=env).stdout)
    drop = [a for a in plan["actions"] if a["index"] == "idx_orders_user_hmbnew"]
    assert drop and drop[0]["owned"] is False
    assert any(f["kind"] == "debris" and "not hmb-ops's" in f["detail"] for f in plan["findings"])
    line = error_line(hmb(["indexes", "apply", "--file", spec], env=env), 2)
    assert "--adopt idx_orders_user_hmbnew" in line
    assert index_row(url, "idx_orders_user_hmbnew") is not None
    done = hmb(["indexes", "apply", "--file", spec, "--adopt", "idx_orders_user_hmbnew"], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, "idx_orders_user_hmbnew") is None
    # hmb-ops's own leftover (marked) goes without asking
    sql(url, "CREATE INDEX idx_users_email_hmbold ON users (name)",
        "COMMENT ON INDEX idx_users_email_hmbold IS 'hmb-ops: built by indexes apply on public.users (spec s)'")
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    assert index_row(url, "idx_users_email_hmbold") is None


def test_drop_undeclared_drops_only_hmb_ops_indexes_unless_adopt_names_a_users_one(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, SPEC)
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    sql(url, "CREATE INDEX users_name_idx ON users (name)")
    sql(url, "CREATE INDEX mine_idx ON orders (total)",
        "COMMENT ON INDEX mine_idx IS 'hmb-ops: built by indexes apply on public.orders (spec s)'")
    # a table of the user's that the spec does not even mention, with the user's own index
    sql(url, "CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX audit_log_at_idx ON audit_log (at)")
    users_idx, audit_idx = index_row(url, "users_name_idx"), index_row(url, "audit_log_at_idx")

    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--json"], env=env).stdout)
    assert {a["index"]: a["owned"] for a in plan["actions"] if a["kind"] == "drop"} == {"mine_idx": True}
    kept = {f["index"]: f["detail"] for f in plan["findings"] if f["kind"] == "undeclared"}
    assert "--drop-undeclared --adopt users_name_idx" in kept["users_name_idx"]
    assert "--drop-undeclared --adopt audit_log_at_idx" in kept["audit_log_at_idx"]
    status = hmb(["indexes", "status", "--file", spec], env=env).stderr
    assert "kept; --drop-undeclared --adopt users_name_idx drops it" in status, status
    assert "mine_idx (orders): not in the spec; hmb-ops's (kept; --drop-undeclared drops it)" in status, status

    done = hmb(["indexes", "apply", "--file", spec, "--drop-undeclared"], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, "mine_idx") is None, "hmb-ops's own undeclared index is dropped"
    assert index_row(url, "users_name_idx") == users_idx and index_row(url, "audit_log_at_idx") == audit_idx

    # --adopt of an undeclared index means nothing without --drop-undeclared
    line = error_line(hmb(["indexes", "apply", "--file", spec, "--adopt", "users_name_idx"], env=env), 2)
    assert "users_name_idx" in line and "--drop-undeclared" in line
    assert index_row(url, "users_name_idx") == users_idx

    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--adopt", "users_name_idx",
                           "--json"], env=env).stdout)
    drop = [a for a in plan["actions"] if a["kind"] == "drop"]
    assert [(a["index"], a["owned"]) for a in drop] == [("users_name_idx", False)]
    assert {h["code"] for h in drop[0]["hazards"]} == {"foreign_index", "drop_undeclared"}
    text = hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--adopt", "users_name_idx"], env=env).stdout
    assert "drop users_name_idx on users (NOT hmb-ops's)" in text
    sql_script = hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--adopt", "users_name_idx", "--sql"],
                     env=env).stdout
    assert "the index is NOT hmb-ops's" in sql_script
    done = hmb(["indexes", "apply", "--file", spec, "--drop-undeclared", "--adopt", "users_name_idx"], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, "users_name_idx") is None
    assert index_row(url, "audit_log_at_idx") == audit_idx, "an index it was not told to adopt is never dropped"
    assert foreign_snapshot(url)["users_rows"][0] == 500


def test_a_failed_build_on_a_users_table_leaves_a_marked_leftover_the_next_apply_repairs(foreign_database, hmb,
                                                                                      tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "INSERT INTO orders (user_id, total) VALUES (2, 1)")  # user_id 2 twice
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_orders_user_unique
      table: orders
      unique: true
      columns: [user_id]
""")
    failed = hmb(["indexes", "apply", "--file", spec], env=env)
    assert failed.returncode != 0 and "duplicate" in failed.stderr
    _oid, _definition, comment = index_row(url, "idx_orders_user_unique")
    assert comment and comment.startswith("hmb-ops:")
    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--json"], env=env).stdout)
    assert plan["indexes"][0]["status"] == "invalid"
    assert not [h for a in plan["actions"] for h in a["hazards"] if h["code"] == "foreign_index"]
    sql(url, "DELETE FROM orders WHERE id = (SELECT max(id) FROM orders)")
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0


def test_an_unmarked_invalid_index_of_the_users_needs_adopt(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "INSERT INTO orders (user_id, total) VALUES (2, 1)")
    # the user's own failed build under the declared name
    with pytest.raises(Exception, match=r"duplicate|could not create"):
        sql(url, "CREATE UNIQUE INDEX CONCURRENTLY idx_orders_user_unique ON orders (user_id)")
    before = index_row(url, "idx_orders_user_unique")
    sql(url, "DELETE FROM orders WHERE id = (SELECT max(id) FROM orders)")
    spec = spec_file(tmp_path, """indexes:
  declared:
    - name: idx_orders_user_unique
      table: orders
      unique: true
      columns: [user_id]
""")
    line = error_line(hmb(["indexes", "apply", "--file", spec], env=env), 2)
    assert "--adopt idx_orders_user_unique" in line
    assert index_row(url, "idx_orders_user_unique") == before
    done = hmb(["indexes", "apply", "--file", spec, "--adopt", "idx_orders_user_unique"], env=env)
    assert done.returncode == 0, done.stderr
    valid = sql(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_orders_user_unique'::regclass")
    assert valid == [(True,)]


def test_bench_on_a_users_table_refuses_unless_table_locks_are_allowed(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, SPEC)
    line = error_line(hmb(["indexes", "bench", "--file", spec, "--runs", "2"], env=env), 2)
    assert "ACCESS EXCLUSIVE" in line and "orders, users" in line and "--allow-table-locks" in line
    assert index_row(url, "idx_orders_user") is None, "refused before the apply bench starts with"
    one = error_line(hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--query", "by_email"], env=env), 2)
    assert "lock on users " in one, "only the tables of the selected queries are named"
    ok = hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks", "--json"], env=env)
    assert ok.returncode == 0, ok.stderr
    assert {q["name"] for q in json.loads(ok.stdout)["queries"]} == {"by_user", "by_email"}
    assert "--allow-table-locks" in hmb(["indexes", "bench", "--help"], env=env).stdout


def test_bench_on_tables_hmb_ops_created_needs_no_flag(schema_db, hmb, ixh, tmp_path):
    ixh.fill_users(schema_db, 300)
    spec = ixh.write_spec(tmp_path, ixh.USERS_SPEC)
    proc = hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--json"], env=env_for(schema_db))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("how", ["pg_terminate_backend", "pg_cancel_backend"])
def test_an_interrupted_build_on_a_users_table_is_repaired_without_adopt(foreign_database, ixh, tmp_path, blocker,
                                                                        how):
    from hmb_ops.errors import OperationFailed
    from hmb_ops.indexes import api, service
    from hmb_ops.indexes.plan import PlanOptions

    url = foreign_database
    spec = api.load_spec(spec_file(tmp_path, SPEC))
    b = blocker(url, "users")  # an old snapshot: the build waits, so it can be interrupted deterministically
    thread, box = ixh.in_thread(service.apply, url, spec, PlanOptions(build_lock_wait_ms=60_000))
    pid = ixh.wait_for_build(url, "idx_orders_user")
    ixh.run_sql(url, f"SELECT {how}(%s)", params=(pid,))
    thread.join(30)
    assert isinstance(box.get("error"), OperationFailed), box
    b.release()
    _oid, _definition, comment = index_row(url, "idx_orders_user")
    assert comment and comment.startswith("hmb-ops:"), "the apply marked the leftover of its own build"
    plan = service.make_plan(url, spec)
    assert {s.name: s.status for s in plan.indexes}["idx_orders_user"] == "invalid" and plan.refused == []
    service.apply(url, spec)
    assert service.make_plan(url, spec).actions == ()


LIKE_SPEC = """indexes:
  declared:
    - name: idx_users_email_lower
      table: users
      columns: [{column: email, opclass: text_pattern_ops}]
      queries:
        - name: pfx
          sql: "SELECT id FROM users WHERE email LIKE 'u1%%' AND '' = '%(x)s'"
          params:
            x: "VALUE"
"""


@pytest.mark.parametrize("value", [" ; COMMIT; SELECT 1 --", "x; COMMIT; SELECT 1 --", "x"])
def test_bench_cannot_be_made_to_commit_the_drop_of_a_users_index(foreign_database, hmb, tmp_path, value):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "CREATE INDEX idx_users_email_lower ON users (email text_pattern_ops)")  # the user's own
    before = index_row(url, "idx_users_email_lower")
    spec = spec_file(tmp_path, LIKE_SPEC.replace("VALUE", value))
    proc = hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks"], env=env)
    line = error_line(proc, 2)
    assert f"{spec}:8:" in line and "query 'pfx' is not one query" in line and "inside a string" in line, line
    assert index_row(url, "idx_users_email_lower") == before


BENCH_SPEC = """indexes:
  declared:
    - name: idx_users_email
      table: users
      columns: [email]
      queries:
        - {name: by_email, sql: "SELECT id FROM users WHERE email = %(e)s", params: {e: u7@example.org}}
"""


def test_bench_never_drops_a_users_index_even_for_a_moment_unless_adopted(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "CREATE INDEX idx_users_email ON users (email)")  # the user's, same name and definition as declared
    before = index_row(url, "idx_users_email")
    spec = spec_file(tmp_path, BENCH_SPEC)
    line = error_line(hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks"], env=env), 2)
    assert "idx_users_email" in line and "not hmb-ops's" in line and "--adopt idx_users_email" in line, line
    assert "nothing was changed" in line
    assert index_row(url, "idx_users_email") == before
    ok = hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks", "--adopt",
              "idx_users_email", "--json"], env=env)
    assert ok.returncode == 0, ok.stderr
    assert [q["name"] for q in json.loads(ok.stdout)["queries"]] == ["by_email"]
    oid, definition, comment = index_row(url, "idx_users_email")
    assert (oid, definition) == before[:2], "the index survives the rolled-back 'without' run"
    assert comment.startswith("hmb-ops: adopted")


def test_bench_with_a_query_the_server_refuses_exits_2_before_changing_anything(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, BENCH_SPEC.replace("SELECT id FROM", "SELECT no_such_column FROM"))
    line = error_line(hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks"], env=env), 2)
    assert "declared query 'by_email' failed on the server" in line and "no_such_column" in line, line
    assert "nothing was changed" in line and index_row(url, "idx_users_email") is None


def test_bench_on_a_users_database_creates_no_extension_unasked(foreign_database, hmb, tmp_path):
    """--allow-table-locks consents to locks, not to changing the database's extensions."""
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, """indexes:
  extensions: [pg_trgm]
  declared:
    - name: idx_users_email_trgm
      table: users
      columns: [{column: email, opclass: gin_trgm_ops}]
      method: gin
      queries:
        - {name: by_part, sql: "SELECT id FROM users WHERE email LIKE %(p)s", params: {p: "%u7%"}}
""")
    line = error_line(hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks"], env=env), 2)
    assert "pg_trgm" in line and "--create-extensions" in line
    assert sql(url, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")[0][0] == 0
    assert index_row(url, "idx_users_email_trgm") is None
    # The explicit consent, then bench runs.
    assert hmb(["indexes", "apply", "--file", spec, "--create-extensions"], env=env).returncode == 0
    assert hmb(["indexes", "bench", "--file", spec, "--runs", "2", "--allow-table-locks"], env=env).returncode == 0


def test_a_mark_copied_by_like_including_all_is_not_believed(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    spec = spec_file(tmp_path, SPEC)
    assert hmb(["indexes", "apply", "--file", spec], env=env).returncode == 0
    # the user's copy: LIKE ... INCLUDING ALL copies the indexes *and their comments*
    sql(url, "CREATE TABLE orders_archive (LIKE orders INCLUDING ALL)")
    copies = sql(url, "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_index i JOIN pg_class c "
                      "ON c.oid = i.indexrelid WHERE i.indrelid = 'orders_archive'::regclass "
                      "AND obj_description(c.oid, 'pg_class') LIKE 'hmb-ops:%%'")
    assert len(copies) == 1 and "on public.orders " in copies[0][1], copies
    copy = copies[0][0]
    before = index_row(url, copy)

    report = json.loads(hmb(["indexes", "status", "--file", spec, "--json"], env=env).stdout)
    rows = {r["name"]: r for r in report["indexes"]}
    assert rows[copy]["owned"] is False and rows[copy]["ownership"] == "not hmb-ops's"
    assert rows["idx_orders_user"]["owned"] is True, "the original keeps its mark"
    plan = json.loads(hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--json"], env=env).stdout)
    assert [a["index"] for a in plan["actions"] if a["kind"] == "drop"] == []
    done = hmb(["indexes", "apply", "--file", spec, "--drop-undeclared"], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, copy) == before, "the user's copy is kept"


@pytest.mark.parametrize("comment", [
    "hmb-ops: built by indexes apply (spec s.yaml)",                       # the old form: no table named
    "hmb-ops: built by indexes apply on public.orders (spec s.yaml)",      # another table's mark
    "hmb-ops: built by indexes apply on public.orders_archive (spec (s))",  # not a mark hmb-ops writes
])
def test_a_mark_that_does_not_name_the_index_own_table_is_not_believed(foreign_database, hmb, tmp_path, comment):
    url, env = foreign_database, env_for(foreign_database)
    sql(url, "CREATE TABLE orders_archive (id bigint)", "CREATE INDEX archive_id_idx ON orders_archive (id)")
    sql(url, "COMMENT ON INDEX archive_id_idx IS %s", params=(comment,))
    before = index_row(url, "archive_id_idx")
    spec = spec_file(tmp_path, SPEC)
    done = hmb(["indexes", "apply", "--file", spec, "--drop-undeclared"], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, "archive_id_idx") == before


def test_the_mark_quotes_a_table_name_with_quotes_exactly(foreign_database, hmb, tmp_path):
    url, env = foreign_database, env_for(foreign_database)
    table = "it's \\ \"odd\""
    sql(url, 'CREATE TABLE "it\'s \\ ""odd""" (k int)')
    spec = spec_file(tmp_path, "indexes:\n  declared:\n    - name: odd_k\n      table: " + json.dumps(table)
                     + "\n      columns: [k]\n")
    done = hmb(["indexes", "apply", "--file", spec], env=env)
    assert done.returncode == 0, done.stderr
    assert index_row(url, "odd_k")[2].startswith(
        'hmb-ops: built by indexes apply on public."it\'s \\ ""odd""" (spec spec.yaml, built ')
    report = json.loads(hmb(["indexes", "status", "--file", spec, "--json"], env=env).stdout)
    assert {r["name"]: r["owned"] for r in report["indexes"]}["odd_k"] is True
