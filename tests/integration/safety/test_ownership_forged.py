"""A forged ownership record, a table of another role, an extension nobody asked for (issue #11 follow-ups).

Anybody who may create tables in a schema can create an `hmb_ops_owned` (or an old-style
`hmb_ops_seed_info`) of their own and claim their `posts` with it. hmb-ops believes a claim only
when the record is its own (columns, comment, owner role) and the claimed table has the reference
columns and belongs to the role hmb-ops connects as; everything else is foreign: exit 2, the
reason said, the user's rows untouched. Every test drives the real CLI against the real server.
"""

from __future__ import annotations

import json
import uuid

import pytest

from cli_helpers import error_line
from fixtures_indexes import run_sql

SEED = ["db", "seed", "--hash-rounds", "4"]
USERS_POSTS = ("CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL, body text, score int)",
               ("INSERT INTO posts (title, body, score) SELECT 'post ' || i, 'body ' || i, i"
                " FROM generate_series(1, 200) i"))
FORGED_RECORD = """CREATE TABLE hmb_ops_owned (
    schema_name text NOT NULL, object_name text NOT NULL, relid oid NOT NULL,
    kind text NOT NULL DEFAULT 'table', created_by text NOT NULL DEFAULT 'hmb-ops',
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (schema_name, object_name))"""
COMMENT = ("COMMENT ON TABLE hmb_ops_owned IS "
           "'hmb-ops: the tables hmb-ops created here; it drops or rewrites only these'")
CLAIM = ("INSERT INTO hmb_ops_owned (schema_name, object_name, relid)"
         " VALUES ('public', 'posts', 'public.posts'::regclass)")
REASON = "posts: recorded in hmb_ops_owned but its columns differ from the reference schema"


def posts_digest(url: str):
    return run_sql(url, "SELECT 'public.posts'::regclass::oid, count(*),"
                        " md5(string_agg(title || body, ',' ORDER BY id)) FROM posts")


def tables(url: str) -> set[str]:
    return {r[0] for r in run_sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.fixture
def forged(new_database, request):
    """A user's `posts` (200 rows, other columns) claimed by a forged hmb_ops_owned (with or without the comment)."""
    url = new_database("forged")
    run_sql(url, *USERS_POSTS, FORGED_RECORD, *([COMMENT] if request.param else []), CLAIM)
    return url


@pytest.fixture
def other_role(pg_url):
    name = "hmb_other_" + uuid.uuid4().hex[:8]
    run_sql(pg_url, f"CREATE ROLE {name}")
    yield name
    # Roles are cluster-wide; the test hands back what the role owned, so it can go.
    try:
        run_sql(pg_url, f"DROP ROLE {name}")
    except Exception:  # noqa: BLE001 - best-effort clean-up; a role still owning objects is left behind
        pass


@pytest.mark.parametrize("forged", [False, True], ids=["no-comment", "with-comment"], indirect=True)
def test_db_status_does_not_count_a_forged_claim_and_says_why(hmb, forged, tmp_path):
    doc = json.loads(hmb(["--state-dir", str(tmp_path), "--json", "db", "status"],
                         env={"DATABASE_URL": forged}).stdout)["ownership"]
    assert doc["owned"] == [] and "posts" in doc["colliding"]
    assert doc["unverified"]["posts"] == REASON.split(": ", 1)[1]
    text = hmb(["--state-dir", str(tmp_path), "db", "status"], env={"DATABASE_URL": forged}).stdout
    assert "hmb-ops:  0 table(s) of its own" in text and f"why:      {REASON}" in text


@pytest.mark.parametrize("forged", [False, True], ids=["no-comment", "with-comment"], indirect=True)
@pytest.mark.parametrize("command", [SEED + ["--reset", "--dry-run"], SEED + ["--reset"], SEED,
                                     ["db", "init"]])
def test_db_seed_refuses_a_forged_claim_and_keeps_the_users_rows(hmb, forged, command):
    before = posts_digest(forged)
    proc = hmb(command, env={"DATABASE_URL": forged})
    line = error_line(proc, 2)
    assert REASON in line
    assert "dropping" not in proc.stderr and "would drop" not in proc.stdout
    assert posts_digest(forged) == before and before[0][1] == 200
    assert tables(forged) == {"posts", "hmb_ops_owned"}


@pytest.mark.parametrize("forged", [True], ids=["with-comment"], indirect=True)
def test_loadtest_refuses_a_forged_claim_and_keeps_the_users_rows(hmb, forged, tmp_path):
    before = posts_digest(forged)
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--database-url", forged, "loadtest", "--duration", "2s",
                "--users", "1", "--out", str(tmp_path / "out")], env={"CI": "true"}, timeout=240)
    line = error_line(proc, 2)
    assert REASON in line
    assert "dropping hmb-ops's own tables" not in proc.stderr
    assert posts_digest(forged) == before
    assert tables(forged) == {"posts", "hmb_ops_owned"}


