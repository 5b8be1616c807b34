"""`hmb-ops indexes suggest` on a schema of our own (not the reference app): equality + ORDER BY ... LIMIT
with an existing prefix index, LIKE '%x%' -> a trigram index, join columns; the bad inputs of issue #15.

Every run is the CLI in a subprocess against the session's embedded server; the what-if copy is a
scratch database on that same server (--state-dir), dropped afterwards.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import yaml

from cli_helpers import error_line
from fixtures_indexes import run_sql

pytestmark = pytest.mark.slow  # each test runs the CLI against a seeded schema: 10-20 s

LIBRARY_DDL = (
    "CREATE TABLE members (id bigserial PRIMARY KEY, email text NOT NULL, city text)",
    ("INSERT INTO members (email, city) SELECT 'm' || g || '@lib.test', 'city' || (g % 40) "
    "FROM generate_series(1, 4000) g"),
    "CREATE TABLE books (id bigserial PRIMARY KEY, title text NOT NULL, shelf int NOT NULL, added_at timestamptz)",
    ("INSERT INTO books (title, shelf, added_at) SELECT 'volume ' || md5(g::text) || ' of things', g % 300, "
    "timestamptz '2024-01-01' + g * interval '7 minutes' FROM generate_series(1, 30000) g"),
    ("CREATE TABLE loans (id bigserial PRIMARY KEY, book_id bigint NOT NULL REFERENCES books(id), "
    "member_id bigint NOT NULL REFERENCES members(id), loaned_at timestamptz NOT NULL, returned boolean NOT NULL)"),
    ("INSERT INTO loans (book_id, member_id, loaned_at, returned) SELECT 1 + (g * 7919) % 30000, 1 + (g * 31) % 4000, "
    "timestamptz '2025-01-01' + g * interval '1 minute', g % 5 = 0 FROM generate_series(1, 60000) g"),
    # the prefix case: an index on member_id exists; the workload pages a member's loans newest first
    "CREATE INDEX loans_member ON loans (member_id)",
    "ANALYZE",
)

WORKLOAD = [
    ("SELECT id, book_id, loaned_at FROM loans WHERE member_id = %s ORDER BY loaned_at DESC LIMIT 20", lambda i: (i,)),
    ("SELECT id, title FROM books WHERE title ILIKE %s", lambda i: (f"%{i:02x}ab%",)),
    ("SELECT count(*) FROM books WHERE shelf = %s", lambda i: (i % 300,)),
]


@pytest.fixture
def library(new_database, pg_server):
    if pg_server[1] is None:
        pytest.skip("the what-if copy needs the embedded server (HMB_OPS_TEST_DATABASE_URL names another)")
    url = new_database("lib")
    run_sql(url, "CREATE EXTENSION IF NOT EXISTS pg_trgm", *LIBRARY_DDL)
    return url


def _run_workload(url: str, pg_url: str, rounds: int = 30) -> None:
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        dboid = cur.fetchone()[0]
    # this database's statements only (the extension lives in the server's default database)
    run_sql(pg_url, "SELECT pg_stat_statements_reset(0, %s::oid, 0)", params=(int(dboid),))
    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        for i in range(1, rounds + 1):
            for sql, args in WORKLOAD:
                cur.execute(sql, args(i))
                cur.fetchall()


def _suggest(hmb, url, pg_state_dir, *extra):
    return hmb(["--database-url", url, "--state-dir", str(pg_state_dir), "indexes", "suggest", *extra],
               env={"CI": "true"}, timeout=180)


def _scratch_databases(pg_url: str) -> list:
    return run_sql(pg_url, "SELECT datname FROM pg_database WHERE datname LIKE 'hmb_ops_whatif_%'")


def test_suggest_from_pg_stat_statements_on_a_foreign_schema(library, pg_url, pg_state_dir, hmb, tmp_path):
    _run_workload(library, pg_url)
    before = run_sql(library, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    out = tmp_path / "suggested.yaml"
    proc = _suggest(hmb, library, pg_state_dir, "--json", "--spec-out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["method"] == "what-if copy" and doc["source"] == "pg_stat_statements"
    by_table = {(s["table"], tuple(s["keys"]), s["method"]): s for s in doc["suggestions"]}
    loans = by_table[("loans", ("member_id", "loaned_at DESC"), "btree")]
    assert loans["cost_after"] * 2 <= loans["cost_before"]
    assert [(e["index"], e["relation"]) for e in loans["existing"]] == [("loans_member", "existing_is_prefix")]
    trgm = by_table[("books", ("title",), "gin")]
    assert trgm["opclass"] == "gin_trgm_ops" and trgm["size_bytes"]
    assert ("books", ("shelf",), "btree") in by_table
    for s in doc["suggestions"]:
        assert s["statements"] and s["size_bytes"] and s["ddl"].startswith("CREATE INDEX CONCURRENTLY")
    # nothing changed on the user's database; the scratch copy is gone
    assert run_sql(library, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == before
    assert _scratch_databases(pg_url) == []
    # the spec is ready for plan: the suggestions are the actions, pg_trgm declared
    spec = out.read_text()
    assert "gin_trgm_ops" in spec and "pg_trgm" in spec and "%(p1)s" in spec
    plan = hmb(["--database-url", library, "indexes", "plan", "--file", str(out), "--json"], env={"CI": "true"})
    assert plan.returncode == 0, plan.stderr
    creates = {a["index"] for a in json.loads(plan.stdout)["actions"] if a["kind"] == "create"}
    assert {s["name"] for s in doc["suggestions"]} <= creates
    # --top 1: the costliest statement by total time and by mean time (at most two); --min-calls above
    # every statement's count: an empty workload
    top = json.loads(_suggest(hmb, library, pg_state_dir, "--json", "--top", "1").stdout)
    assert 1 <= len(top["statements"]) + sum(top["skipped"].values()) <= 2
    none = _suggest(hmb, library, pg_state_dir, "--min-calls", "100000")
    assert none.returncode == 0 and "nothing to suggest" in none.stdout


VACANCIES_DDL = (
    ("CREATE TABLE vacancies (id bigserial PRIMARY KEY, title text NOT NULL, status text NOT NULL, "
     "posted_at timestamptz NOT NULL)"),
    # a few dozen distinct titles, every word in many of them: the planner statistics' most common
    # value holds a frequent word
    ("INSERT INTO vacancies (title, status, posted_at) SELECT (ARRAY['Senior','Junior','Lead','Head'])[1 + g % 4] "
     "|| ' ' || (ARRAY['Cook','Nurse','Pilot','Welder','Tailor','Baker','Clerk','Guard'])[1 + (g / 4) % 8], "
     "CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, timestamptz '2024-01-01' + g * interval '3 minutes' "
     "FROM generate_series(1, 60000) g"),
    "CREATE INDEX vacancies_open_posted ON vacancies (posted_at DESC) WHERE status = 'open'",
    "ANALYZE",
)


def test_a_search_whose_words_often_match_nothing_gets_its_trigram_index(new_database, pg_server, pg_url,
                                                                         pg_state_dir, hmb, tmp_path):
    """The reference app's job search in small (a bench miss): `status = 'open'` becomes $1 in
    pg_stat_statements, so the generic plan cannot use the partial index and the statement is judged
    again with sample values. A frequent word is served by the partial index in date order; a word
    matching nothing (a typo, a role nobody posts) makes that ordered scan read every open vacancy, and
    only a trigram index serves it: the suggestion must not be refuted by the frequent word alone."""
    if pg_server[1] is None:
        pytest.skip("the what-if copy needs the embedded server")
    url = new_database("vac")
    run_sql(url, "CREATE EXTENSION IF NOT EXISTS pg_trgm", *VACANCIES_DDL)
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        run_sql(pg_url, "SELECT pg_stat_statements_reset(0, %s::oid, 0)", params=(int(cur.fetchone()[0]),))
        for word in ["nurse", "chef", "driver", "welder", "engineer", "baker", "remote"] * 5:
            cur.execute("SELECT id, title FROM vacancies WHERE status = 'open' AND title ILIKE %s "
                        "ORDER BY posted_at DESC LIMIT 20", (f"%{word}%",))
            cur.fetchall()
    out = tmp_path / "suggested.yaml"
    proc = _suggest(hmb, url, pg_state_dir, "--json", "--spec-out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    trgm = [s for s in doc["suggestions"] if s["table"] == "vacancies" and s["method"] == "gin"]
    assert [s["keys"] for s in trgm] == [["title"]], (doc["suggestions"], doc["statements"])
    assert trgm[0]["cost_after"] * 2 <= trgm[0]["cost_before"]
    search = [st for st in doc["statements"] if "ILIKE" in st["sql"]]
    assert search and "a search term matching no sampled value" in search[0]["plan_mode"]
    # the declared query proves the index on such a term, as the shipped spec's '%zzyzx%' does
    spec = yaml.safe_load(out.read_text())
    entry = next(i for i in spec["indexes"]["declared"] if i.get("method") == "gin")
    params = entry["queries"][0]["params"]
    # status = $1 is sampled with the partial index's own constant, not the column's most common value
    assert params["p1"] == "open" and params["p2"].startswith("%zqxjv"), params


def test_suggest_from_a_queries_file_with_an_unparseable_statement(library, pg_url, pg_state_dir, hmb, tmp_path):
    from hmb_ops.indexes.suggest.whatif_copy import SCRATCH_COMMENT

    # a scratch copy left by a killed run (its pid is gone) is dropped; one of a live process, and a
    # database that only looks like one (no hmb-ops comment), are left alone
    dead, alive, lookalike = (f"hmb_ops_whatif_{kind}{uuid.uuid4().hex[:6]}" for kind in ("dead", "live", "look"))
    for name, comment in ((dead, SCRATCH_COMMENT + "999999999"), (alive, SCRATCH_COMMENT + str(os.getpid())),
                          (lookalike, None)):
        run_sql(pg_url, f'CREATE DATABASE "{name}"')
        if comment:
            run_sql(pg_url, f'COMMENT ON DATABASE "{name}" IS %s', params=(comment,))
    queries = tmp_path / "workload.sql"
    queries.write_text("SELECT id FROM loans WHERE loaned_at >= '2025-01-20' AND loaned_at < '2025-01-21';\n"
                       "SELECT id FROM books WHERE title LIKE '%beef%';\n"
                       "SELECT FROM WHERE ((( ;\n"                       # the parser cannot read it
                       "SELECT * FROM no_such_table WHERE x = 1;\n"      # parses, but cannot be planned
                       "INSERT INTO members (email) VALUES ('x');\n")    # not something an index serves
    proc = _suggest(hmb, library, pg_state_dir, "--queries", str(queries), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["skipped"] == {"unparseable": 1, "unplannable": 1}
    assert doc["statements"][0]["plan_mode"] == "its own literal values"
    keys = {(s["table"], tuple(s["keys"])) for s in doc["suggestions"]}
    assert ("loans", ("loaned_at",)) in keys and ("books", ("title",)) in keys
    human = _suggest(hmb, library, pg_state_dir, "--queries", str(queries))
    assert human.returncode == 0 and "1 unparseable" in human.stderr and "1 unplannable" in human.stderr
    left = {row[0] for row in _scratch_databases(pg_url)}
    assert dead not in left and {alive, lookalike} <= left
    for name in (alive, lookalike):
        run_sql(pg_url, f'DROP DATABASE "{name}"')


def test_empty_workload_is_nothing_to_suggest(library, pg_state_dir, hmb, tmp_path):
    queries = tmp_path / "empty.sql"
    queries.write_text("-- nothing here\nINSERT INTO members (email) VALUES ('x');\nSET work_mem = '8MB';\n")
    proc = _suggest(hmb, library, pg_state_dir, "--queries", str(queries))
    assert proc.returncode == 0, proc.stderr
    assert "nothing to suggest" in proc.stdout


def test_spec_out_that_exists_is_refused_without_force(library, pg_state_dir, hmb, tmp_path):
    out = tmp_path / "mine.yaml"
    out.write_text("indexes: {declared: []}\n")
    queries = tmp_path / "w.sql"
    queries.write_text("SELECT id FROM books WHERE shelf = 3;\n")
    proc = _suggest(hmb, library, pg_state_dir, "--queries", str(queries), "--spec-out", str(out))
    line = error_line(proc, 2, alone=True)
    assert "exists" in line and "--force" in line
    assert out.read_text() == "indexes: {declared: []}\n"
    forced = _suggest(hmb, library, pg_state_dir, "--queries", str(queries), "--spec-out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "idx_books_shelf" in out.read_text()


def test_a_role_that_cannot_read_other_roles_statements_is_told_how(library, pg_url, pg_state_dir, hmb):
    from hmb_ops.db.dsn import parse

    _run_workload(library, pg_url, rounds=3)
    role, password = f"sg_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    run_sql(pg_url, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        p = parse(library)
        limited = p.url.replace(f"{p.url.split('://')[1].split('@')[0]}@", f"{role}:{password}@", 1)
        proc = _suggest(hmb, limited, pg_state_dir)
        line = error_line(proc, 3)
        assert "insufficient privilege" in line and "pg_read_all_stats" in line and password not in proc.stderr
    finally:
        run_sql(pg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_a_view_and_a_partitioned_table(library, pg_state_dir, hmb, tmp_path):
    """A statement on a view is planned through it (the suggestion names the base table); one on a
    partitioned table is planned on its partitions, so the suggestions name partitions (a spec declares
    plain tables, not partitioned parents)."""
    run_sql(library, "CREATE VIEW shelf_books AS SELECT id, title, shelf FROM books WHERE added_at IS NOT NULL",
            ("CREATE TABLE visits (id bigint, member_id bigint NOT NULL, at timestamptz NOT NULL) "
             "PARTITION BY RANGE (at)"),
            "CREATE TABLE visits_h1 PARTITION OF visits FOR VALUES FROM ('2025-01-01') TO ('2025-07-01')",
            "CREATE TABLE visits_h2 PARTITION OF visits FOR VALUES FROM ('2025-07-01') TO ('2026-01-01')",
            "INSERT INTO visits SELECT g, 1 + g % 3000, timestamptz '2025-01-01' + g * interval '5 min' "
            "FROM generate_series(1, 90000) g",
            "ANALYZE visits")
    queries = tmp_path / "w.sql"
    queries.write_text("SELECT id, title FROM shelf_books WHERE shelf = 17;\n"
                       "SELECT count(*) FROM visits WHERE member_id = 42;\n")
    proc = _suggest(hmb, library, pg_state_dir, "--queries", str(queries), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    keys = {(s["table"], tuple(s["keys"])) for s in doc["suggestions"]}
    assert ("books", ("shelf",)) in keys
    assert {("visits_h1", ("member_id",)), ("visits_h2", ("member_id",))} <= keys
