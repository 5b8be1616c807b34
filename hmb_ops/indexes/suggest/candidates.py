"""Candidate indexes per table from what the statements do with it.

Equality columns first (most selective first, from the planner statistics' n_distinct), then one
range column or the ORDER BY ... LIMIT keys; each equality column alone; join columns alone (the
inner side of a nested loop looks them up); a GIN trigram index for LIKE/ILIKE patterns that may
start with '%' (only where pg_trgm can be had). At most three key columns: wider keys rarely beat
a narrower one by enough to pay for their size, and dexter stops at two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hmb_ops.indexes.suggest.conditions import TableUse

MAX_KEYS = 3


@dataclass(frozen=True)
class Candidate:
    schema: str
    table: str
    method: str                # btree | gin
    keys: tuple[str, ...]      # "user_id", "created_at DESC", "title gin_trgm_ops"
    kind: str                  # equality | range | join | sort | trigram

    @property
    def identity(self) -> tuple:
        return (self.schema, self.table, self.method, tuple(k.lower() for k in self.keys))

    def key_sql(self) -> str:
        return ", ".join(_quote_key(k) for k in self.keys)

    def ddl(self, name: str, *, concurrently: bool = False) -> str:
        using = "" if self.method == "btree" else f" USING {self.method}"
        return (f"CREATE INDEX{' CONCURRENTLY' if concurrently else ''} {_ident(name)} ON "
                f"{_ident(self.schema)}.{_ident(self.table)}{using} ({self.key_sql()})")

    def columns(self) -> list[str]:
        return [k.split()[0] for k in self.keys if not k.startswith("(")]


_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


def _ident(name: str) -> str:
    return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'


def _quote_key(key: str) -> str:
    if key.startswith("("):  # an expression key, already in parentheses
        return key
    col, _, rest = key.partition(" ")
    return _ident(col) + (" " + rest if rest else "")


def for_use(use: TableUse, distinct: dict[str, float], *, trigram: bool) -> list[Candidate]:
    """Every candidate for one table of one statement; ``distinct`` is n_distinct per column (pg_stats)."""
    out: list[Candidate] = []

    def add(keys: list[str], kind: str, method: str = "btree") -> None:
        keys = keys[:MAX_KEYS]
        if keys:
            c = Candidate(use.schema, use.table, method, tuple(keys), kind)
            if all(c.identity != o.identity for o in out):
                out.append(c)

    def selectivity(col: str) -> float:
        n = distinct.get(col, 0.0)
        # n_distinct < 0 is a fraction of the rows (it grows with the table): more selective than any count
        return -n if n >= 0 else 1e12 * n

    eq = sorted(use.equality, key=selectivity)
    for col in eq:
        add([col], "equality")
    if len(eq) > 1:
        add(eq, "equality")
    sort_cols = [k for k in use.sort if k.split()[0] not in eq]
    if use.sort and eq:
        add(eq + sort_cols, "sort")
        add(eq[:1] + sort_cols, "sort")
    elif use.sort:
        add(sort_cols, "sort")
    for col in use.range:
        if col not in eq:
            if eq:
                add(eq + [col], "range")
            add([col], "range")
    for col in use.join:
        if col not in eq:
            add([col], "join")
    if trigram:
        for col in use.like:
            add([f"{col} gin_trgm_ops"], "trigram", method="gin")
    return out


def index_name(c: Candidate, taken: set[str]) -> str:
    """idx_<table>_<columns>[_trgm], at most 63 bytes, not one of ``taken`` (existing or chosen names)."""
    cols = "_".join(_name_part(k) for k in c.keys)
    base = f"idx_{c.table}_{cols}" + ("_trgm" if c.method == "gin" else "")
    base = re.sub(r"[^a-z0-9_]", "_", base.lower())[:60]
    name, n = base, 2
    while name in taken:
        name = f"{base[:57]}_{n}"
        n += 1
    taken.add(name)
    return name


_CAST_WORDS = {"cast", "as", "text", "varchar", "character", "varying"}


def _name_part(key: str) -> str:
    if not key.startswith("("):
        return key.split()[0]
    return "_".join(w for w in re.findall(r"[a-z_][a-z0-9_]*", key.lower()) if w not in _CAST_WORDS)
