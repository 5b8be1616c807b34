"""Resetting the data to the seeded state before a load run: CREATE DATABASE … TEMPLATE, timed.

The run database is cloned from hmb-ops's seeded template (hmb_ops/db/template.py) with both of
PostgreSQL's strategies; each clone is timed and dropped, and the template is left in place for
the next bench. Targets (issue #14): under 2 s at `small` and under 20 s at `medium`. Side by
side, the reference: seeding the same scale from scratch (`db seed`), what a run would pay instead.

    .venv/bin/python bench/data_reset.py --scale small --repeat 5
    .venv/bin/python bench/data_reset.py --scale medium --repeat 3
    .venv/bin/python bench/data_reset.py --state-dir .hmb-ops      # the embedded server of that folder

Without --state-dir an embedded server is started in a temporary folder and stopped at the end.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmb_ops.db import template
from hmb_ops.db.embedded import EmbeddedServer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="small")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--state-dir", help="use (and leave running) the embedded server of this state folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    temp = None if args.state_dir else tempfile.mkdtemp(prefix="hmb-bench-reset-")
    server = EmbeddedServer(args.state_dir or temp)  # type: ignore[arg-type]
    status, started = server.up()
    try:
        admin = status.url
        assert admin
        from hmb_ops.db.seed import ensure_seeded
        from hmb_ops.indexes.api import ensure_indexes

        prep = {}

        def prepare(url: str) -> None:
            t0 = time.perf_counter()
            seeded = ensure_seeded(url, scale=args.scale)
            ensure_indexes(url)
            prep.update(seconds=time.perf_counter() - t0, seeded_now=seeded)

        name, _created = template.ensure_template(admin, args.scale, prepare)
        from hmb_ops.db.connect import connection

        with connection(admin) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_database_size(%s)", (name,))
            size = cur.fetchone()[0]
        # "auto" is what a load run does: the strategy picked by the template's size.
        strategies = {"FILE_COPY": "FILE_COPY", "WAL_LOG": "WAL_LOG", "auto": None}
        results: dict[str, list[float]] = {k: [] for k in strategies}
        for _ in range(args.repeat):
            for label, strategy in strategies.items():
                run = template.clone_for_run(admin, name, strategy=strategy)
                results[label].append(run.seconds)
                template.drop_run(admin, run.name)
        report = {"scale": args.scale, "template": name, "template_bytes": size,
                  "template_prepare_s": round(prep.get("seconds", 0.0), 2),
                  "template_seeded_now": prep.get("seeded_now"), "repeat": args.repeat,
                  "clone_s": {k: {"median": round(statistics.median(v), 3), "min": round(min(v), 3),
                                  "max": round(max(v), 3)} for k, v in results.items()},
                  "load": os.getloadavg()}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"scale {args.scale}: template {size / 2**20:.0f} MiB"
                  + (f", seeded + indexed in {report['template_prepare_s']} s" if prep.get("seeded_now") else ""))
            for k, v in report["clone_s"].items():
                print(f"  CREATE DATABASE … TEMPLATE, strategy {k}: median {v['median']} s "
                      f"(min {v['min']}, max {v['max']}, {args.repeat} runs)")
            print(f"  load average {report['load'][0]:.2f}")
    finally:
        if started:
            server.down()
        if temp:
            import shutil

            shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
