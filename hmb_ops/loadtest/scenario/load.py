"""A scenario file → a validated, compiled scenario (templates parsed, CSV rows read, names checked).

Every problem is a ConfigError naming the file and line (exit 2) before anything starts. The
compiled form is plain data the generator's user class runs without parsing anything per request.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hmb_ops.errors import ConfigError
from hmb_ops.files import read_limited
from hmb_ops.loadtest.scenario import jsonpath
from hmb_ops.loadtest.scenario.model import Request, Scenario, ScenarioFile, Step, parse_expect
from hmb_ops.loadtest.scenario.template import Template, TemplateError, parse, single_constant
from hmb_ops.settings.loader import MAX_YAML_BYTES, load_yaml, load_yaml_text, parse_model
from hmb_ops.settings.shipped import shipped_scenario_text

REFERENCE = "hiremebahamas.yaml"
MAX_CSV_BYTES = 64 * 1024 * 1024
MAX_HEAD_CACHE = 256


@dataclass(frozen=True)
class Capture:
    name: str
    json_steps: tuple | None
    header: str | None
    pick: str  # first | random
    required: bool = True


@dataclass(eq=False)  # compared and hashed by identity: the generator keys its head cache by call
class Call:
    """One compiled setup step or request."""

    index: int
    name: str
    key: str | None
    method: str
    uri: tuple[Template, ...]
    uri_const: str | None
    headers: tuple[tuple[str, Template], ...]
    body: Any            # None, bytes (constant), or a compiled JSON/form node
    body_kind: str | None  # None | "json" | "form"
    expect_exact: frozenset[int]
    expect_classes: frozenset[int]
    think: tuple[float, float] | None
    captures: tuple[Capture, ...]
    uses: frozenset[str]
    draws: tuple[str, ...] = ()          # per-request feeders and random-pick captures to draw
    headers_vary: bool = False           # headers depend on a per-request draw: no head cache
    weight: float = 0.0
    fallback: int | None = None
    capture_headers: tuple[str, ...] = ()  # response headers the captures read (lower case)
    ok: frozenset[int] = frozenset()       # every accepted status: one set lookup per answer
    run_think: tuple[float, float] = (0.0, 0.0)  # set by the generator: this call's or the run's

    def __post_init__(self) -> None:
        self.ok = self.expect_exact | frozenset(s for c in self.expect_classes for s in range(c * 100, c * 100 + 100))

    def accepts(self, status: int) -> bool:
        return status in self.ok


@dataclass
class Compiled:
    name: str
    source: str
    reference: bool
    think: tuple[float, float]
    setup: list[Call]
    requests: list[Call]
    feeders: dict[str, dict]  # name -> {"kind", "per", "rows"|"start,stop,step"|"values", "order"}
    per_user: tuple[str, ...] = ()
    mix_ignored: bool = False
    weights: dict[str, float] = field(default_factory=dict)  # request name -> effective weight
    think_declared: bool = False  # the file gave think_time (a profile's replacing it is then said)

    def names(self) -> list[str]:
        return [r.name for r in self.requests]


@dataclass
class Loaded:
    model: Scenario
    source: str
    lines: dict[tuple, int]
    base_dir: Path | None
    reference: bool


def reference_text() -> tuple[str, str]:
    """The shipped reference scenario's text and the name errors give it (package data)."""
    return shipped_scenario_text(REFERENCE, limit=MAX_YAML_BYTES)


def read_scenario(path: str | None = None) -> Loaded:
    """Parse and shape-check a scenario file (None: the shipped reference scenario)."""
    if path is None:
        text, source = reference_text()
        data, lines = load_yaml_text(text, source)
        base = None
    else:
        data, lines = load_yaml(path)
        source, base = str(path), Path(path).absolute().parent
    if not isinstance(data, dict) or "scenario" not in data:
        raise ConfigError("a scenario file has one top-level key, scenario:", path=source, line=1,
                          hint="see docs/scenarios.md")
    model = parse_model(data, ScenarioFile, source=source, lines=lines).scenario
    return Loaded(model=model, source=source, lines=lines, base_dir=base, reference=path is None)


class _Errors:
    def __init__(self, loaded: Loaded):
        self.loaded = loaded

    def __call__(self, message: str, loc: tuple, hint: str | None = None) -> ConfigError:
        full = ("scenario",) + loc
        line = None
        for cut in range(len(full), 0, -1):
            if full[:cut] in self.loaded.lines:
                line = self.loaded.lines[full[:cut]]
                break
        text = ""
        for part in full:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
        return ConfigError(message, path=self.loaded.source, line=line, field=text, hint=hint)


