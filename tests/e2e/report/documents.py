"""Documents for the HTML report tests: the checked-in real results, brought to the current model.

results_step.json and results_ci.json were written before the per-endpoint series, the stages,
the p99 column, the percentile spectrum and the server samples existed; `current_results` fills
those from the figures the document already has (same shapes, same magnitudes), so every chart of
the page has something to draw, and validates the outcome against the model.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "unit" / "capacity" / "data"
HOSTILE = "<img src=x onerror=alert(1)>"


def checked_in(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _spectrum(lat: dict) -> list[dict]:
    known = [(0.0, lat["p50"] * 0.3), (50.0, lat["p50"]), (90.0, lat["p90"]), (95.0, lat["p95"]),
             (99.0, lat["p99"]), (99.9, lat["p999"]), (100.0, lat["max"])]
    out = []
    for (p0, v0), (p1, v1) in itertools.pairwise(known):
        for k in range(4):
            p = p0 + (p1 - p0) * k / 4
            out.append({"percentile": round(p, 4), "latency_ms": round(v0 + (v1 - v0) * k / 4, 3)})
    out.append({"percentile": 100.0, "latency_ms": lat["max"]})
    return out


def current_results(name: str = "results_step.json") -> dict:
    from hmb_ops.documents import Results

    doc = copy.deepcopy(checked_in(name))
    doc["kind"] = "loadtest"
    steps = doc.get("steps") or []
    doc["stages"] = [{"index": s["index"], "users": s["users"], "start_s": max(0.0, s["start_s"] - 5),
                      "end_s": s["end_s"]} for s in steps]
    for p in doc["timeseries"]:
        p["p99_ms"] = round(p["p95_ms"] * 1.6, 2)
    total = sum(e["requests"] for e in doc["endpoints"]) or 1
    for e in doc["endpoints"]:
        share = e["requests"] / total
        ratio = e["latency_ms"]["p95"] / (doc["summary"]["latency_ms"]["p95"] or 1)
        e["timeseries"] = [{"t": p["t"], "rps": round(p["rps"] * share, 2), "p50_ms": round(p["p50_ms"] * ratio, 2),
                            "p95_ms": round(p["p95_ms"] * ratio, 2), "p99_ms": round(p["p99_ms"] * ratio, 2),
                            "failures": p["failures"] if e["failures"] else 0} for p in doc["timeseries"]]
    doc["summary"]["percentile_spectrum"] = _spectrum(doc["summary"]["latency_ms"])
    samples = []
    for i, p in enumerate(doc["timeseries"]):
        samples.append({"t": p["t"], "db_connections": 2 + p["users"] // 20, "db_connections_active": 1 + i % 3,
                        "background_queue_depth": i % 5,
                        "workers": [{"pid": 4100 + w, "cpu_percent": round(min(99.0, p["rps"] / 4 + w * 3), 1),
                                     "rss_mb": round(60 + w + i * 0.1, 1)} for w in range(4)]})
    doc["server"] = {"workers": 4, "threads": 4, "samples": samples}
    return Results.model_validate(doc).model_dump(mode="json", by_alias=True)


def faster_tier(doc: dict, name: str, speed: float) -> dict:
    """The same stepped run as if measured on a tier `speed` times faster (for a two-tier capacity run)."""
    out = copy.deepcopy(doc)
    out["tier"] = name
    for s in out["steps"]:
        s["rps"] = round(s["rps"] * speed, 2)
        s["latency_ms"] = {k: round(v / speed, 2) for k, v in s["latency_ms"].items()}
    return out


def capacity_document() -> dict:
    """A capacity document for two tiers, its steps judged by p95<100ms from the checked-in stepped run."""
    from hmb_ops.documents import CapacityDocument

    steps = checked_in("results_step.json")["steps"]
    tiers = []
    for name, speed in (("default", 1.0), ("high", 1.8)):
        judged = [{"index": s["index"], "users": s["users"], "rps": round(s["rps"] * speed, 2),
                   "p95_ms": round(s["latency_ms"]["p95"] / speed, 2), "error_rate": s["error_rate"]}
                  for s in steps]
        for j in judged:
            j["passed"] = j["p95_ms"] < 100 and j["error_rate"] < 0.01
            j["breaches"] = [] if j["passed"] else [f"p95 {j['p95_ms']}ms ≥ 100ms"]
        knee = max((j for j in judged if j["passed"]), key=lambda j: j["users"])
        tiers.append({
            "tier": name, "results": f"/runs/{name}/results.json", "profile": "step", "valid": True,
            "workers": 4 if name == "default" else 8, "threads": 4, "sustainable_rps": knee["rps"],
            "knee_users": knee["users"], "p95_ms_at_knee": knee["p95_ms"], "error_rate_at_knee": knee["error_rate"],
            "cpu_percent_per_worker": 71.6, "rss_mb_per_worker": 65.5, "db_connections": 12,
            "users_supported": int(knee["rps"] * 400), "concurrent_users_supported": knee["users"] * 1.2,
            "headroom": knee["rps"] * 400 / 100000,
            "knee": {"slo": ["p95<100ms", "error_rate<1%"], "step_index": knee["index"], "users": knee["users"],
                     "sustainable_rps": knee["rps"], "knee_step_rps": knee["rps"], "reason":
                     f"step {knee['index']} ({knee['users']} users) is the highest within the SLO",
                     "slo_held_throughout": False, "non_monotonic": False, "steps": judged},
            "usl": {"points": len(judged), "ok": True, "reason": "fit over 7 steps", "sigma": 0.02, "kappa": 0.0002,
                    "lambda": 9.0, "n_max": 70.0, "x_max": 190.0 * speed, "r_squared": 0.93, "quality": "good"}})
    doc = {"kind": "capacity", "slo": ["p95<100ms", "error_rate<1%"], "target_users": 100000, "target_rps": 250.0,
           "users_model": {"registered_users": 100000, "daily_active_share": 0.3, "sessions_per_day": 1.5,
                           "peak_hour_share": 0.15, "session_minutes": 8, "requests_per_active_minute": 6},
           "assumptions": ["30 % of registered users are active on a day"], "tiers": tiers,
           "conditions": {"machine": "ci", "cpus": 2, "profile": "step"}, "notes": [f"tier note {HOSTILE}"]}
    return CapacityDocument.model_validate(doc).model_dump(mode="json", by_alias=True)


def claims_document() -> dict:
    from hmb_ops.documents import ClaimsDocument

    claims = [
        {"name": "workers", "claim": "Workers: 4 (was 2) — 2x capacity increase", "claimed": "2x", "claimed_low": 2.0,
         "measured": 1.71, "holds": False, "detail": "throughput at saturation: 2 workers 96.0 req/s, 4 workers 164.2",
         "conditions": {"tier": "default", "users": 24, "duration_s": 20}, "runs": ["/runs/w2", "/runs/w4"]},
        {"name": "background", "claim": "Response time 7050 ms → 50 ms: 140x faster", "claimed": "140x",
         "claimed_low": 140.0, "measured": 36.2, "holds": False, "detail": "POST /api/posts p50: inline 905 ms, "
         "background 25 ms", "conditions": {"notify_delay_ms": 200, "post_users": 4}, "runs": []},
        {"name": "indexes", "claim": "Feed 10–50x faster with indexes", "claimed": "10–50x", "claimed_low": 10.0,
         "measured": 12.4, "holds": True, "detail": "feed query without 31.0 ms, with 2.5 ms",
         "conditions": {"seed_scale": "small", "query_runs": 30}, "runs": []}]
    doc = {"kind": "claims", "conditions": {"machine": "ci", "cpus": 2}, "out_dir": "/runs", "claims": claims,
           "notes": []}
    return ClaimsDocument.model_validate(doc).model_dump(mode="json", by_alias=True)
