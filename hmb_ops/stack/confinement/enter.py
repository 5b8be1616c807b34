"""The wrapper that puts a command inside its limits before it runs:

    python -m hmb_ops.stack.confinement.enter [--procs FILE]... [--cpus 0,1] -- CMD ARGS...

It writes its own pid into each cgroup's `cgroup.procs`, narrows its CPU affinity, then execs CMD
in the same process: Gunicorn's master starts inside the limits, so every worker it forks inherits
them (no window in which a worker runs unconfined). Standard library only: it runs before CMD.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    procs: list[str] = []
    cpus: set[int] | None = None
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--procs" and i + 1 < len(argv):
            procs.append(argv[i + 1])
        elif argv[i] == "--cpus" and i + 1 < len(argv):
            cpus = {int(c) for c in argv[i + 1].split(",") if c}
        else:
            print(f"confinement: unknown argument {argv[i]!r}", file=sys.stderr)
            return 2
        i += 2
    command = argv[i + 1:]
    if not command:
        print("confinement: no command after --", file=sys.stderr)
        return 2
    try:
        for path in procs:
            with open(path, "w") as fh:
                fh.write(str(os.getpid()))
        if cpus:
            os.sched_setaffinity(0, cpus)
    except OSError as exc:
        # Exit 3 is Gunicorn's own "boot error": the caller reports the line below as the reason.
        print(f"confinement: cannot enter the limits: {exc}", file=sys.stderr)
        return 3
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
