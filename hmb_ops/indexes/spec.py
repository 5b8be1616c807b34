"""Declared indexes: the typed model of the shipped hmb_ops/configs/indexes.yaml (or a user's --file).

Structure is checked here (pydantic, file:line errors, exit 2), and ``text_problems`` proves every
expression, predicate and name is exactly one expression or one name (sqltext.py) before any SQL
runs. Whether tables, columns, operator classes and immutability hold is decided later against
the live database by ``normalize.py``, because only PostgreSQL can answer those questions reliably.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from hmb_ops.indexes import sqltext
from hmb_ops.settings.loader import StrictModel, load_shipped_yaml, load_yaml, parse_model

SECTION = "indexes"
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently, which would look like drift forever

_PLAIN_COLUMN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_$]*)\s*(?:\s(asc|desc))?\s*(?:\snulls\s+(first|last))?\s*$",
                           re.IGNORECASE)
_METHOD = re.compile(r"^[a-z_][a-z0-9_]*$")  # access methods are plain lower-case names (pg_am)
_STORAGE_NAME = _METHOD  # storage parameters too (fillfactor, fastupdate, pages_per_range)


class KeyPart(StrictModel):
    """One key of an index: a column or an expression, with optional ordering and operator class."""

    column: str | None = None
    expression: str | None = None
    order: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    opclass: str | None = None
    collation: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # "created_at DESC" is a column; anything else written as a string is an expression.
        if isinstance(value, str):
            m = _PLAIN_COLUMN.match(value)
            if m:
                return {"column": m.group(1), "order": (m.group(2) or "").lower() or None,
                        "nulls": (m.group(3) or "").lower() or None}
            return {"expression": value.strip()}
        return value

    @model_validator(mode="after")
    def _one_of(self) -> KeyPart:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give exactly one of 'column' or 'expression'")
        return self


# A sample value is data, bound by the server, never SQL: plain YAML scalars (dates included, as
# YAML reads an unquoted 2025-01-01) or a flat list of them for `= ANY(%(ids)s)`.
_SCALARS = (str, int, float, bool, datetime.date, type(None))


def _plain_value(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value  # PostgreSQL text cannot hold NUL
    return isinstance(value, _SCALARS)


class QuerySpec(StrictModel):
    """A query the index serves: psycopg2 SQL with %(name)s parameters and sample values."""

    name: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    target_ms: float | None = Field(default=None, gt=0)
    # Parameters whose sample value was not found (an exported workload query): a placeholder to review.
    unsampled: list[str] = Field(default_factory=list)

    @field_validator("params")
    @classmethod
    def _data_only(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            if isinstance(value, list) and all(_plain_value(v) for v in value):
                continue
            if not _plain_value(value):
                raise ValueError(f"params.{key}: a sample value must be a string (without NUL), number, boolean, "
                                 "date, null or a flat list of those; it is bound as data, never SQL")
        return params

    @model_validator(mode="after")
    def _params_match(self) -> QuerySpec:
        used = {name for name, _s, _e in sqltext.pyformat_params(self.sql)}
        missing = sorted(used - set(self.params))
        if missing:
            raise ValueError(f"query '{self.name}' uses parameters without sample values: {', '.join(missing)}")
        return self


class IndexDef(StrictModel):
    name: str = Field(min_length=1, max_length=MAX_IDENTIFIER)
    table: str = Field(min_length=1)
    columns: list[KeyPart] = Field(min_length=1)
    unique: bool = False
    method: str = "btree"
    where: str | None = None
    include: list[str] = Field(default_factory=list)
    # Storage parameters (WITH (fillfactor = 70), fastupdate, pages_per_range, ...): plain data.
    storage: dict[str, int | float | bool | str] = Field(default_factory=dict)
    # false: UNIQUE NULLS NOT DISTINCT (PostgreSQL 15+), one NULL key at most.
    nulls_distinct: bool = True
    reason: str = ""
    queries: list[QuerySpec] = Field(default_factory=list)

    @field_validator("method")
    @classmethod
    def _lower_method(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("name")
    @classmethod
    def _listable_name(cls, v: str) -> str:
        # --adopt and --query take comma-separated lists: a name with a comma would be split into
        # other indexes' names there (and a hint printing it would name the wrong indexes).
        if "," in v:
            raise ValueError("an index name may not contain ',' (hmb-ops lists names separated by commas)")
        return v


class IndexSpec(StrictModel):
    schema_name: str = Field(default="public", alias="schema")
    extensions: list[str] = Field(default_factory=list)
    declared: list[IndexDef] = Field(default_factory=list)
    # `indexes status`: 0 scans mean "unused" only over this many days (--unused-after overrides).
    unused_after_days: float | None = Field(default=None, ge=0, le=3650)
    source: str = ""
    _lines: dict = PrivateAttr(default_factory=dict)  # YAML key path -> line, for file:line problems

    def line_of(self, *path) -> int | None:
        """The line of the deepest known key on ``path`` below ``indexes:`` (None for specs built in code)."""
        full = (SECTION, *path)
        for cut in range(len(full), 0, -1):
            if full[:cut] in self._lines:
                return self._lines[full[:cut]]
        return None

    def by_name(self) -> dict[str, IndexDef]:
        return {ix.name: ix for ix in self.declared}

    def tables(self) -> list[str]:
        return sorted({ix.table for ix in self.declared})

    def to_dict(self) -> dict:
        return {"source": self.source, "schema": self.schema_name, "extensions": list(self.extensions),
                "declared": [ix.model_dump(exclude_none=True) for ix in self.declared]}


SHIPPED_SPEC = "indexes.yaml"


def load(path: str | Path | None = None) -> IndexSpec:
    """Load a spec file (default: the shipped hmb_ops/configs/indexes.yaml, read as package data,
    named ``hmb_ops/configs/indexes.yaml`` in errors and in ``source``). Structural errors exit 2."""
    from hmb_ops.errors import ConfigError

    if path:
        p = str(Path(path))
        data, lines = load_yaml(p)
    else:
        data, lines, p = load_shipped_yaml(SHIPPED_SPEC)
    if not isinstance(data, dict) or SECTION not in data:
        raise ConfigError(f"expected a top-level '{SECTION}:' mapping", path=p, line=1,
                          hint="the format is in docs/index-spec.md of the hmb-ops repository")
    body = data[SECTION]
    if not isinstance(body, dict):
        raise ConfigError(f"'{SECTION}' must be a mapping with 'declared:' and optional 'extensions:'",
                          path=p, line=lines.get((SECTION,), 1))
    spec = parse_model({**body, "source": p}, IndexSpec, source=p, lines=lines, prefix=(SECTION,))
    spec._lines = dict(lines)
    return spec


@dataclass(frozen=True)
class TextProblem:
    """One spec item that is not one expression / one name: found before any SQL runs."""

    index: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{shown_name(self.index)}: {self.message}" + (f" (line {self.line})" if self.line else "")


def shown_name(name: str) -> str:
    """A spec name as printed in a message: quoted and escaped when it holds control characters
    (a NUL or an escape sequence from the file must not reach the terminal raw)."""
    return name if name.isprintable() else repr(name)


def text_problems(spec: IndexSpec) -> list[TextProblem]:
    """Every expression, predicate, name, operator class, collation and INCLUDE item checked offline.

    Nothing of the spec reaches the server unless this list is empty for its index: the DDL is
    then built from these checked parts (names quoted, expressions wrapped in parentheses).
    """
    out: list[TextProblem] = []

    def bad(i: int, ix_name: str, path: tuple, what: str, exc: Exception) -> None:
        out.append(TextProblem(ix_name, spec.line_of("declared", i, *path), f"{what}: {exc}"))

    try:
        sqltext.check_name(spec.schema_name, "schema")
    except sqltext.NotOneExpression as exc:
        out.append(TextProblem("schema", spec.line_of("schema"), str(exc)))
    for e, ext in enumerate(spec.extensions):
        try:
            sqltext.check_name(ext, "extension")
        except sqltext.NotOneExpression as exc:
            out.append(TextProblem("extensions", spec.line_of("extensions", e), str(exc)))
    for i, ix in enumerate(spec.declared):
        for what, value, key in (("name", ix.name, ("name",)), ("table", ix.table, ("table",))):
            try:
                sqltext.check_name(value, what)
            except sqltext.NotOneExpression as exc:
                bad(i, ix.name, key, what, exc)
        if not _METHOD.match(ix.method):
            bad(i, ix.name, ("method",), "method", ValueError(f"{ix.method!r} is not an access method name"))
        for k, part in enumerate(ix.columns):
            path = ("columns", k)
            try:
                if part.column is not None:
                    sqltext.check_name(part.column, "column")
                elif part.expression is not None:  # KeyPart holds exactly one of the two
                    sqltext.check_expression(part.expression)
            except sqltext.NotOneExpression as exc:
                bad(i, ix.name, path, f"columns[{k}] {'column' if part.column is not None else 'expression'}", exc)
            if part.opclass is not None:
                try:
                    sqltext.check_qualified_name(part.opclass, "operator class")
                except sqltext.NotOneExpression as exc:
                    bad(i, ix.name, path, f"columns[{k}] opclass", exc)
            if part.collation is not None:
                try:
                    sqltext.check_name(part.collation, "collation")
                except sqltext.NotOneExpression as exc:
                    bad(i, ix.name, path, f"columns[{k}] collation", exc)
        for param, setting in ix.storage.items():
            if not _STORAGE_NAME.match(param):
                bad(i, ix.name, ("storage",), "storage", ValueError(f"{param!r} is not a storage parameter name"))
            elif isinstance(setting, str) and ("\x00" in setting or not setting):
                bad(i, ix.name, ("storage", param), f"storage {param}",
                    ValueError("an empty value or a NUL character"))
        for k, col in enumerate(ix.include):
            try:
                sqltext.check_name(col, "include column")
            except sqltext.NotOneExpression as exc:
                bad(i, ix.name, ("include", k), f"include[{k}]", exc)
        if ix.where is not None:
            try:
                sqltext.check_expression(ix.where)
            except sqltext.NotOneExpression as exc:
                bad(i, ix.name, ("where",), "where is not one expression", exc)
        for q, query in enumerate(ix.queries):
            try:
                sqltext.check_statement(query.sql)
            except sqltext.NotOneExpression as exc:
                bad(i, ix.name, ("queries", q, "sql"), f"query {query.name!r} is not one query", exc)
    return out


def placeholders(sql: str) -> tuple[str, list[str]]:
    """psycopg2 %(name)s parameters → PostgreSQL $n (PREPARE, EXPLAIN GENERIC_PLAN) and their order.

    Raises sqltext.NotOneExpression unless the result is exactly one read-only query.
    """
    return sqltext.prepared_statement(sql)