def test_a_forged_old_style_seed_record_claims_nothing(hmb, new_database):
    """The upgrade rule (seed-info table, no record) gets the same column check."""
    url = new_database("forged")
    run_sql(url, *USERS_POSTS, "CREATE TABLE hmb_ops_seed_info (scale text, seed int, users bigint, hash_rounds int,"
                               " password_hash text, rows jsonb, seconds float8, seeded_at timestamptz,"
                               " shares_database boolean)",
            "INSERT INTO hmb_ops_seed_info VALUES ('small', 42, 1000, 4, 'x', '{}', 1, now(), true)")
    before = posts_digest(url)
    proc = hmb(SEED + ["--reset"], env={"DATABASE_URL": url})
    assert ("posts: left by an earlier hmb-ops seed (hmb_ops_seed_info) but its columns differ from the reference"
            " schema") in error_line(proc, 2)
    assert posts_digest(url) == before


def test_tables_of_another_role_are_not_hmb_ops_s(hmb, new_database, other_role):
    """Recorded, right oid, right columns, but owned by another role: foreign, and said so."""
    url = new_database("role")
    env = {"DATABASE_URL": url}
    assert hmb(["db", "init"], env=env).returncode == 0
    run_sql(url, "INSERT INTO users (email, hashed_password, username) VALUES ('a@x', 'x', 'a')",
            "INSERT INTO posts (user_id, content) VALUES (1, 'kept')", f"ALTER TABLE posts OWNER TO {other_role}")
    oid = run_sql(url, "SELECT 'posts'::regclass::oid")
    proc = hmb(SEED + ["--reset"], env=env)
    line = error_line(proc, 2)
    assert f"posts: recorded in hmb_ops_owned but owned by role {other_role}, not by the role hmb-ops connects as" \
           in line
    assert run_sql(url, "SELECT 'posts'::regclass::oid, content FROM posts") == [(oid[0][0], "kept")]
    doc = json.loads(hmb(["--json", "db", "status"], env=env).stdout)["ownership"]
    assert "posts" in doc["colliding"] and "posts" not in doc["owned"] and len(doc["owned"]) == 12

    # The record itself owned by another role: no claim in it is believed.
    run_sql(url, "ALTER TABLE posts OWNER TO CURRENT_USER", f"ALTER TABLE hmb_ops_owned OWNER TO {other_role}")
    doc = json.loads(hmb(["--json", "db", "status"], env=env).stdout)["ownership"]
    assert doc["owned"] == [] and "hmb_ops_owned" in doc["colliding"]
    assert doc["unverified"]["hmb_ops_owned"] == (f"not hmb-ops's record: owned by role {other_role}, not by the"
                                                  " role hmb-ops connects as")
    assert doc["unverified"]["users"].startswith("recorded in hmb_ops_owned but not hmb-ops's record: owned by")
    proc = hmb(SEED + ["--reset"], env=env)
    assert "hmb_ops_owned" in error_line(proc, 2)
    assert run_sql(url, "SELECT content FROM posts") == [("kept",)]
    run_sql(url, "ALTER TABLE hmb_ops_owned OWNER TO CURRENT_USER")


