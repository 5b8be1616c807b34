"""The shipped plan catalog and user plan files: loading, overrides, strict validation (file:line)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.plans import get_plan, load_plans, parse_plan_names, plan_tier_entry

GOOD = """\
plans:
  my-vps:
    provider: Hetzner
    kind: web
    cpus: 2
    memory: 4GB
    price_usd_month: 6.5
    source: my invoice
    checked_on: 2026-11-30
"""


def _write(tmp_path, text, name="plans.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_shipped_catalog_has_every_provider_with_sources_and_dates():
    plans = load_plans()
    providers = {p.provider for p in plans.values()}
    assert {"Render", "Heroku", "Railway", "Fly.io", "seed"} <= providers
    for name, p in plans.items():
        assert p.source and p.checked_on, name
        if p.kind == "web":
            assert p.cpus and p.memory, name
        else:
            assert p.max_connections, name
        assert p.price_usd_month is not None or p.price_note, name
    # The field notes' figures (field-notes-2.md section 1.1).
    std = plans["render-standard"]
    assert (std.cpus, std.memory, std.price_usd_month) == (1.0, 2 * 2**30, 25.0)
    assert plans["render-starter"].cpus == 0.5 and plans["render-pro"].price_usd_month == 85
    assert plans[std.database].max_connections == 100
    # The seed's tiers are plans too, with the tiers' own numbers.
    assert plans["seed-small"].tier == "small" and plans["seed-small"].cpus == 1


def test_user_file_adds_and_overrides_by_name(tmp_path):
    f = _write(tmp_path, GOOD + """\
  render-standard:
    provider: Render
    kind: web
    cpus: 1
    memory: 2GB
    price_usd_month: 19
    source: negotiated
    checked_on: 2026-12-01
