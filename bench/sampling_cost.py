"""What server and database sampling costs at 1 s intervals, as % of one core.

The reference app runs under a real Gunicorn (2 workers) on a small seeded database. Two phases
of the same length, the app idle in both:
  A. nothing samples it: the app's own CPU (its baseline);
  B. the ServerSampler loadtest uses — process tree (CPU/RSS per worker), pg_stat_activity and a
     scrape of /metrics (the reference app's families) once a second.
Reported: the sampler's own CPU (this process, whose main thread only sleeps) and the app's extra
CPU in B over A (serving /metrics once a second), each as % of one core. Target: sampler < 2 %.
PostgreSQL's side (one small pg_stat_activity query a second) is not in either figure.

    .venv/bin/python bench/sampling_cost.py                  # 60 s per phase
    .venv/bin/python bench/sampling_cost.py --seconds 20 --json

Without DATABASE_URL an embedded server is started in a temporary folder and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmb_ops.db.connect import connection
from hmb_ops.db.dsn import parse
from hmb_ops.db.seed import ensure_seeded
from hmb_ops.loadtest.process_sampler import ProcessTree
from hmb_ops.loadtest.prom_scrape import Scraper
from hmb_ops.loadtest.sampling import REFERENCE_METRICS, ServerSampler
from hmb_ops.stack.gunicorn import GunicornProcess


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def measure(app: GunicornProcess, url: str, seconds: float) -> dict:
    me = psutil.Process()
    app_procs = tree(app.pid)
    # A: nobody samples the app
    a0, w0 = cpu_seconds(app_procs), time.monotonic()
    time.sleep(seconds)
    app_idle = (cpu_seconds(app_procs) - a0) / (time.monotonic() - w0)
    # B: the sampler loadtest runs, once a second
    sampler = ServerSampler(processes=ProcessTree(app.pid), database_url=url,
                            scraper=Scraper(app.url + "/metrics", REFERENCE_METRICS))
    sampler.mark_start()
    sampler.start()
    time.sleep(1.5)  # first connection and imports are start-up, not the per-second cost
    m0, a0, w0 = cpu_seconds([me]), cpu_seconds(app_procs), time.monotonic()
    n0 = len(sampler.samples)
    time.sleep(seconds)
    wall = time.monotonic() - w0
    mine = (cpu_seconds([me]) - m0) / wall
    app_sampled = (cpu_seconds(app_procs) - a0) / wall
    samples = len(sampler.samples) - n0
    sampler.stop()
    gaps = sum(1 for s in sampler.samples if s["gaps"])
    return {"seconds": round(wall, 1), "samples": samples, "gaps": gaps,
            "sampler_cpu_percent_of_a_core": round(mine * 100, 3),
            "app_extra_cpu_percent_of_a_core": round((app_sampled - app_idle) * 100, 3),
            "app_idle_cpu_percent_of_a_core": round(app_idle * 100, 3),
            "sampler_ms_per_sample": round(mine * wall * 1000 / samples, 2) if samples else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    server = tmp = None
    admin = os.environ.get("DATABASE_URL")
    if not admin:
        from hmb_ops.db.embedded import EmbeddedServer

        tmp = tempfile.TemporaryDirectory(prefix="hmb-bench-")
        server = EmbeddedServer(tmp.name)
        admin = server.up()[0].url
    try:
        name = "hmb_bench_sampling"
        with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        url = parse(admin).with_database(name).url
        ensure_seeded(url, scale="small", hash_rounds=4)
        with GunicornProcess(url, workers=2, threads=2) as app:
            result = measure(app, url, args.seconds)
    finally:
        if server is not None:
            server.down()
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"sampler at 1 s: {result['sampler_cpu_percent_of_a_core']} % of one core "
              f"({result['sampler_ms_per_sample']} ms CPU per sample, {result['samples']} samples, "
              f"{result['gaps']} with gaps); the app serving /metrics: +{result['app_extra_cpu_percent_of_a_core']} % "
              f"(idle {result['app_idle_cpu_percent_of_a_core']} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