def test_a_user_column_added_to_an_hmb_ops_table_makes_it_the_users(hmb, new_database):
    url = new_database("extra")
    env = {"DATABASE_URL": url}
    assert hmb(["db", "init"], env=env).returncode == 0
    run_sql(url, "ALTER TABLE reviews ADD COLUMN mine text")
    doc = json.loads(hmb(["--json", "db", "status"], env=env).stdout)["ownership"]
    assert doc["colliding"] == ["reviews"] and len(doc["owned"]) == 12


def test_the_reference_columns_are_what_the_ddl_creates(new_database):
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import TABLES, create_schema, ownership, reference_columns

    assert reference_columns("users")[:3] == (("id", "bigint"), ("email", "text"), ("hashed_password", "text"))
    assert reference_columns("users")[-1] == ("updated_at", "timestamp with time zone")
    assert len(reference_columns("users")) == 16 and len(reference_columns("reviews")) == 7
    with connection(new_database("cols")) as conn:
        create_schema(conn)
        with conn.cursor() as cur:
            mine = ownership(cur, "public")
    assert set(mine.tables) == set(TABLES) and mine.reasons == {}


@pytest.mark.slow
def test_loadtest_in_a_shared_database_creates_no_extension_unasked(hmb, foreign_database, tmp_path):
    url = foreign_database
    run_sql(url, "ALTER TABLE users RENAME TO customers")  # shared beside hmb-ops's tables, not colliding
    env = {"DATABASE_URL": url, "CI": "true"}
    assert hmb(SEED + ["--allow-foreign-tables"], env=env).returncode == 0
    extensions = run_sql(url, "SELECT extname, extversion FROM pg_extension ORDER BY 1")
    assert "pg_trgm" not in {e for e, _v in extensions}
    run = ["--state-dir", str(tmp_path / "state"), "loadtest", "--duration", "2s", "--users", "1",
           "--out", str(tmp_path / "out")]
    proc = hmb(run, env=env, timeout=240)
    line = error_line(proc, 2)
    assert "lacks extension pg_trgm" in line and "hmb-ops indexes apply --create-extensions" in line
    assert run_sql(url, "SELECT extname, extversion FROM pg_extension ORDER BY 1") == extensions
    proc = hmb(["--state-dir", str(tmp_path / "state"), "capacity", "claims", "--only", "indexes",
                "--out", str(tmp_path / "claims")], env=env, timeout=240)
    assert "lacks extension pg_trgm" in error_line(proc, 2)
    assert run_sql(url, "SELECT extname, extversion FROM pg_extension ORDER BY 1") == extensions

    # Consent given explicitly: the extension is made, and the run goes ahead.
    proc = hmb(["indexes", "apply", "--create-extensions"], env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pg_trgm" in {e for e, _v in run_sql(url, "SELECT extname, extversion FROM pg_extension")}
    proc = hmb(run, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("record", ["CREATE TABLE hmb_ops_owned (object_name text, note text)",
                                    ("CREATE VIEW hmb_ops_owned AS SELECT 'public'::text AS schema_name,"
                                     " 'posts'::text AS object_name, 'posts'::regclass::oid AS relid")])
def test_a_record_of_another_shape_claims_nothing_and_is_not_dropped(hmb, new_database, record):
    url = new_database("shape")
    env = {"DATABASE_URL": url}
    run_sql(url, *USERS_POSTS, record)
    doc = json.loads(hmb(["--json", "db", "status"], env=env).stdout)["ownership"]
    assert doc["owned"] == [] and doc["colliding"] == ["posts", "hmb_ops_owned"]
    assert doc["unverified"]["hmb_ops_owned"].startswith("not hmb-ops's record: ")
    before = posts_digest(url)
    proc = hmb(SEED + ["--reset"], env=env)
    assert "hmb_ops_owned: not hmb-ops's record" in error_line(proc, 2)
    assert posts_digest(url) == before and tables(url) >= {"posts"}
    assert run_sql(url, "SELECT to_regclass('hmb_ops_owned') IS NOT NULL") == [(True,)]
