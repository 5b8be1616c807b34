"""Sustainable throughput of the reference app: tuned config vs Gunicorn's defaults vs the seed's 4 × 4.

Same load profile, same data, same machine, one after the other in one invocation:
  tuned    `hmb-ops tune` for the detected machine (its gunicorn.conf.py and environment)
  defaults Gunicorn's defaults: 1 sync worker, no config beyond the reference app's lifecycle hooks
  seed     the seed's hand-set 4 workers × 4 gthread threads (tier `default`)

Sustainable throughput = the highest step throughput whose error rate stayed ≤ 1 % and whose p95
stayed under the SLO (default 500 ms). The three runs repeat --rounds times in rotating order and
each config's figure is its median over the rounds (a shared machine's neighbours move single runs a
lot). Prints a table and the ratios to the tuned config; writes the JSON to --out. Loopback only;
every run is bounded by its stages.

    .venv/bin/python bench/tune_vs_defaults.py [--rounds 3] [--stage-seconds 20] [--users 8,16,32,64] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

# Only the reference app's hooks: every Gunicorn setting stays at its default.
DEFAULTS_CONF = '''\
def worker_exit(server, worker):
    from hmb_ops.refapp.lifecycle import on_worker_exit

    on_worker_exit()


def child_exit(server, worker):
    from hmb_ops.refapp.lifecycle import on_child_exit

    on_child_exit(worker.pid)
'''


def sustainable(doc: dict, slo_p95_ms: float, max_error: float = 0.01) -> dict:
    best = {"rps": 0.0, "users": None, "p95_ms": None, "error_rate": None}
    for step in doc.get("steps") or []:
        p95 = (step.get("latency_ms") or {}).get("p95")
        if (step.get("error_rate", 1) <= max_error and p95 is not None and p95 <= slo_p95_ms
                and step.get("rps", 0) > best["rps"]):
            best = {"rps": step["rps"], "users": step.get("users"), "p95_ms": p95,
                    "error_rate": step.get("error_rate")}
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", default="8,16,32,64", help="comma-separated user counts, one step each")
    ap.add_argument("--stage-seconds", type=float, default=20.0, help="seconds per step (ramp included)")
    ap.add_argument("--slo-p95-ms", type=float, default=500.0)
    ap.add_argument("--profile", default="step", help="load profile whose mix/think time is used")
    ap.add_argument("--state-dir", default=".hmb-ops")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--rounds", type=int, default=3,
                    help="repeat the three runs, rotating their order; report the median per config")
    ap.add_argument("--out", default=None, help="write the comparison JSON here")
    args = ap.parse_args(argv)

    from hmb_ops.loadtest.api import LoadRequest, run_load
    from hmb_ops.tune.api import plan_for, tier_environment, write_files

    users = [int(u) for u in args.users.split(",") if u.strip()]
    stages = tuple((u, args.stage_seconds) for u in users)
    work = Path(tempfile.mkdtemp(prefix="hmb-bench-tune-"))
    tuned = plan_for(database_url=args.database_url, measure_memory=True)
    write_files(tuned, work / "tuned")
    (work / "defaults.conf.py").write_text(DEFAULTS_CONF)
    seed = plan_for(tier="default", database_url=args.database_url)
    write_files(seed, work / "seed")
    tv = tuned.values
    configs = {
        "tuned": dict(app_config_file=str(work / "tuned" / "gunicorn.conf.py"), app_env=tier_environment(tuned),
                      app_workers=tv["workers"], app_threads=tv["threads"], app_worker_class=tv["worker_class"]),
        "defaults": dict(app_config_file=str(work / "defaults.conf.py"), app_workers=1, app_threads=1,
                         app_worker_class="sync"),
        "seed_4x4": dict(app_config_file=str(work / "seed" / "gunicorn.conf.py"), app_env=tier_environment(seed),
                         app_workers=4, app_threads=4, app_worker_class="gthread"),
    }
    rows = {name: {"workers": kw["app_workers"], "threads": kw["app_threads"],
                   "worker_class": kw["app_worker_class"], "runs": []} for name, kw in configs.items()}
    names = list(configs)
    for rnd in range(max(1, args.rounds)):
        # Rotate the order each round so no config always runs first (warm caches, a neighbour's load).
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            kw = configs[name]
            print(f"[round {rnd + 1} {name}] {kw['app_workers']} × {kw['app_threads']} {kw['app_worker_class']}, "
                  f"stages {list(stages)}", file=sys.stderr, flush=True)
            doc = run_load(LoadRequest(profile=args.profile, stages=stages, state_dir=args.state_dir,
                                       database_url=args.database_url,
                                       out_dir=str(work / f"run-{rnd + 1}-{name}"), **kw))
            rows[name]["runs"].append({
                "round": rnd + 1, "sustainable": sustainable(doc, args.slo_p95_ms), "valid": doc.get("valid"),
                "invalid_reasons": doc.get("invalid_reasons"),
                "generator_cpu_max": (doc.get("generator") or {}).get("cpu_percent_max"),
                "steps": [{"users": s.get("users"), "rps": s.get("rps"), "error_rate": s.get("error_rate"),
                           "p95_ms": (s.get("latency_ms") or {}).get("p95")} for s in doc.get("steps") or []],
                "out_dir": doc.get("out_dir")})
    for r in rows.values():
        per_run = [x["sustainable"]["rps"] for x in r["runs"]]
        mid = statistics.median(per_run)
        closest = min(r["runs"], key=lambda x: abs(x["sustainable"]["rps"] - mid))
        r["sustainable"] = {**closest["sustainable"], "rps": mid}
        r["rps_per_round"] = per_run
        r["valid"] = all(x["valid"] for x in r["runs"])
    base = rows["tuned"]["sustainable"]["rps"] or float("nan")
    print(f"\n{'config':<10} {'workers×threads':<18} {'sustainable rps':>16} {'p95 ms':>8} {'÷ tuned':>8}  "
          "valid  rps per round")
    for name, r in rows.items():
        s = r["sustainable"]
        ratio = s["rps"] / base if base == base and base else float("nan")
        r["ratio_to_tuned"] = round(ratio, 3)
        wt = f"{r['workers']}×{r['threads']} {r['worker_class']}"
        p95 = f"{s['p95_ms']:.0f}" if s["p95_ms"] is not None else "-"
        rounds = ", ".join(f"{x:.0f}" for x in r["rps_per_round"])
        print(f"{name:<10} {wt:<18} {s['rps']:>16.1f} {p95:>8} {ratio:>8.2f}  {r['valid']!s:<5}  {rounds}")
    best_rps = max(r["sustainable"]["rps"] for r in rows.values())
    verdict = rows["tuned"]["sustainable"]["rps"] >= 0.95 * best_rps
    print(f"\ntuned is the best or within 5 % of it: {'yes' if verdict else 'no'}")
    result = {"stages": [list(s) for s in stages], "slo_p95_ms": args.slo_p95_ms,
              "tuned_plan": tuned.values, "configs": rows, "tuned_within_5pct_of_best": verdict}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
