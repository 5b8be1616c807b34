"""The scenario engine against the shop app (tests/fixtures/shop_app: not the reference app, real
Gunicorn): the shipped example, captures that never match, unset variables, and the reference
scenario stopping at once on a foreign target."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmb_ops.errors import EnvironmentUnusable
from hmb_ops.loadtest.api import LoadRequest, run_load

from cli_helpers import error_line

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "shop" / "scenario.yaml"


def test_the_shop_example_runs_per_name_with_404_accepted_and_captures_used(shop_app, tmp_path):
    doc = run_load(LoadRequest(profile="ci", target=shop_app.url, scenario=str(EXAMPLE), users=4, duration=4,
                               out_dir=str(tmp_path / "r")))
    by_name = {e.name: e for e in doc.endpoints}
    assert {"POST /login", "GET /items", "GET /items/{id}", "POST /items"} <= set(by_name), set(by_name)
    assert by_name["POST /login"].requests == 4  # one setup login per user
    # ids 401..520 rotate: 501-520 answer 404, which the scenario expects
    assert by_name["GET /items/{id}"].requests > 10 and by_name["GET /items/{id}"].failures == 0
    # POST /items needs the captured token (a 401 without it would be a failure)
    assert by_name["POST /items"].requests > 0 and by_name["POST /items"].failures == 0
    assert doc.summary.failures == 0, doc.summary.failures_by_kind
    assert doc.config["scenario"] == "shop" and doc.config["mix"] is None


BROKEN = """\
scenario:
  name: broken
  feeders:
    accounts: {csv: accounts.csv}
  setup:
    - name: POST /login
      method: POST
      path: /login
      json: {email: "{{ accounts.email }}", password: "{{ accounts.password }}"}
      capture:
        token: {json: $.token}
  requests:
    - name: POST /items
      method: POST
      path: /items
      headers: {Authorization: "Bearer {{ token }} {{ gone }}"}
      json: {title: x}
    - name: GET /items/{id}
      path: /items/1
      capture:
        gone: {header: X-Not-There}   # never matches: `gone` stays unset
"""


def test_a_capture_that_never_matches_and_the_unset_variable_are_failure_kinds(shop_app, tmp_path):
    (tmp_path / "accounts.csv").write_text((EXAMPLE.parent / "accounts.csv").read_text())
    (tmp_path / "broken.yaml").write_text(BROKEN)
    doc = run_load(LoadRequest(profile="ci", target=shop_app.url, scenario=str(tmp_path / "broken.yaml"),
                               users=3, duration=3, out_dir=str(tmp_path / "r")))
    by_name = {e.name: e for e in doc.endpoints}
    login, post, get = by_name["POST /login"], by_name["POST /items"], by_name["GET /items/{id}"]
    assert login.requests == 3 and login.failures == 0
    # never sent (`gone` unset): each counts as a request that failed
    assert post.requests > 0 and post.failures_by_kind == {"missing_variable": post.requests}
    assert get.requests > 0 and get.failures_by_kind == {"capture_failed": get.requests}
    assert doc.summary.requests == sum(e.requests for e in doc.endpoints)
    assert doc.summary.failures == doc.summary.requests - login.requests


def test_the_reference_scenario_on_a_foreign_app_stops_at_once_with_exit_3(shop_app, tmp_path):
    with pytest.raises(EnvironmentUnusable) as exc:
        run_load(LoadRequest(profile="ci", target=shop_app.url, users=2, duration=3, out_dir=str(tmp_path / "r")))
    assert exc.value.exit_code == 3
    assert "answered 404: this target does not look like the reference app; use --scenario or --locustfile" \
        in exc.value.one_line()
    assert not (tmp_path / "r").exists()


def test_a_bad_scenario_is_exit_2_with_file_and_line_before_anything_starts(hmb, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario:\n  name: t\n  requests:\n    - name: a\n      path: /a/{{ id }}\n")
    res = hmb(["loadtest", "--scenario", str(bad), "--target", "http://127.0.0.1:9", "--out", str(tmp_path / "o")],
              timeout=60)
    line = error_line(res, 2)
    assert f"{bad}:5" in line and "undefined variable 'id'" in line, line
    res = hmb(["loadtest", "--scenario", str(bad), "--locustfile", str(bad), "--target", "http://127.0.0.1:9"],
              timeout=60)
    assert "--scenario or --locustfile, not both" in error_line(res, 2)


def test_a_profile_think_time_replacing_the_scenarios_own_is_said_and_recorded(shop_app, tmp_path):
    """smoke's think_time [0.2, 0.8] replaces the example's own [0.05, 0.2]: one line and the JSON say so."""
    notes: list[str] = []
    doc = run_load(LoadRequest(profile="smoke", target=shop_app.url, scenario=str(EXAMPLE), users=2, duration=2,
                               out_dir=str(tmp_path / "r")),
                   progress=lambda e: notes.append(e["message"]) if "phase" in e else None)
    line = "think time: profile smoke's 0.2-0.8 s replaces the scenario's own 0.05-0.2 s"
    assert any(n.startswith(line) for n in notes), notes
    assert doc.config["think_time"] == [0.2, 0.8] and doc.config["think_time_source"] == "profile"
    assert doc.config["think_time_replaced"] == [0.05, 0.2] and doc.config["think_time_note"].startswith(line)
    # a profile without think_time keeps the scenario's own, and says nothing
    (tmp_path / "p.yaml").write_text("profiles:\n  own:\n    users: 2\n    spawn_rate: 20\n    duration: 2\n")
    doc = run_load(LoadRequest(profile="own", config_files=(str(tmp_path / "p.yaml"),), target=shop_app.url,
                               scenario=str(EXAMPLE), out_dir=str(tmp_path / "r2")))
    assert doc.config["think_time"] == [0.05, 0.2] and doc.config["think_time_source"] == "scenario"
    assert doc.config["think_time_replaced"] is None and doc.config["think_time_note"] is None
