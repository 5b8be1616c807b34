"""`indexes suggest` finds removed indexes back from the real workload (issue #15's performance target).

    .venv/bin/python bench/indexes_suggest.py --scale medium --state-dir /tmp/bench-suggest --out suggest.json

Set-up: an embedded server in --state-dir (kept, so a second run reuses the seed), the data seeded at
--scale, every index of the shipped spec applied, the reference app served by `hmb-ops app serve`.
1. Which indexes the mix needs: one `loadtest --profile ci --target` run with every index, then each
   statement pg_stat_statements recorded is planned (EXPLAIN GENERIC_PLAN) with every index and, for
   each index in that plan, without it (DROP INDEX inside a rolled-back transaction, on the bench's own
   database): an index the mix needs is one whose absence makes a statement's estimated cost at least
   double — the rule suggest is held to. Indexes whose idx_scan grew but that no statement needs that
   way are listed as "used, not needed".
2. For each such index: drop it (`indexes apply --file <spec without it> --drop-undeclared`: it is
   hmb-ops's own), reset pg_stat_statements for the database, run the `ci` profile against the app,
   run `indexes suggest --json` (timed, wall clock of the whole command), compare, and build the index
   back (`indexes apply`).
Verdicts: "exact" = a suggestion on the table with the same key columns and directions (or all
reversed) and, like every suggestion, no predicate (a partial index matched by keys counts as
"serves"); "serves" = a suggestion on the table leading with the removed index's first key column (or
the same column for a GIN index), so it serves the same lookups; "miss" = neither.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HMB = [sys.executable, "-m", "hmb_ops.cli.main"]
SPEC = REPO / "hmb_ops/configs/indexes.yaml"


def hmb(state: Path, url: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    env.pop("DATABASE_URL", None)
    return subprocess.run([*HMB, "--database-url", url, "--state-dir", str(state), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=str(REPO))


def must(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc


@contextlib.contextmanager
def app(state: Path, url: str):
    from hmb_ops.ports import free_port

    port = free_port()
    env = {**os.environ, "CI": "true"}
    proc = subprocess.Popen([*HMB, "--database-url", url, "--state-dir", str(state), "app", "serve", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the reference app did not become ready")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def scans(url: str) -> dict[str, int]:
    from hmb_ops.db.connect import connection

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes")
        return dict(cur.fetchall())


def reset_statements(url: str) -> None:
    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse

    with connection(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        dboid = cur.fetchone()[0]
    with connection(parse(url).with_database("postgres").url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_stat_statements_reset(0, %s::oid, 0)", (dboid,))


def needed_indexes(url: str, names: set[str]) -> dict[str, list[str]]:
    """Declared index -> the statements (first 80 characters) whose generic cost at least doubles without it."""
    from hmb_ops.db.connect import connection
    from hmb_ops.db.dsn import parse
    from hmb_ops.indexes.suggest.conditions import facts

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        dboid = cur.fetchone()[0]
        conn.rollback()
    with connection(parse(url).with_database("postgres").url) as conn, conn.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_statements WHERE dbid = %s AND calls > 0", (dboid,))
        statements = [r[0] for r in cur.fetchall()]
    out: dict[str, list[str]] = {}
    with connection(url) as conn, conn.cursor() as cur:
        for sql in statements:
            if not sql.lstrip().lower().startswith(("select", "with", "update", "delete")):
                continue
            try:
                cur.execute("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) " + sql)
                base = facts(cur.fetchone()[0])
            except Exception:  # noqa: BLE001 - a statement the bench cannot plan is not counted
                conn.rollback()
                continue
            conn.rollback()
            for name in base.index_names:
                if name not in names:
                    continue
                try:
                    cur.execute("SET LOCAL lock_timeout = '2s'")
                    cur.execute(f'DROP INDEX "{name}"')
                    cur.execute("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) " + sql)
                    without = facts(cur.fetchone()[0])
                except Exception:  # noqa: BLE001 - a lock not granted: that pair is not counted
                    without = None
                conn.rollback()
                if without is not None and without.total_cost >= 2 * base.total_cost:
                    out.setdefault(name, []).append(" ".join(sql.split())[:80])
    return out


def load(state: Path, url: str, target: str, out: Path) -> None:
    must(hmb(state, url, "loadtest", "--profile", "ci", "--target", target, "--out", str(out)), "loadtest")


def norm(keys: list) -> list[tuple[str, bool]]:
    out = []
    for k in keys:
        if isinstance(k, dict):
            out.append((k.get("column") or k.get("expression") or "", k.get("order") == "desc"))
        elif "(" in str(k):  # an expression: its function and column names, casts aside
            words = [w for w in re.findall(r"[a-z_][a-z0-9_]*", str(k).lower())
                     if w not in ("cast", "as", "text", "varchar")]
            out.append((" ".join(words), False))
        else:
            words = str(k).split()
            out.append((words[0].lower(), "desc" in (w.lower() for w in words[1:])))
    return out


def verdict(declared: dict, suggestions: list[dict]) -> tuple[str, str]:
    mine = norm(declared["columns"])
    flipped = [(c, not d) for c, d in mine]
    method = declared.get("method", "btree")
    best = ("miss", "")
    for s in suggestions:
        if s["table"] != declared["table"]:
            continue
        theirs = norm(s["keys"])
        label = f"{s['name']} ({', '.join(s['keys'])})"
        if s["method"] == method and theirs in (mine, flipped):
            if declared.get("where"):  # the same keys without the partial index's predicate: it serves the lookups
                return "serves", label + " without WHERE " + declared["where"]
            return "exact", label
        if s["method"] == method and theirs and theirs[0][0] == mine[0][0]:
            best = ("serves", label)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    p.add_argument("--state-dir", help="Embedded server folder (kept; default: a temporary one, removed).")
    p.add_argument("--only", default="", help="Comma-separated index names to try (default: all the mix needs).")
    p.add_argument("--out", help="Write the results JSON here.")
    a = p.parse_args()
    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.seed import ensure_seeded

    tmp = None if a.state_dir else tempfile.TemporaryDirectory(prefix="hmb-bench-suggest-")
    state = Path(a.state_dir or tmp.name).absolute()  # type: ignore[union-attr]
    server = EmbeddedServer(state)
    status, started = server.up()
    url = status.url
    spec = yaml.safe_load(SPEC.read_text())
    declared = {d["name"]: d for d in spec["indexes"]["declared"]}
    rows = []
    used: list[str] = []
    needed: list[str] = []
    try:
        t = time.monotonic()
        ensure_seeded(url, scale=a.scale, seed=42)
        print(f"data ({a.scale}) ready in {time.monotonic() - t:.1f} s", flush=True)
        must(hmb(state, url, "indexes", "apply", "--create-extensions"), "apply")
        with tempfile.TemporaryDirectory(prefix="hmb-bench-suggest-run-") as work_dir:
            work = Path(work_dir)
            with app(state, url) as target:
                before = scans(url)
                reset_statements(url)
                load(state, url, target, work / "all")
                after = scans(url)
                used = [n for n in declared if after.get(n, 0) > before.get(n, 0)]
                needs = needed_indexes(url, set(declared))
                needed = [n for n in declared if n in needs]
                if a.only:
                    needed = [n for n in a.only.split(",") if n in declared]
                print(f"the ci mix scanned {len(used)} of {len(declared)} declared indexes; {len(needed)} of them "
                      f"are needed (a statement's cost at least doubles without): {', '.join(needed)}; used, not "
                      f"needed: {', '.join(n for n in used if n not in needs) or '-'}", flush=True)
                for name in needed:
                    rest = {**spec, "indexes": {**spec["indexes"],
                                                "declared": [d for d in spec["indexes"]["declared"]
                                                             if d["name"] != name]}}
                    without = work / f"without-{name}.yaml"
                    without.write_text(yaml.safe_dump(rest, sort_keys=False))
                    must(hmb(state, url, "indexes", "apply", "--file", str(without), "--drop-undeclared"),
                         f"drop {name}")
                    reset_statements(url)
                    load(state, url, target, work / name)
                    t0 = time.monotonic()
                    proc = must(hmb(state, url, "indexes", "suggest", "--json"), "suggest")
                    seconds = time.monotonic() - t0
                    doc = json.loads(proc.stdout)
                    v, which = verdict(declared[name], doc["suggestions"])
                    rows.append({"index": name, "table": declared[name]["table"], "verdict": v, "suggestion": which,
                                 "needed_by": needs.get(name, []),
                                 "suggest_s": round(seconds, 2), "statements": len(doc["statements"]),
                                 "candidates": doc["candidates_tried"], "suggestions": len(doc["suggestions"]),
                                 "core_s": doc["seconds"]})
                    print(f"{name:34} {v:7} {seconds:6.1f} s  {which}", flush=True)
                    must(hmb(state, url, "indexes", "apply", "--create-extensions"), f"rebuild {name}")
    finally:
        if started and not a.state_dir:
            server.down()
        if tmp is not None:
            tmp.cleanup()
    hits = sum(r["verdict"] != "miss" for r in rows)
    summary = {"scale": a.scale, "scanned": used, "needed": needed, "tried": len(rows),
               "exact": sum(r["verdict"] == "exact" for r in rows),
               "serves": sum(r["verdict"] == "serves" for r in rows), "miss": len(rows) - hits,
               "suggest_s_max": max((r["suggest_s"] for r in rows), default=None),
               "load_average": os.getloadavg(), "rows": rows}
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    if a.out:
        Path(a.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
