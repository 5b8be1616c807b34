"""Scenario files: parsing, templates, JSON paths, feeders, the mix, and every bad input as a
file:line error (exit 2) before anything starts."""

from __future__ import annotations

import textwrap

import pytest

from hmb_ops.errors import ConfigError
from hmb_ops.loadtest.profiles import build_plan
from hmb_ops.loadtest.scenario import jsonpath
from hmb_ops.loadtest.scenario.feeders import ChoiceFeeder, CsvFeeder, SequenceFeeder
from hmb_ops.loadtest.scenario.load import load_scenario, render_json
from hmb_ops.loadtest.scenario.template import TemplateError, parse

SHOP = """\
scenario:
  name: shop
  think_time: [0.5, 1.5]
  variables: {page_size: 20}
  feeders:
    accounts: {csv: accounts.csv, order: round_robin}
    item_id: {sequence: {start: 1, stop: 3}}
    word: {choice: [red, green, blue]}
  setup:
    - name: POST /login
      method: POST
      path: /login
      json: {email: "{{ accounts.email }}", password: "{{ accounts.password }}", n: "{{ page_size }}"}
      expect: 200
      capture:
        token: {json: "$.token"}
  requests:
    - name: GET /items/{id}
      weight: 5
      path: /items/{{ item_id }}
      query: {q: "{{ word }}", limit: "{{ page_size }}"}
      headers: {Authorization: "Bearer {{ token }}"}
      expect: [200, 404]
      think_time: 0
      capture:
        last_item: {header: X-Item-Id}
    - name: POST /items
      weight: 1
      method: POST
      path: /items
      form: {title: "item {{ word }}"}
"""


def write(tmp_path, text: str = SHOP, csv: str | None = "email,password\na@x.test,pw1\nb@x.test,pw2\n"):
    if csv is not None:
        (tmp_path / "accounts.csv").write_text(csv)
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return str(path)


def test_the_shop_example_compiles_with_constants_folded_and_types_kept(tmp_path):
    c = load_scenario(write(tmp_path))
    assert c.name == "shop" and c.think == (0.5, 1.5) and not c.reference
    get, post = c.requests
    assert get.weight == 5 and get.think == (0.0, 0.0) and get.accepts(404) and not get.accepts(500)
    ns = {"item_id": 7, "word": "a b", "token": "T"}
    assert "".join(t.render(ns) for t in get.uri) == "/items/7?q=a%20b&limit=20"
    assert {k: t.render(ns) for k, t in get.headers} == {"Authorization": "Bearer T"}
    assert set(get.draws) == {"item_id", "word"} and get.uri_const is None
    login = c.setup[0]
    body = render_json(login.body, {"accounts.email": "a@x.test", "accounts.password": "pw"})
    assert body == {"email": "a@x.test", "password": "pw", "n": 20}  # a constant keeps its type
    assert login.expect_exact == {200} and not login.accepts(201)
    assert c.per_user == ("accounts",) and c.feeders["accounts"]["rows"][1] == {"email": "b@x.test", "password": "pw2"}
    assert post.body_kind == "form" and post.accepts(201) and not post.accepts(302)


def test_a_single_variable_keeps_the_captured_values_type_and_text_gets_json_spelling():
    assert parse("{{ id }}").value({"id": 5}) == 5
    assert parse("x{{ id }}").value({"id": 5}) == "x5"
    assert parse("{{ ok }}!").render({"ok": True}) == "true!"
    with pytest.raises(KeyError):
        parse("/a/{{ missing }}").render({})


@pytest.mark.parametrize("text", ["{{ a", "a }}", "{{ 1a }}", "{{ a b }}", "{{}}", "{{ a.b.c }}"])
def test_malformed_templates_are_refused(text):
    with pytest.raises(TemplateError):
        parse(text)


def test_path_values_are_escaped_so_a_captured_value_cannot_change_the_request():
    t = parse("/items/{{ id }}", escape="path")
    assert t.render({"id": "1 2?x=#"}) == "/items/1%202%3Fx=%23"  # "=" is legal in a path segment


