"""Scrape a Prometheus text endpoint once a second into a time series of chosen metric families.

Each family becomes one number per second: a gauge is the sum over its label sets; a counter is its
rate per second (delta of the summed value over the interval; a reset gives a gap); a histogram is
its p95 over the interval, from bucket deltas (linear inside the bucket, like PromQL's
histogram_quantile), in the metric's own unit (seconds for `*_seconds`). The whole-run p95 of a
histogram comes from the first and last bucket readings.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass, field

from hmb_ops.errors import UsageError

SCRAPE_TIMEOUT_S = 2.0
MAX_BYTES = 8 * 2**20  # a metrics page larger than this is not one we should be parsing every second


class NotPrometheus(Exception):
    """The endpoint answered, but not with Prometheus text."""


@dataclass
class Family:
    name: str
    type: str
    value: float | None = None                                   # gauge / counter: summed value
    buckets: list[tuple[float, float]] = field(default_factory=list)  # histogram: (le, cumulative count)


def fetch_text(url: str, timeout: float = SCRAPE_TIMEOUT_S) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read(MAX_BYTES).decode("utf-8", "replace")


def parse(text: str) -> dict[str, Family]:
    """Families by name (a counter under its name with and without `_total`)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Family] = {}
    try:
        for fam in text_string_to_metric_families(text):
            f = out.setdefault(fam.name, Family(fam.name, fam.type))
            if fam.type == "histogram":
                by_le: dict[float, float] = {}
                for s in fam.samples:
                    if s.name.endswith("_bucket"):
                        le = float(s.labels["le"])
                        by_le[le] = by_le.get(le, 0.0) + float(s.value)
                f.buckets = sorted(by_le.items())
            else:
                vals = [float(s.value) for s in fam.samples
                        if not s.name.endswith("_created") and math.isfinite(float(s.value))]
                f.value = sum(vals) if vals else None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise NotPrometheus(f"not Prometheus text ({exc})") from None
    if not out:
        raise NotPrometheus("no metric families in the answer")
    for name, f in list(out.items()):
        if f.type == "counter":
            out.setdefault(name + "_total", f)  # the name as the page shows it (`# TYPE x_total counter`)
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative (le, count) buckets; None when they hold no observation."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le  # the highest finite bound, as histogram_quantile does
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def bucket_delta(now: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]] | None:
    """Observations between two readings; None after a reset (a worker restarted and its counts fell)."""
    old = dict(before)
    out = []
    for le, count in now:
        d = count - old.get(le, 0.0)
        if d < 0:
            return None
        out.append((le, d))
    return out


def check_url(url: str, families: tuple[str, ...]) -> dict[str, str]:
    """Scrape once before the run: not reachable or not Prometheus text → UsageError (exit 2).

    Returns the types of the families found (a chosen family missing now is not an error: apps
    create some metrics on first use; `missing_note` says so before the run, and it shows as a gap)."""
    try:
        text = fetch_text(url)
    except Exception as exc:  # noqa: BLE001 - any failure to fetch is one message for the user
        raise UsageError(f"--metrics-url {url}: cannot scrape it ({exc})",
                         hint="give the URL of a running app's Prometheus endpoint, e.g. http://127.0.0.1:8000/metrics"
                         ) from None
    try:
        found = parse(text)
    except NotPrometheus as exc:
        raise UsageError(f"--metrics-url {url}: {exc}", hint="the URL must answer Prometheus text format") from None
    return {name: f.type for name, f in found.items()}


def missing_note(url: str, families: tuple[str, ...], found: dict[str, str]) -> str | None:
    """One warning line for chosen families the endpoint does not expose (a typo yields nothing)."""
    missing = [f for f in families if f not in found]
    if not missing:
        return None
    have = sorted(n for n in found if not n.endswith("_created"))
    shown = ", ".join(have[:8]) + (", …" if len(have) > 8 else "")
    return (f"warning: --metric {', '.join(missing)}: {url} does not expose "
            f"{'it' if len(missing) == 1 else 'them'} (it has: {shown}); marked as a gap unless the app creates "
            f"{'it' if len(missing) == 1 else 'them'} during the run")


PER_PROCESS_AFTER = 2  # counters falling this often between scrapes: not one app-wide counter


