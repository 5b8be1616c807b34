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

Server-side metrics (sampled during the run; see docs/sampling.md) take the form SCOPE.NAME.AGG::

    server.cpu_percent.AGG    every worker's per-second CPU reading (% of one core; `%` optional)
    server.rss_mb.AGG         every worker's per-second RSS (MB; also `MB`, `GB`)
    server.workers.AGG        workers alive per second
    server.restarts.AGG       worker exits since the start (cumulative)
    db.connections.AGG        pg_stat_activity of the run's database (also db.active,
                              db.idle_in_transaction, db.lock_waits)
    metric.FAMILY.AGG         a family chosen with --metric (gauge value, counter rate per second,
                              histogram p95 per second; for a histogram `.p95` is its whole-run p95).
                              Time units `ms`/`s` convert to seconds, Prometheus' base unit.
    AGG := max | min | mean | p50 | p90 | p95 | p99 | last   (metric.*: max | min | mean | p95 | last)

A trailing `!` (`'p95<100ms!'`) marks a threshold for --abort-on-fail: it is also evaluated every
second during the run, which stops at the first breach.

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
    from hmb_ops.documents import Endpoint, Results, Server, Step, Summary

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
OTHER_METRICS = ("rps", "error_rate", "requests", "failures")
METRICS = LATENCY_METRICS + OTHER_METRICS
SCOPES = ("server", "db", "metric")
SERVER_FIELDS = ("cpu_percent", "rss_mb", "workers", "restarts")
DB_FIELDS = ("connections", "active", "idle_in_transaction", "lock_waits")
AGGREGATIONS = ("max", "min", "mean", "p50", "p90", "p95", "p99", "last")
METRIC_AGGREGATIONS = ("max", "min", "mean", "p95", "last")
# Not evaluated during the run: a lower bound on a total can only be judged at the end.
NOT_LIVE = ("rps", "requests")

# Longest first so "<=" is not read as "<" followed by "=".
OPERATORS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt}

