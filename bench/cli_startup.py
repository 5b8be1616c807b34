"""`hmb-ops --help` start-up time, side by side with `python -c pass` on the same interpreter.

Run: .venv/bin/python bench/cli_startup.py [--runs 30]
Prints median and p90 wall time of each and the difference; the target is < 0.3 s for --help.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return sorted(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hmb-ops --help": [str(Path(sys.executable).parent / "hmb-ops"), "--help"],
        "hmb-ops db --help": [str(Path(sys.executable).parent / "hmb-ops"), "db", "--help"],
    }
    results = {name: timed(cmd, args.runs) for name, cmd in cases.items()}
    base = statistics.median(results["python -c pass"])
    print(f"{'command':<22} {'median ms':>10} {'p90 ms':>8} {'over python ms':>15}")
    for name, samples in results.items():
        med = statistics.median(samples)
        p90 = samples[int(len(samples) * 0.9) - 1]
        print(f"{name:<22} {med * 1000:>10.1f} {p90 * 1000:>8.1f} {(med - base) * 1000:>15.1f}")
    verdict = statistics.median(results["hmb-ops --help"]) < 0.3
    print(f"target: hmb-ops --help under 300 ms: {'met' if verdict else 'NOT met'}")


if __name__ == "__main__":
    main()
