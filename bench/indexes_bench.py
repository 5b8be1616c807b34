"""`indexes bench` on a seeded database, plus login/feed latency after apply with many runs.

    .venv/bin/python bench/indexes_bench.py --database-url URL --scale large --runs 50 --hot-runs 2000

Prints a Markdown table (each declared query without vs with its index, client-side ms over
loopback) and the p50/p95/p99 of login and feed after apply, checked against the goals
(login p95 < 1 ms, feed p95 < 2 ms on the large scale).
"""

from __future__ import annotations

import json
import time

from indexes_common import arg_parser, database, ensure_data


def hot_latency(url: str, spec, names: tuple[str, ...], runs: int) -> dict:
    from hmb_ops.db.connect import connect
    from hmb_ops.indexes.explain import percentile, time_query

    by_name = {q.name: q for ix in spec.declared for q in ix.queries}
    conn = connect(url, autocommit=True, application_name="hmb-ops bench hot")
    out = {}
    try:
        with conn.cursor() as cur:
            for name in names:
                samples = time_query(cur, by_name[name], runs=runs, warmup=50, budget_s=120)
                out[name] = {"runs": len(samples), **{f"p{q}": round(percentile(samples, q), 3) for q in (50, 95, 99)},
                             "max": round(max(samples), 3)}
    finally:
        conn.close()
    return out


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--hot-runs", type=int, default=2000)
    args = p.parse_args()
    from hmb_ops.indexes import api
    from hmb_ops.indexes.bench import bench

    with database(args.database_url) as url:
        info = ensure_data(url, args.scale)
        spec = api.load_spec()
        t0 = time.monotonic()
        report = bench(url, spec, runs=args.runs)
        seconds = time.monotonic() - t0
        hot = hot_latency(url, spec, ("login", "feed", "posts_by_user", "unread_messages", "job_search_title"),
                          args.hot_runs)
    print(f"data: scale={info.get('scale')} users={info.get('users')}; bench took {seconds:.1f}s\n")
    print("| query | table rows | without p50 / p95 (ms) | with p50 / p95 (ms) | speedup (p50) | target |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in report.rows:
        print(f"| {r.name} | {r.rows:,} | {r.without_ms['p50']} / {r.without_ms['p95']} | "
              f"{r.with_ms['p50']} / {r.with_ms['p95']} | {r.speedup}x | {r.target_ms or '-'} |")
    speeds = sorted(r.speedup for r in report.rows if r.speedup)
    print(f"\nspeedup: min {speeds[0]}x, median {speeds[len(speeds) // 2]}x, max {speeds[-1]}x "
          f"over {len(speeds)} queries")
    print("\nafter apply, many runs (client-side over loopback, ms):")
    for name, h in hot.items():
        print(f"  {name}: p50 {h['p50']} p95 {h['p95']} p99 {h['p99']} max {h['max']} ({h['runs']} runs)")
    goals = {"login": 1.0, "feed": 2.0}
    for name, limit in goals.items():
        verdict = "PASS" if hot[name]["p95"] < limit else "FAIL"
        print(f"  goal {name} p95 < {limit} ms: {verdict}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"data": info, "bench": report.to_dict(), "hot": hot, "seconds": seconds}, fh, indent=2,
                      default=str)


if __name__ == "__main__":
    main()