_K6_PERCENTILE = re.compile(r"p\((\d+(?:\.\d+)?)\)$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\(\d+(?:\.\d+)?\))?")
_SCOPED = re.compile(r"(server|db|metric)\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Threshold:
    """One parsed expression. `limit` is in base units: ms for latency, a fraction for error_rate."""

    expression: str
    metric: str
    op: str
    limit: float
    endpoint: str | None = None
    abort: bool = False

    @property
    def scoped(self) -> tuple[str, str, str] | None:
        """(scope, name, aggregation) of a server-side metric, None for the results' own metrics."""
        parts = self.metric.split(".")
        return (parts[0], parts[1], parts[2]) if len(parts) == 3 and parts[0] in SCOPES else None

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
    if metric.startswith("server.cpu_percent."):
        return f"{_trim(value, 1)}%"
    if metric.startswith("server.rss_mb."):
        return f"{_trim(value, 1)}MB"
    if metric.startswith("metric.") and metric.split(".")[1].endswith("_seconds"):
        return f"{_trim(value, 4)}s"
    if metric.startswith(SCOPES):
        return _trim(value, 3)
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
    text = expression.rstrip()
    abort = text.endswith("!")
    if abort:
        text = text[:-1]
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
    scoped = _SCOPED.match(text, pos)
    m = scoped or _IDENT.match(text, pos)
    if not m:
        raise _fail(expression, pos, "expected a metric name")
    raw_metric = m.group(0)
    metric = _scoped_metric(expression, pos, scoped) if scoped else _canonical_metric(raw_metric)
    if metric is None:
        raise _fail(expression, pos, f"unknown metric '{raw_metric}'")
    if scoped and endpoint is not None:
        raise _fail(expression, 0, f"'{raw_metric}' is not per endpoint: drop '{endpoint}:'")
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
    return Threshold(expression=expression.strip(), metric=metric, op=op, limit=limit, endpoint=endpoint,
                     abort=abort)


def _scoped_metric(expression: str, pos: int, m: re.Match) -> str:
    scope, name, agg = m.group(1), m.group(2), m.group(3).lower()
    agg = {"avg": "mean"}.get(agg, agg)
    fields = {"server": SERVER_FIELDS, "db": DB_FIELDS}.get(scope)
    if fields is not None and name not in fields:
        raise _fail(expression, pos, f"unknown {scope} metric '{scope}.{name}' ({scope}.: {', '.join(fields)})")
    allowed = METRIC_AGGREGATIONS if scope == "metric" else AGGREGATIONS
    if agg not in allowed:
        raise _fail(expression, pos, f"unknown aggregation '{agg}' (use {', '.join(allowed)})")
    return f"{scope}.{name}.{agg}"


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
    if metric.startswith(SCOPES):
        return _scoped_unit(expression, col, metric, value, unit_l)
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


def _scoped_unit(expression: str, col: int, metric: str, value: float, unit: str) -> float:
    if metric.startswith("server.cpu_percent.") and unit in ("", "%"):
        return value
    if metric.startswith("server.rss_mb.") and unit in ("", "mb", "gb"):
        return value * 1024 if unit == "gb" else value
    if metric.startswith("metric.") and unit in ("", "s", "ms"):
        return value / 1000.0 if unit == "ms" else value
    if unit == "":
        return value
    raise _fail(expression, col, f"unit '{unit}' does not fit '{metric}'")


def parse_all(expressions: Iterable[str]) -> list[Threshold]:
    return [parse(e) for e in expressions]


def _aggregate(values: list[float], agg: str) -> float | None:
    if not values:
        return None
    if agg == "max":
        return max(values)
    if agg == "min":
        return min(values)
    if agg == "mean":
        return sum(values) / len(values)
    if agg == "last":
        return values[-1]
    ordered = sorted(values)
    q = float(agg[1:]) / 100.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def scoped_value(metric: str, server: Server | None) -> float | None:
    """A server.*/db.*/metric.* value from the results' server block; None when it was not sampled."""
    if server is None:
        return None
    scope, name, agg = metric.split(".")
    samples = [s for s in server.samples if s.t >= 0]  # readings taken while the generator started don't count
    if scope == "metric":
        summary = server.metrics.get(name)
        if summary is None or not summary.samples:
            return None
        value = getattr(summary, agg)
        return None if value is None else float(value)
    values: list[float]
    if scope == "server":
        if name in ("cpu_percent", "rss_mb"):
            values = [float(getattr(w, name)) for s in samples for w in s.workers]
        else:
            read = [s for s in samples if "server: " not in " ".join(s.gaps)]
            values = [float(len(s.workers) if name == "workers" else s.restarts) for s in read]
            if not any(s.workers for s in read):
                values = []
    else:
        values = [float(getattr(s.db, name)) for s in samples if s.db is not None]
    return _aggregate(values, agg)


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


def evaluate_scoped(threshold: Threshold, server: Server | None) -> ThresholdResult:
    actual = scoped_value(threshold.metric, server)
    if actual is None:
        return ThresholdResult(threshold, None, False,
                               f"{threshold.name}: {threshold.metric.rsplit('.', 1)[0]} was not sampled in this run")
    return _judged(threshold, actual)


def _judged(threshold: Threshold, actual: float) -> ThresholdResult:
    passed = bool(OPERATORS[threshold.op](actual, threshold.limit))
    word = "ok" if passed else "breached"
    return ThresholdResult(threshold, actual, passed,
                           f"{threshold.name}: {format_value(threshold.metric, actual)} ({word})")


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
    return [evaluate_scoped(t, results.server) if t.scoped
            else evaluate(t, by_name[t.endpoint] if t.endpoint else results.summary) for t in thresholds]


def check_sampled(thresholds: Iterable[Threshold], *, server: bool, database: bool,
                  families: Iterable[str] | None) -> None:
    """Before a run: a server-side threshold on something the run will not sample → UsageError (exit 2).

    `families` None means the families are not known in advance (nothing to decide about metric.*)."""
    chosen = None if families is None else set(families)
    for t in thresholds:
        if not t.scoped:
            continue
        scope, name, _agg = t.scoped
        if scope == "server" and not server:
            raise UsageError(f"threshold '{t.expression}': the server is not sampled in this run",
                             hint="add --server-pid PID (the Gunicorn or Uvicorn master serving --target)")
        if scope == "db" and not database:
            raise UsageError(f"threshold '{t.expression}': the database is not sampled in this run",
                             hint="give the app's database: hmb-ops --database-url URL loadtest ...")
        if scope == "metric" and chosen is not None and name not in chosen:
            listing = ", ".join(sorted(chosen)) or "none"
            raise UsageError(f"threshold '{t.expression}': metric family '{name}' is not scraped in this run",
                             hint=f"add --metrics-url URL --metric {name} (scraped: {listing})")
