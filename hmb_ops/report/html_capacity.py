"""HTML pages of a capacity document (per tier: throughput and p95 against users, knee and SLO) and of
a claims document (claimed against measured, with the conditions)."""

from __future__ import annotations

from . import fmt, html_spec as hs
from .html_page import bullets, chart_box, para, section, sentence, table, tiles


def _capacity_charts(doc: dict) -> list[dict]:
    tiers = doc.get("tiers") or []
    knees, rps, p95 = [], [], []
    for i, t in enumerate(tiers):
        steps = (t.get("knee") or {}).get("steps") or []
        users = [s.get("users") for s in steps]
        name = str(t.get("tier"))
        rps.append(hs.series(name, hs.colour(i), hs.points(users, [s.get("rps") for s in steps]), unit="req/s"))
        p95.append(hs.series(name, hs.colour(i), hs.points(users, [s.get("p95_ms") for s in steps]), unit="ms"))
        if t.get("knee_users") is not None:
            knees.append({"x": float(t["knee_users"]), "label": f"knee {name}: {t['knee_users']:g} users",
                          "kind": "knee", "legend": "knee (highest step within the SLO)"})
    need = doc.get("target_rps")
    need_line = ([{"y": float(need), "kind": "limit", "label": f"needed at the peak hour: {need:.1f} req/s"}]
                 if need else [])
    thr = hs.chart("capacity-throughput", "Throughput against load, per tier", hs.USERS_AXIS,
                   [{"label": "throughput (req/s)"}], rps, vlines=knees, hlines=need_line)
    lat = hs.chart("capacity-p95", "p95 latency against load, per tier", hs.USERS_AXIS, [{"label": "p95 latency (ms)"}],
                   p95, vlines=knees, hlines=[m for m in hs.latency_slo_lines(doc.get("slo")) if m["metric"] == "p95"])
    return [c for c in (thr, lat) if c]


def capacity_parts(model, doc: dict, verdict=None) -> tuple[str, str, str, list[dict]]:
    """(title, subtitle, body, chart specs) of a capacity page; a verdict does not judge capacity (unused)."""
    charts = _capacity_charts(doc)
    tiers = doc.get("tiers") or []
    best = max(tiers, key=lambda t: t.get("sustainable_rps") or 0.0, default=None)
    parts = [tiles([(", ".join(doc.get("slo") or []) or "–", "SLO"),
                    (fmt.users(doc.get("target_users") or 0), "target users"),
                    (f"{fmt.num(doc.get('target_rps'))} req/s", "needed at the peak hour")]
                   + ([(f"{fmt.num(best.get('sustainable_rps'))} req/s", f"best tier: {best.get('tier')}")]
                      if best else []))]
    held = any((t.get("knee") or {}).get("slo_held_throughout") for t in tiers)
    parts.append(section(f"Capacity per {fmt.capacity_per(model)}",
                         table(fmt.capacity_header(model), fmt.capacity_rows(model)),
                         bullets(sentence(line) for line in fmt.capacity_lines(model)),
                         para("≥: the SLO held at every step, so the real capacity is above the last step.", "note")
                         if held else ""))
    if fmt.plan_rows(model):
        parts.append(section("Plans: cost per 1,000 users supported", table(fmt.PLAN_HEADER, fmt.plan_rows(model)),
                             bullets(sentence(line) for line in fmt.plan_lines(model))))
    if charts:
        parts.append(section("Load against throughput and latency", "".join(chart_box(c) for c in charts)))
    invalid = [t for t in tiers if not t.get("valid")]
    if invalid:
        reasons = (f"{t.get('tier')}: {sentence('; '.join(t.get('invalid_reasons') or []))}" for t in invalid)
        parts.append(section("Not valid", bullets(reasons), cls="invalid"))
    parts.append(section("How users are counted", bullets(fmt.data_lines(model) + (doc.get("assumptions")
                                                                                  or ["no assumption recorded"]))))
    if doc.get("notes"):
        parts.append(section("Notes", bullets(sentence(n) for n in doc["notes"])))
    parts.append(section("Conditions", _conditions(doc.get("conditions") or {})))
    subtitle = f"{len(tiers)} tier{'s' if len(tiers) != 1 else ''} · SLO {', '.join(doc.get('slo') or ['–'])}"
    return "hmb-ops capacity", subtitle, "".join(parts), charts


def _conditions(conds: dict) -> str:
    rows = [[k, ", ".join(map(str, v)) if isinstance(v, list) else v] for k, v in conds.items()]
    return table(["condition", "value"], rows, text_cols=(0, 1))


def claims_parts(model, doc: dict, verdict=None) -> tuple[str, str, str, list[dict]]:
    claims = doc.get("claims") or []
    rows = []
    for c, row in zip(claims, fmt.claims_rows(model), strict=True):
        cls = "" if c.get("holds") is None else ("pass" if c.get("holds") else "fail")
        conds = ", ".join(f"{k}={v}" for k, v in (c.get("conditions") or {}).items())
        rows.append([*row[:-1], (row[-1], cls), conds])
    names = [str(c.get("name")) for c in claims]

    def factors(key: str) -> list:  # a log axis has no place for 0 or a negative factor
        return [c.get(key) if (c.get(key) or 0) > 0 else None for c in claims]

    spec = hs.chart("claims", "Claimed against measured (factor, log scale)",
                    {"label": "claim", "kind": "category", "categories": names},
                    [{"label": "factor (×)", "log": True}],
                    [hs.series("claimed (at least)", "#98a2b3",
                               hs.points(range(len(claims)), factors("claimed_low")), unit="×",
                               style="bars", align=-1),
                     hs.series("measured", hs.colour(0), hs.points(range(len(claims)), factors("measured")),
                               unit="×", style="bars", align=1)], height=280)
    charts = [spec] if spec else []
    parts = [section("The seed's claims, measured", table(
        [*fmt.CLAIMS_HEADER, "conditions"], rows,
        text_cols=(0, 1, 4, 5)),
        para("A claim holds when the measured factor reaches 90 % of the lowest factor it promises.", "note"),
        "".join(chart_box(c) for c in charts))]
    parts.append(section("What was compared", bullets(f"{c.get('name')}: {sentence(c.get('detail') or '')}"
                                                      for c in claims)))
    if doc.get("notes"):
        parts.append(section("Notes", bullets(sentence(n) for n in doc["notes"])))
    parts.append(section("Machine", _conditions(doc.get("conditions") or {})))
    return "hmb-ops claims", f"{len(claims)} claim{'s' if len(claims) != 1 else ''} measured", "".join(parts), charts
