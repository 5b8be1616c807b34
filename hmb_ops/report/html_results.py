"""The HTML page of one load test (results.json): verdict, validity in words, key figures, charts, tables."""

from __future__ import annotations

import operator

from . import fmt, html_results_charts as rc
from .html_page import bullets, chart_box, para, section, sentence, table, tiles
from .html_spec import latency_slo_lines

_OPS = {"<": operator.lt, "<=": operator.le}
_DEFAULT_ERROR_LIMIT = 0.01  # the knee's default error limit (capacity/knee.py: error_rate<1%)


def _generator_words(doc: dict) -> list[str]:
    gen = doc.get("generator") or {}
    line = rc.GENERATOR_SATURATED_PERCENT
    n = gen.get("processes") or 1
    cpu_max, cpu_mean = gen.get("cpu_percent_max"), gen.get("cpu_percent_mean")
    words = []
    if doc.get("valid", True) is not False:
        words.append(f"Valid: the load generator stayed under {line:g} % of a core (max {fmt.num(cpu_max)} %, "
                     f"mean {fmt.num(cpu_mean)} %), so these figures measure the server.")
    elif cpu_max is not None:
        words.append(f"The load generator used at most {fmt.num(cpu_max)} % of a core (mean {fmt.num(cpu_mean)} %); "
                     f"above {line:g} % it, not the server, sets the pace.")
    per_req = gen.get("cpu_ms_per_request")
    words.append(f"{n} generator process{'es' if n != 1 else ''}"
                 + (f", {per_req:g} ms of generator CPU per request." if per_req is not None else "."))
    om = doc.get("open_model")
    if om:
        words.append(f"Open model at {fmt.num(doc.get('offered_rps'))} req/s offered: {om['scheduled']} requests "
                     f"scheduled, {om['sent']} sent, {om['dropped']} dropped, {om['late']} sent late; "
                     f"{fmt.num(doc.get('achieved_rps'))} req/s achieved.")
    return words


def _validity(doc: dict, charts: list[dict]) -> str:
    valid = doc.get("valid", True) is not False
    parts = []
    if not valid:
        parts.append(para("Not valid: these figures may not measure the server, for these reasons:"))
        parts.append(bullets(sentence(r) for r in doc.get("invalid_reasons") or ["no reason was recorded"]))
    parts += [para(w) for w in _generator_words(doc)]
    gen = [c for c in charts if c["id"] == "generator-time"]
    parts += [chart_box(c) for c in gen]
    return section("Are these figures valid?", *parts, cls="valid" if valid else "invalid")


def _slo_from(verdict) -> tuple[list[dict], float]:
    """Latency lines and the error limit among the verdict's whole-run thresholds."""
    lines, error_limit = [], _DEFAULT_ERROR_LIMIT
    for r in getattr(verdict, "thresholds", ()) or ():
        t = r.threshold
        if t.endpoint is not None or t.op not in _OPS:
            continue
        if t.metric == "error_rate":
            error_limit = t.limit
        else:
            lines += latency_slo_lines([f"{t.metric}{t.op}{t.limit}ms"])
    return lines, error_limit


def knee_step(steps: list[dict], lines: list[dict], error_limit: float) -> dict | None:
    """The highest step within every latency line of the SLO and under the error limit (None: no SLO or none)."""
    if not lines:
        return None
    passed = None
    for s in steps:
        lat = s.get("latency_ms") or {}
        ok = all(lat.get(m["metric"]) is not None and lat[m["metric"]] <= m["y"] for m in lines)
        if ok and (s.get("error_rate") or 0.0) <= error_limit:
            passed = s
    return passed


