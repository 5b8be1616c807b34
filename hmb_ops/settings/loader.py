"""YAML → typed models. Errors name the file, the line and the field path (exit 2).

Each shipped file in ``hmb_ops/configs/`` (package data, see ``shipped.py``) has one top-level
key naming its section (``tiers``,
``profiles``, ``thresholds``, ``users_model`` …). A user file given with ``--config`` may hold
any of those sections; a section's named entries override the shipped ones by name, its plain
values replace them. Precedence: shipped < user files in the order given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from hmb_ops.errors import ConfigError
from hmb_ops.files import read_limited
from hmb_ops.settings.shipped import (  # noqa: F401 - shipped_names is re-exported (tests read it here)
    shipped_display,
    shipped_exists,
    shipped_names,
    shipped_text,
)

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _LineLoader(yaml.SafeLoader):
    """Safe loader that remembers the line of every mapping key and sequence item."""


# Limits on what a config or spec file may be. Real ones are a few KB, a dozen levels deep and a
# few thousand values; these bound the memory and the recursion a hostile or broken file can cause
# (a FIFO or /dev/zero, a 5,000-deep nesting, an alias that contains itself, a "billion laughs"
# chain of aliases) so each is a one-line error (exit 2), not a crash or a hang.
# The value cap also bounds time: composing in pure Python costs about 30 µs a value, so a
# 2 MB file of 200,000 empty entries took 25 s; at 50,000 the worst legal file composes in about a
# second and anything larger is refused by the (C, when libyaml is there) event pass first.
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_VALUES = 50_000
# Entries of one named section (tiers, profiles …): real files hold a handful.
MAX_SECTION_ENTRIES = 1_000
_MAP_TAG, _SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# The event pass needs no line-remembering loader; libyaml's parser is about 20 times faster.
_EVENT_LOADER = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None


def _line(event: yaml.Event) -> int | None:
    """The 1-based line an event starts on (the parser always gives one; the stubs allow None)."""
    return event.start_mark.line + 1 if event.start_mark is not None else None


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting and too many values from the event stream (flat, no recursion,
    stops at the first excess) before the recursive, slower composer sees the file."""
    depth = 0
    values = 0
    try:
        for event in yaml.parse(text, Loader=_EVENT_LOADER or _LineLoader):
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent,
                                  yaml.SequenceStartEvent)):
                values += 1
                if values > MAX_YAML_VALUES:
                    raise ConfigError(f"more than {MAX_YAML_VALUES:,} values (keys and values count)",
                                      path=source, line=_line(event),
                                      hint="a config or spec file holds a few thousand values at most")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(f"nested more than {MAX_YAML_DEPTH} levels deep", path=source,
                                      line=_line(event),
                                      hint="a config or spec file is a few levels of mappings and lists")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # compose reports syntax errors with their line


def _compose_with_lines(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    lines: dict[tuple, int] = {}
    _check_depth(text, source)
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"YAML syntax error: {problem}", path=source,
                          line=mark.line + 1 if mark else None,
                          hint="fix the YAML syntax at that line") from None
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_YAML_DEPTH} levels deep", path=source) from None
    built = 0
    ancestors: set[int] = set()

    def build(n: yaml.Node, path: tuple) -> Any:
        nonlocal built
        built += 1
        if built > MAX_YAML_VALUES:
            raise ConfigError(f"more than {MAX_YAML_VALUES:,} values once aliases are expanded",
                              path=source, line=n.start_mark.line + 1,
                              hint="aliases (*name) that repeat other aliases multiply; write the values out")
        if len(path) > MAX_YAML_DEPTH:
            raise ConfigError(f"nested more than {MAX_YAML_DEPTH} levels deep (through aliases)",
                              path=source, line=n.start_mark.line + 1)
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            if id(n) in ancestors:
                raise ConfigError("an alias refers to a value that contains it (a YAML loop)",
                                  path=source, line=n.start_mark.line + 1,
                                  hint="an anchor (&name) cannot be used (*name) inside its own value")
            if n.tag not in (_MAP_TAG, _SEQ_TAG):  # !!python/object, !!set …: not data we take
                raise ConfigError(f"unsupported YAML tag {n.tag}", path=source, line=n.start_mark.line + 1)
            ancestors.add(id(n))
            try:
                if isinstance(n, yaml.MappingNode):
                    out = {}
                    for k, v in n.value:
                        key = _scalar(k)
                        lines[path + (key,)] = k.start_mark.line + 1
                        out[key] = build(v, path + (key,))
                    return out
                return [build(item, path + (i,)) for i, item in enumerate(n.value)]
            finally:
                ancestors.discard(id(n))
        return _scalar(n)

    def _scalar(n: yaml.Node) -> Any:
        if not isinstance(n, yaml.ScalarNode):
            raise ConfigError("mapping keys must be plain values", path=source, line=n.start_mark.line + 1)
        loader = _LineLoader("")
        try:
            value = loader.construct_object(n, deep=True)
        except yaml.YAMLError as exc:  # an unknown tag (!!python/object …) or a bad !!timestamp
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"unsupported YAML value: {problem}", path=source,
                              line=n.start_mark.line + 1) from None
        return value

    if node is None:
        return {}, lines
    return build(node, ()), lines