def resolve_mix(compiled_names: list[tuple[str, str | None]], mix: dict[str, float] | None,
                reference: bool, reference_names: Iterable[str] = ()) -> tuple[dict[int, float] | None, bool]:
    """Weights by request index from a profile's mix (names or keys); (None, ignored) = the scenario's own.

    A mix written for the reference app (every name one of its requests) is ignored by another
    scenario; any other name a mix gives must be a request of the scenario (ValueError otherwise).
    """
    if not mix:
        return None, False
    lookup: dict[str, int] = {}
    for i, (name, key) in enumerate(compiled_names):
        lookup[name] = i
        if key:
            lookup[key] = i
    unknown = [k for k in mix if k not in lookup]
    if unknown and not reference and set(mix) <= set(reference_names):
        return None, True
    if unknown:
        known = sorted(k for (n, k) in compiled_names if k) + sorted(n for n, _ in compiled_names)
        raise ValueError(f"unknown request {unknown[0]!r} in the mix; known: {', '.join(known)}")
    return {lookup[k]: float(w) for k, w in mix.items()}, False


def compile_scenario(loaded: Loaded, *, mix: dict[str, float] | None = None,
                     overrides: dict[str, Any] | None = None, offset: int = 0,
                     reference_names: Iterable[str] = ()) -> Compiled:
    """Check every name and compile. `mix` weights requests by name or key; `overrides` replace
    variables (the run's password and seeded user count for the reference app)."""
    sc, err = loaded.model, _Errors(loaded)
    constants: dict[str, Any] = {**sc.variables, **(overrides or {})}
    feeders, defined = _feeders(loaded, err, constants)
    captured = {c for step in [*sc.setup, *sc.requests] for c in step.capture}
    clash = (set(constants) | {n.split(".")[0] for n in defined}) & captured
    if clash:
        raise err(f"{sorted(clash)[0]!r} is both a variable or feeder and a capture", ())
    known = set(defined) | captured
    random_picks = {c for step in [*sc.setup, *sc.requests] for c, cap in step.capture.items() if cap.pick == "random"}
    per_request = {n for n in defined if feeders[n.split(".")[0]]["per"] == "request"} | random_picks

    def build(step: Step, where: tuple, index: int) -> Call:
        return _compile_step(step, where, index, constants, known, per_request, feeders, err, sc.headers)

    setup = [build(s, ("setup", i), i) for i, s in enumerate(sc.setup)]
    requests = [build(r, ("requests", i), i) for i, r in enumerate(sc.requests)]
    names = [(r.name, r.key) for r in sc.requests]
    seen: dict[str, int] = {}
    for i, (name, key) in enumerate(names):
        for label in (name, key):
            if label is None:
                continue
            if label in seen and seen[label] != i:
                raise err(f"two requests are called {label!r}; names and keys must be unique",
                          ("requests", i, "name" if label == name else "key"))
            seen[label] = i
    for i, r in enumerate(sc.requests):
        if r.fallback is not None:
            if r.fallback not in seen:
                raise err(f"fallback {r.fallback!r} is not a request of this scenario", ("requests", i, "fallback"))
            # One level only: a fallback that itself falls back could loop forever.
            if seen[r.fallback] == i or sc.requests[seen[r.fallback]].fallback is not None:
                raise err(f"fallback {r.fallback!r} must be another request without a fallback of its own",
                          ("requests", i, "fallback"))
            requests[i].fallback = seen[r.fallback]
    try:
        weights, ignored = resolve_mix(names, mix, loaded.reference, reference_names)
    except ValueError as exc:
        raise ConfigError(str(exc), path=loaded.source) from None
    for i, call in enumerate(requests):
        call.weight = weights.get(i, 0.0) if weights is not None else sc.requests[i].weight
    if not any(c.weight > 0 for c in requests):
        raise ConfigError("the mix gives every request a weight of 0", path=loaded.source)
    setup = _needed_setup(setup, requests)
    used: set[str] = set().union(*(c.uses for c in [*setup, *requests]))
    per_user = tuple(sorted({n.split(".")[0] for n in used if n in defined
                             and feeders[n.split(".")[0]]["per"] == "user"}))
    for f in feeders.values():
        f["offset"] = offset
    return Compiled(name=sc.name, source=loaded.source, reference=loaded.reference, think=sc.think_time,
                    setup=setup, requests=requests, feeders=feeders, per_user=per_user, mix_ignored=ignored,
                    weights={c.name: c.weight for c in requests if c.weight > 0},
                    think_declared="think_time" in sc.model_fields_set)


