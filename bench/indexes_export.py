"""`indexes export` of a database with 200 indexes, side by side with `pg_dump --schema-only`.

    .venv/bin/python bench/indexes_export.py [--database-url ADMIN_URL] [--indexes 200] [--rounds 5]

Builds a fresh database (dropped afterwards) of 20 tables with 10 indexes each, cycling through
the forms the spec holds (multi-column, DESC/NULLS, expression, partial, INCLUDE, unique, gin,
gist, brin, hash, opclass, collation, storage parameters), 1,000 rows per table and a small
workload recorded by pg_stat_statements. Each round runs the CLI as a user does (`hmb-ops indexes
export --out FILE --force`, a new process: start-up included) and pg_dump --schema-only of the
same database, alternating. Then `indexes plan --file` on the export must be empty. Target:
export under 5 s.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from indexes_common import database

REPO = Path(__file__).resolve().parents[1]
FORMS = [
    "CREATE INDEX {t}_i0 ON {t} (a, b)",
    "CREATE INDEX {t}_i1 ON {t} (created_at DESC NULLS LAST, id)",
    "CREATE INDEX {t}_i2 ON {t} (lower(title))",
    "CREATE INDEX {t}_i3 ON {t} (b) WHERE deleted_at IS NULL",
    "CREATE INDEX {t}_i4 ON {t} (a) INCLUDE (b, title)",
    "CREATE UNIQUE INDEX {t}_i5 ON {t} (lower(code))",
    "CREATE INDEX {t}_i6 ON {t} USING gin (tags)",
    "CREATE INDEX {t}_i7 ON {t} USING brin (created_at) WITH (pages_per_range = 32)",
    "CREATE INDEX {t}_i8 ON {t} USING hash (code)",
    "CREATE INDEX {t}_i9 ON {t} (title text_pattern_ops)",
    "CREATE INDEX {t}_i10 ON {t} USING gin (title gin_trgm_ops)",
    "CREATE INDEX {t}_i11 ON {t} (title COLLATE \"C\", a) WITH (fillfactor = 80)",
    "CREATE INDEX {t}_i12 ON {t} USING gist (pos)",
]


def build(url: str, indexes: int) -> int:
    from hmb_ops.db.connect import connection

    per_table = 10
    tables = (indexes + per_table - 1) // per_table
    made = 0
    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for n in range(tables):
            t = f"bench_t{n:02d}"
            cur.execute(f"CREATE TABLE {t} (id bigserial PRIMARY KEY, a int, b int, title text, code text, "
                        "tags int[], pos point, created_at timestamptz DEFAULT now(), deleted_at timestamptz)")
            cur.execute(f"INSERT INTO {t} (a, b, title, code, tags, pos) SELECT g % 97, g % 13, 'title ' || g, "
                        "'c' || g, ARRAY[g % 7], point(g, g) FROM generate_series(1, 1000) g")
            for k in range(per_table):
                if made >= indexes:
                    break
                form = FORMS[(n + k) % len(FORMS)].replace("{t}_i", f"{t}_x{k}_")
                cur.execute(form.format(t=t))
                made += 1
            cur.execute(f"ANALYZE {t}")
            for v in range(3):  # a little workload for the queries: entries
                cur.execute(f"SELECT id FROM {t} WHERE a = %s AND b = %s", (v, v))
    return made


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t0, done


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="An admin URL of a server to create the bench database on "
                                          "(default: a fresh embedded server, stopped afterwards).")
    p.add_argument("--indexes", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", help="Write the results JSON here.")
    args = p.parse_args()
    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse

    with database(args.database_url) as admin:
        name = f"hmb_bench_export_{uuid.uuid4().hex[:8]}"
        with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = parse(admin).with_database(name).url
        try:
            made = build(url, args.indexes)
            with tempfile.TemporaryDirectory(prefix="hmb-bench-export-") as tmp:
                out = Path(tmp) / "exported.yaml"
                hmb = [sys.executable, "-m", "hmb_ops.cli.main", "--database-url", url]
                from hmb_ops.db.embedded import EmbeddedServer

                pg_dump = str(EmbeddedServer._bin("pg_dump"))
                export_s, dump_s, core_s = [], [], []
                last = None
                for _ in range(args.rounds):
                    s, last = timed(hmb + ["indexes", "export", "--schema", "public", "--out", str(out), "--force"])
                    if last.returncode != 0:
                        print(last.stderr, file=sys.stderr)
                        return 1
                    export_s.append(s)
                    core = re.search(r"exported \d+ index\(es\) from \d+ schema\(s\) in ([0-9.]+)s", last.stderr)
                    if core:
                        core_s.append(float(core.group(1)))
                    s, dumped = timed([pg_dump, "--schema-only", "-d", url, "-f", str(Path(tmp) / "dump.sql")])
                    if dumped.returncode != 0:
                        print(dumped.stderr, file=sys.stderr)
                        return 1
                    dump_s.append(s)
                plan = subprocess.run(hmb + ["indexes", "plan", "--file", str(out), "--json"], capture_output=True,
                                      text=True, timeout=300)
                actions = json.loads(plan.stdout)["actions"] if plan.returncode == 0 else None
                import yaml

                declared = yaml.safe_load(out.read_text())["indexes"]["declared"]
                with_queries = sum(1 for d in declared if d.get("queries"))
            result = {"indexes_built": made, "exported": len(declared), "with_queries": with_queries,
                      "rounds": args.rounds,
                      "export_s": {"median": round(statistics.median(export_s), 3), "min": round(min(export_s), 3),
                                   "max": round(max(export_s), 3)},
                      # the export itself, without the process start-up and imports (from its summary line)
                      "export_core_s": {"median": round(statistics.median(core_s), 3) if core_s else None,
                                        "min": round(min(core_s), 3) if core_s else None},
                      "pg_dump_schema_only_s": {"median": round(statistics.median(dump_s), 3),
                                                "min": round(min(dump_s), 3)},
                      "plan_actions_after_export": None if actions is None else len(actions),
                      "target_s": 5.0, "met": max(export_s) < 5.0 and actions == [],
                      "summary_line": (last.stderr.strip().splitlines() or [""])[-1] if last else ""}
        finally:
            with connection(admin, autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
