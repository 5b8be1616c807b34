"""Dropping the declared indexes (for without/with measurements), online and under the apply lock."""

from __future__ import annotations

from hmb_ops.indexes import apply as applymod
from hmb_ops.indexes import ddl
from hmb_ops.indexes.catalog import read_indexes
from hmb_ops.indexes.spec import IndexSpec


def drop_declared(url: str, spec: IndexSpec, *, wait: bool = True, timeout: int | None = None) -> list[str]:
    from hmb_ops.db.connect import connect

    conn = connect(url, autocommit=True, timeout=timeout, application_name="hmb-ops indexes drop")
    try:
        applymod.acquire_apply_lock(conn, wait=wait)
        try:
            live = {ix.name for ix in read_indexes(conn, spec.schema_name)}
            dropped = []
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '30s'")
                for ix in spec.declared:
                    if ix.name in live:
                        cur.execute(ddl.drop_index_sql(spec.schema_name, ix.name))
                        dropped.append(ix.name)
            return dropped
        finally:
            applymod.release_apply_lock(conn)
    finally:
        conn.close()
