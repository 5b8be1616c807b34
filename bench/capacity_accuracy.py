"""Capacity accuracy: a short step run (≤ 2 minutes) against a long fine-grained sweep, same machine.

    .venv/bin/python bench/capacity_accuracy.py [--tier default] [--slo 'p95<100ms'] [--out DIR]

Both runs go through `hmb-ops capacity` (its API): the reference app under the tier's tuned
config on the embedded database, the seed's traffic mix without think time. The short run uses
coarse steps (default 6 × 15 s = 90 s of load); the long run a fine sweep (default 16 × 30 s).
The figure is the short run's sustainable requests/s (its knee) as a ratio of the long sweep's
knee; the target is within ±15 %. The USL's predicted peak of each run is shown beside it.
The short run is repeated after the long one (a shared machine drifts): both ratios are shown,
and both must be within the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _steps(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def run(tier: str, steps: list[int], seconds: float, slo: list[str], out: Path, state_dir: str, label: str):
    from hmb_ops.capacity.runner import CapacityRequest, run_capacity
    from hmb_ops.capacity.users import load_model

    req = CapacityRequest(tiers=(tier,), slo=tuple(slo), model=load_model(), stages=tuple((u, seconds) for u in steps),
                          out_dir=str(out / label), state_dir=state_dir)
    t0 = time.monotonic()
    report = run_capacity(req, progress=lambda m: print(f"[{label}] {m}", file=sys.stderr, flush=True))
    return report.tiers[0], time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", default="default")
    ap.add_argument("--slo", action="append", default=None, help="SLO expression (repeatable; default p95<100ms)")
    ap.add_argument("--short-steps", default="4,8,12,16,24,32")
    ap.add_argument("--short-seconds", type=float, default=15.0)
    ap.add_argument("--long-steps", default="2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32")
    ap.add_argument("--long-seconds", type=float, default=30.0)
    ap.add_argument("--out", default=None, help="folder for both runs and accuracy.json (default: a temp folder)")
    ap.add_argument("--state-dir", default=None, help="hmb-ops state folder (default: a temp folder)")
    args = ap.parse_args(argv)
    slo = args.slo or ["p95<100ms"]
    short_steps, long_steps = _steps(args.short_steps), _steps(args.long_steps)
    short_load = len(short_steps) * args.short_seconds
    if short_load > 120:
        ap.error(f"the short run must stay within 2 minutes of load ({short_load:g} s asked)")
    out = Path(args.out or tempfile.mkdtemp(prefix="hmb-capacity-accuracy-"))
    state = args.state_dir or str(out / "state")

    short, short_wall = run(args.tier, short_steps, args.short_seconds, slo, out, state, "short")
    long, long_wall = run(args.tier, long_steps, args.long_seconds, slo, out, state, "long")
    again, again_wall = run(args.tier, short_steps, args.short_seconds, slo, out, state, "short-again")

    def ratio_of(t):
        return t.sustainable_rps / long.sustainable_rps if long.sustainable_rps else None

    ratios = [ratio_of(short), ratio_of(again)]
    within = all(r is not None and abs(r - 1) <= 0.15 for r in ratios)

    def usl(t):
        f = t.fit
        if not f.ok:
            return "n/a"
        peak = f"{f.x_max:.0f} req/s" if f.x_max is not None else "no peak"
        return f"{peak} @ {f.n_max:g} users (R² {f.r_squared:.2f})" if f.n_max is not None else f"{peak} (R² {f.r_squared:.2f})"

    short_steps_text = f"{len(short_steps)} × {args.short_seconds:g} s ({short_steps[0]}..{short_steps[-1]} users)"
    runs = [(short, short_wall), (long, long_wall), (again, again_wall)]

    def knee_users(t):
        return f"{t.knee.step.users:g} users" if t.knee.step else "none"

    def p95(t):
        return f"{t.knee.step.p95_ms:.1f} ms" if t.knee.step else "–"

    rows = [("", "short step run", "long fine sweep", "short run again"),
            ("steps", short_steps_text,
             f"{len(long_steps)} × {args.long_seconds:g} s ({long_steps[0]}..{long_steps[-1]} users)", short_steps_text),
            ("load time", f"{short_load:g} s", f"{len(long_steps) * args.long_seconds:g} s", f"{short_load:g} s"),
            ("wall time", *[f"{w:.0f} s" for _, w in runs]),
            ("knee", *[knee_users(t) for t, _ in runs]),
            ("sustainable req/s", *[f"{t.sustainable_rps:.1f}" for t, _ in runs]),
            ("p95 at knee", *[p95(t) for t, _ in runs]),
            ("USL peak", *[usl(t) for t, _ in runs]),
            ("valid", *[str(t.valid) for t, _ in runs]),
            ("ratio to the long sweep", f"{ratios[0]:.3f}" if ratios[0] else "–", "1",
             f"{ratios[1]:.3f}" if ratios[1] else "–")]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"capacity accuracy, tier {args.tier}, SLO {', '.join(slo)}")
    for r in rows:
        print("  ".join(v.ljust(width[i]) for i, v in enumerate(r)))
    print(f"short / long sustainable req/s: {', '.join('–' if r is None else f'{r:.3f}' for r in ratios)} "
          f"({'within' if within else 'OUTSIDE'} ±15 %)")
    doc = {"tier": args.tier, "slo": slo, "ratios": ratios, "within_15_percent": within,
           "short": {**short.to_dict(), "wall_s": short_wall}, "long": {**long.to_dict(), "wall_s": long_wall},
           "short_again": {**again.to_dict(), "wall_s": again_wall}}
    (out / "accuracy.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"details: {out / 'accuracy.json'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
