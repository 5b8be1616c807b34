"""The planner's answer with hypothetical indexes (HypoPG) on the user's own server.

Hypothetical indexes live in this backend's memory only: nothing is written, no lock is taken on a
table. Each question runs in one transaction (safe behind a transaction-mode pooler) that resets
them and is rolled back. HypoPG models btree (and hash, brin, bloom) indexes, not GIN: trigram
candidates are reported as not evaluated.
"""

from __future__ import annotations

from hmb_ops.indexes.suggest import planning
from hmb_ops.indexes.suggest.candidates import Candidate


class HypoWhatIf:
    method = "hypopg"
    trigram_ok = False

    def __init__(self, conn, server_version: int, version: str):
        self.conn = conn
        self.server_version = server_version
        self.version = version
        self.names: dict[str, Candidate] = {}

    def build(self, candidates: list[Candidate]) -> list[str]:
        return []  # nothing to build: each question creates its hypothetical indexes

    def plan(self, sql: str, present: list[Candidate], values: list | None = None):
        """(plan JSON, mode, {index name in the plan: candidate})."""
        created: dict[str, Candidate] = {}
        with self.conn.cursor() as cur:
            try:
                # READ ONLY: the statement is only planned; hypothetical indexes live in backend memory
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT hypopg_reset()")
                for c in present:
                    if c.method != "btree":
                        continue
                    cur.execute("SELECT indexname FROM hypopg_create_index(%s)", (c.ddl("hmb_hypo"),))
                    created[cur.fetchone()[0]] = c
                plan, mode = planning.explain(cur, sql, self.server_version, values)
                return plan, mode, created
            finally:
                self._reset()

    def param_types(self, sql: str) -> list[str]:
        return planning.param_types_rolled_back(self.conn, sql)

    def size(self, c: Candidate) -> tuple[int | None, str]:
        if c.method != "btree":
            return None, "not estimated (HypoPG models no GIN index)"
        with self.conn.cursor() as cur:
            try:
                cur.execute("SELECT hypopg_relation_size(indexrelid) FROM hypopg_create_index(%s)",
                            (c.ddl("hmb_hypo"),))
                return int(cur.fetchone()[0]), "HypoPG's estimate"
            finally:
                self._reset()

    def _reset(self) -> None:
        """End the planning transaction and drop this backend's hypothetical indexes."""
        self.conn.rollback()
        with self.conn.cursor() as cur:
            cur.execute("SELECT hypopg_reset()")
        self.conn.rollback()

    def close(self) -> None:
        pass
