"""Reading results documents: engineer D's strict loader is the one reader (missing/corrupt → exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

# A results document is tens of KB (a day-long run with per-second series stays in the low MB);
# the limit keeps `report /dev/zero` or a stray multi-GB file from filling memory.
MAX_RESULTS_BYTES = 64 * 1024 * 1024


def read_results(path: str | os.PathLike) -> dict:
    # Imported here: the loader module pulls in pydantic models the CLI's start-up does not need.
    from hmb_ops.errors import ConfigError
    from hmb_ops.loadtest.api import load_results
    from hmb_ops.settings.loader import read_limited

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    # Only a regular file up to the limit is read at all (a FIFO, a device or a folder is refused
    # before the first byte); the strict loader then reads it.
    read_limited(p, limit=MAX_RESULTS_BYTES, what="results file")
    try:
        return load_results(p)
    except RecursionError:  # JSON nested thousands of levels deep: not a document hmb-ops wrote
        raise ConfigError("not a results document (nested too deep)", path=str(p),
                          hint="give a results.json from hmb-ops loadtest or capacity") from None
