"""The seed's two backends side by side: the Flask variant (gthread, psycopg2) and the FastAPI variant
(Uvicorn workers, SQLAlchemy async + asyncpg), same data, same stepped profile, interleaved.

Each backend runs with the plan `hmb-ops tune` makes for it on this machine (its worker count,
threads, pool and environment), started the way `hmb-ops app serve --worker-class ...` starts it.
Rounds alternate the order (A B, B A, ...) so a drift in the shared machine's load hits both alike.
Per run: sustainable req/s at the SLO (capacity's knee: where p95 crosses it, errors < 1 %), the
peak step req/s, and p95 at the step of --p95-at users. Prints a table, the ASGI/Flask ratio of
the medians (no target: the issue asks for the ratio), the load average; writes JSON to --out.
Loopback only.

    .venv/bin/python bench/backends_side_by_side.py [--rounds 2] [--users 8,16,32] [--step-seconds 6]
        [--slo 'p95<100ms'] [--tier NAME] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = {"flask": "gthread", "asgi": "uvicorn_worker.UvicornWorker"}
# The plans give the two different worker counts (Flask: 2 × CPUs gthread workers; Uvicorn: one
# event loop per CPU). On a machine shared with other work, CPU time is shared per process, so the
# ASGI variant also runs with Flask's worker count ("asgi-same-workers") to separate the two effects.
SAME_WORKERS = "asgi-same-workers"


def serve(worker_class: str, plan, url: str, work: Path, wrap=None):
    from hmb_ops.stack.app import app_target
    from hmb_ops.stack.gunicorn import GunicornProcess
    from hmb_ops.tune.render import render_all, tier_environment

    work.mkdir(parents=True, exist_ok=True)
    files = render_all(plan)
    name = next(n for n in files if n.endswith(".py"))
    (work / name).write_text(files[name])
    v = plan.values
    env = {k: val for k, val in tier_environment(plan).items() if "SECRET" not in k}
    return GunicornProcess(url, app=app_target(worker_class), config_file=str(work / name), workers=v["workers"],
                           threads=v["threads"] if worker_class == "gthread" else None, worker_class=worker_class,
                           env=env, log_dir=str(work), wrap=wrap).start(ready_timeout=90)


def one_run(backend: str, plan, url: str, out: Path, stages, slo, p95_at: int, state_dir: str, wrap=None) -> dict:
    from hmb_ops.capacity.knee import find_knee
    from hmb_ops.loadtest.api import LoadRequest, run_load

    proc = serve(BACKENDS.get(backend, BACKENDS["asgi"]), plan, url, out / "app", wrap)
    try:
        doc = run_load(LoadRequest(profile="step", target=proc.url, stages=stages, out_dir=str(out),
                                   state_dir=state_dir))
    finally:
        proc.stop()
    knee = find_knee(list(doc.steps), slo)
    at = next((s for s in doc.steps if s.users == p95_at), None)
    return {"backend": backend, "sustainable_rps": round(knee.sustainable_rps, 1),
            "peak_rps": round(max((v.rps for v in knee.steps if v.errors_ok), default=0.0), 1),
            f"p95_ms_at_{p95_at}": at.latency_ms.p95 if at else None,
            "rps_at_p95_step": round(at.rps, 1) if at else None,
            "errors": doc.summary.failures, "knee": knee.reason, "results": str(out / "results.json"),
            "load_average": os.getloadavg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--users", default="8,16,32")
    ap.add_argument("--step-seconds", type=float, default=6.0)
    ap.add_argument("--slo", default="p95<100ms")
    ap.add_argument("--p95-at", type=int, default=16, help="report p95 at this step's users")
    ap.add_argument("--tier", default=None, help="plan (and confine) for this tier instead of this machine")
    ap.add_argument("--state-dir", default=".hmb-ops")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--no-same-workers", action="store_true", help="skip the ASGI run with Flask's worker count")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from contextlib import ExitStack

    from hmb_ops.capacity.knee import slo_for_steps
    from hmb_ops.db.resolve import database_for_run
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes
    from hmb_ops.tune.api import plan_for

    stages = tuple((int(u), args.step_seconds) for u in args.users.split(","))
    slo = slo_for_steps([args.slo])
    work = Path(tempfile.mkdtemp(prefix="hmb-backends-"))
    runs: list[dict] = []
    with ExitStack() as stack:
        url, _ = stack.enter_context(database_for_run(args.database_url, args.state_dir))
        ensure_seeded(url, scale="small")
        ensure_indexes(url)
        plans = {b: plan_for(tier=args.tier, worker_class=wc, database_url=url) for b, wc in BACKENDS.items()}
        names = list(BACKENDS)
        if not args.no_same_workers and plans["asgi"].values["workers"] != plans["flask"].values["workers"]:
            from hmb_ops.tune.search.plan import with_workers

            plans[SAME_WORKERS] = with_workers(plans["asgi"], plans["flask"].values["workers"], "Flask's worker count")
            names.append(SAME_WORKERS)
        wrap = None
        if args.tier:
            from hmb_ops.stack.confinement import Confined, plan_confinement

            res = plans["flask"].resources
            wrap = stack.enter_context(Confined(plan_confinement(res.cpus, res.memory_bytes))).wrap
        started = time.monotonic()
        for r in range(1, args.rounds + 1):
            order = names if r % 2 else names[::-1]
            for backend in order:
                run = one_run(backend, plans[backend], url, work / f"{backend}-{r}", stages, slo, args.p95_at,
                              args.state_dir, wrap)
                run["round"] = r
                runs.append(run)
                print(f"round {r} {backend:5s}: {run['sustainable_rps']:7.1f} req/s at the SLO, peak "
                      f"{run['peak_rps']:7.1f}, p95 at {args.p95_at} users {run[f'p95_ms_at_{args.p95_at}']} ms, "
                      f"load {run['load_average'][0]:.1f}", file=sys.stderr)
    summary = {}
    for backend in names:
        mine = [x for x in runs if x["backend"] == backend]
        p95s = [x[f"p95_ms_at_{args.p95_at}"] for x in mine if x[f"p95_ms_at_{args.p95_at}"] is not None]
        summary[backend] = {"worker_class": BACKENDS.get(backend, BACKENDS["asgi"]),
                            "workers": plans[backend].values["workers"],
                            "threads": plans[backend].values["threads"],
                            "db_pool_max": plans[backend].values.get("db_pool_max"),
                            "sustainable_rps_median": statistics.median(x["sustainable_rps"] for x in mine),
                            "peak_rps_median": statistics.median(x["peak_rps"] for x in mine),
                            f"p95_ms_at_{args.p95_at}_median": statistics.median(p95s) if p95s else None}
    f, a = summary["flask"], summary["asgi"]
    ratio = {k: (round(a[k] / f[k], 3) if f[k] else None)
             for k in ("sustainable_rps_median", "peak_rps_median")}
    if SAME_WORKERS in summary:
        same = summary[SAME_WORKERS]
        ratio.update({f"same_workers_{k}": (round(same[k] / f[k], 3) if f[k] else None)
                      for k in ("sustainable_rps_median", "peak_rps_median")})
    result = {"tier": args.tier or "this machine", "slo": args.slo, "stages": stages, "rounds": args.rounds,
              "summary": summary, "asgi_over_flask": ratio, "runs": runs,
              "elapsed_s": round(time.monotonic() - started), "load_average_end": os.getloadavg()}
    print(f"{'backend':18s} {'workers x threads':18s} {'req/s at SLO':>13s} {'peak req/s':>11s} "
          f"{'p95@' + str(args.p95_at):>9s}")
    for b, s in summary.items():
        p95 = s[f"p95_ms_at_{args.p95_at}_median"]
        print(f"{b:18s} {str(s['workers']) + ' x ' + str(s['threads']):18s} {s['sustainable_rps_median']:13.1f} "
              f"{s['peak_rps_median']:11.1f} {p95 if p95 is None else round(p95, 1)!s:>9s}")
    print(f"ASGI / Flask: {ratio['sustainable_rps_median']} at the SLO, {ratio['peak_rps_median']} at peak; "
          f"with the same worker count: {ratio.get('same_workers_sustainable_rps_median')} at the SLO, "
          f"{ratio.get('same_workers_peak_rps_median')} at peak")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
