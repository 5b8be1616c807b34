"""Tiers: shipped seed numbers, user tiers from --config, malformed and wrong-typed files."""

from __future__ import annotations

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.tune.tiers import get_tier, load_tiers


def test_shipped_tiers_are_the_seeds():
    tiers = load_tiers()
    assert sorted(tiers) == ["default", "high", "small"]
    got = {n: (t.cpus, t.memory // 1024 ** 3, t.workers, t.background_workers, t.threads) for n, t in tiers.items()}
    assert got == {"small": (1, 1, 2, 2, 4), "default": (2, 2, 4, 4, 4), "high": (4, 4, 8, 8, 4)}


def test_user_tiers_add_and_replace(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("tiers:\n  tiny:\n    cpus: 0.5\n    memory: 512MB\n    workers: 1\n"
                 "  small:\n    cpus: 1\n    memory: 1GB\n    workers: 3\n    threads: 2\n")
    tiers = load_tiers([str(f)])
    assert tiers["tiny"].cpus == 0.5 and tiers["tiny"].memory == 512 * 1024 ** 2
    assert tiers["small"].workers == 3 and tiers["small"].threads == 2
    assert tiers["high"].workers == 8


def test_unknown_tier_lists_known():
    with pytest.raises(UsageError) as exc:
        get_tier("huge")
    assert "unknown tier 'huge' (known tiers: default, high, small" in exc.value.one_line()


def test_malformed_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("tiers:\n  tiny:\n    cpus: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: YAML syntax error"):
        load_tiers([str(f)])


@pytest.mark.parametrize("body,field", [
    ("    cpus: lots\n    memory: 1GB\n", "tiers.tiny.cpus"),
    ("    cpus: 0\n    memory: 1GB\n", "tiers.tiny.cpus"),
    ("    cpus: 1\n    memory: plenty\n", "tiers.tiny.memory"),
    ("    cpus: 1\n    memory: 1GB\n    workerz: 2\n", "tiers.tiny.workerz"),
    ("    cpus: 1\n    memory: 1GB\n    workers: -1\n", "tiers.tiny.workers"),
])
def test_wrong_typed_tier_names_field_and_line(tmp_path, body, field):
    f = tmp_path / "typed.yaml"
    f.write_text("tiers:\n  tiny:\n" + body)
    with pytest.raises(ConfigError) as exc:
        load_tiers([str(f)])
    assert "typed.yaml:" in exc.value.one_line()
    assert f"field '{field}'" in exc.value.one_line()


def test_broken_shipped_tiers_file(tmp_path, monkeypatch):
    (tmp_path / "tiers.yaml").write_text("tiers:\n  small:\n    cpus: one\n    memory: 1GB\n")
    monkeypatch.setenv("HMB_OPS_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"tiers.yaml:3: field 'tiers.small.cpus'"):
        load_tiers()