class Scraper:
    """One scrape per call to `sample`; keeps the previous reading for rates and bucket deltas."""

    def __init__(self, url: str, families: tuple[str, ...], optional: tuple[str, ...] = ()):
        self.url = url
        self.families = tuple(families)
        # Families hmb-ops asks for on its own (the reference app's, created on first use): their
        # absence is no gap and no note; only the families a user named are.
        self.optional = frozenset(optional)
        self.types: dict[str, str] = {}
        self._prev: dict[str, Family] = {}
        self._prev_t: float | None = None
        self.first_buckets: dict[str, list[tuple[float, float]]] = {}
        self.last_buckets: dict[str, list[tuple[float, float]]] = {}
        self.restarted: set[str] = set()  # histograms whose counts fell during the run
        self.backwards: dict[str, int] = {}  # counters/histograms that fell between two scrapes, how often
        self.seen: set[str] = set()

    def sample(self) -> tuple[dict[str, float | None], str | None]:
        """({family: value or None}, gap reason or None)."""
        now = time.monotonic()
        try:
            found = parse(fetch_text(self.url))
        except NotPrometheus as exc:
            self._prev, self._prev_t = {}, None
            return dict.fromkeys(self.families), f"metrics: {exc}"
        except Exception as exc:  # noqa: BLE001 - an endpoint gone away is a gap, never a failed run
            self._prev, self._prev_t = {}, None
            return dict.fromkeys(self.families), f"metrics: {self.url} did not answer ({exc.__class__.__name__})"
        out: dict[str, float | None] = {}
        dt = (now - self._prev_t) if self._prev_t is not None else None
        absent = []
        for name in self.families:
            fam = found.get(name)
            prev = self._prev.get(name)
            out[name] = None
            if fam is None:
                if name not in self.optional:
                    absent.append(name)
                continue
            self.seen.add(name)
            self.types[name] = fam.type
            if fam.type == "histogram":
                self.first_buckets.setdefault(name, fam.buckets)
                if self.last_buckets.get(name) and bucket_delta(fam.buckets, self.last_buckets[name]) is None:
                    self.restarted.add(name)
                    self.backwards[name] = self.backwards.get(name, 0) + 1
                self.last_buckets[name] = fam.buckets
                if prev is not None:
                    delta = bucket_delta(fam.buckets, prev.buckets)
                    out[name] = quantile(0.95, delta) if delta else None
            elif fam.type == "counter":
                if prev is not None and dt and prev.value is not None and fam.value is not None:
                    if fam.value >= prev.value:
                        out[name] = (fam.value - prev.value) / dt
                    else:  # a reset, or (again and again) another worker's own counter answering
                        self.backwards[name] = self.backwards.get(name, 0) + 1
            else:
                out[name] = fam.value
        self._prev, self._prev_t = found, now
        return out, (f"metrics: {', '.join(absent)} not in the answer of {self.url}" if absent else None)

    def notes(self) -> dict[str, str]:
        """Per family, why its numbers are missing or not the app's (never silently)."""
        out = {}
        for name in self.families:
            falls = self.backwards.get(name, 0)
            if name not in self.seen and name not in self.optional:
                out[name] = f"not exposed by {self.url}: no sample"
            elif falls >= PER_PROCESS_AFTER:
                out[name] = (f"went backwards {falls} times between scrapes: {self.url} looks per-process (each "
                             "worker serves its own values, scrapes land on different workers), so its rates "
                             "are not the app's; use prometheus_client's multiprocess mode "
                             "(PROMETHEUS_MULTIPROC_DIR) to serve one app-wide view")
        return out

    def run_quantile(self, name: str, q: float = 0.95) -> float | None:
        """The q-quantile of a histogram over the whole run (first to last reading)."""
        first, last = self.first_buckets.get(name), self.last_buckets.get(name)
        if not first or not last or name in self.restarted:
            return None
        delta = bucket_delta(last, first)
        return quantile(q, delta) if delta else None


def check_metrics_url(url: str, allow_remote: bool) -> str:
    """The loopback rule of --target applies to --metrics-url too (exit 2 otherwise)."""
    from hmb_ops.loadtest.orchestrate import check_target

    try:
        return check_target(url, allow_remote)
    except UsageError as exc:
        message = exc.message.replace("--target", "--metrics-url")
        message = message.replace("refusing to load-test", "refusing to scrape")
        raise UsageError(message, hint=exc.hint) from None
