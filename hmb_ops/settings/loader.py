"""YAML → typed models. Errors name the file, the line and the field path (exit 2).

Each shipped file in ``configs/`` has one top-level key naming its section (``tiers``,
``profiles``, ``thresholds``, ``users_model`` …). A user file given with ``--config`` may hold
any of those sections; a section's named entries override the shipped ones by name, its plain
values replace them. Precedence: shipped < user files in the order given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from hmb_ops.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def shipped_config_dir() -> Path:
    override = os.environ.get("HMB_OPS_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "configs"


class _LineLoader(yaml.SafeLoader):
    """Safe loader that remembers the line of every mapping key and sequence item."""


def _compose_with_lines(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    lines: dict[tuple, int] = {}
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"YAML syntax error: {problem}", path=source,
                          line=mark.line + 1 if mark else None,
                          hint="fix the YAML syntax at that line") from None

    def build(n: yaml.Node, path: tuple) -> Any:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = _scalar(k)
                lines[path + (key,)] = k.start_mark.line + 1
                out[key] = build(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(n.value)]
        return _scalar(n)

    def _scalar(n: yaml.Node) -> Any:
        if not isinstance(n, yaml.ScalarNode):
            raise ConfigError("mapping keys must be plain values", path=source, line=n.start_mark.line + 1)
        loader = _LineLoader("")
        return loader.construct_object(n, deep=True)

    if node is None:
        return {}, lines
    return build(node, ()), lines


def load_yaml(path: str | os.PathLike) -> tuple[Any, dict[tuple, int]]:
    """Read a YAML file; return its data and a map from key path to line number."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(p), hint="check the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc.__class__.__name__}", path=str(p)) from None
    return _compose_with_lines(text, str(p))


def _format_loc(loc: Iterable) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_model(data: Any, model: type[M], *, source: str, lines: dict[tuple, int] | None = None,
                prefix: tuple = ()) -> M:
    """Validate plain data against a model; the first error becomes a ConfigError with its line."""
    lines = lines or {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = prefix + loc
        line = None
        for cut in range(len(full), -1, -1):
            if full[:cut] in lines:
                line = lines[full[:cut]]
                break
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(msg, path=source, line=line, field=_format_loc(full) or None) from None


def load_section(section: str, model: type[M], user_files: Iterable[str | os.PathLike] = (),
                 shipped_name: str | None = None) -> M:
    """Load one section: shipped ``configs/<shipped_name>`` then each user file in order.

    When the section is a mapping, each top-level entry of a later file replaces the entry of the
    same name (a user tier ``small`` replaces the shipped ``small`` as a whole); otherwise the later
    value replaces the earlier one. Errors point at the file and line the bad value came from.
    """
    shipped = shipped_config_dir() / (shipped_name or f"{section}.yaml")
    value: Any = None
    provenance: dict[Any, tuple[str, dict]] = {}  # entry key (or None) -> (file, its line map)
    for path, required in [(shipped, False), *[(Path(u), True) for u in user_files]]:
        if not required and not path.exists():
            continue
        data, lines = load_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping at the top level", path=str(path), line=1)
        if section not in data:
            continue
        part = data[section]
        if isinstance(value, dict) and isinstance(part, dict):
            value = {**value, **part}
            for key in part:
                provenance[key] = (str(path), lines)
        else:
            value = part
            provenance = {None: (str(path), lines)}
            if isinstance(part, dict):
                provenance.update({key: (str(path), lines) for key in part})
    if value is None:
        value = {}
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        src, lines = provenance.get(loc[0] if loc else None) or provenance.get(None) or (str(shipped), {})
        return parse_model(value, model, source=src, lines=lines, prefix=(section,))
