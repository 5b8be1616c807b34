"""hmb-ops loadtest vs wrk (and vs plain Locust) against the reference app, side by side.

    .venv/bin/python bench/loadtest_vs_wrk.py [--users 16] [--duration 10] [--json]

One embedded PostgreSQL (own temp state folder), seeded `small`, declared indexes, the reference app
under Gunicorn with the `default` tier. Then, at the same concurrency, one generator process each:
  1. mixed profile: wrk + bench/loadtest_mix.lua (same weights, tokens of real seeded users) vs
     hmb-ops (the smoke mix with no think time);
  2. GET /health: wrk vs hmb-ops vs a plain Locust FastHttpUser run (locust --headless).
Both hmb-ops runs are the scenario engine: the mix is the shipped reference scenario
(hmb_ops/configs/scenarios/hiremebahamas.yaml), the single GET a user's scenario file given with
--scenario (SINGLE_GET below), as for any other app. Prints achieved req/s, the ratios to wrk
(targets: mix >= 0.9, single GET >= 0.85) and hmb-ops' generator CPU per request. wrk is installed
with apt-get when missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BENCH_PROFILES = """profiles:
  bench-mix:
    users: {users}
    spawn_rate: 1000
    duration: {duration}
    think_time: [0, 0]
    mix: {mix}
  bench-health:
    users: {users}
    spawn_rate: 1000
    duration: {duration}
    think_time: [0, 0]
    mix: {{health: 1}}
"""

SINGLE_GET = """scenario:
  name: single-get
  requests:
    - {key: health, name: GET /health, path: /health}
