"""The `thresholds` section (hmb_ops/configs/slo.yaml and user files): the SLO as threshold expressions."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.settings.loader import StrictModel, load_section, load_yaml, parse_model

from . import thresholds as th


def _valid_expression(expr: str) -> str:
    try:
        th.parse(expr)
    except UsageError as exc:
        # pydantic reports the item's index, so the error names the exact line of the file.
        raise ValueError(exc.message) from None
    return expr


Expression = Annotated[str, AfterValidator(_valid_expression)]


class SloConfig(StrictModel):
    # Threshold expressions, same grammar as --check.
    checks: tuple[Expression, ...] = ()

    def thresholds(self) -> list[th.Threshold]:
        return th.parse_all(self.checks)


def shipped_slo(config_files: Iterable[str] = ()) -> SloConfig:
    """hmb_ops/configs/slo.yaml merged with the `thresholds` section of any --config files (the capacity SLO)."""
    return load_section("thresholds", SloConfig, user_files=tuple(config_files), shipped_name="slo.yaml")


def slo_file(path: str | os.PathLike) -> SloConfig:
    """The `thresholds` section of one file (--slo-file); the file must have that section."""
    data, lines = load_yaml(path)
    if not isinstance(data, dict) or "thresholds" not in data:
        raise ConfigError("no 'thresholds' section", path=str(path), line=1,
                          hint="write 'thresholds:' with a 'checks:' list of expressions like 'p95<100ms'")
    return parse_model(data["thresholds"], SloConfig, source=str(path), lines=lines, prefix=("thresholds",))


def user_slo(config_files: Iterable[str]) -> list[str]:
    """Expressions from the `thresholds` sections of user --config files only (not the shipped file)."""
    out: list[str] = []
    for path in config_files:
        data, _ = load_yaml(path)
        if isinstance(data, dict) and "thresholds" in data:
            out.extend(slo_file(path).checks)
    return out