@pytest.mark.parametrize("path, doc, found", [
    ("$.token", {"token": "t"}, ["t"]),
    ("$.items[0].id", {"items": [{"id": 1}, {"id": 2}]}, [1]),
    ("$.items[-1].id", {"items": [{"id": 1}, {"id": 2}]}, [2]),
    ("$.items[*].id", {"items": [{"id": 1}, {"x": 0}, {"id": 3}]}, [1, 3]),
    ('$["a-b"]', {"a-b": 4}, [4]),
    ("$[*]", [1, 2], [1, 2]),
    ("$.missing", {"token": "t"}, []),
    ("$.items[5]", {"items": []}, []),
])
def test_json_path_subset(path, doc, found):
    assert jsonpath.find(doc, jsonpath.parse(path)) == found


@pytest.mark.parametrize("path", ["token", "$.a[", "$..a", "$.a[?(@.x)]"])
def test_unsupported_json_paths_are_refused(path):
    with pytest.raises(ValueError, match="JSON path"):
        jsonpath.parse(path)


def test_feeders_round_robin_sequence_wraps_and_choice_stays_in_its_list():
    rows = [{"email": "a"}, {"email": "b"}]
    rr = CsvFeeder("acc", rows, "round_robin")
    assert [rr.draw()["acc.email"] for _ in range(5)] == ["a", "b", "a", "b", "a"]
    assert CsvFeeder("acc", rows, "round_robin", offset=1).draw() == {"acc.email": "b"}
    rnd = CsvFeeder("acc", rows, "random")
    assert {rnd.draw()["acc.email"] for _ in range(200)} == {"a", "b"}
    seq = SequenceFeeder("n", 1, 3, 1)
    assert [seq.draw()["n"] for _ in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    assert [SequenceFeeder("n", 0, 10, 5).draw()["n"]] == [0]
    ch = ChoiceFeeder("w", ["x", "y"])
    assert {ch.draw()["w"] for _ in range(100)} == {"x", "y"}


def _error(tmp_path, text: str, csv: str | None = "email,password\na,b\n") -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, textwrap.dedent(text), csv))
    return exc.value


BASE = """\
scenario:
  name: t
  feeders:
    accounts: {csv: accounts.csv}
  requests:
    - name: GET /a
      path: /a
"""


@pytest.mark.parametrize("extra, line, needle", [
    ("      colour: red\n", 8, "unknown key"),                                      # unknown key
    ("      headers: {X: '{{ nope }}'}\n", 8, "undefined variable 'nope'"),        # undefined variable
    ("      query: {e: '{{ accounts.mail }}'}\n", 8, "has no column 'mail'"),      # no such CSV column
    ("      expect: 2xy\n", 8, "is not a status"),                                 # bad expect
    ("      expect: 700\n", 8, "not an HTTP status"),
    ("      json: {a: 1}\n      form: {b: 2}\n", 6, "json or form, not both"),     # both bodies
    ("      capture: {t: {json: token}}\n", 8, "must start with $"),
    ("      capture: {t: {json: $.a, header: X}}\n", 8, "exactly one of json"),
    ("      fallback: nothing\n", 8, "is not a request"),
    ("      fallback: GET /a\n", 8, "must be another request without a fallback"),
    ("      path: http://elsewhere/x\n", 7, "must start with one '/'"),
    ("      method: BREW\n", 8, "is not one of"),
    ("      headers: {'Bad Name': x}\n", 8, "not a valid HTTP header name"),
])
def test_bad_scenarios_are_file_and_line_errors(tmp_path, extra, line, needle):
    text = BASE if "path: http" not in extra else BASE.replace("      path: /a\n", "")
    err = _error(tmp_path, text + extra)
    assert needle in err.one_line(), err.one_line()
    assert err.path.endswith("shop.yaml") and err.line == line, err.one_line()


@pytest.mark.parametrize("csv, needle", [
    (None, "CSV file not found"),
    ("", "is empty"),
    ("email,password\n", "has a header but no rows"),
])
def test_csv_missing_or_empty_is_a_file_and_line_error(tmp_path, csv, needle):
    err = _error(tmp_path, BASE, csv)
    assert needle in err.one_line() and err.line == 4 and err.field == "scenario.feeders.accounts.csv", err.one_line()


