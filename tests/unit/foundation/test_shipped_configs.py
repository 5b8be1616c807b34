"""The shipped YAML is package data: inside hmb_ops/, declared in pyproject.toml, read through
importlib.resources with the same limits as a user's file, and named hmb_ops/configs/... in errors."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import hmb_ops
from hmb_ops.errors import ConfigError
from hmb_ops.indexes.spec import load as load_spec
from hmb_ops.settings import shipped
from hmb_ops.settings.loader import MAX_YAML_BYTES, MAX_YAML_DEPTH, load_shipped_yaml
from hmb_ops.tune.tiers import load_tiers

PACKAGE_DIR = Path(hmb_ops.__file__).resolve().parent
REPO = PACKAGE_DIR.parent
SHIPPED_DIR = PACKAGE_DIR / "configs"


def _package_data_globs() -> list[str]:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]["package-data"]["hmb_ops"]


def test_every_shipped_file_is_reachable_and_declared_as_package_data(monkeypatch):
    monkeypatch.delenv(shipped.OVERRIDE_ENV, raising=False)
    # every file, sub-folders (the shipped scenarios) included
    on_disk = sorted(p.relative_to(SHIPPED_DIR).as_posix() for p in SHIPPED_DIR.rglob("*")
                     if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts)
    assert {"tiers.yaml", "profiles.yaml", "indexes.yaml", "slo.yaml", "users.yaml",
            "scenarios/hiremebahamas.yaml"} <= set(on_disk)
    globs = _package_data_globs()
    for name in on_disk:
        rel = f"configs/{name}"
        # A file no glob matches would be missing from the wheel (the bug this move fixes).
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not package data in pyproject.toml"
        res = resources.files("hmb_ops").joinpath("configs", *name.split("/"))
        assert res.is_file()
        assert res.read_bytes() == (SHIPPED_DIR / name).read_bytes()
    assert shipped.shipped_names() == [n for n in on_disk if n.endswith(".yaml") and "/" not in n]


def test_no_configs_folder_outside_the_package_and_no_path_arithmetic():
    assert not (REPO / "configs").exists(), "the shipped YAML moved to hmb_ops/configs/"
    # Only shipped.py knows where the folder is; a path computed from __file__ breaks in a wheel.
    offenders = [str(p.relative_to(REPO)) for p in PACKAGE_DIR.rglob("*.py")
                 if p.name != "shipped.py" and ('"configs"' in p.read_text() or "'configs'" in p.read_text())]
    assert offenders == []


def test_shipped_files_load_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(shipped.OVERRIDE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert {"small", "default", "high"} <= set(load_tiers())
    spec = load_spec()
    assert spec.source == "hmb_ops/configs/indexes.yaml" and spec.declared


def test_user_file_still_overrides_the_shipped_entry(tmp_path, monkeypatch):
    monkeypatch.delenv(shipped.OVERRIDE_ENV, raising=False)
    user = tmp_path / "mine.yaml"
    user.write_text("tiers:\n  small:\n    cpus: 3\n    memory: 3GB\n  extra:\n    cpus: 1\n    memory: 1GB\n")
    tiers = load_tiers([str(user)])
    assert tiers["small"].cpus == 3 and "extra" in tiers and "high" in tiers
    own_spec = tmp_path / "spec.yaml"
    own_spec.write_text("indexes:\n  declared: []\n")
    assert load_spec(own_spec).declared == [] and load_spec(own_spec).source == str(own_spec)


@pytest.fixture
def fake_package_folder(tmp_path, monkeypatch):
    """Stand a folder in for the package's configs/ (the importlib.resources branch, no override)."""
    monkeypatch.delenv(shipped.OVERRIDE_ENV, raising=False)
    monkeypatch.setattr(shipped, "_folder", lambda: tmp_path)
    return tmp_path


def test_errors_in_a_shipped_file_name_it_as_package_data(fake_package_folder):
    (fake_package_folder / "tiers.yaml").write_text("tiers:\n  small:\n    cpus: one\n    memory: 1GB\n")
    with pytest.raises(ConfigError) as exc:
        load_tiers()
    assert "hmb_ops/configs/tiers.yaml:3: field 'tiers.small.cpus'" in exc.value.one_line()
    assert str(fake_package_folder) not in exc.value.one_line()


def test_shipped_text_goes_through_the_same_limits(fake_package_folder):
    depth = MAX_YAML_DEPTH + 5
    (fake_package_folder / "deep.yaml").write_text("a: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError, match="nested more than"):
        load_shipped_yaml("deep.yaml")
    (fake_package_folder / "big.yaml").write_text("a: " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError, match="too large") as exc:
        load_shipped_yaml("big.yaml")
    assert exc.value.one_line().startswith("hmb_ops/configs/big.yaml")
    (fake_package_folder / "tag.yaml").write_text("a: !!python/object:os.system {}\n")
    with pytest.raises(ConfigError, match="unsupported YAML"):
        load_shipped_yaml("tag.yaml")
    (fake_package_folder / "latin1.yaml").write_bytes(b"a: \xff\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_shipped_yaml("latin1.yaml")


def test_a_missing_shipped_file_is_a_config_error_not_a_crash(fake_package_folder):
    with pytest.raises(ConfigError, match="missing from the installed package") as exc:
        load_spec()
    assert "hmb_ops/configs/indexes.yaml" in exc.value.one_line()
    # A section whose shipped file is absent is simply empty (user files may define it).
    with pytest.raises(ConfigError, match="no tiers are defined"):
        load_tiers()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_override_folder_gets_the_regular_file_checks(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "tiers.yaml")
    monkeypatch.setenv(shipped.OVERRIDE_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="not a regular file"):
        load_tiers()


@pytest.mark.parametrize("name", ["../pyproject.toml", "a/b.yaml", "", ".."])
def test_shipped_names_are_plain_file_names(name):
    with pytest.raises(ValueError, match="not a shipped file name"):
        shipped.shipped_text(name, limit=MAX_YAML_BYTES)


def test_the_workflow_example_installs_the_package_as_users_do():
    import yaml

    wf = yaml.safe_load((REPO / ".github" / "workflows" / "capacity.yml").read_text())
    runs = "\n".join(s["run"] for s in wf["jobs"]["loadtest"]["steps"] if "run" in s)
    installs = [line.strip() for line in runs.splitlines() if "pip install" in line]
    assert installs == ["python -m pip install ."]  # a built package: not -e, not the checkout on a path
    assert "configs/" not in runs and "PYTHONPATH" not in runs
