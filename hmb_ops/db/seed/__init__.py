"""Realistic, deterministic reference data, loaded with COPY into tables hmb-ops owns.

    generate.py     the data: scales, random streams, one generator method per table (no database)
    load.py         COPY loading: chunked producer/consumer, one or two connections, keys and ANALYZE after
    orchestrate.py  seeding a database: plan or refuse, seed record and lock, load with clean-up, re-use

The names other packages use are re-exported here (`from hmb_ops.db.seed import ensure_seeded`).
"""

from __future__ import annotations

from hmb_ops.db.seed.generate import SCALES, Scale
from hmb_ops.db.seed.load import ProgressFn
from hmb_ops.db.seed.orchestrate import (
    DEFAULT_HASH_ROUNDS,
    DEFAULT_PASSWORD,
    LOCK_KEY,
    META_TABLE,
    SeedPlan,
    SeedResult,
    check_password,
    ensure_seeded,
    may_create_extensions,
    read_seed_record,
    seed,
    seeded_info,
)

__all__ = ["DEFAULT_HASH_ROUNDS", "DEFAULT_PASSWORD", "LOCK_KEY", "META_TABLE", "SCALES", "ProgressFn", "Scale",
           "SeedPlan", "SeedResult", "check_password", "ensure_seeded", "may_create_extensions", "read_seed_record",
           "seed", "seeded_info"]
