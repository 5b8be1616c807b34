"""PyYAML's node tree with positions: the readers report file:line and the writer edits exact spans."""

from __future__ import annotations

import yaml

from hmb_ops.errors import ConfigError

MAX_DEPTH_ERROR = "YAML nested too deeply"


def compose(text: str, where: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"YAML syntax error: {getattr(exc, 'problem', None) or exc}", path=where,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError(MAX_DEPTH_ERROR, path=where) from None


def get(mapping, key: str):
    if not isinstance(mapping, yaml.MappingNode):
        return None, None
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None, None


def scalar(node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def value(node):
    """The Python value of a node (strings, lists, mappings), as yaml.safe_load would give it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def line(node) -> int:
    return node.start_mark.line + 1


def text_value(v) -> str:
    """An env value as the platform passes it: YAML true/false as lowercase words, numbers as written."""
    if isinstance(v, bool):
        return str(v).lower()
    return "" if v is None else str(v)
