"""Shared set-up for the indexes benchmarks: a database (given, or an embedded one we start and stop) with seed data."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def arg_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                   help="A database to seed/reuse (default: a fresh embedded server, stopped afterwards).")
    p.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    p.add_argument("--out", help="Write the results JSON here.")
    return p


@contextlib.contextmanager
def database(url: str | None):
    if url:
        yield url
        return
    from hmb_ops.db.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="hmb-bench-ix-") as tmp:
        server = EmbeddedServer(Path(tmp))
        status, _ = server.up()
        try:
            yield status.url
        finally:
            server.down()


def ensure_data(url: str, scale: str) -> dict:
    from hmb_ops.db.seed import ensure_seeded, seeded_info

    ensure_seeded(url, scale=scale, seed=42)
    return seeded_info(url) or {}