def _steps(model, doc: dict, verdict) -> tuple[str, list[dict]]:
    steps = doc.get("steps") or []
    if not steps:
        return "", []
    lines, error_limit = _slo_from(verdict)
    knee = knee_step(steps, lines, error_limit)
    charts = rc.steps(doc, lines, knee.get("users") if knee else None)
    if not lines:
        words = ("No latency SLO was given (for example `hmb-ops report results.json --check 'p95<100ms'`), "
                 "so no SLO line or knee is marked.")
    elif knee is None:
        words = "No step met the SLO: the knee is below the first step."
    else:
        words = (f"Knee: {knee['users']} users, the highest step within "
                 f"{', '.join(m['label'][4:] for m in lines)} and errors ≤ {error_limit * 100:g} % "
                 f"({fmt.num(knee.get('rps'))} req/s there).")
    rows = fmt.step_rows(model)
    classes = {}
    for i, s in enumerate(steps):
        if s is knee:
            classes[i] = "knee"
            rows[i][0] += " (knee)"
    tab = table(fmt.STEP_HEADER, rows, row_classes=classes)
    body = section("Load steps", para(words), "<div class='grid'>" + "".join(chart_box(c) for c in charts) + "</div>",
                   tab)
    return body, charts


def page_parts(model, doc: dict, verdict=None) -> tuple[str, str, str, list[dict]]:
    """(title, subtitle, body, chart specs) of a results page: `model` is the Results, `doc` its JSON form."""
    s = doc.get("summary") or {}
    lat = s.get("latency_ms") or {}
    time_charts = rc.over_time(doc)
    by_id = {c["id"]: c for c in time_charts}
    dist, full = rc.distribution(doc)
    endpoint_charts = rc.per_endpoint(doc)
    server_charts = rc.server(doc)
    steps_html, step_charts = _steps(model, doc, verdict)

    def boxes(ids: list[str]) -> str:
        return "".join(chart_box(by_id[i]) for i in ids if i in by_id)


    parts = [tiles([(f"{fmt.num(s.get('rps'))} req/s", "throughput"), (f"{fmt.ms(lat.get('p50'))} ms", "p50 latency"),
                    (f"{fmt.ms(lat.get('p95'))} ms", "p95 latency"), (f"{fmt.ms(lat.get('p99'))} ms", "p99 latency"),
                    (fmt.pct(s.get("error_rate")), "error rate"), (fmt.num(s.get("requests")), "requests")]),
             _validity(doc, time_charts)]
    if by_id:
        parts.append(section("Latency over time", boxes(["latency-time"])))
        parts.append(section("Throughput and errors over time", boxes(["throughput-time", "errors-time"]),
                             para("Dashed vertical lines mark where each load stage starts.", "note")
                             if rc.stage_lines(doc) else ""))
    else:
        parts.append(section("Over time", para("This document has no per-second time series to draw.")))
    ep = ("<div class='grid'>" + "".join(chart_box(c) for c in endpoint_charts) + "</div>" if endpoint_charts
          else para("This document has no per-endpoint time series, so latency over time is shown for the whole run "
                    "only.", "note"))
    parts.append(section("Latency over time per endpoint", ep))
    parts.append(section("Latency distribution", "".join(chart_box(c) for c in dist), para(
        "Read across: the latency at or under which that share of requests finished. The axis spreads the tail: "
        "90 %, 99 %, 99.9 % and 99.99 % sit one step apart." + (
            "" if full else " This document holds the summary percentiles only (p50 to p99.9), not the full "
                            "spectrum."), "note")))
    if steps_html:
        parts.append(steps_html)
    if fmt.open_stage_rows(model):
        parts.append(section("Open model per stage", table(fmt.OPEN_STAGE_HEADER, fmt.open_stage_rows(model))))
    if server_charts:
        parts.append(section("Server", "".join(chart_box(c) for c in server_charts)))
    else:
        parts.append(section("Server", para("The server was not sampled in this run (hmb-ops did not start the app, "
                                            "or no sample was taken), so there are no CPU, memory or database "
                                            "readings.")))
    lat_header = fmt.latency_header()
    parts.append(section("Summary", table(["", ""], fmt.run_facts(model), text_cols=(0, 1))))
    parts.append(section("Endpoints", table([*fmt.ENDPOINT_HEADER, *[f"{h} ms" for h in lat_header]],
                                            [*fmt.endpoint_rows(model), fmt.summary_row(model)])))
    subtitle = (f"target {doc.get('target')} · tier {doc.get('tier') or '–'} · started {doc.get('started_at')} · "
                f"{fmt.num(doc.get('duration_s'))} s · {doc.get('model') or 'closed'} model")
    charts = time_charts + endpoint_charts + dist + step_charts + server_charts
    return f"hmb-ops load test: {doc.get('profile')}", subtitle, "".join(parts), charts
