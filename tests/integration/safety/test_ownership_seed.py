"""Ownership: hmb-ops drops and rewrites only the tables it created (issue #11 items 1, 4 and "Ownership").

Every test points the real CLI (or the core) at a database on the real embedded server; the
user's own tables, foreign key and view come from the `foreign_database` fixture and must be
exactly as they were afterwards.
"""

from __future__ import annotations

import json

import pytest

from cli_helpers import error_line
from fixtures_foreign import foreign_snapshot
from fixtures_indexes import run_sql

SEED = ["db", "seed", "--hash-rounds", "4"]


def hmb_tables(url: str) -> set[str]:
    return {r[0] for r in run_sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_db_seed_and_reset_refuse_a_users_table_and_leave_everything(hmb, foreign_database):
    before = foreign_snapshot(foreign_database)
    env = {"DATABASE_URL": foreign_database}
    for args in (SEED, SEED + ["--reset"], SEED + ["--reset", "--scale", "medium"], ["db", "init"]):
        proc = hmb(args, env=env)
        line = error_line(proc, 2, alone=True)
        assert "names: users (schema public); and beside them: order_totals, orders;" in line, line
        assert "did not create" in line and "createdb hmb_ops_load" in line and "--drop-foreign users" in line
    assert foreign_snapshot(foreign_database) == before
    # nothing of hmb-ops's was left behind either
    assert hmb_tables(foreign_database) == {"users", "orders"}


def test_drop_foreign_drops_only_what_is_named_and_never_cascades(hmb, foreign_database):
    before = foreign_snapshot(foreign_database)
    env = {"DATABASE_URL": foreign_database}
    # users alone: its dependents (orders' FK, the view) would go with a CASCADE, so it is refused
    proc = hmb(SEED + ["--drop-foreign", "users"], env=env)
    line = error_line(proc, 2, alone=True)
    assert "orders_user_id_fkey" in line and "view order_totals" in line and "CASCADE" in line
    # a typo is refused by name, before anything
    proc = hmb(SEED + ["--drop-foreign", "users,nope"], env=env)
    assert "nope" in error_line(proc, 2, alone=True)
    assert foreign_snapshot(foreign_database) == before
    # dry run: the plan, nothing changed
    dry = hmb(SEED + ["--drop-foreign", "users,orders", "--allow-foreign-tables", "--dry-run", "--json"], env=env)
    assert dry.returncode == 2  # the view still depends on both
    dry = hmb(SEED + ["--drop-foreign", "users,orders,order_totals", "--dry-run", "--json"], env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["plan"]["drop_foreign"] == ["users", "orders", "order_totals"]
    assert foreign_snapshot(foreign_database) == before
    # everything named: dropped, listed first on stderr and in --json, then seeded
    proc = hmb(SEED + ["--drop-foreign", "users", "--drop-foreign", "orders,order_totals", "--json"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "dropping tables hmb-ops did not create, as named by --drop-foreign: users, orders, order_totals" \
        in proc.stderr.splitlines()[0]
    doc = json.loads(proc.stdout)
    assert doc["plan"]["drop_foreign"] == ["users", "orders", "order_totals"] and doc["rows"]["users"] == 1000
    assert hmb_tables(foreign_database) >= {"users", "feed_items"} and "orders" not in hmb_tables(foreign_database)


def test_reset_lists_what_it_drops_and_keeps_a_shared_databases_tables(hmb, foreign_database):
    """A non-colliding foreign table: refused unless shared; shared, it survives seed and --reset."""
    run_sql(foreign_database, "ALTER TABLE users RENAME TO customers")
    before = run_sql(foreign_database, "SELECT count(*), sum(total) FROM orders")
    env = {"DATABASE_URL": foreign_database}
    proc = hmb(SEED, env=env)
    line = error_line(proc, 2, alone=True)
    assert "customers" in line and "orders" in line and "order_totals" in line and "--allow-foreign-tables" in line
    proc = hmb(SEED + ["--allow-foreign-tables"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "leaving untouched the tables hmb-ops did not create: customers, order_totals, orders" in proc.stderr
    reset = hmb(SEED + ["--reset", "--seed", "7", "--json"], env=env)  # sharing is recorded in the database
    assert reset.returncode == 0, reset.stderr
    first = reset.stderr.splitlines()[0]
    assert first.startswith("dropping hmb-ops's own tables in schema public: feed_items,") and "users" in first
    assert json.loads(reset.stdout)["plan"]["kept_foreign"] == ["customers", "order_totals", "orders"]
    assert run_sql(foreign_database, "SELECT count(*), sum(total) FROM orders") == before
    assert run_sql(foreign_database, "SELECT count(*) FROM order_totals")[0][0] == 300
    assert run_sql(foreign_database, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass"
                                     " AND contype = 'f'")[0][0] == 1


def test_reset_refuses_when_a_foreign_view_depends_on_hmb_ops_tables(hmb, new_database):
    url = new_database("own")
    env = {"DATABASE_URL": url}
    assert hmb(SEED, env=env).returncode == 0
    run_sql(url, "CREATE VIEW my_active AS SELECT id, email FROM users WHERE is_active",
            "CREATE TABLE my_notes (user_id bigint REFERENCES users(id), body text)",
            "INSERT INTO my_notes VALUES (1, 'keep me')")
    proc = hmb(SEED + ["--reset", "--allow-foreign-tables"], env=env)
    line = error_line(proc, 2, alone=True)
    assert "view my_active" in line and "table my_notes" in line and "CASCADE" in line
    assert run_sql(url, "SELECT body FROM my_notes") == [("keep me",)]
    assert run_sql(url, "SELECT count(*) FROM my_active")[0][0] == 1000


def test_a_replaced_table_is_no_longer_hmb_ops_s(hmb, new_database):
    """Ownership is the table's identity (oid), not its name: a user's table of the same name is theirs."""
    url = new_database("own")
    env = {"DATABASE_URL": url}
    assert hmb(["db", "init"], env=env).returncode == 0
    run_sql(url, "DROP TABLE reviews", "CREATE TABLE reviews (id int, mine text)",
            "INSERT INTO reviews VALUES (1, 'x')")
    proc = hmb(SEED + ["--reset"], env=env)
    assert "reviews" in error_line(proc, 2, alone=True)
    assert run_sql(url, "SELECT mine FROM reviews") == [("x",)]


@pytest.mark.parametrize("password, fragment", [("x" * 80, "80 bytes"), ("é" * 37, "74 bytes"), ("", "empty")])
def test_a_bad_password_fails_before_anything_is_dropped(hmb, new_database, password, fragment):
    url = new_database("own")
    env = {"DATABASE_URL": url}
    assert hmb(SEED + ["--seed", "3"], env=env).returncode == 0
    from hmb_ops.db.seed import seeded_info

    before = seeded_info(url)
    proc = hmb(SEED + ["--reset", "--password", password], env=env)
    assert fragment in error_line(proc, 2, alone=True)
    assert seeded_info(url) == before
    assert run_sql(url, "SELECT count(*) FROM users")[0][0] == 1000


def test_ensure_seeded_refuses_a_foreign_database_and_shares_a_shared_one(foreign_database, new_database):
    from hmb_ops.db.seed import ensure_seeded, seed
    from hmb_ops.errors import UsageError

    before = foreign_snapshot(foreign_database)
    with pytest.raises(UsageError, match="users"):
        ensure_seeded(foreign_database, scale="small", hash_rounds=4)
    assert foreign_snapshot(foreign_database) == before
    # a seeded database where the user later adds a table of their own: refused until shared
    url = new_database("own")
    assert ensure_seeded(url, scale="small", hash_rounds=4) is True
    run_sql(url, "CREATE TABLE audit (id int)")
    with pytest.raises(UsageError, match="audit"):
        ensure_seeded(url, scale="small")
    seed(url, reset=True, allow_foreign=True, hash_rounds=4)
    assert ensure_seeded(url, scale="small") is False
    assert ensure_seeded(url, scale="small", seed=9, hash_rounds=4) is True  # replaces only its own tables
    assert run_sql(url, "SELECT to_regclass('audit') IS NOT NULL")[0][0] is True


def test_ownership_record_names_hmb_ops_the_schema_and_each_table(hmb, new_database):
    from hmb_ops.db.schema import OWNED_TABLE, TABLES

    url = new_database("own")
    assert hmb(SEED + ["--seed", "5"], env={"DATABASE_URL": url}).returncode == 0
    rows = run_sql(url, f"SELECT schema_name, object_name, created_by, relid = to_regclass(object_name)"
                        f" FROM {OWNED_TABLE} ORDER BY 2")
    assert sorted(r[1] for r in rows) == sorted(TABLES)
    assert {(r[0], r[2], r[3]) for r in rows} == {("public", "hmb-ops", True)}
    assert run_sql(url, "SELECT state, scale, seed, created_by FROM hmb_ops_seed_info") == \
        [("complete", "small", 5, "hmb-ops")]


@pytest.mark.parametrize("command", [["loadtest", "--duration", "2s", "--users", "1"],
                                     ["capacity", "--tiers", "small", "--steps", "1", "--step-seconds", "2"],
                                     ["capacity", "claims", "--only", "indexes"]])
def test_loadtest_and_capacity_refuse_a_users_database_and_leave_it_whole(hmb, foreign_database, tmp_path, command):
    before = foreign_snapshot(foreign_database)
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--database-url", foreign_database, *command,
                "--out", str(tmp_path / "out")], env={"CI": "true"}, timeout=240)
    line = error_line(proc, 2)
    assert "users" in line and "createdb" in line
    assert foreign_snapshot(foreign_database) == before
    assert hmb_tables(foreign_database) == {"users", "orders"}


@pytest.mark.parametrize("command", [["loadtest", "--duration", "2s", "--users", "1"],
                                     ["capacity", "--tiers", "small", "--steps", "1", "--step-seconds", "2"]])
def test_loadtest_and_capacity_refuse_one_foreign_table(hmb, new_database, tmp_path, command):
    url = new_database("own")
    run_sql(url, "CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)", "INSERT INTO invoices VALUES (1, 9.5)")
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--database-url", url, *command,
                "--out", str(tmp_path / "out")], env={"CI": "true"}, timeout=240)
    line = error_line(proc, 2)
    assert "invoices" in line and "--allow-foreign-tables" in line
    assert hmb_tables(url) == {"invoices"}
    assert run_sql(url, "SELECT amount FROM invoices")[0][0] == 9.5


def test_loadtest_runs_beside_tables_of_a_shared_database(hmb, foreign_database, tmp_path):
    """Once shared (db seed --allow-foreign-tables), a load run works and the user's objects stay whole."""
    run_sql(foreign_database, "ALTER TABLE users RENAME TO customers")
    before = run_sql(foreign_database, "SELECT md5(string_agg(email, ',' ORDER BY id)) FROM customers")
    env = {"DATABASE_URL": foreign_database, "CI": "true"}
    assert hmb(SEED + ["--allow-foreign-tables"], env=env).returncode == 0
    # In a shared database hmb-ops creates no extension unasked: this is the consent.
    assert hmb(["indexes", "apply", "--create-extensions"], env=env, timeout=240).returncode == 0
    proc = hmb(["--state-dir", str(tmp_path / "state"), "loadtest", "--duration", "2s", "--users", "1",
                "--out", str(tmp_path / "out")], env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert run_sql(foreign_database, "SELECT md5(string_agg(email, ',' ORDER BY id)) FROM customers") == before
    assert run_sql(foreign_database, "SELECT count(*) FROM order_totals")[0][0] == 300


def test_db_status_shows_what_hmb_ops_owns_and_what_it_does_not(hmb, foreign_database, tmp_path):
    env = {"DATABASE_URL": foreign_database}
    doc = json.loads(hmb(["--state-dir", str(tmp_path), "--json", "db", "status"], env=env).stdout)
    assert doc["ownership"]["colliding"] == ["users"] and doc["ownership"]["owned"] == []
    assert sorted(doc["ownership"]["foreign"]) == ["order_totals", "orders"] and doc["ownership"]["seed_state"] is None
    text = hmb(["--state-dir", str(tmp_path), "db", "status"], env=env).stdout
    assert "foreign:  users, order_totals, orders" in text


def test_a_database_seeded_before_ownership_records_is_still_hmb_ops_s(hmb, new_database):
    """Upgrade path: the old seed-info table (no state, no ownership record) proves hmb-ops loaded the tables."""
    from hmb_ops.db.schema import DDL
    from hmb_ops.db.seed import ensure_seeded, seeded_info

    url = new_database("legacy")
    run_sql(url, *DDL, """CREATE TABLE hmb_ops_seed_info (
        id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1), scale text NOT NULL, seed integer NOT NULL,
        users bigint NOT NULL, hash_rounds integer NOT NULL, password_hash text NOT NULL,
        rows jsonb NOT NULL, seconds double precision NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())""",
            "INSERT INTO users (email, hashed_password, username) VALUES ('a@example.test', 'x', 'a')",
            "INSERT INTO hmb_ops_seed_info (scale, seed, users, hash_rounds, password_hash, rows, seconds)"
            " VALUES ('small', 1, 1, 4, 'x', '{}', 0)")
    assert seeded_info(url)["seed"] == 1
    assert ensure_seeded(url, scale="small", seed=1, hash_rounds=4) is False  # reused (hashes rewritten)
    proc = hmb(SEED + ["--reset", "--json"], env={"DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert "users" in json.loads(proc.stdout)["plan"]["drop_owned"]
    assert seeded_info(url)["users"] == 1000


# The user's objects a plain DROP TABLE takes along without CASCADE (they depend "automatically" on
# their table): each alone stops a reset, which names it and leaves it whole.
ATTACHMENTS = {
    "sequence": (["CREATE SEQUENCE my_seq OWNED BY follows.follower_id", "SELECT setval('my_seq', 777)"],
                 "sequence my_seq (OWNED BY follows.follower_id)",
                 "SELECT last_value FROM my_seq", [(777,)], "DROP SEQUENCE my_seq"),
    "trigger": (["CREATE FUNCTION my_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
                 "CREATE TRIGGER my_audit AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION my_trg()"],
                "trigger my_audit on users",
                "SELECT tgname FROM pg_trigger WHERE tgname = 'my_audit'", [("my_audit",)],
                "DROP TRIGGER my_audit ON users"),
    "index": (["CREATE INDEX my_idx_on_hmb_users ON users (lower(email))"],
              "index my_idx_on_hmb_users on users (not built by hmb-ops)",
              "SELECT to_regclass('my_idx_on_hmb_users')::text", [("my_idx_on_hmb_users",)],
              "DROP INDEX my_idx_on_hmb_users"),
}


@pytest.fixture
def seeded_shared(new_database):
    from hmb_ops.db.seed import seed

    url = new_database("att")
    run_sql(url, "CREATE TABLE notes (id int PRIMARY KEY, body text)")
    seed(url, scale="small", hash_rounds=4, allow_foreign=True)
    return url


@pytest.mark.parametrize("kind", sorted(ATTACHMENTS))
def test_reset_refuses_the_users_sequence_trigger_or_index_on_hmb_ops_tables(hmb, seeded_shared, kind):
    create, named, probe, expected, drop = ATTACHMENTS[kind]
    url = seeded_shared
    env = {"DATABASE_URL": url}
    run_sql(url, *create)
    for extra in (["--reset"], ["--reset", "--dry-run"], ["--reset", "--dry-run", "--json"]):
        line = error_line(hmb(SEED + ["--scale", "small"] + extra, env=env), 2, alone=True)
        assert named in line and "would be lost" in line, line
        assert run_sql(url, probe) == expected
    # the users table was not dropped either: still the seed's rows
    assert run_sql(url, "SELECT count(*) FROM users")[0][0] == 1000
    run_sql(url, drop)
    proc = hmb(SEED + ["--scale", "small", "--reset"], env=env)
    assert proc.returncode == 0, proc.stderr


def test_reset_names_every_attachment_and_the_loadtest_reseed_refuses_too(seeded_shared):
    """All three at once are listed in one message; ensure_seeded (loadtest's reseed) and the
    core drop_owned refuse the same way and leave them."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import drop_owned
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.errors import UsageError

    url = seeded_shared
    for create, *_ in ATTACHMENTS.values():
        run_sql(url, *create)
    with pytest.raises(UsageError) as err:
        ensure_seeded(url, scale="small", seed=2, hash_rounds=4)  # a different seed: would reseed
    for _, named, *_ in ATTACHMENTS.values():
        assert named in str(err.value)
    with connection(url) as conn, pytest.raises(UsageError) as err:
        drop_owned(conn)
    assert "trigger my_audit on users" in str(err.value)
    for _, _, probe, expected, _ in ATTACHMENTS.values():
        assert run_sql(url, probe) == expected


def test_hmb_ops_own_serial_sequences_constraints_and_marked_indexes_do_not_stop_a_reset(hmb, seeded_shared):
    url = seeded_shared
    env = {"DATABASE_URL": url, "CI": "true"}
    # an index the user built but that carries hmb-ops's mark prefix (any text after it) counts as hmb-ops's
    run_sql(url, "CREATE INDEX marked_ix ON users (username)",
            "COMMENT ON INDEX marked_ix IS 'hmb-ops: some future format on public.users'")
    applied = hmb(["indexes", "apply", "--create-extensions"], env=env)
    assert applied.returncode == 0, applied.stderr
    assert run_sql(url, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'users'"
                   " AND indexname NOT LIKE '%pkey'")[0][0] > 1
    proc = hmb(SEED + ["--scale", "small", "--reset"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert run_sql(url, "SELECT count(*) FROM users")[0][0] == 1000
