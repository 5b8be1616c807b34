"""The YAML files shipped inside the package (``hmb_ops/configs/``), read as package data.

They are read through ``importlib.resources`` rather than a path computed from ``__file__`` so the
same code finds them in a checkout, an editable install and an installed wheel (where nothing
outside the package exists). ``HMB_OPS_CONFIG_DIR`` replaces the whole folder (tests use it to
stand in a broken or empty shipped file); user files (``--config``, ``indexes --file``) are not
read here and override the shipped values exactly as before.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from hmb_ops.errors import ConfigError

PACKAGE = "hmb_ops"
FOLDER = "configs"
OVERRIDE_ENV = "HMB_OPS_CONFIG_DIR"


def _folder() -> Traversable:
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return Path(override)
    return resources.files(PACKAGE).joinpath(FOLDER)


def _check_name(name: str) -> None:
    # Names come from code, never from a user; a path here would read outside the shipped folder.
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"not a shipped file name: {name!r}")


def shipped_display(name: str) -> str:
    """How errors name a shipped file: ``hmb_ops/configs/tiers.yaml`` (the real path under an override)."""
    _check_name(name)
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return str(Path(override) / name)
    return f"{PACKAGE}/{FOLDER}/{name}"


def shipped_exists(name: str) -> bool:
    _check_name(name)
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        # Anything by that name counts, so a folder or a FIFO there is reported, not skipped.
        return (Path(override) / name).exists()
    return _folder().joinpath(name).is_file()


def shipped_names() -> list[str]:
    """The ``*.yaml`` files shipped (or in the override folder), sorted."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".yaml"))


def shipped_text(name: str, *, limit: int) -> tuple[str, str]:
    """The text of one shipped file and the name errors give it.

    Bounded by the same byte limit as a user's file (the override folder may hold anything) and
    decoded as UTF-8; a missing file is a ConfigError naming it.
    """
    display = shipped_display(name)
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        # A real folder chosen by whoever set the variable: the same regular-file checks as --config.
        from hmb_ops.files import read_limited

        data = read_limited(Path(override) / name, limit=limit)
    else:
        res = _folder().joinpath(name)
        if not res.is_file():
            raise ConfigError("shipped file missing from the installed package", path=display,
                              hint="reinstall hmb-ops; its package data is incomplete")
        try:
            with res.open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read file: {exc.strerror or exc.__class__.__name__}", path=display) from None
        if len(data) > limit:
            raise ConfigError(f"too large (more than {limit:,} bytes)", path=display)
    try:
        return data.decode("utf-8"), display
    except UnicodeDecodeError:
        raise ConfigError("cannot read file: not UTF-8 text", path=display) from None


SCENARIOS = "scenarios"


def shipped_scenario_text(name: str, *, limit: int) -> tuple[str, str]:
    """A shipped scenario (``hmb_ops/configs/scenarios/<name>``) and the name errors give it.

    Under HMB_OPS_CONFIG_DIR a ``scenarios/<name>`` there wins; without one the package's is read
    (an override folder made for tiers or profiles need not copy the scenarios).
    """
    _check_name(name)
    override = os.environ.get(OVERRIDE_ENV)
    if override and (Path(override) / SCENARIOS / name).exists():
        from hmb_ops.files import read_limited

        data = read_limited(Path(override) / SCENARIOS / name, limit=limit)
        display = str(Path(override) / SCENARIOS / name)
    else:
        display = f"{PACKAGE}/{FOLDER}/{SCENARIOS}/{name}"
        res = resources.files(PACKAGE).joinpath(FOLDER, SCENARIOS, name)
        if not res.is_file():
            raise ConfigError("shipped file missing from the installed package", path=display,
                              hint="reinstall hmb-ops; its package data is incomplete")
        with res.open("rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ConfigError(f"too large (more than {limit:,} bytes)", path=display)
    try:
        return data.decode("utf-8"), display
    except UnicodeDecodeError:
        raise ConfigError("cannot read file: not UTF-8 text", path=display) from None
