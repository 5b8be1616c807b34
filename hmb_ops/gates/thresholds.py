"""k6-like threshold expressions (`p95<100ms`, `error_rate<1%`, `GET /api/feed: p95<50ms`).

Grammar (whitespace is free around every part)::

    expression := [ENDPOINT ":"] METRIC OPERATOR NUMBER [UNIT]
    OPERATOR   := "<" | "<=" | ">" | ">=" | "=="
    METRIC     := p50 | p90 | p95 | p99 | p999 | max | mean      (latency; also k6's p(95), p(99.9))
                | rps | error_rate | requests | failures

Units: latency takes `ms` or `s` (a bare number means milliseconds, as in k6); `error_rate`
takes `%` (a bare number is a fraction, 0.01 = 1 %); `rps`, `requests` and `failures` take plain
numbers (`rps` also accepts `/s`). The endpoint is everything before the last colon and must name
an endpoint of the results exactly as they list it (`METHOD /route/pattern`).

Parsing never looks at a results document, so a malformed expression is rejected before a load
run starts; an unknown endpoint can only be found against the results it is evaluated on.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from hmb_ops.errors import UsageError

if TYPE_CHECKING:
    from hmb_ops.documents import Endpoint, Results, Step, Summary

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
OTHER_METRICS = ("rps", "error_rate", "requests", "failures")
METRICS = LATENCY_METRICS + OTHER_METRICS

# Longest first so "<=" is not read as "<" followed by "=".
OPERATORS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt}

_K6_PERCENTILE = re.compile(r"p\((\d+(?:\.\d+)?)\)$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\(\d+(?:\.\d+)?\))?")


@dataclass(frozen=True)
class Threshold:
    """One parsed expression. `limit` is in base units: ms for latency, a fraction for error_rate."""

    expression: str
    metric: str
    op: str
    limit: float
    endpoint: str | None = None

    @property
    def name(self) -> str:
        return f"{self.endpoint}: {self.condition}" if self.endpoint else self.condition

    @property
    def condition(self) -> str:
        return f"{self.metric}{self.op}{format_value(self.metric, self.limit)}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    actual: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict:
        return {"name": self.threshold.name, "expression": self.threshold.expression,
                "endpoint": self.threshold.endpoint, "metric": self.threshold.metric,
                "op": self.threshold.op, "limit": self.threshold.limit, "actual": self.actual,
                "passed": self.passed, "message": self.message}


def format_value(metric: str, value: float | None) -> str:
    """A value in the unit people read it in: ms for latency, % for error rate."""
    if value is None:
        return "n/a"
    if metric in LATENCY_METRICS:
        return f"{_trim(value, 1)}ms"
    if metric == "error_rate":
        return f"{_trim(value * 100, 3)}%"
    return _trim(value, 1)


def _trim(value: float, digits: int) -> str:
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(int(value)) if math.isfinite(value) else str(value)


def _fail(expression: str, column: int, what: str) -> UsageError:
    pointer = f"at column {column + 1}" if column >= 0 else ""
    return UsageError(f"malformed threshold '{expression}': {what} {pointer}".strip(),
                      hint="form: [ENDPOINT:] METRIC OP VALUE[UNIT], e.g. 'p95<100ms', "
                           "'error_rate<1%', 'GET /api/feed: p95<50ms'; metrics: " + ", ".join(METRICS))


def parse(expression: str) -> Threshold:
    """Parse one expression or raise UsageError (exit 2) naming the problem and its column."""
    if not isinstance(expression, str) or not expression.strip():
        raise _fail(str(expression), -1, "empty expression")
    text = expression
    endpoint = None
    body_start = 0
    if ":" in text:
        cut = text.rindex(":")
        endpoint = " ".join(text[:cut].split())
        if not endpoint:
            raise _fail(expression, cut, "empty endpoint name before ':'")
        body_start = cut + 1
    pos = body_start
    pos = _skip_space(text, pos)
    m = _IDENT.match(text, pos)
    if not m:
        raise _fail(expression, pos, "expected a metric name")
    raw_metric = m.group(0)
    metric = _canonical_metric(raw_metric)
    if metric is None:
        raise _fail(expression, pos, f"unknown metric '{raw_metric}'")
    pos = _skip_space(text, m.end())
    op = next((o for o in OPERATORS if text.startswith(o, pos)), None)
    if op is None:
        found = text[pos:pos + 1] or "end of expression"
        raise _fail(expression, pos, f"expected an operator (< <= > >= ==) after '{raw_metric}', found '{found}'")
    pos = _skip_space(text, pos + len(op))
    n = _NUMBER.match(text, pos)
    if not n:
        found = text[pos:pos + 1] or "end of expression"
        raise _fail(expression, pos, f"expected a number after '{op}', found '{found}'")
    value = float(n.group(0))
    pos = _skip_space(text, n.end())
    unit_start = pos
    unit = text[pos:].strip()
    limit = _apply_unit(expression, unit_start, metric, value, unit)
    if limit < 0:
        raise _fail(expression, n.start(), "the limit cannot be negative")
    return Threshold(expression=expression.strip(), metric=metric, op=op, limit=limit, endpoint=endpoint)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _canonical_metric(raw: str) -> str | None:
    name = raw.lower()
    k6 = _K6_PERCENTILE.match(name)
    if k6:
        name = "p" + k6.group(1).replace(".", "")
    aliases = {"avg": "mean", "p100": "max", "error-rate": "error_rate", "errors": "error_rate"}
    name = aliases.get(name, name)
    return name if name in METRICS else None


def _apply_unit(expression: str, col: int, metric: str, value: float, unit: str) -> float:
    unit_l = unit.lower()
    if metric in LATENCY_METRICS:
        if unit_l in ("", "ms"):
            return value
        if unit_l == "s":
            return value * 1000.0
        raise _fail(expression, col, f"unit '{unit}' does not fit latency metric '{metric}' (use ms or s)")
    if metric == "error_rate":
        if unit_l == "%":
            limit = value / 100.0
        elif unit_l == "":
            limit = value
        else:
            raise _fail(expression, col, f"unit '{unit}' does not fit error_rate (use % or a fraction)")
        if limit > 1:
            raise _fail(expression, col, "error_rate cannot exceed 100%")
        return limit
    if metric == "rps" and unit_l in ("", "/s", "rps"):
        return value
    if unit_l == "":
        return value
    raise _fail(expression, col, f"unit '{unit}' does not fit '{metric}' (it takes a plain number)")


def parse_all(expressions: Iterable[str]) -> list[Threshold]:
    return [parse(e) for e in expressions]


def metric_value(metric: str, stats: Summary | Endpoint | Step) -> float | None:
    """Read a metric from a summary, endpoint or step block of the results document."""
    value = getattr(stats.latency_ms, metric) if metric in LATENCY_METRICS else getattr(stats, metric, None)
    return None if value is None else float(value)


def endpoint_names(results: Results) -> list[str]:
    return [e.name for e in results.endpoints]


def check_endpoints(thresholds: Iterable[Threshold], results: Results) -> None:
    """Unknown endpoint → UsageError (exit 2): a typo must not read as 'no data, pass'."""
    known = endpoint_names(results)
    for t in thresholds:
        if t.endpoint is not None and t.endpoint not in known:
            listing = ", ".join(known) if known else "none"
            raise UsageError(f"threshold '{t.expression}': unknown endpoint '{t.endpoint}'",
                             hint=f"endpoints in these results: {listing}")


def evaluate(threshold: Threshold, stats: Summary | Endpoint | Step) -> ThresholdResult:
    actual = metric_value(threshold.metric, stats)
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return ThresholdResult(threshold, None, False, f"{threshold.name}: no value for '{threshold.metric}'")
    passed = bool(OPERATORS[threshold.op](actual, threshold.limit))
    word = "ok" if passed else "breached"
    return ThresholdResult(threshold, actual, passed,
                           f"{threshold.name}: {format_value(threshold.metric, actual)} ({word})")


def evaluate_all(thresholds: Iterable[Threshold], results: Results) -> list[ThresholdResult]:
    """Evaluate each threshold on the results summary or its endpoint's block."""
    thresholds = list(thresholds)
    check_endpoints(thresholds, results)
    by_name = {e.name: e for e in results.endpoints}
    return [evaluate(t, by_name[t.endpoint] if t.endpoint else results.summary) for t in thresholds]