def _needed_setup(setup: list[Call], requests: list[Call]) -> list[Call]:
    """Setup steps the weighted requests need: a step whose captures nothing uses is skipped (a
    health-only mix does not log in); a step without captures always runs (it may set up state)."""
    needed: set[str] = set()
    chosen = [r for r in requests if r.weight > 0]
    for r in list(chosen):
        if r.fallback is not None:
            chosen.append(requests[r.fallback])
    for r in chosen:
        needed |= r.uses
    keep: list[Call] = []
    for step in reversed(setup):
        if not step.captures or any(c.name in needed for c in step.captures):
            keep.append(step)
            needed |= step.uses
    return list(reversed(keep))


def _feeders(loaded: Loaded, err: _Errors, constants: dict[str, Any]) -> tuple[dict[str, dict], set[str]]:
    out: dict[str, dict] = {}
    defined: set[str] = set()
    for name, f in loaded.model.feeders.items():
        where = ("feeders", name)
        if name in constants:
            raise err(f"feeder {name!r} has the name of a variable", where)
        spec: dict[str, Any] = {"kind": f.kind, "per": f.draw_per, "order": f.order}
        if f.kind == "csv":
            assert f.csv is not None
            spec["rows"] = _read_csv(loaded, f.csv, err, where + ("csv",))
            defined |= {f"{name}.{col}" for col in spec["rows"][0]}
        elif f.kind == "sequence":
            assert f.sequence is not None
            stop: Any = f.sequence.stop
            if isinstance(stop, str):
                found, stop = single_constant(stop, constants)
                if not found or isinstance(stop, bool) or not isinstance(stop, int):
                    raise err("sequence stop must be a whole number or {{ variable }} naming one",
                              where + ("sequence", "stop"))
            if stop < f.sequence.start:
                raise err("sequence stop must be >= start", where + ("sequence", "stop"))
            spec.update(start=f.sequence.start, stop=int(stop), step=f.sequence.step)
            defined.add(name)
        else:
            spec["values"] = list(f.choice or ())
            defined.add(name)
        out[name] = spec
    return out, defined


