"""`indexes export`: the live indexes as a spec that `indexes plan --file` finds EMPTY on the same database.

Run on a database of its own holding every index form the spec can express (tests/fixtures/index_forms)
and some it cannot, on the reference schema with the shipped indexes, with and without
pg_stat_statements, and as a role that cannot read other roles' statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli_helpers import error_line
from fixtures_indexes import env_for, run_sql as sql

FORMS = Path(__file__).resolve().parents[2] / "fixtures" / "index_forms" / "forms.sql"
EXPRESSIBLE = {"items_multi", "items_desc", "items_nf", "items_expr", "items_partial", "items_incl", "items_uq",
               "items_gin", "items_gin_doc", "items_gist", "items_brin", "items_hash", "items_trgm", "items_tpo",
               "items_coll", "items_distinct", "items_ff", "items_gin_fu", "items_brin_ppr", "items_nnd",
               "item_stats_sku", "events_2026_kind"}
INEXPRESSIBLE = {"items_siglen", "items_jv", "items_fn", "events_at", "events_2026_at_idx"}


@pytest.fixture
def forms_db(new_database):
    url = new_database("forms")
    sql(url, FORMS.read_text())
    return url


def _plan_actions(hmb, url: str, spec: str) -> list:
    done = hmb(["indexes", "plan", "--file", spec, "--json"], env=env_for(url))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["actions"]


@pytest.mark.slow
def test_every_expressible_form_round_trips_and_the_rest_is_listed(forms_db, hmb, tmp_path):
    out = tmp_path / "exported.yaml"
    done = hmb(["indexes", "export", "--out", str(out)], env=env_for(forms_db))
    assert done.returncode == 0, done.stderr
    # two schemas hold indexes: one file each, next to the name given
    public, other = tmp_path / "exported.public.yaml", tmp_path / "exported.other.yaml"
    assert public.exists() and other.exists() and not out.exists()
    spec = yaml.safe_load(public.read_text())["indexes"]
    declared = {d["name"]: d for d in spec["declared"]}
    assert set(declared) == EXPRESSIBLE
    assert spec["extensions"] == ["pg_trgm"]
    # the structure, not text: opclass, collation, direction, storage, NULLS NOT DISTINCT, INCLUDE
    assert declared["items_trgm"]["columns"] == [{"column": "title", "opclass": "gin_trgm_ops"}]
    assert declared["items_coll"]["columns"] == [{"column": "title", "collation": "C"}]
    assert declared["items_desc"]["columns"] == ["created_at DESC NULLS LAST", "id"]
    assert declared["items_nf"]["columns"] == ["price NULLS FIRST"]
    assert declared["items_ff"]["storage"] == {"fillfactor": 70}
    assert declared["items_gin_fu"]["storage"] == {"fastupdate": False}
    assert declared["items_nnd"]["nulls_distinct"] is False and declared["items_nnd"]["unique"] is True
    assert declared["items_incl"]["include"] == ["price", "title"]
    assert declared["items_partial"]["where"] == "deleted_at IS NULL"
    text = public.read_text()
    # constraint-backing indexes are listed, never declared (apply would try to create them)
    assert "items_pkey" not in declared and "items_sku_key" not in declared
    assert "#   items_pkey on items: backs the PRIMARY KEY constraint items_pkey" in text
    for name in INEXPRESSIBLE:
        assert f"#   {name} on " in text, name
        assert f"skipped: public.{name} on " in done.stderr, name
    assert "RETURNING" in text and "norm_code() is STABLE" in text and "partitioned" in text
    # the loop: plan on the same database is empty, for both files
    assert _plan_actions(hmb, forms_db, str(public)) == []
    assert _plan_actions(hmb, forms_db, str(other)) == []
    assert yaml.safe_load(other.read_text())["indexes"]["declared"][0]["columns"] == ["a DESC"]
    assert "cheap_items" not in text  # a view has no index to export
    # status on the same (non-reference) database: nothing freshly built is called unused
    status = hmb(["indexes", "status", "--file", str(public)], env=env_for(forms_db))
    assert status.returncode == 0, status.stderr
    assert "unused needs 7 days, so no index is called unused yet" in status.stderr


def test_out_that_exists_is_refused_without_force(forms_db, hmb, tmp_path):
    out = tmp_path / "spec.yaml"
    out.write_text("mine\n")
    env = env_for(forms_db)
    refused = hmb(["indexes", "export", "--schema", "public", "--out", str(out)], env=env)
    assert "exists; nothing was written" in error_line(refused, 2)
    assert out.read_text() == "mine\n"
    done = hmb(["indexes", "export", "--schema", "public", "--out", str(out), "--force"], env=env)
    assert done.returncode == 0, done.stderr
    assert _plan_actions(hmb, forms_db, str(out)) == []


@pytest.mark.slow
def test_several_schemas_to_stdout_and_an_unknown_schema_are_refused(forms_db, hmb):
    env = env_for(forms_db)
    assert "a spec holds one schema" in error_line(hmb(["indexes", "export"], env=env), 2)
    assert "no schema named nope" in error_line(hmb(["indexes", "export", "--schema", "nope"], env=env), 2)
    one = hmb(["indexes", "export", "--schema", "other"], env=env)
    assert one.returncode == 0, one.stderr
    assert yaml.safe_load(one.stdout)["indexes"]["schema"] == "other"


@pytest.mark.slow
def test_the_reference_schema_with_the_shipped_indexes_round_trips(schema_db, hmb, tmp_path):
    from hmb_ops.indexes import api

    api.ensure_indexes(schema_db, create_extensions=True)
    out = tmp_path / "ref.yaml"
    done = hmb(["indexes", "export", "--out", str(out)], env=env_for(schema_db))
    assert done.returncode == 0, done.stderr
    shipped = {ix.name for ix in api.load_spec().declared}
    exported = {d["name"] for d in yaml.safe_load(out.read_text())["indexes"]["declared"]}
    # every shipped index comes back (the unique ones included); only constraint indexes stay out
    assert shipped <= exported
    assert _plan_actions(hmb, schema_db, str(out)) == []


@pytest.mark.slow
def test_queries_come_from_pg_stat_statements_with_sample_values(forms_db, hmb, tmp_path):
    sql(forms_db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        "INSERT INTO items (sku, title, price, code, tags, created_at) SELECT 'sku' || g, 'title ' || (g % 50), "
        "g % 100, 'c' || g, ARRAY[g % 10], now() - g * interval '1 minute' FROM generate_series(1, 5000) g",
        "ANALYZE items")
    for i in range(3):
        sql(forms_db, "SELECT id, price FROM items WHERE title = %(t)s AND price > %(p)s ORDER BY price LIMIT 10",
            params={"t": f"title {i}", "p": 5})
    out = tmp_path / "q.yaml"
    env = env_for(forms_db)
    done = hmb(["indexes", "export", "--schema", "public", "--out", str(out)], env=env)
    assert done.returncode == 0, done.stderr
    declared = {d["name"]: d for d in yaml.safe_load(out.read_text())["indexes"]["declared"]}
    [query] = declared["items_multi"]["queries"]
    assert "WHERE title = %(p1)s AND price > %(p2)s" in query["sql"]
    assert query["params"]["p1"].startswith("title ") and query["params"]["p3"] == 20
    assert "unsampled" not in query
    assert _plan_actions(hmb, forms_db, str(out)) == []
    verified = hmb(["indexes", "verify", "--file", str(out), "--runs", "1"], env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "uses_index items_multi" in verified.stdout


def test_without_pg_stat_statements_the_export_says_so(forms_db, hmb):
    done = hmb(["indexes", "export", "--schema", "other"], env=env_for(forms_db))
    assert done.returncode == 0, done.stderr
    assert "queries: pg_stat_statements is not installed in this database" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = hmb(["indexes", "export", "--json"], env=env_for(forms_db))
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["schema_version"] and doc["queries_note"].startswith("pg_stat_statements is not installed")
    assert [s["schema"] for s in doc["schemas"]] == ["other", "public"]
    assert {c["index"] for c in doc["schemas"][1]["constraints"]} == {"items_pkey", "items_sku_key"}


def test_a_role_without_pg_read_all_stats_exports_and_is_told_what_it_cannot_see(forms_db, hmb, tmp_path):
    role = "export_" + forms_db.rsplit("_", 1)[-1][:8]
    sql(forms_db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        "SELECT id FROM items WHERE title = 'x' ORDER BY price LIMIT 3",
        f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = f"postgresql://{role}:pw-{role}@{forms_db.rsplit('@', 1)[1]}"
        out = tmp_path / "r.yaml"
        done = hmb(["indexes", "export", "--schema", "public", "--out", str(out)], env=env_for(url))
        assert done.returncode == 0, done.stderr
        assert "hidden from this role" in done.stderr and "pg_read_all_stats" in done.stderr
        assert _plan_actions(hmb, url, str(out)) == []
    finally:
        sql(forms_db, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_the_embedded_server_has_pg_stat_statements(pg_server):
    url, server = pg_server
    if server is None:
        pytest.skip("HMB_OPS_TEST_DATABASE_URL points at an external server (not the embedded one)")
    from hmb_ops.db.embedded import STATEMENTS_MARK

    [(libraries,)] = sql(url, "SHOW shared_preload_libraries")
    assert "pg_stat_statements" in libraries
    [(comment,)] = sql(url, "SELECT obj_description(oid, 'pg_extension') FROM pg_extension "
                            "WHERE extname = 'pg_stat_statements'")
    assert comment == STATEMENTS_MARK  # recorded as hmb-ops's own
    assert sql(url, "SELECT count(*) >= 0 FROM pg_stat_statements") == [(True,)]


def test_partition_bound_indexes_are_not_offered_for_dropping(forms_db, hmb, tmp_path):
    # Before: the plan offered DROP INDEX CONCURRENTLY for both, which the server refuses (after the adopt mark).
    out = tmp_path / "exported.yaml"
    assert hmb(["indexes", "export", "--out", str(out)], env=env_for(forms_db)).returncode == 0
    spec = str(tmp_path / "exported.public.yaml")
    done = hmb(["indexes", "plan", "--file", spec, "--json", "--drop-undeclared"], env=env_for(forms_db))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["actions"] == []
    kept = {f["index"]: f["detail"] for f in doc["findings"] if f["kind"] == "undeclared"}
    assert "partitioned index events_at (dropped only with it)" in kept["events_2026_at_idx"]
    assert "on a partitioned table" in kept["events_at"]
    refused = hmb(["indexes", "plan", "--file", spec, "--drop-undeclared", "--adopt", "events_2026_at_idx"],
                  env=env_for(forms_db))
    assert refused.returncode == 2
    assert error_line(refused).startswith("error: --adopt events_2026_at_idx: indexes apply cannot drop it")


def test_out_that_is_a_folder_a_missing_folder_or_a_dangling_link_is_refused(forms_db, hmb, tmp_path):
    # A folder used to get its per-schema files written beside it (tmp_path.public.yaml in its parent).
    folder = tmp_path / "specs"
    folder.mkdir()
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "nowhere.yaml")
    cases = {str(folder): f"error: {folder} is a folder; --out takes a file name",
             str(tmp_path / "nodir" / "x.yaml"): f"error: {tmp_path / 'nodir'} is not a folder; nothing was written",
             str(link): f"error: {link} exists; nothing was written"}
    for out, expected in cases.items():
        done = hmb(["indexes", "export", "--out", out], env=env_for(forms_db))
        assert done.returncode == 2, done.stderr
        assert error_line(done).startswith(expected), done.stderr
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(tmp_path.name + ".")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "specs"] and link.is_symlink()
    assert list(folder.iterdir()) == []
