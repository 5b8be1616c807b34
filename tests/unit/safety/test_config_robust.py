"""Hostile or broken YAML is a one-line ConfigError (exit 2), never a crash or a hang, and a file
with several problems names them all (issue #11 items 12 and "Every problem shown")."""

from __future__ import annotations

import os

import pytest

from hmb_ops.errors import EXIT_BAD_INPUT, ConfigError
from hmb_ops.loadtest.profiles import load_profiles
from hmb_ops.settings import loader
from hmb_ops.settings.loader import MAX_YAML_BYTES, MAX_YAML_DEPTH, load_yaml

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n" for i in range(1, 10))


def _error(path) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    assert exc.value.exit_code == EXIT_BAD_INPUT
    assert "\n" not in exc.value.one_line()
    return exc.value


@pytest.mark.parametrize("name,text,needle", [
    ("self.yaml", "a: &a [*a]\n", "alias refers to a value that contains it"),
    ("self_map.yaml", "a: &a {b: *a}\n", "alias refers to a value that contains it"),
    ("bomb.yaml", BOMB, "values once aliases are expanded"),
    ("deep_flow.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", f"nested more than {MAX_YAML_DEPTH} levels"),
    ("deep_block.yaml", "".join(" " * i + f"k{i}:\n" for i in range(200)), "nested more than"),
    ("deep_alias.yaml", "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n",
     "levels deep (through aliases)"),
    ("tag.yaml", "a: !!python/object/apply:os.system [echo hi]\n", "unsupported YAML tag"),
    ("tag_set.yaml", "a: !!set {x, y}\n", "unsupported YAML tag"),
    ("tag_scalar.yaml", "a: !!python/name:os.system\n", "unsupported YAML value"),
    ("binary.yaml", "a: 1\n", None),
])
def test_hostile_yaml_is_a_config_error(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    if needle is None:
        assert load_yaml(path)[0] == {"a": 1}
        return
    err = _error(path)
    assert str(path) in err.one_line() and needle in err.one_line()


def test_legitimate_aliases_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &m {feed: 1, jobs: 2}\none: {mix: *m}\ntwo: {mix: *m}\n")
    data, _ = load_yaml(path)
    assert data["one"]["mix"] == data["two"]["mix"] == {"feed": 1, "jobs": 2}
    assert load_profiles()  # the shipped profiles use anchors (&seed_mix) too


def test_too_large_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_YAML_BYTES + 1)  # sparse: the size alone must refuse it
    assert "too large" in _error(big).one_line()


def test_devices_fifos_and_folders_are_refused_without_blocking(tmp_path):
    assert "not a regular file" in _error("/dev/zero").one_line()
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # no writer: reading it would block forever
    assert "not a regular file" in _error(fifo).one_line()
    assert "directory" in _error(tmp_path).one_line()
    assert "not found" in _error(tmp_path / "missing.yaml").one_line()


def test_non_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    assert "UTF-8" in _error(path).one_line()


def test_limits_are_sane_for_real_files():
    # The largest shipped file must be far inside every limit.
    names = loader.shipped_names()
    assert names
    for name in names:
        text, _ = loader.shipped_text(name, limit=MAX_YAML_BYTES)
        assert len(text.encode()) < MAX_YAML_BYTES // 10
        loader.load_shipped_yaml(name)


PROFILES = """\
profiles:
  mine:
    users: lots
    spawn_rate: 5
    duration: 10
    mix: {feed: 1}
    bogus: 3
  other:
    users: 2
    spawn_rate: -1
    duration: 10
    mix: {nope: 1}
"""


def test_profile_file_with_several_problems_lists_them_all(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES)
    with pytest.raises(ConfigError) as exc:
        load_profiles((str(path),))
    line = exc.value.one_line()
    assert "more problem" not in line
    assert line.startswith(f"{path}:3: field 'profiles.mine.users'")  # the first one, as before
    for field, at in [("profiles.mine.bogus", "line 7"), ("profiles.other.spawn_rate", "line 10"),
                      ("profiles.other.mix", "line 12")]:
        assert f"field '{field}' ({at})" in line
    assert "unknown key" in line and "greater than 0" in line and "unknown endpoint 'nope'" in line
    assert exc.value.line == 3 and exc.value.field == "profiles.mine.users"


def test_problems_from_two_user_files_name_their_own_file(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text("profiles:\n  a:\n    users: x\n    spawn_rate: 1\n    duration: 1\n    mix: {feed: 1}\n")
    two = tmp_path / "two.yaml"
    two.write_text("profiles:\n  b:\n    users: 1\n    spawn_rate: 1\n    duration: 1\n    mix: {feed: 1}\n"
                   "    extra: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_profiles((str(one), str(two)))
    line = exc.value.one_line()
    assert line.startswith(f"{one}:3: field 'profiles.a.users'")
    assert f"field 'profiles.b.extra' ({two}:7): unknown key" in line


def test_a_single_problem_reads_as_before(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("profiles:\n  a:\n    users: 1\n    spawn_rate: 1\n    duration: 1\n    mix: {feed: 1}\n"
                    "    extra: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_profiles((str(path),))
    assert exc.value.one_line() == f"{path}:7: field 'profiles.a.extra': unknown key"


def test_a_flood_of_problems_is_capped(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("profiles:\n  a:\n    users: 1\n    spawn_rate: 1\n    duration: 1\n    mix: {feed: 1}\n"
                    + "".join(f"    extra{i}: 1\n" for i in range(80)))
    with pytest.raises(ConfigError) as exc:
        load_profiles((str(path),))
    line = exc.value.one_line()
    assert line.count("unknown key") == loader.MAX_PROBLEMS_SHOWN and line.endswith("and 30 more problems")