def _read_csv(loaded: Loaded, rel: str, err: _Errors, where: tuple) -> list[dict[str, str]]:
    if loaded.base_dir is None:
        raise err("the shipped scenario cannot read CSV files", where)
    path = (loaded.base_dir / rel) if not Path(rel).is_absolute() else Path(rel)
    try:
        data = read_limited(path, limit=MAX_CSV_BYTES, what="CSV file")
    except ConfigError as exc:
        raise err(f"CSV {exc.message}", where, hint="a CSV path is relative to the scenario file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise err(f"CSV file {path} is not UTF-8 text", where) from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise err(f"CSV file {path} is empty: it needs a header line and at least one row", where)
    bad = [h for h in header if not h or not h.replace("_", "a").isalnum() or h[0].isdigit()]
    if bad:
        raise err(f"CSV file {path}: column {bad[0]!r} is not a plain name (letters, digits, _)", where)
    rows = [{k: (v if v is not None else "") for k, v in row.items() if k is not None} for row in reader]
    if not rows:
        raise err(f"CSV file {path} has a header but no rows", where)
    return rows


def _compile_step(step: Step, where: tuple, index: int, constants: dict[str, Any], known: set[str],
                  per_request: set[str], feeders: dict[str, dict], err: _Errors,
                  scenario_headers: dict[str, Any]) -> Call:
    uses: set[str] = set()

    def tpl(value: Any, loc: tuple, escape: str = "text") -> Template:
        try:
            t = parse(value, constants, escape=escape)
        except TemplateError as exc:
            raise err(str(exc), where + loc) from None
        for name in t.names:
            if name not in known:
                head = name.split(".")[0]
                if head in feeders and feeders[head]["kind"] == "csv":
                    cols = sorted(k.split(".", 1)[1] for k in known if k.startswith(head + "."))
                    raise err(f"CSV feeder {head!r} has no column {name.split('.', 1)[1]!r}", where + loc,
                              hint=f"its columns: {', '.join(cols)}")
                raise err(f"undefined variable {name!r}", where + loc,
                          hint="define it under variables, feeders or a capture")
            uses.add(name)
        return t

    uri = [tpl(step.path, ("path",), "path")]
    for i, (k, v) in enumerate(step.query.items()):
        uri.append(Template([("?" if i == 0 else "&") + quote(str(k), safe="") + "="], []))
        uri.append(tpl(v, ("query", k), "query"))
    uri_const = "".join(t.const for t in uri if t.const is not None) if all(t.const is not None for t in uri) else None
    merged = {**scenario_headers, **step.headers}
    headers = tuple((str(k), tpl(v, ("headers", k))) for k, v in merged.items())
    body: Any = None
    kind = None
    if step.json_body is not None:
        kind = "json"
        node = _json_node(step.json_body, constants, tpl, ("json",))
        body = json.dumps(node[1], separators=(",", ":")).encode() if node[0] == "const" else node
    elif step.form is not None:
        kind = "form"
        body = tuple((quote(str(k), safe=""), tpl(v, ("form", k), "query")) for k, v in step.form.items())
        if all(t.const is not None for _, t in body):
            body = "&".join(f"{k}={t.const}" for k, t in body).encode()
    exact, classes = parse_expect(step.expect)
    captures = []
    for name, cap in step.capture.items():
        steps = None
        if cap.json_path is not None:
            try:
                steps = jsonpath.parse(cap.json_path)
            except ValueError as exc:
                raise err(str(exc), where + ("capture", name, "json")) from None
        captures.append(Capture(name=name, json_steps=steps, header=cap.header.lower() if cap.header else None,
                                pick=cap.pick, required=cap.required))
    draws = sorted({n.split(".")[0] if n.split(".")[0] in feeders else n for n in uses if n in per_request})
    header_names = {n for _, t in headers for n in t.names}
    call = Call(index=index, name=step.name, key=getattr(step, "key", None), method=step.method,
                uri=tuple(uri), uri_const=uri_const, headers=headers, body=body, body_kind=kind,
                expect_exact=exact, expect_classes=classes, think=step.think_time, captures=tuple(captures),
                uses=frozenset(uses), draws=tuple(draws),
                capture_headers=tuple(c.header for c in captures if c.header is not None),
                headers_vary=any(n in per_request for n in header_names))
    if isinstance(step, Request):
        call.weight = step.weight
    return call


def _json_node(value: Any, constants: dict[str, Any], tpl, loc: tuple) -> tuple[str, Any]:
    """("const", value) or a node the engine renders: ("tpl", Template) | ("dict", ...) | ("list", ...)."""
    if isinstance(value, str):
        found, const = single_constant(value, constants)
        if found:
            return "const", const
        t = tpl(value, loc)
        return ("const", t.const) if t.const is not None else ("tpl", t)
    if isinstance(value, dict):
        items = [(str(k), _json_node(v, constants, tpl, loc + (k,))) for k, v in value.items()]
        if all(n[0] == "const" for _, n in items):
            return "const", {k: n[1] for k, n in items}
        return "dict", tuple(items)
    if isinstance(value, list):
        nodes = [_json_node(v, constants, tpl, loc + (i,)) for i, v in enumerate(value)]
        if all(n[0] == "const" for n in nodes):
            return "const", [n[1] for n in nodes]
        return "list", tuple(nodes)
    return "const", value


def render_json(node: tuple[str, Any], ns: dict[str, Any]) -> Any:
    kind, arg = node
    if kind == "const":
        return arg
    if kind == "tpl":
        return arg.value(ns)
    if kind == "dict":
        return {k: render_json(n, ns) for k, n in arg}
    return [render_json(n, ns) for n in arg]


def load_scenario(path: str | None = None, *, mix: dict[str, float] | None = None,
                  overrides: dict[str, Any] | None = None, offset: int = 0) -> Compiled:
    """Read, check and compile a scenario (None: the shipped reference scenario)."""
    loaded = read_scenario(path)
    ref_names: Iterable[str] = ()
    if not loaded.reference and mix:
        ref = read_scenario(None).model.requests
        ref_names = [r.name for r in ref] + [r.key for r in ref if r.key]
    return compile_scenario(loaded, mix=mix, overrides=overrides, offset=offset, reference_names=ref_names)
