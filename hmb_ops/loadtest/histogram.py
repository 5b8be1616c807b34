"""HDR histograms of raw response times (microseconds in, milliseconds out)."""

from __future__ import annotations

import base64
from array import array
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 300_000_000  # 5 minutes: longer than any request timeout we allow
DIGITS = 3
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
LATENCY_KEYS = tuple(k for k, _ in PERCENTILES) + ("max", "mean")


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def decode_values(encoded: str) -> array:
    """The child's base64 uint32 array of latencies in µs."""
    values = array("I")
    values.frombytes(base64.b64decode(encoded))
    return values


def record_all(hist: HdrHistogram, values: Iterable[int]) -> None:
    rec = hist.record_value
    for v in values:
        rec(min(max(v, LOWEST_US), HIGHEST_US))


def of(values: Iterable[int]) -> HdrHistogram:
    h = new()
    record_all(h, values)
    return h


def latency_ms(hist: HdrHistogram) -> dict[str, float]:
    """p50…p99.9, max and mean in ms (0.0 for an empty histogram)."""
    if hist.get_total_count() == 0:
        return dict.fromkeys(LATENCY_KEYS, 0.0)
    found = hist.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    out = {k: round(found[p] / 1000.0, 3) for k, p in PERCENTILES}
    out["max"] = round(hist.get_max_value() / 1000.0, 3)
    out["mean"] = round(mean_us(hist) / 1000.0, 3)
    return out


def mean_us(hist: HdrHistogram) -> float:
    """hdrh's get_mean_value, visiting only the non-empty counts: hdrh's own iterator steps through
    every bucket up to the maximum in Python (~0.1 s per call; a results document makes one per
    endpoint-second, which cost a 12-second run 20 s of building). Same arithmetic, same result."""
    if not hist.get_total_count():
        return 0.0
    import numpy as np

    counts = np.ctypeslib.as_array(hist.counts)[:hist.counts_len]
    total = 0
    for i in np.flatnonzero(counts):
        value = hist.get_highest_equivalent_value(hist.get_value_from_index(int(i)))
        total += int(counts[i]) * hist._hdr_median_equiv_value(value)
    return float(total) / hist.get_total_count()


SPECTRUM_TICKS_PER_HALF_DISTANCE = 5
SPECTRUM_MAX_POINTS = 200


def spectrum(hist: HdrHistogram, *, ticks_per_half_distance: int = SPECTRUM_TICKS_PER_HALF_DISTANCE,
             max_points: int = SPECTRUM_MAX_POINTS) -> list[tuple[float, float]]:
    """(percentile, latency ms) pairs of HDR's percentile iteration, for a log-axis distribution chart.

    The iteration's steps halve towards 100 %, so the tail gets as many points as the body; a run
    with a very wide range is thinned evenly to `max_points`, always keeping the first and the last
    (the maximum).
    """
    if hist.get_total_count() == 0:
        return []
    points: list[tuple[float, float]] = []
    for item in hist.get_percentile_iterator(ticks_per_half_distance):
        point = (round(item.percentile_level_iterated_to, 6), round(item.value_iterated_to / 1000.0, 3))
        if not points or point != points[-1]:
            points.append(point)
    if len(points) > max_points:
        stride = (len(points) - 1) / (max_points - 1)
        points = [points[round(i * stride)] for i in range(max_points)]
    return points
