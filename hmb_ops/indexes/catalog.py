"""Live index state, read from pg_index / pg_class / pg_stat_user_indexes / pg_stat_progress_create_index."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from hmb_ops.indexes.ddl import mark_table, qualified
from hmb_ops.indexes.usage import StatsWindow, read_window

_INDEXES_SQL = """
SELECT c.relname, t.relname, am.amname, pg_get_indexdef(i.indexrelid),
       i.indisunique, i.indisprimary, i.indisvalid, i.indisready, i.indislive,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS constraint_backed,
       pg_relation_size(i.indexrelid), coalesce(s.idx_scan, 0), i.indnkeyatts,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k),
       i.indoption::int2[], i.indclass::oid[], pg_get_expr(i.indpred, i.indrelid, true),
       i.indexrelid::bigint, obj_description(i.indexrelid, 'pg_class'), t.oid::bigint,
       i.indcollation::oid[],
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k),
       c.relkind = 'I',
       (SELECT pc.relname FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent WHERE h.inhrelid = c.oid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname = %s
ORDER BY t.relname, c.relname
"""

_PROGRESS_SQL = """
SELECT p.pid, p.datname, t.relname, coalesce(c.relname, ''), p.command, p.phase,
       p.lockers_total, p.lockers_done, p.current_locker_pid, p.blocks_total, p.blocks_done,
       p.tuples_total, p.tuples_done
FROM pg_stat_progress_create_index p
LEFT JOIN pg_class t ON t.oid = p.relid
LEFT JOIN pg_class c ON c.oid = p.index_relid
WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass(frozen=True)
class LiveIndex:
    name: str
    table: str
    method: str
    definition: str          # pg_get_indexdef()
    unique: bool
    primary: bool
    valid: bool
    ready: bool
    live: bool
    constraint_backed: bool
    size_bytes: int
    scans: int
    key_parts: tuple[str, ...] = ()
    options: tuple[int, ...] = ()
    opclasses: tuple[int, ...] = ()
    predicate: str | None = None
    oid: int = 0
    comment: str | None = None
    table_owned: bool = False   # on a table hmb-ops created (recorded in hmb_ops_owned)
    schema: str = ""            # the schema of the index and its table
    collations: tuple[int, ...] = ()   # pg_index.indcollation per key column
    include: tuple[str, ...] = ()      # INCLUDE columns
    # An index on a partitioned table, or a partition's part of one (the parent index's name): built and
    # dropped with their partitioned index, never by DROP INDEX CONCURRENTLY.
    partitioned: bool = False
    parent_index: str | None = None

    @property
    def canonical(self) -> str:
        return canonical_definition(self.definition, self.unique)

    @property
    def marked(self) -> bool:
        """Built (or taken over with --adopt) by `hmb-ops indexes apply`: its comment says so *for
        this very table*. A comment copied with its index (LIKE ... INCLUDING ALL) names the
        original table, and a mark of the old form (no table) is not believed either."""
        return mark_table(self.comment) == qualified(self.schema, self.table)

    @property
    def owned(self) -> bool:
        """hmb-ops's to replace or drop: marked by apply, or on a table hmb-ops itself created."""
        return self.marked or self.table_owned

    @property
    def ownership(self) -> str:
        if self.marked:
            return "built by hmb-ops"
        if self.table_owned:
            return "on a table hmb-ops created"
        return "not hmb-ops's"

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("options", "opclasses", "oid", "comment", "table_owned", "schema", "collations", "include"):
            d.pop(k)
        d["key_parts"] = list(self.key_parts)
        d["owned"] = self.owned
        d["ownership"] = self.ownership
        return d


@dataclass(frozen=True)
class BuildProgress:
    pid: int
    table: str
    index: str
    command: str
    phase: str
    lockers_total: int
    lockers_done: int
    current_locker_pid: int
    blocks_total: int
    blocks_done: int
    tuples_total: int
    tuples_done: int

    @property
    def fraction(self) -> float | None:
        if self.blocks_total:
            return min(1.0, self.blocks_done / self.blocks_total)
        if self.tuples_total:
            return min(1.0, self.tuples_done / self.tuples_total)
        return None

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction": self.fraction}


@dataclass(frozen=True)
class Catalog:
    schema: str
    server_version_num: int
    indexes: tuple[LiveIndex, ...] = ()
    building: tuple[BuildProgress, ...] = ()
    tables: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    table_rows: dict = field(default_factory=dict)
    window: StatsWindow | None = None   # since when statistics are collected (None: not read)

    def by_name(self) -> dict[str, LiveIndex]:
        return {ix.name: ix for ix in self.indexes}


_USING = re.compile(r"\sUSING\s", re.IGNORECASE)


def canonical_definition(indexdef: str, unique: bool) -> str:
    """The part of pg_get_indexdef() that defines the index, independent of its name and schema.

    pg_get_indexdef gives "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (...) ...";
    everything from USING on is what the index *is*; uniqueness is carried separately.
    """
    m = _USING.search(indexdef)
    body = indexdef[m.start() + 1:] if m else indexdef
    return ("UNIQUE " if unique else "") + body.strip()


def owned_tables(conn, schema: str) -> dict[str, int]:
    """name -> oid of the tables of `schema` that hmb-ops created, read the way `db` reads them.

    The same rule as hmb_ops.db.schema.survey: a reference table whose current oid is the one
    recorded in hmb_ops_owned, or, in a database seeded before ownership was recorded (seed-info
    table, no record), the reference tables present. Indexes on them are hmb-ops's too, so
    databases seeded by hmb-ops keep working without marks on their indexes.
    """
    from hmb_ops.db import schema as refschema

    # The claims verified there (owner role, reference columns, a genuine record table).
    with conn.cursor() as cur:
        return dict(refschema.ownership(cur, schema).tables)


def read_indexes(conn, schema: str) -> list[LiveIndex]:
    with conn.cursor() as cur:
        cur.execute(_INDEXES_SQL, (schema,))
        rows = cur.fetchall()
    mine = owned_tables(conn, schema)
    return [LiveIndex(name=r[0], table=r[1], method=r[2], definition=r[3], unique=r[4], primary=r[5],
                      valid=r[6], ready=r[7], live=r[8], constraint_backed=r[9], size_bytes=int(r[10] or 0),
                      scans=int(r[11] or 0), key_parts=tuple(r[13] or ()), options=tuple(r[14] or ()),
                      opclasses=tuple(r[15] or ()), predicate=r[16], oid=int(r[17]), comment=r[18],
                      table_owned=mine.get(r[1]) == int(r[19]), schema=schema,
                      collations=tuple(int(c) for c in r[20] or ()), include=tuple(r[21] or ()),
                      partitioned=bool(r[22]), parent_index=r[23])
            for r in rows]


def read_progress(conn) -> list[BuildProgress]:
    with conn.cursor() as cur:
        cur.execute(_PROGRESS_SQL)
        rows = cur.fetchall()
    return [BuildProgress(pid=r[0], table=r[2] or "", index=r[3], command=r[4], phase=r[5],
                          lockers_total=r[6] or 0, lockers_done=r[7] or 0, current_locker_pid=r[8] or 0,
                          blocks_total=r[9] or 0, blocks_done=r[10] or 0, tuples_total=r[11] or 0,
                          tuples_done=r[12] or 0) for r in rows]


def read_catalog(conn, schema: str) -> Catalog:
    with conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        version = int(cur.fetchone()[0])
        cur.execute("SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (schema,))
        rows = cur.fetchall()
        cur.execute("SELECT extname FROM pg_extension ORDER BY extname")
        extensions = tuple(r[0] for r in cur.fetchall())
        window = read_window(cur)
    return Catalog(schema=schema, server_version_num=version, indexes=tuple(read_indexes(conn, schema)),
                   building=tuple(read_progress(conn)), tables=tuple(sorted(r[0] for r in rows)),
                   extensions=extensions, table_rows={r[0]: int(r[1]) for r in rows}, window=window)


def blocker_details(conn, pids: list[int]) -> list[dict]:
    """Who is in the way: pid, state, application, how long its transaction has been open."""
    if not pids:
        return []
    with conn.cursor() as cur:
        cur.execute("SELECT pid, state, coalesce(application_name, ''), "
                    "extract(epoch FROM now() - xact_start)::float, left(coalesce(query, ''), 80) "
                    "FROM pg_stat_activity WHERE pid = ANY(%s) ORDER BY pid", (list(pids),))
        return [{"pid": r[0], "state": r[1], "application_name": r[2],
                 "transaction_age_s": round(r[3], 1) if r[3] is not None else None, "query": r[4]}
                for r in cur.fetchall()]
