"""Dropping the declared indexes (for without/with measurements), online and under the apply lock.

Only hmb-ops's own indexes are dropped (built by `indexes apply`, or on a table hmb-ops created):
a user's index that happens to carry a declared name is left in place and reported as skipped,
so the caller knows the "without" state was not reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmb_ops.indexes import apply as applymod, ddl
from hmb_ops.indexes.catalog import read_indexes
from hmb_ops.indexes.spec import IndexSpec


@dataclass(frozen=True)
class DropResult:
    dropped: tuple[str, ...]
    skipped: tuple[str, ...]   # declared names held by indexes hmb-ops did not build: kept

    def to_dict(self) -> dict:
        return {"dropped": list(self.dropped), "skipped": list(self.skipped)}


def drop_declared(url: str, spec: IndexSpec, *, wait: bool = True, timeout: int | None = None) -> DropResult:
    from hmb_ops.db.connect import connect

    conn = connect(url, autocommit=True, timeout=timeout, application_name="hmb-ops indexes drop")
    try:
        applymod.acquire_apply_lock(conn, wait=wait)
        try:
            live = {ix.name: ix for ix in read_indexes(conn, spec.schema_name)}
            dropped, skipped = [], []
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '30s'")
                for ix in spec.declared:
                    have = live.get(ix.name)
                    if have is None:
                        continue
                    if not have.owned:
                        skipped.append(ix.name)
                        continue
                    cur.execute(ddl.drop_index_sql(spec.schema_name, ix.name))
                    dropped.append(ix.name)
            return DropResult(dropped=tuple(dropped), skipped=tuple(skipped))
        finally:
            applymod.release_apply_lock(conn)
    finally:
        conn.close()