""")
    plans = load_plans(plans_file=str(f))
    assert plans["my-vps"].price_usd_month == 6.5
    assert plans["render-standard"].price_usd_month == 19 and plans["render-standard"].database is None
    assert "render-pro" in plans  # the shipped ones stay


@pytest.mark.parametrize("change, expected", [
    ("    price_usd_month: -1\n", "price_usd_month"),
    ("    colour: blue\n", "unknown key"),
])
def test_bad_field_is_named_with_file_and_line(tmp_path, change, expected):
    text = GOOD.replace("    price_usd_month: 6.5\n", change if "price" in change else "    price_usd_month: 6.5\n"
                        + change)
    f = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_plans(plans_file=str(f))
    assert f"{f}:" in exc.value.message and expected in exc.value.message
    line = int(exc.value.message.split(f"{f}:")[1].split(":")[0])
    assert text.splitlines()[line - 1].strip().startswith(("price_usd_month", "colour"))


def test_negative_price_message(tmp_path):
    f = _write(tmp_path, GOOD.replace("6.5", "-3"))
    with pytest.raises(ConfigError) as exc:
        load_plans(plans_file=str(f))
    assert exc.value.line == 7 and "greater than or equal to 0" in exc.value.message


@pytest.mark.parametrize("missing", ["source", "checked_on", "price_usd_month", "provider", "kind"])
def test_missing_field(tmp_path, missing):
    text = "\n".join(ln for ln in GOOD.splitlines() if not ln.strip().startswith(missing + ":")) + "\n"
    f = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_plans(plans_file=str(f))
    assert str(f) in exc.value.message and missing in exc.value.message and "Field required" in exc.value.message


def test_web_plan_without_memory_and_null_price_without_note(tmp_path):
    f = _write(tmp_path, GOOD.replace("    memory: 4GB\n", ""))
    with pytest.raises(ConfigError, match="a web plan needs cpus and memory"):
        load_plans(plans_file=str(f))
    f = _write(tmp_path, GOOD.replace("6.5", "null"))
    with pytest.raises(ConfigError, match="say why in price_note"):
        load_plans(plans_file=str(f))


def test_database_link_must_be_a_postgres_plan(tmp_path):
    f = _write(tmp_path, GOOD + "    database: render-standard\n")
    with pytest.raises(ConfigError) as exc:
        load_plans(plans_file=str(f))
    assert exc.value.line == 10 and "not a postgres plan" in exc.value.message


def test_a_plans_file_without_plans_is_refused(tmp_path):
    f = _write(tmp_path, "tiers: {}\n")
    with pytest.raises(ConfigError, match="no 'plans' mapping"):
        load_plans(plans_file=str(f))


def test_unknown_plan_lists_the_plans():
    with pytest.raises(UsageError) as exc:
        get_plan("render-mega")
    text = exc.value.one_line()
    assert "unknown plan 'render-mega'" in text and "render-standard" in text and "heroku-basic" in text
    # A database plan is not something to run an app on.
    with pytest.raises(UsageError, match="unknown plan"):
        parse_plan_names("render-postgres-basic-1gb", load_plans())
    with pytest.raises(UsageError, match="named twice"):
        parse_plan_names("render-pro,render-pro", load_plans())


def test_plan_as_tier_uses_the_seed_tier_numbers():
    plans = load_plans()
    entry = plan_tier_entry("seed-small", plans["seed-small"])
    assert entry["cpus"] == 1 and entry["workers"] == 2 and entry["threads"] == 4
    entry = plan_tier_entry("render-starter", plans["render-starter"])
    assert entry["cpus"] == 0.5 and entry["memory"] == 512 * 2**20 and "workers" not in entry


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hmb_ops.cli.main", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_unknown_plan_and_bad_file_exit_2(tmp_path):
    from cli_helpers import error_line

    proc = _cli("capacity", "--plans", "render-starter,nope")
    line = error_line(proc, 2, alone=True)
    assert "unknown plan 'nope'" in line and "render-standard" in line
    bad = _write(tmp_path, GOOD.replace("6.5", "-2"))
    proc = _cli("capacity", "--plans", "my-vps", "--plans-file", str(bad))
    assert f"{bad}:7" in error_line(proc, 2, alone=True)
    proc = _cli("capacity", "--plans", "render-pro", "--tiers", "small")
    assert "alternatives" in error_line(proc, 2, alone=True)
    proc = _cli("tune", "--plan", "nope")
    assert "unknown plan 'nope'" in error_line(proc, 2, alone=True)


def test_cli_lists_plans(tmp_path):
    f = _write(tmp_path, GOOD)
    proc = _cli("--json", "capacity", "plans", "--plans-file", str(f))
    assert proc.returncode == 0, proc.stderr
    import json

    names = {p["name"]: p for p in json.loads(proc.stdout)["plans"]}
    assert names["my-vps"]["price_usd_month"] == 6.5 and names["render-pro"]["checked_on"] == "2026-05-04"


def test_tune_plan_uses_the_plan_cpus_memory_and_database_connections(tmp_path):
    import json

    proc = _cli("--json", "tune", "--plan", "render-standard", "--worker-memory", "120MB")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["tier"] == "render-standard"
    assert doc["resources"]["cpus"] == 1.0 and doc["resources"]["memory_bytes"] == 2 * 2**30
    assert doc["budgets"]["db_connections"]["max_connections"] == 100  # render-postgres-basic-1gb
    assert "hmb-ops tune --plan render-standard" in doc["files"]["gunicorn.conf.py"]
    # a plan of your own, and the alternatives refused
    f = _write(tmp_path, GOOD)
    proc = _cli("--json", "tune", "--plan", "my-vps", "--plans-file", str(f), "--worker-memory", "120MB")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["resources"]["cpus"] == 2.0
    from cli_helpers import error_line

    assert "alternatives" in error_line(_cli("tune", "--plan", "render-pro", "--tier", "small"), 2, alone=True)
    assert "--plans-file adds plans for --plan" in error_line(_cli("tune", "--plans-file", str(f)), 2, alone=True)