def test_a_scenario_without_requests_or_top_key_is_refused(tmp_path):
    assert "requests" in _error(tmp_path, "scenario:\n  name: t\n  requests: []\n").one_line()
    assert "top-level key" in _error(tmp_path, "name: t\n").one_line()


def test_duplicate_names_and_clashing_capture_names_are_refused(tmp_path):
    dup = BASE + "    - name: GET /a\n      path: /b\n"
    assert "two requests are called 'GET /a'" in _error(tmp_path, dup).one_line()
    clash = BASE.replace("  requests:", "  variables: {t: 1}\n  requests:") + "      capture: {t: {json: $.x}}\n"
    assert "both a variable or feeder and a capture" in _error(tmp_path, clash).one_line()


def test_sequence_stop_may_name_a_variable(tmp_path):
    text = ("scenario:\n  name: t\n  variables: {n: 4}\n  feeders:\n    u: {sequence: {stop: '{{ n }}'}}\n"
            "  requests:\n    - {name: a, path: '/u/{{ u }}'}\n")
    c = load_scenario(write(tmp_path, text, None))
    assert c.feeders["u"]["stop"] == 4
    bad = text.replace("'{{ n }}'", "'{{ m }}'")
    assert "sequence stop" in _error(tmp_path, bad, None).one_line()


def test_reference_scenario_keeps_the_old_names_and_skips_setup_a_mix_does_not_need():
    ref = load_scenario(None)
    assert ref.reference and ref.name == "hiremebahamas"
    names = {"GET /api/feed", "GET /api/posts/<id>", "GET /api/jobs?q=<text>", "POST /api/auth/login"}
    assert names <= set(ref.weights)
    assert [s.name for s in ref.setup] == ["POST /api/auth/login", "GET /api/feed", "GET /api/messages/conversations"]
    assert load_scenario(None, mix={"health": 1}).setup == []  # health only: no login
    feed_only = load_scenario(None, mix={"feed": 1})
    assert [s.name for s in feed_only.setup] == ["POST /api/auth/login"]
    by_key = {r.key: r for r in ref.requests}
    assert ref.requests[by_key["post_detail"].fallback].key == "feed"


def test_profiles_mix_names_requests_of_the_scenario_or_is_ignored_when_written_for_the_reference(tmp_path):
    path = write(tmp_path)
    plan = build_plan("ci", scenario=path)  # the shipped ci mix names the reference app's requests
    assert plan.mix is None and plan.scenario == path and plan.scenario_name == "shop"
    assert plan.think_time == (0.0, 0.2)  # the profile's think time wins over the scenario's
    mine = tmp_path / "p.yaml"
    mine.write_text("profiles:\n  mine:\n    users: 2\n    spawn_rate: 2\n    duration: 3\n"
                    "    mix: {'POST /items': 1}\n")
    plan = build_plan("mine", config_files=(str(mine),), scenario=path)
    assert plan.mix == {"POST /items": 1} and plan.think_time == (0.5, 1.5)
    mine.write_text("profiles:\n  mine:\n    users: 2\n    spawn_rate: 2\n    duration: 3\n"
                    "    mix: {'POST /items': 1, 'POST /itemz': 1}\n")
    with pytest.raises(ConfigError) as exc:
        build_plan("mine", config_files=(str(mine),), scenario=path)
    assert "unknown endpoint 'POST /itemz'" in exc.value.one_line() and exc.value.line == 6


def test_capacity_refuses_a_bad_scenario_before_any_tier_starts(tmp_path):
    from hmb_ops.capacity import runner, users

    bad = write(tmp_path, BASE + "      headers: {X: '{{ nope }}'}\n")
    req = runner.CapacityRequest(tiers=("small",), slo=("p95<100ms",), model=users.load_model(), scenario=bad)
    with pytest.raises(ConfigError, match="undefined variable 'nope'"):
        runner.validate(req)
    good = write(tmp_path)
    assert runner.validate(runner.CapacityRequest(tiers=("small",), slo=("p95<100ms",), model=users.load_model(),
                                                  scenario=good))
