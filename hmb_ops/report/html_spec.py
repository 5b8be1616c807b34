"""Chart specifications: plain data the page's script draws with uPlot (see html_charts.js).

A spec is {id, title, x: {label, kind, log}, y: [{label, scale, log}], series: [{label, color,
points: [[x, y], ...], scale, unit, style, dash}], vlines: [{x, label, kind}], hlines: [{y, label,
kind, scale}]}. Points with no value are left out, so a series' point count is what it shows.
"""

from __future__ import annotations

import math
import re

from .html_page import PALETTE

TIME_AXIS = {"label": "time into the run (s)", "kind": "num"}
USERS_AXIS = {"label": "concurrent users", "kind": "num"}
_SLO_LATENCY = re.compile(r"^\s*(p50|p90|p95|p99|p999|max|mean)\s*(<=|<)\s*([0-9.]+)\s*(ms|s)?\s*$")


def points(xs, ys) -> list[list[float]]:
    out = []
    for x, y in zip(xs, ys, strict=True):
        if x is None or y is None:
            continue
        fx, fy = float(x), float(y)
        if math.isfinite(fx) and math.isfinite(fy):
            out.append([fx, fy])
    return out


def series(label: str, color: str, pts, *, scale: str = "y", unit: str | None = None, style: str | None = None,
           dash: bool = False, width: float = 1.5, align: int = 0) -> dict:
    return {"label": label, "color": color, "points": pts, "scale": scale, "unit": unit, "style": style,
            "dash": dash, "width": width, "align": align}


def chart(cid: str, title: str, x: dict, y: list[dict], all_series: list[dict], *, vlines=(), hlines=(),
          height: int = 300) -> dict | None:
    """A spec, or None when no series has a point (the caller then says so in words)."""
    kept = [s for s in all_series if s["points"]]
    if not kept:
        return None
    return {"id": cid, "title": title, "x": x, "y": y, "series": kept, "vlines": list(vlines),
            "hlines": list(hlines), "height": height}


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def slug(text: str, i: int) -> str:
    """An element id for the i-th item; from a safe part of its name only, and unique by the index."""
    return f"{re.sub(r'[^a-z0-9]+', '-', str(text).lower()).strip('-')[:40]}-{i}"


def latency_slo_lines(expressions) -> list[dict]:
    """Horizontal lines for the latency limits among SLO expressions ('p95<100ms' → 100 ms)."""
    lines = []
    for e in expressions or ():
        m = _SLO_LATENCY.match(str(e))
        if m:
            limit = float(m.group(3)) * (1000.0 if m.group(4) == "s" else 1.0)
            lines.append({"y": limit, "label": f"SLO {m.group(1)} {m.group(2)} {limit:g} ms", "kind": "slo",
                          "metric": m.group(1)})
    return lines


def percentile_x(p: float) -> float | None:
    """HDR axis position of a percentile: 1 / (1 - p/100); 100 % has no place on it."""
    return None if p >= 100 else 1.0 / (1.0 - p / 100.0)
