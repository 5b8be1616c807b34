"""The scenario file format (YAML, top-level key `scenario`), as strict pydantic models.

Shape checks live here (unknown keys, types, expect, json vs form, one feeder kind); names that
need the whole file (undefined variables, CSV columns, mix keys) are checked by `load`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hmb_ops.settings.loader import StrictModel

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_THINK_S = 600.0
_CLASS = re.compile(r"^[1-5]xx$")
Scalar = str | int | float | bool


def _think(value: Any) -> tuple[float, float]:
    if isinstance(value, bool):
        raise ValueError("think_time must be seconds or [min, max]")
    if isinstance(value, (int, float)):
        lo = hi = float(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError("think_time must be seconds or [min, max]")
    if lo < 0 or hi < lo or hi > MAX_THINK_S:
        raise ValueError(f"think_time must be [min, max] seconds with 0 <= min <= max <= {MAX_THINK_S:g}")
    return lo, hi


def parse_expect(value: Any) -> tuple[frozenset[int], frozenset[int]]:
    """(exact statuses, status classes 1-5) a step accepts; ValueError for anything else."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("expect must name at least one status")
    exact, classes = set(), set()
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"expect: {item!r} is not a status")
        if isinstance(item, int):
            if not 100 <= item <= 599:
                raise ValueError(f"expect: {item} is not an HTTP status (100-599)")
            exact.add(item)
        elif isinstance(item, str) and _CLASS.match(item.strip().lower()):
            classes.add(int(item.strip()[0]))
        else:
            raise ValueError(f"expect: {item!r} is not a status; use 200, [200, 404] or \"2xx\"")
    return frozenset(exact), frozenset(classes)


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def check_header_names(headers: dict[str, Any]) -> dict[str, Any]:
    for name in headers:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP header name")
    return headers


class Capture(StrictModel):
    json_path: str | None = Field(default=None, alias="json")
    header: str | None = None
    pick: Literal["first", "random"] = "first"
    required: bool = True  # False: no match leaves the variable unset without a capture_failed failure

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if (self.json_path is None) == (self.header is None):
            raise ValueError("a capture takes exactly one of json (a JSON path) or header")
        return self


class Step(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    method: str = "GET"
    path: str = Field(min_length=1, max_length=4000)
    query: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, Scalar] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, Scalar] | None = None
    expect: int | str | list[int | str] = "2xx"
    think_time: Any = None
    capture: dict[str, Capture] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        return check_header_names(value)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"method {value!r} is not one of {', '.join(METHODS)}")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        # Requests go to --target only: an absolute URL here would send load somewhere else.
        if not value.startswith("/") or value.startswith("//"):
            raise ValueError("path must start with one '/' (the base URL comes from --target)")
        return value

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: Any) -> Any:
        parse_expect(value)
        return value

    @field_validator("think_time")
    @classmethod
    def _think_time(cls, value: Any) -> Any:
        return None if value is None else _think(value)

    @field_validator("capture")
    @classmethod
    def _capture_names(cls, value: dict[str, Capture]) -> dict[str, Capture]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"capture name {name!r} must be a plain identifier")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        if self.json_body is not None and self.form is not None:
            raise ValueError("a request takes json or form, not both")
        return self


class Request(Step):
    weight: float = Field(default=1.0, ge=0, le=1_000_000)
    key: str | None = Field(default=None, min_length=1, max_length=100)
    fallback: str | None = None


class Sequence(StrictModel):
    start: int = 1
    stop: int | str
    step: int = Field(default=1, ge=1)


class Feeder(StrictModel):
    csv: str | None = None
    order: Literal["round_robin", "random"] = "round_robin"
    sequence: Sequence | None = None
    choice: list[Scalar] | None = Field(default=None, min_length=1)
    per: Literal["user", "request"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Feeder:
        kinds = [k for k in ("csv", "sequence", "choice") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a feeder is exactly one of csv, sequence or choice")
        return self

    @property
    def kind(self) -> str:
        return "csv" if self.csv is not None else "sequence" if self.sequence is not None else "choice"

    @property
    def draw_per(self) -> str:
        """When a new value is taken: a CSV row per user (credentials), sequences and choices per request."""
        return self.per or ("user" if self.kind == "csv" else "request")


class Scenario(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    think_time: Any = (0.0, 0.0)
    variables: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, Scalar] = Field(default_factory=dict)  # sent by every step; a step's own win
    feeders: dict[str, Feeder] = Field(default_factory=dict)
    setup: list[Step] = Field(default_factory=list, max_length=100)
    requests: list[Request] = Field(min_length=1, max_length=1000)

    @field_validator("think_time")
    @classmethod
    def _think_time(cls, value: Any) -> tuple[float, float]:
        return _think(value)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        return check_header_names(value)

    @field_validator("variables", "feeders")
    @classmethod
    def _names(cls, value: dict) -> dict:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"name {name!r} must be a plain identifier")
        return value

    @model_validator(mode="after")
    def _weights(self) -> Scenario:
        if not any(r.weight > 0 for r in self.requests):
            raise ValueError("at least one request needs a weight above 0")
        return self


class ScenarioFile(StrictModel):
    scenario: Scenario
