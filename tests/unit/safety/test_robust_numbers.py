"""Numbers a user declares are bounded (issue #11 "Robustness" findings 1 and 2): an infinite, NaN or
absurd CPU count or memory size is a usage error naming the bound (exit 2), never an
OverflowError (exit 70); a huge-but-under-4-MiB config file is refused by a value cap, not
composed and validated for half a minute."""

from __future__ import annotations

import math

import pytest

from hmb_ops.errors import EXIT_BAD_INPUT, ConfigError, UsageError
from hmb_ops.resources import MAX_CPUS, declared, parse_cpus, parse_size
from hmb_ops.settings.loader import MAX_SECTION_ENTRIES, MAX_YAML_BYTES, MAX_YAML_VALUES, load_yaml
from hmb_ops.tune.plan import AppProfile
from hmb_ops.tune.recommend import recommend
from hmb_ops.tune.tiers import load_tiers

from cli_helpers import error_line

FAST = ["--no-measure-memory"]


@pytest.mark.parametrize("bad", ["1e400", "-1e400", "inf", "nan", float("inf"), float("nan")])
def test_parse_cpus_non_finite_says_finite(bad):
    with pytest.raises(UsageError, match=f"must be a finite number of CPUs, greater than 0 and at most {MAX_CPUS}"):
        parse_cpus(bad, what="--cpus")


@pytest.mark.parametrize("bad,needle", [("5000", "at most 1024 CPUs"), (True, "expected a number of CPUs"),
                                        ("0", "greater than zero")])
def test_parse_cpus_bounds(bad, needle):
    with pytest.raises(UsageError, match=needle):
        parse_cpus(bad)


@pytest.mark.parametrize("bad,needle", [
    (float("inf"), "finite size"), (float("nan"), "finite size"),
    ("9" * 400 + "GB", "finite size"), ("99999999TB", "at most 64 TiB"), (2 ** 80, "at most 64 TiB"),
])
def test_parse_size_bounds(bad, needle):
    with pytest.raises(UsageError, match=needle):
        parse_size(bad)


def test_recommend_refuses_an_unbounded_machine_built_directly():
    # A Resources built without the parsers (a library caller) must not overflow math.floor.
    with pytest.raises(UsageError, match="finite number of CPUs"):
        recommend(declared(math.inf, 2 ** 30), AppProfile())


@pytest.mark.parametrize("cpus", ["1e400", ".nan", ".inf", "5000"])
def test_config_tier_with_unbounded_cpus_is_a_config_error(tmp_path, cpus):
    f = tmp_path / "t.yaml"
    f.write_text(f"tiers:\n  huge:\n    cpus: {cpus}\n    memory: 1GB\n")
    with pytest.raises(ConfigError) as exc:
        load_tiers([str(f)])
    line = exc.value.one_line()
    assert "tiers.huge.cpus" in line and "at most 1024" in line and ":3" in line


@pytest.mark.parametrize("cpus", ["1e400", ".nan"])
def test_cli_tier_with_unbounded_cpus_exits_2(hmb, tmp_path, cpus):
    f = tmp_path / "t.yaml"
    f.write_text(f"tiers:\n  huge:\n    cpus: {cpus}\n    memory: 1GB\n")
    out = tmp_path / "never"
    line = error_line(hmb(["--config", str(f), "tune", "--tier", "huge", "--out", str(out)] + FAST), 2, alone=True)
    assert "must be a finite number of CPUs" in line and "OverflowError" not in line
    assert not out.exists()


@pytest.mark.parametrize("value", ["1e400", "nan"])
def test_cli_cpus_flag_non_finite_says_finite(hmb, value):
    line = error_line(hmb(["tune", "--cpus", value, "--memory", "1GB"] + FAST), 2, alone=True)
    assert "--cpus: must be a finite number of CPUs" in line
    assert "greater than zero, got" not in line


def _empty_entries(path, n):
    path.write_text("tiers:\n" + "".join(f"  t{i}:\n" for i in range(n)))
    return path


def test_huge_but_legal_file_is_refused_by_the_value_cap(tmp_path):
    f = _empty_entries(tmp_path / "big.yaml", 200_000)
    assert f.stat().st_size < MAX_YAML_BYTES  # under the byte limit: the value cap must catch it
    with pytest.raises(ConfigError) as exc:
        load_yaml(f)
    assert exc.value.exit_code == EXIT_BAD_INPUT
    assert f"more than {MAX_YAML_VALUES:,} values" in exc.value.one_line()


def test_huge_file_cli_exits_2_naming_the_cap(hmb, tmp_path):
    f = _empty_entries(tmp_path / "big.yaml", 200_000)
    line = error_line(hmb(["--config", str(f), "tune", "tiers"]), 2, alone=True)
    assert f"more than {MAX_YAML_VALUES:,} values" in line and "big.yaml" in line


def test_too_many_tiers_is_refused_by_the_entry_cap(tmp_path):
    f = tmp_path / "many.yaml"
    f.write_text("tiers:\n" + "".join(f"  t{i}: {{cpus: 1, memory: 1GB}}\n" for i in range(MAX_SECTION_ENTRIES + 1)))
    with pytest.raises(ConfigError, match=f"more than {MAX_SECTION_ENTRIES:,} entries in 'tiers'"):
        load_tiers([str(f)])
    # At the cap it still loads.
    f.write_text("tiers:\n" + "".join(f"  t{i}: {{cpus: 1, memory: 1GB}}\n" for i in range(MAX_SECTION_ENTRIES)))
    assert len(load_tiers([str(f)])) >= MAX_SECTION_ENTRIES
