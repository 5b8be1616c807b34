"""CPU a busy app really gets: unconfined, and confined to 1 and 0.5 CPU (hmb_ops.stack.confinement).

tests/fixtures/burn_app under Gunicorn (2 sync workers) gets 2 clients asking for a Python busy
loop, for --seconds; the CPU seconds of the master and workers over the wall time is the share of
CPUs used. The reference here is the unconfined run on the same machine. On a machine other work
shares, the unconfined figure is what that work left; the confined ones must stay at or under
their limit either way.

    .venv/bin/python bench/confinement_cpu.py --seconds 8
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from hmb_ops.stack.confinement import Confined, plan_confinement
from hmb_ops.stack.gunicorn import GunicornProcess

BURN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "burn_app"


def cpu_seconds(pid: int) -> float:
    master = psutil.Process(pid)
    total = 0.0
    for p in [master, *master.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(cpus: float | None, seconds: float) -> tuple[float, dict]:
    plan = plan_confinement(cpus, None)
    with Confined(plan) as box:
        app = GunicornProcess("postgresql://x:y@127.0.0.1:9/none", workers=2,
                              config_file=str(BURN / "gunicorn.conf.py"), app="burn:app",
                              wrap=box.wrap if plan.method != "none" else None).start(ready_timeout=60)
        try:
            end = time.monotonic() + seconds

            def client():
                while time.monotonic() < end:
                    urllib.request.urlopen(app.url + "/burn?s=0.5", timeout=60).read()

            before, t0 = cpu_seconds(app.pid), time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            share = (cpu_seconds(app.pid) - before) / (time.monotonic() - t0)
        finally:
            app.stop()
            app.cleanup_logs()
        return share, box.record()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for cpus in (None, 1.0, 0.5):
        share, rec = measure(cpus, args.seconds)
        limit = "unconfined" if cpus is None else f"{cpus:g} CPU ({rec['method']})"
        thr = rec.get("throttling") or {}
        print(f"  {limit:>22}: {share:.2f} CPUs used"
              + (f", throttled in {thr.get('throttled_periods')} of {thr.get('periods')} periods" if thr else ""))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