def load_yaml(path: str | os.PathLike) -> tuple[Any, dict[tuple, int]]:
    """Read a YAML file; return its data and a map from key path to line number."""
    p = Path(path)
    data = read_limited(p, limit=MAX_YAML_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("cannot read file: not UTF-8 text", path=str(p)) from None
    return _compose_with_lines(text, str(p))


def load_yaml_text(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML text already read (errors name `source`): the same limits as `load_yaml`."""
    if len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise ConfigError(f"too large (more than {MAX_YAML_BYTES:,} bytes)", path=source)
    return _compose_with_lines(text, source)


def load_shipped_yaml(name: str) -> tuple[Any, dict[tuple, int], str]:
    """A shipped file (``hmb_ops/configs/<name>``): its data, line map and the name errors use.

    Read as package data, so it works from an installed wheel; parsed like any user file.
    """
    text, source = shipped_text(name, limit=MAX_YAML_BYTES)
    data, lines = load_yaml_text(text, source)
    return data, lines, source


def _format_loc(loc: Iterable) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


MAX_PROBLEMS_SHOWN = 50


def _problems_error(exc: ValidationError, where: Callable[[tuple], tuple[str, dict[tuple, int]]],
                    prefix: tuple = ()) -> ConfigError:
    """Every problem of a validation in one ConfigError: the first one's file, line and field on
    the error itself, the others after it, each with its own line (and file, when another)."""
    problems: list[tuple[str, int | None, str, str]] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        source, lines = where(loc)
        full = prefix + loc
        line = None
        for cut in range(len(full), -1, -1):
            if full[:cut] in lines:
                line = lines[full[:cut]]
                break
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        problem = (source, line, _format_loc(full), msg)
        if problem not in problems:
            problems.append(problem)
    source, line, field, msg = problems[0]
    parts = [msg]
    for src, ln, f, m in problems[1:MAX_PROBLEMS_SHOWN]:
        at = src if src != source else ""
        at = f"{at}:{ln}" if at and ln else at or (f"line {ln}" if ln else "")
        parts.append(f"field '{f}'" + (f" ({at})" if at else "") + f": {m}")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        parts.append(f"and {len(problems) - MAX_PROBLEMS_SHOWN} more problems")
    return ConfigError("; ".join(parts), path=source, line=line, field=field or None)


def parse_model(data: Any, model: type[M], *, source: str, lines: dict[tuple, int] | None = None,
                prefix: tuple = ()) -> M:
    """Validate plain data against a model; every problem is named in one ConfigError (the first
    one's line and field on the error itself)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _problems_error(exc, lambda loc: (source, lines or {}), prefix) from None


def load_section(section: str, model: type[M], user_files: Iterable[str | os.PathLike] = (),
                 shipped_name: str | None = None) -> M:
    """Load one section: shipped ``hmb_ops/configs/<shipped_name>`` then each user file in order.

    When the section is a mapping, each top-level entry of a later file replaces the entry of the
    same name (a user tier ``small`` replaces the shipped ``small`` as a whole); otherwise the later
    value replaces the earlier one. Errors point at the file and line the bad value came from.
    """
    shipped_name = shipped_name or f"{section}.yaml"
    shipped = shipped_display(shipped_name)
    value: Any = None
    provenance: dict[Any, tuple[str, dict]] = {}  # entry key (or None) -> (file, its line map)

    def sources() -> Iterable[tuple[str, Any, dict[tuple, int]]]:
        # The shipped file is optional (a section may live only in user files); user files are not.
        if shipped_exists(shipped_name):
            data, lines, source = load_shipped_yaml(shipped_name)
            yield source, data, lines
        for u in user_files:
            yield (str(Path(u)), *load_yaml(u))

    for path, data, lines in sources():
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping at the top level", path=str(path), line=1)
        if section not in data:
            continue
        part = data[section]
        if isinstance(part, dict) and len(part) > MAX_SECTION_ENTRIES:
            raise ConfigError(f"more than {MAX_SECTION_ENTRIES:,} entries in '{section}' ({len(part):,})",
                              path=str(path), line=lines.get((section,)),
                              hint=f"a file declares a handful of {section}")
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
        def where(loc: tuple) -> tuple[str, dict[tuple, int]]:
            return provenance.get(loc[0] if loc else None) or provenance.get(None) or (shipped, {})

        raise _problems_error(exc, where, prefix=(section,)) from None
