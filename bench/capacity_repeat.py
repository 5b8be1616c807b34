"""Repeatability of confined capacity: the same `capacity --plans <1-CPU plan>` run N times.

    .venv/bin/python bench/capacity_repeat.py [--plan render-standard] [--runs 3] [--out DIR]
        [--steps 1,2,3,4,6,8,12,16 --step-seconds 12] [--slo 'p95<100ms']

Each run goes through `hmb-ops capacity` (its API) exactly as a user runs it: the reference app
under the plan's CPUs and memory (engineer B1's confinement; with a 1-CPU plan on this 2-CPU
machine PostgreSQL and the load generator get the other CPU), every run starting from the seeded
template (the same rows each time), the shipped `step` profile unless --steps is given.

The target (issue #14): the runs agree within ±10 %, i.e. every run's sustainable req/s is within
10 % of the runs' mean. The spread (largest / smallest), each run's confinement and the load
average before and after are printed; the machine is shared, so a missed target is reported as
missed, with the load it ran under. Exit 0 within, 1 outside.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOLERANCE = 0.10


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def run(plan: str, stages, slo: list[str], out: Path, state_dir: str, label: str) -> dict:
    from hmb_ops.capacity.runner import CapacityRequest, run_capacity
    from hmb_ops.capacity.users import load_model

    req = CapacityRequest(tiers=(), plans=(plan,), slo=tuple(slo), model=load_model(), stages=stages,
                          out_dir=str(out / label), state_dir=state_dir)
    started, t0, load = time.strftime("%H:%M:%S"), time.monotonic(), _load()
    report = run_capacity(req, progress=lambda m: print(f"[{label}] {m}", file=sys.stderr, flush=True))
    return {"label": label, "tier": report.tiers[0], "wall_s": time.monotonic() - t0, "started": started,
            "load_before": load, "load_after": _load()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="render-standard", help="a 1-CPU plan of hmb_ops/configs/plans.yaml")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", default=None, help="user counts per step (default: the shipped step profile)")
    ap.add_argument("--step-seconds", type=float, default=12.0)
    ap.add_argument("--slo", action="append", default=None, help="SLO expression (repeatable; default p95<100ms)")
    ap.add_argument("--out", default=None, help="folder for every run and repeat.json (default: a temp folder)")
    ap.add_argument("--state-dir", default=None, help="hmb-ops state folder (default: under --out)")
    args = ap.parse_args(argv)
    if args.runs < 2:
        ap.error("--runs must be at least 2")
    stages = (tuple((int(u), args.step_seconds) for u in args.steps.split(",") if u.strip())
              if args.steps else None)
    slo = args.slo or ["p95<100ms"]
    out = Path(args.out or tempfile.mkdtemp(prefix="hmb-capacity-repeat-"))
    state = args.state_dir or str(out / "state")

    runs = [run(args.plan, stages, slo, out, state, f"run-{i}") for i in range(1, args.runs + 1)]
    values = [r["tier"].sustainable_rps for r in runs]
    mean = statistics.fmean(values)
    deviations = [v / mean - 1 if mean else float("inf") for v in values]
    within = all(abs(d) <= TOLERANCE for d in deviations)
    spread = max(values) / min(values) if min(values) > 0 else None

    print(f"capacity repeatability, plan {args.plan}, SLO {', '.join(slo)}, "
          f"steps {args.steps or 'the shipped step profile'}")
    for r, d in zip(runs, deviations, strict=True):
        t = r["tier"]
        fit = t.usl
        r2 = f"{fit.r_squared:.2f}" if fit.r_squared is not None else "–"
        print(f"{r['label']} {r['started']}: {t.sustainable_rps:.1f} req/s ({d:+.1%} from the mean), knee "
              f"{t.knee_users if t.knee_users is not None else 'none'} users, USL R² {r2}, "
              f"{t.users_supported:,} users, wall {r['wall_s']:.0f} s, load {r['load_before']} -> {r['load_after']}")
        print(f"  {t.confinement_note}")
    spread_text = f"{spread:.3f}×" if spread else "n/a"
    print(f"mean {mean:.1f} req/s; largest / smallest {spread_text}; every run within ±{TOLERANCE:.0%} of the mean: "
          f"{'yes' if within else 'NO'}")
    doc = {"plan": args.plan, "slo": slo, "tolerance": TOLERANCE, "within": within, "mean_rps": mean,
           "spread": spread, "deviations": deviations,
           "runs": [{"label": r["label"], "started": r["started"], "wall_s": r["wall_s"],
                     "load_before": r["load_before"], "load_after": r["load_after"],
                     **r["tier"].model_dump(mode="json")} for r in runs]}
    (out / "repeat.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"details: {out / 'repeat.json'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
