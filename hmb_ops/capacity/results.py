"""Reading results documents: engineer D's strict loader is the one reader (missing/corrupt → exit 2)."""

from __future__ import annotations

import os


def read_results(path: str | os.PathLike) -> dict:
    # Imported here: the loader module pulls in pydantic models the CLI's start-up does not need.
    from hmb_ops.loadtest.api import load_results

    return load_results(path)