"""

PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Health(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/health")
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get)...", file=sys.stderr)
    subprocess.run(["apt-get", "update"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def _post_json(url: str, doc: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _get_json(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def write_wrk_users(work: Path, base: str, users: int, mix: dict) -> Path:
    """Log in `users` seeded users, collect their own post/conversation ids, write the Lua data file."""
    entries = []
    for i in range(1, users + 1):
        email = f"user{i}@example.test"
        token = _post_json(base + "/api/auth/login", {"email": email, "password": "hmb-ops-demo"})["token"]
        posts = [p["id"] for p in _get_json(base + "/api/feed", token)["items"]][:20]
        convs = [c["id"] for c in _get_json(base + "/api/messages/conversations", token)["items"]][:20]
        # Lua tables are all braces: %-formatting saves doubling each one in an f-string.
        entries.append("{token=%s, email=%s, posts={%s}, conversations={%s}}" % (  # noqa: UP031 - Lua braces
            json.dumps(token), json.dumps(email), ",".join(map(str, posts)), ",".join(map(str, convs))))
    lua_mix = ", ".join("{%s, %s}" % (json.dumps(k), w) for k, w in mix.items())  # noqa: UP031 - Lua braces
    lua_users = "return { password = \"hmb-ops-demo\", users = {%s}, mix = {%s} }\n"
    (work / "bench-users.lua").write_text(lua_users % (", ".join(entries), lua_mix))
    script = work / "loadtest_mix.lua"
    shutil.copy(REPO / "bench" / "loadtest_mix.lua", script)
    return script


_UNITS = {"k": 1e3, "M": 1e6}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_wrk(wrk: str, url: str, users: int, duration: int, script: Path | None) -> dict:
    cmd = [wrk, "-t1", f"-c{users}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cpu0 = _children_cpu()
    res = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 60)
    cpu = _children_cpu() - cpu0
    text = res.stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    return {"rps": rps, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "cpu_ms_per_request": round(cpu * 1000 / int(total.group(1)), 4) if total else None,
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0, "command": " ".join(cmd)}


def run_hmb(url: str, profile: str, config: Path, out: Path, scenario: Path | None = None) -> dict:
    from hmb_ops.loadtest.api import LoadRequest, run_load

    cpu0 = _children_cpu()
    doc = run_load(LoadRequest(profile=profile, target=url, config_files=(str(config),), out_dir=str(out),
                               scenario=str(scenario) if scenario else None)).model_dump(mode="json")
    cpu = _children_cpu() - cpu0  # the generator child, start-up included (as for plain Locust)
    # wrk starts with ready tokens; our users log in (bcrypt) first. The step window starts once
    # every user is logged in, so it is the figure comparable with wrk's.
    return {"rps": doc["achieved_rps"], "steady_rps": doc["steps"][0]["rps"],
            "steady_window_s": [doc["steps"][0]["start_s"], doc["steps"][0]["end_s"]],
            "failures": doc["summary"]["failures"],
            "failures_by_kind": {k: v for k, v in doc["summary"]["failures_by_kind"].items() if v},
            "p95_ms": doc["summary"]["latency_ms"]["p95"], "valid": doc["valid"],
            "cpu_ms_per_request": doc["generator"]["cpu_ms_per_request"],
            "cpu_ms_per_request_incl_startup": round(cpu * 1000 / max(1, doc["summary"]["requests"]), 4),
            "invalid_reasons": doc["invalid_reasons"], "generator": doc["generator"]}


def run_plain_locust(url: str, users: int, duration: int, work: Path) -> dict:
    locustfile = work / "plain_locustfile.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    prefix = work / "plain"
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r", str(users),
           "-t", f"{duration}s", "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"]
    cpu0 = _children_cpu()
    subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    cpu = _children_cpu() - cpu0  # includes importing locust (~1 s of CPU)
    with open(f"{prefix}_stats.csv") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    agg = rows["Aggregated"]
    # Locust's own req/s includes the spawn second; use requests / run time like the others.
    return {"rps": float(agg["Requests/s"]), "requests": int(agg["Request Count"]),
            "failures": int(agg["Failure Count"]), "command": " ".join(cmd[2:]),
            "cpu_ms_per_request_incl_startup": round(cpu * 1000 / max(1, int(agg["Request Count"])), 4)}


def median_run(runs: list[dict]) -> dict:
    """The run with the median req/s, plus every round's figure (the machine is shared: noise)."""
    key = "steady_rps" if "steady_rps" in runs[0] else "rps"
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[len(ordered) // 2], "rounds_rps": [round(r[key], 1) for r in runs],
            "median_rps": statistics.median(r[key] for r in runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per tool; medians are compared")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.seed import ensure_seeded
    from hmb_ops.indexes.api import ensure_indexes
    from hmb_ops.loadtest.profiles import get_profile
    from hmb_ops.stack.gunicorn import GunicornProcess
    from hmb_ops.tune.api import plan_for, tier_environment, write_files

    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="hmb-bench-loadtest-"))
    server = EmbeddedServer(work / "state")
    status, _ = server.up()
    try:
        url = status.url
        ensure_seeded(url, scale="small")
        ensure_indexes(url)
        plan = plan_for(tier="default", database_url=url)
        write_files(plan, work / "app")
        mix = dict(get_profile("smoke").mix.items())
        single_get = work / "single-get.yaml"
        single_get.write_text(SINGLE_GET)
        config = work / "profiles.yaml"
        config.write_text(BENCH_PROFILES.format(users=args.users, duration=args.duration,
                                                mix=json.dumps(mix)))
        with GunicornProcess(url, config_file=str(work / "app" / "gunicorn.conf.py"),
                             env=tier_environment(plan), log_dir=str(work / "app")) as app:
            app.start(ready_timeout=60)
            base = app.url
            script = write_wrk_users(work, base, args.users, mix)
            results: dict = {"users": args.users, "duration_s": args.duration, "tier": "default",
                             "app": {"workers": plan.values.get("workers"), "threads": plan.values.get("threads")}}
            time.sleep(1)
            runs: dict = {k: [] for k in ("mw", "mh", "hw", "hh", "hp")}
            for i in range(args.rounds):  # interleaved, so drift in the machine's load hits every tool
                runs["mw"].append(run_wrk(wrk, base, args.users, args.duration, script))
                runs["mh"].append(run_hmb(base, "bench-mix", config, work / f"out-mix-{i}"))
                runs["hw"].append(run_wrk(wrk, base + "/health", args.users, args.duration, None))
                runs["hh"].append(run_hmb(base, "bench-health", config, work / f"out-health-{i}", single_get))
                runs["hp"].append(run_plain_locust(base, args.users, args.duration, work))
            results["mixed"] = {"wrk": median_run(runs["mw"]), "hmb_ops": median_run(runs["mh"])}
            results["health"] = {"wrk": median_run(runs["hw"]), "hmb_ops": median_run(runs["hh"]),
                                 "plain_locust": median_run(runs["hp"])}
    finally:
        server.down()
        shutil.rmtree(work, ignore_errors=True)

    mixed, health = results["mixed"], results["health"]
    results["ratios"] = {
        "mixed_hmb_ops_vs_wrk": round(mixed["hmb_ops"]["rps"] / mixed["wrk"]["rps"], 3),
        "mixed_hmb_ops_steady_vs_wrk": round(mixed["hmb_ops"]["steady_rps"] / mixed["wrk"]["rps"], 3),
        "health_hmb_ops_vs_wrk": round(health["hmb_ops"]["rps"] / health["wrk"]["rps"], 3),
        "health_hmb_ops_steady_vs_wrk": round(health["hmb_ops"]["steady_rps"] / health["wrk"]["rps"], 3),
        "health_plain_locust_vs_wrk": round(health["plain_locust"]["rps"] / health["wrk"]["rps"], 3),
        "health_hmb_ops_vs_plain_locust": round(health["hmb_ops"]["rps"] / health["plain_locust"]["rps"], 3),
        "health_hmb_ops_steady_vs_plain_locust": round(health["hmb_ops"]["steady_rps"]
                                                       / health["plain_locust"]["rps"], 3),
    }
    # Each round ran wrk and hmb-ops back to back, so a round's own ratio is the pair least touched by
    # drift in the shared machine's load; their median and spread are printed beside the medians' ratio.
    def paired(kind: str, tool: str) -> list[float]:
        return [round(h.get("steady_rps", h["rps"]) / w["rps"], 3) for h, w in zip(runs[tool], runs[kind], strict=True)]

    results["ratios_per_round"] = {"mixed_hmb_ops_steady_vs_wrk": paired("mw", "mh"),
                                   "health_hmb_ops_steady_vs_wrk": paired("hw", "hh"),
                                   "health_plain_locust_vs_wrk": paired("hw", "hp")}
    results["ratios_per_round_median"] = {k: statistics.median(v) for k, v in results["ratios_per_round"].items()}
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        app = results["app"]
        print(f"reference app, tier default ({app['workers']} workers x {app['threads']} threads), "
              f"{args.users} connections/users, {args.duration} s each, one generator process each, "
              f"median of {args.rounds} interleaved rounds")
        print(f"mixed:   wrk {mixed['wrk']['rps']:.0f} req/s (non-2xx {mixed['wrk']['non_2xx']})   "
              f"hmb-ops {mixed['hmb_ops']['rps']:.0f} req/s (failures {mixed['hmb_ops']['failures']}, "
              f"p95 {mixed['hmb_ops']['p95_ms']} ms)   ratio {results['ratios']['mixed_hmb_ops_vs_wrk']}; "
              f"once all users are logged in {mixed['hmb_ops']['steady_rps']:.0f} req/s, ratio "
              f"{results['ratios']['mixed_hmb_ops_steady_vs_wrk']}")
        print(f"/health: wrk {health['wrk']['rps']:.0f} req/s   hmb-ops {health['hmb_ops']['rps']:.0f} req/s "
              f"(ratio {results['ratios']['health_hmb_ops_vs_wrk']}, generator "
              f"{health['hmb_ops']['generator']['cpu_ms_per_request']} ms CPU/request, CPU max "
              f"{health['hmb_ops']['generator']['cpu_percent_max']} %, valid {health['hmb_ops']['valid']})   "
              f"plain Locust {health['plain_locust']['rps']:.0f} req/s (ratio "
              f"{results['ratios']['health_plain_locust_vs_wrk']})   hmb-ops / plain Locust "
              f"{results['ratios']['health_hmb_ops_vs_plain_locust']}")
        print(f"generator CPU per request on /health: wrk {health['wrk']['cpu_ms_per_request']} ms, hmb-ops "
              f"{health['hmb_ops']['cpu_ms_per_request']} ms (incl. start-up "
              f"{health['hmb_ops']['cpu_ms_per_request_incl_startup']} ms), plain Locust "
              f"{health['plain_locust']['cpu_ms_per_request_incl_startup']} ms (incl. its start-up)")
        print("rounds req/s: " + json.dumps({f"{k}/{t}": v["rounds_rps"] for k in ("mixed", "health")
                                              for t, v in results[k].items()}))
        print("ratio per round (hmb-ops once ready / wrk of the same round): "
              + json.dumps(results["ratios_per_round"]) + "; medians "
              + json.dumps(results["ratios_per_round_median"]))
        print(f"load average at the end: {results['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
