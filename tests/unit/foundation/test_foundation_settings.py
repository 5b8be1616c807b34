from pathlib import Path

import pytest
from pydantic import ConfigDict

from hmb_ops.errors import EXIT_BAD_INPUT, ConfigError
from hmb_ops.settings.loader import StrictModel, load_section, load_yaml


class Tier(StrictModel):
    cpus: float
    workers: int


class Tiers(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    d = tmp_path / "configs"
    d.mkdir()
    _write(d, "tiers.yaml", "tiers:\n  small:\n    cpus: 1\n    workers: 2\n  big:\n    cpus: 4\n    workers: 8\n")
    monkeypatch.setenv("HMB_OPS_CONFIG_DIR", str(d))
    return d


def _load(files=()):
    from pydantic import RootModel

    return load_section("tiers", RootModel[dict[str, Tier]], files).root


def test_shipped_then_user_file_overrides_by_name(shipped, tmp_path):
    user = _write(tmp_path, "mine.yaml",
                  "tiers:\n  small:\n    cpus: 0.5\n    workers: 1\n  edge:\n    cpus: 2\n    workers: 3\n")
    tiers = _load([user])
    assert tiers["small"] == Tier(cpus=0.5, workers=1)
    assert tiers["big"].workers == 8 and tiers["edge"].workers == 3


def test_syntax_error_names_file_and_line(shipped, tmp_path):
    user = _write(tmp_path, "bad.yaml", "tiers:\n  small:\n    cpus: [1\n    workers: 2\n")
    with pytest.raises(ConfigError) as exc:
        _load([user])
    msg = exc.value.one_line()
    assert exc.value.exit_code == EXIT_BAD_INPUT
    assert "bad.yaml:" in msg and "YAML syntax error" in msg
    assert exc.value.line in (3, 4, 5)


def test_wrong_type_names_field_path_and_line(shipped, tmp_path):
    user = _write(tmp_path, "bad.yaml", "tiers:\n  small:\n    cpus: 1\n    workers: lots\n")
    with pytest.raises(ConfigError) as exc:
        _load([user])
    assert exc.value.line == 4
    assert exc.value.field == "tiers.small.workers"
    assert str(user) in exc.value.one_line()


def test_unknown_key_is_an_error_with_its_line(shipped, tmp_path):
    user = _write(tmp_path, "bad.yaml", "tiers:\n  small:\n    cpus: 1\n    workers: 2\n    worker_conections: 9\n")
    with pytest.raises(ConfigError) as exc:
        _load([user])
    assert exc.value.line == 5 and "unknown key" in exc.value.one_line()
    assert exc.value.field == "tiers.small.worker_conections"


def test_error_in_shipped_file_points_at_the_shipped_file(shipped):
    (shipped / "tiers.yaml").write_text("tiers:\n  small:\n    cpus: one\n    workers: 2\n")
    with pytest.raises(ConfigError) as exc:
        _load()
    assert "tiers.yaml:3" in exc.value.one_line()


def test_missing_user_file_is_a_clear_error(shipped, tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        _load([tmp_path / "nope.yaml"])


def test_top_level_must_be_a_mapping(shipped, tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        _load([_write(tmp_path, "list.yaml", "- a\n- b\n")])


def test_load_yaml_records_lines(tmp_path):
    data, lines = load_yaml(_write(tmp_path, "x.yaml", "a:\n  b: 1\n  c:\n    - 2\n    - 3\n"))
    assert data == {"a": {"b": 1, "c": [2, 3]}}
    assert lines[("a", "b")] == 2 and lines[("a", "c", 1)] == 5
