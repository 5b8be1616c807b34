"""The seed's three claims, measured on the reference app with the conditions written down.

1. "Workers 4 (was 2): 2x capacity": saturating closed-model runs (no think time) of the seed's
   traffic mix with 2 and then 4 Gunicorn workers, same tier otherwise; ratio of throughput.
2. "Response time 7050 ms → 50 ms: 140x faster": POST /api/posts latency with the app's
   notification work inline vs on its background pool (BACKGROUND_MODE=inline|thread, the same
   NOTIFY_DELAY_MS); ratio of p50 latency.
3. "Feed 10–50x faster with indexes": engineer C's query bench (each declared query without and
   with its index) on the seeded data; the feed query's speedup, and the range over all queries.

Each run is short and bounded; the profiles used are written into the run folder as a user
config file in D's profile format, so a run can be repeated by hand with `loadtest --config`.
The report is the public hmb_ops.documents.ClaimsDocument, written to claims.json.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from hmb_ops.errors import UsageError

if TYPE_CHECKING:
    from hmb_ops.documents import Claim, ClaimsDocument, Endpoint, Results

SEED_MIX = {"feed": 30, "jobs": 12, "jobs_search": 6, "conversations": 8, "conversation_messages": 8,
            "unread_count": 10, "notifications": 8, "post_detail": 8, "like": 4, "create_post": 2, "login": 2}
CLAIM_NAMES = ("workers", "background", "indexes")
QUERY_TIME_LABEL = "client-side query time"  # EXECUTE + fetch, timed by the client; as `indexes bench` says


@dataclass(frozen=True)
class ClaimsRequest:
    only: tuple[str, ...] = CLAIM_NAMES
    tier: str = "default"
    users: int = 24               # saturating users for the workers claim
    post_users: int = 4           # users posting for the background claim
    duration: float = 20.0        # seconds per load run
    notify_delay_ms: int = 200    # simulated e-mail/push work per post
    query_runs: int = 30          # runs per query and variant for the index bench
    seed_scale: str = "small"
    out_dir: str | None = None
    state_dir: str = ".hmb-ops"
    database_url: str | None = None
    config_files: tuple[str, ...] = ()


def validate(req: ClaimsRequest) -> None:
    from hmb_ops.capacity.runner import check_seed_scale

    unknown = [n for n in req.only if n not in CLAIM_NAMES]
    if unknown or not req.only:
        raise UsageError(f"--only {','.join(req.only)}: unknown claim '{unknown[0] if unknown else ''}'",
                         hint=f"claims: {', '.join(CLAIM_NAMES)}")
    if not 1 <= req.users <= 1000 or not 1 <= req.post_users <= 200:
        raise UsageError("--users must be 1..1000 (and post users 1..200)")
    if not 3 <= req.duration <= 3600:
        raise UsageError(f"--duration {req.duration}: must be between 3 and 3600 seconds")
    if not 0 <= req.notify_delay_ms <= 60000:
        raise UsageError(f"--notify-delay-ms {req.notify_delay_ms}: must be between 0 and 60000")
    if not 3 <= req.query_runs <= 1000:
        raise UsageError(f"--query-runs {req.query_runs}: must be between 3 and 1000")
    check_seed_scale(req.seed_scale)
    from hmb_ops.tune.tiers import get_tier

    get_tier(req.tier, req.config_files)


def profiles_file(req: ClaimsRequest, folder: Path) -> Path:
    """The two profiles the claims need, in D's profile format, as a user config file."""
    doc = {"profiles": {
        "claims-saturate": {
            "description": "hmb-ops capacity claims: saturating closed-model load, seed mix, no think time",
            "users": req.users, "spawn_rate": max(1, req.users), "duration": req.duration,
            "think_time": [0, 0], "mix": SEED_MIX},
        "claims-posts": {
            "description": "hmb-ops capacity claims: users creating posts (POST /api/posts)",
            "users": req.post_users, "spawn_rate": max(1, req.post_users), "duration": req.duration,
            "think_time": [0.05, 0.15], "mix": {"create_post": 1}},
    }}
    path = folder / "claims-profiles.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _endpoint(doc: Results, method: str, route: str) -> Endpoint | None:
    return next((e for e in doc.endpoints if e.name == f"{method} {route}"), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _holds(measured: float | None, low: float) -> bool | None:
    return None if measured is None else measured >= 0.9 * low


def run_claims(req: ClaimsRequest, *, progress: Callable[[str], None] | None = None) -> ClaimsDocument:
    validate(req)
    from hmb_ops.capacity.runner import conditions as machine_conditions, default_out_dir, load_progress
    from hmb_ops.documents import Claim, ClaimsDocument
    from hmb_ops.loadtest.api import LoadRequest, run_load

    out = Path(req.out_dir) if req.out_dir else default_out_dir(req.state_dir, "claims")
    out.mkdir(parents=True, exist_ok=True)
    cfg = profiles_file(req, out)
    config_files = tuple(req.config_files) + (str(cfg),)
    say = progress or (lambda _m: None)
    base = machine_conditions(profile="claims", stages=None, seed_scale=req.seed_scale)
    base = {k: v for k, v in base.items() if k not in ("profile", "stages")}

    def load(name: str, profile: str, **kw) -> Results:
        say(f"claims: {name}")
        return run_load(LoadRequest(profile=profile, tier=req.tier, out_dir=str(out / name),
                                    config_files=config_files, database_url=req.database_url,
                                    state_dir=str(req.state_dir), seed_scale=req.seed_scale, **kw),
                        progress=load_progress(progress, name))

    claims: list[Claim] = []
    notes: list[str] = []
    if "workers" in req.only:
        two = load("workers-2", "claims-saturate", app_workers=2)
        four = load("workers-4", "claims-saturate", app_workers=4)
        r2, r4 = two.summary.rps, four.summary.rps
        measured = _ratio(r4, r2)
        for d in (two, four):
            if not d.valid:
                notes.append(f"workers run not valid: {'; '.join(d.invalid_reasons)}")
        claims.append(Claim(
            name="workers", claim="Workers: 4 (was 2) — 2x capacity increase", claimed="2x", claimed_low=2.0,
            measured=measured, holds=_holds(measured, 2.0),
            detail=f"throughput at saturation: 2 workers {r2:.1f} req/s (p95 {two.summary.latency_ms.p95:.0f} ms) "
                   f"vs 4 workers {r4:.1f} req/s (p95 {four.summary.latency_ms.p95:.0f} ms)",
            conditions={"tier": req.tier, "threads": four.server.threads if four.server else None, "users": req.users,
                        "think_time_s": 0, "duration_s": req.duration, "mix": "seed mix", "data": req.seed_scale,
                        "generator_cpu_max": [d.generator.cpu_percent_max for d in (two, four)]},
            runs=[str(out / "workers-2" / "results.json"), str(out / "workers-4" / "results.json")]))
    if "background" in req.only:
        env = {"NOTIFY_DELAY_MS": str(req.notify_delay_ms)}
        inline = load("posts-inline", "claims-posts", app_env={**env, "BACKGROUND_MODE": "inline"})
        thread = load("posts-background", "claims-posts", app_env={**env, "BACKGROUND_MODE": "thread"})
        ei, et = _endpoint(inline, "POST", "/api/posts"), _endpoint(thread, "POST", "/api/posts")
        words = dict(name="background", claim="Response time 7050 ms → 50 ms — 140x faster", claimed="140x",
                     claimed_low=140.0)
        if ei is None or et is None or not ei.requests or not et.requests:
            claims.append(Claim(**words, detail="no POST /api/posts requests were recorded"))
        else:
            li, lt = ei.latency_ms, et.latency_ms
            measured = _ratio(li.p50, lt.p50)
            claims.append(Claim(
                **words, measured=measured, holds=_holds(measured, 140.0),
                detail=f"POST /api/posts p50 inline {li.p50:.1f} ms (p95 {li.p95:.1f}) vs background "
                       f"{lt.p50:.1f} ms (p95 {lt.p95:.1f}); {ei.requests} and {et.requests} posts; "
                       f"the factor scales with the simulated delay (the seed assumed 7000 ms of blocking work)",
                conditions={"tier": req.tier, "users": req.post_users, "duration_s": req.duration,
                            "notify_delay_ms": req.notify_delay_ms, "data": req.seed_scale},
                runs=[str(out / "posts-inline" / "results.json"), str(out / "posts-background" / "results.json")]))
    if "indexes" in req.only:
        claims.append(_index_claim(req, say, out))
    report = ClaimsDocument(claims=claims, conditions=base, out_dir=str(out), notes=notes)
    (out / "claims.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report


def _bench(url: str, req: ClaimsRequest) -> list[dict]:
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import bench_queries

    ensure_seeded(url, scale=req.seed_scale)
    # The bench creates a missing extension only in hmb-ops's own database (it checks that itself).
    return bench_queries(url, runs=req.query_runs)


def _index_claim(req: ClaimsRequest, say, out: Path) -> Claim:
    from hmb_ops.db.resolve import database_for_run
    from hmb_ops.documents import Claim

    say("claims: indexes (query bench without vs with each declared index)")
    # Like a load run: the embedded server, if it is used, runs only for the bench.
    with database_for_run(req.database_url, req.state_dir) as (url, _started):
        rows = _bench(url, req)
    (out / "index-bench.json").write_text(json.dumps(rows, indent=2) + "\n")
    speedups = [r["speedup"] for r in rows if r.get("speedup")]
    feed = next((r for r in rows if "feed" in str(r.get("name", "")).lower() and r.get("speedup")), None)
    measured = feed["speedup"] if feed else (statistics.median(speedups) if speedups else None)
    what = (f"feed query '{feed['name']}': {feed['without_ms']['p50']:.2f} ms without vs "
            f"{feed['with_ms']['p50']:.2f} ms with its index" if feed else "median over the declared queries")
    spread = f"; all {len(speedups)} queries: {min(speedups):.1f}x–{max(speedups):.1f}x" if speedups else ""
    # The bench times EXECUTE + fetch from the client (indexes.explain.time_query): the same figure
    # and the same words as `indexes bench`, not the server's own execution time.
    return Claim(name="indexes", claim="Feed: 10-50x faster with indexes", claimed="10–50x", claimed_low=10.0,
                 measured=measured, holds=_holds(measured, 10.0), detail=what + spread,
                 conditions={"data": req.seed_scale, "runs_per_query": req.query_runs,
                             "measure": f"{QUERY_TIME_LABEL} (p50 of repeated executions)"},
                 runs=[str(out / "index-bench.json")])
