"""The reference schema: the tables of the HireMeBahamas backend plus a fan-out feed table.

Primary and foreign keys only. Every secondary index (including the unique ones on e-mail and
follows) is declared in hmb_ops/configs/indexes.yaml and owned by `hmb-ops indexes`, so the same database
can be measured with and without them.

Ownership: hmb-ops is pointed at databases it does not own, and the reference table names
(`users`, `posts`, ...) are the names a team's own tables have. So every table hmb-ops creates is
recorded in `hmb_ops_owned` (schema, name and the table's oid, committed with the CREATE) and only
a table whose current oid is the recorded one counts as hmb-ops's: a same-named table somebody
created, or one that replaced hmb-ops's after a drop, is foreign. Foreign objects are never
dropped, truncated or written; a drop names its tables, never uses CASCADE, and is refused with the
list of dependents when anything outside the drop depends on them.

A record is only as good as whoever could write it: anybody allowed to create tables in the schema
can create a `hmb_ops_owned` of their own and claim their `posts`. So a claim is believed only when
(1) the record table is the one hmb-ops creates (its columns, its comment) and belongs to the role
hmb-ops connects as, and (2) the claimed table belongs to that role too and has exactly the
reference schema's columns (names and types, in order). A claim failing either is a foreign table,
reported with the reason; hmb-ops never drops or writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hmb_ops.errors import UsageError

TABLES: tuple[str, ...] = (
    "users", "jobs", "job_applications", "posts", "post_likes", "post_comments", "follows",
    "conversations", "messages", "notifications", "reviews", "profile_pictures", "feed_items",
)

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS users (
        id bigserial PRIMARY KEY,
        email text NOT NULL,
        hashed_password text NOT NULL,
        first_name text NOT NULL DEFAULT '',
        last_name text NOT NULL DEFAULT '',
        username text NOT NULL,
        phone text,
        location text,
        role text NOT NULL DEFAULT 'user',
        is_active boolean NOT NULL DEFAULT true,
        is_admin boolean NOT NULL DEFAULT false,
        is_available_for_hire boolean NOT NULL DEFAULT false,
        oauth_provider text,
        oauth_provider_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS jobs (
        id bigserial PRIMARY KEY,
        title text NOT NULL,
        company text NOT NULL,
        description text NOT NULL DEFAULT '',
        category text NOT NULL,
        job_type text NOT NULL DEFAULT 'full-time',
        location text NOT NULL,
        salary_min integer,
        salary_max integer,
        is_remote boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'active',
        employer_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS job_applications (
        id bigserial PRIMARY KEY,
        job_id bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        applicant_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        cover_letter text,
        status text NOT NULL DEFAULT 'pending',
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS posts (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        content text NOT NULL,
        image_url text,
        post_type text NOT NULL DEFAULT 'text'
            CHECK (post_type IN ('text', 'job', 'image', 'video')),
        related_job_id bigint REFERENCES jobs(id) ON DELETE SET NULL,
        like_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS post_likes (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        post_id bigint NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS post_comments (
        id bigserial PRIMARY KEY,
        post_id bigint NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        content text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS follows (
        id bigserial PRIMARY KEY,
        follower_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        followed_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS conversations (
        id bigserial PRIMARY KEY,
        participant_1_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        participant_2_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        id bigserial PRIMARY KEY,
        conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        sender_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        receiver_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        content text NOT NULL,
        is_read boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS notifications (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        actor_id bigint REFERENCES users(id) ON DELETE CASCADE,
        notification_type text NOT NULL CHECK (notification_type IN
            ('follow', 'job_application', 'job_post', 'like', 'comment', 'mention', 'message')),
        content text NOT NULL DEFAULT '',
        related_id bigint,
        is_read boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS reviews (
        id bigserial PRIMARY KEY,
        job_id bigint REFERENCES jobs(id) ON DELETE CASCADE,
        reviewer_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reviewee_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
        comment text,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS profile_pictures (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        file_url text NOT NULL,
        is_current boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    # Fan-out on write: one row per follower per post, filled by the background job.
    """CREATE TABLE IF NOT EXISTS feed_items (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        post_id bigint NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        author_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
)


OWNED_TABLE = "hmb_ops_owned"
SEED_INFO_TABLE = "hmb_ops_seed_info"
# hmb-ops's own bookkeeping: never reported as foreign, never listed among the reference tables.
BOOKKEEPING = (OWNED_TABLE, SEED_INFO_TABLE)
# The same key as the seeder's session lock (seed.LOCK_KEY): creating tables and seeding one
# database never interleave, so a concurrent `db init` cannot slip a table between a seeder's
# survey and its drop.
LOCK_KEY = 0x686D62736565
DEDICATED_HINT = "use a dedicated database, e.g. createdb hmb_ops_load, and pass its URL with --database-url"

# Relations a user can own data in (tables, partitioned tables, views, materialized views, foreign
# tables). Sequences and indexes belong to their tables.
_USER_RELKINDS = ("r", "p", "v", "m", "f")
_KIND_NAMES = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


OWNED_COMMENT = "hmb-ops: the tables hmb-ops created here; it drops or rewrites only these"
# The record table exactly as record_owned creates it (name, format_type), in order.
OWNED_COLUMNS = (("schema_name", "text"), ("object_name", "text"), ("relid", "oid"), ("kind", "text"),
                 ("created_by", "text"), ("created_at", "timestamp with time zone"))
# Columns every version of the seed-info table has (older ones lack state, shares_database, run_id).
SEED_INFO_COLUMNS = ("scale", "seed", "users", "hash_rounds", "password_hash", "rows", "seconds", "seeded_at")

# DDL type -> what format_type() reports for the column it creates.
_TYPE_NAMES = {"bigserial": "bigint", "bigint": "bigint", "integer": "integer", "smallint": "smallint",
               "text": "text", "boolean": "boolean", "timestamptz": "timestamp with time zone"}
_COLUMN_LINE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s+(" + "|".join(_TYPE_NAMES) + r")\b")


def reference_columns(table: str) -> tuple[tuple[str, str], ...]:
    """(name, format_type) of each column the DDL gives `table`, in order."""
    body = DDL[TABLES.index(table)].split("(", 1)[1]
    return tuple((m.group(1), _TYPE_NAMES[m.group(2)]) for line in body.splitlines()
                 if (m := _COLUMN_LINE.match(line)))


REFERENCE_COLUMNS = {t: reference_columns(t) for t in TABLES}


@dataclass(frozen=True)
class Ownership:
    """Which relations of one schema are verifiably hmb-ops's, and why the others claimed are not."""

    tables: dict                 # reference table name -> oid, claimed and verified
    bookkeeping: tuple           # hmb-ops's bookkeeping tables present and verified
    reasons: dict                # name -> why a claimed (or bookkeeping-named) relation is not hmb-ops's


@dataclass(frozen=True)
class Survey:
    """What the database holds, seen by ownership, for one schema (the connection's current one)."""

    schema: str
    owned: tuple[str, ...]       # reference tables present and created by hmb-ops (recorded oid matches)
    colliding: tuple[str, ...]   # reference table names held by relations hmb-ops did not create
    foreign: tuple[str, ...]     # every other relation hmb-ops did not create ("schema.name" outside ours)
    missing: tuple[str, ...]     # reference tables absent
    oids: dict                   # name -> oid of every relation in this schema that was looked at
    kinds: dict                  # name -> relkind, same keys
    reasons: dict = field(default_factory=dict)  # name -> why a claimed relation is not hmb-ops's
    bookkeeping: tuple = ()      # hmb-ops's own bookkeeping tables present (verified)

    @property
    def all_foreign(self) -> tuple[str, ...]:
        return self.colliding + self.foreign

    def to_dict(self) -> dict:
        return {"schema": self.schema, "owned": list(self.owned), "colliding": list(self.colliding),
                "foreign": list(self.foreign), "missing": list(self.missing), "unverified": dict(self.reasons)}


def _lock(cur) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))


def _owned_record(cur, schema: str) -> dict[str, int] | None:
    """name -> recorded oid of the tables hmb-ops created in `schema`; None when there is no record."""
    cur.execute("SELECT to_regclass(%s)", (_qualified(schema, OWNED_TABLE),))
    if cur.fetchone()[0] is None:
        return None
    cur.execute(f"SELECT object_name, relid::bigint FROM {_qualified(schema, OWNED_TABLE)} WHERE schema_name = %s",
                (schema,))
    return {name: int(oid) for name, oid in cur.fetchall()}


def _facts(cur, schema: str, names) -> dict:
    """name -> (oid, relkind, owner role, owned by the current role, [(column, type)...], comment)."""
    cur.execute("""
        SELECT c.relname, c.oid::bigint, c.relkind, pg_get_userbyid(c.relowner),
               c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user),
               ARRAY(SELECT ARRAY[a.attname::text, format_type(a.atttypid, a.atttypmod)] FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
               obj_description(c.oid, 'pg_class')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = ANY(%s)""", (schema, list(names)))
    return {r[0]: (int(r[1]), r[2], r[3], r[4], tuple(tuple(col) for col in r[5] or ()), r[6])
            for r in cur.fetchall()}


def _not_mine(fact) -> str | None:
    """Why a relation hmb-ops would have created is not (kind or owner), or None."""
    _oid, kind, owner, mine, _cols, _comment = fact
    if kind != "r":
        return f"is a {_KIND_NAMES.get(kind, 'relation')}, not a table"
    if not mine:
        return f"owned by role {owner}, not by the role hmb-ops connects as"
    return None


def ownership(cur, schema: str) -> Ownership:
    """Read (never change) which tables of `schema` hmb-ops created, verifying every claim.

    Claims come from the record (hmb_ops_owned, by oid) or, in a database seeded before records
    existed (seed-info table, no record), from the seed-info table's presence. Either source is
    believed only when it is the table hmb-ops creates and belongs to the current role; each
    claimed table only when it belongs to the current role and has the reference columns.
    """
    facts = _facts(cur, schema, TABLES + BOOKKEEPING)
    reasons: dict[str, str] = {}
    verified: list[str] = []

    marker = facts.get(OWNED_TABLE)
    if marker is not None:
        why = _not_mine(marker)
        if why is None and marker[4] != OWNED_COLUMNS:
            why = "its columns differ from the table hmb-ops creates"
        if why is None and marker[5] != OWNED_COMMENT:
            why = "it lacks the comment hmb-ops sets on it"
        if why:
            reasons[OWNED_TABLE] = f"not hmb-ops's record: {why}"
        else:
            verified.append(OWNED_TABLE)
    info = facts.get(SEED_INFO_TABLE)
    if info is not None:
        why = _not_mine(info)
        if why is None and not set(SEED_INFO_COLUMNS) <= {c for c, _t in info[4]}:
            why = "its columns differ from the table hmb-ops creates"
        if why:
            reasons[SEED_INFO_TABLE] = f"not hmb-ops's seed record: {why}"
        else:
            verified.append(SEED_INFO_TABLE)

    present = {t: facts[t] for t in TABLES if t in facts}
    if marker is not None:
        source = "recorded in hmb_ops_owned"
        record = {}
        if marker[1] == "r" and marker[4] == OWNED_COLUMNS:  # readable as a record at all
            cur.execute("SELECT has_table_privilege(%s::oid, 'SELECT')", (marker[0],))
            if cur.fetchone()[0]:
                record = _owned_record(cur, schema) or {}
        claimed = [t for t in present if record.get(t) == present[t][0]]
        trusted = OWNED_TABLE in verified
    elif info is not None:
        # Seeded before ownership was recorded: the seed-info table proves hmb-ops loaded the
        # reference tables present then (that seeder dropped anything else by the name).
        source = "left by an earlier hmb-ops seed (hmb_ops_seed_info)"
        claimed = list(present)
        trusted = SEED_INFO_TABLE in verified
    else:
        claimed, trusted, source = [], False, ""
    owned: dict[str, int] = {}
    for table in claimed:
        fact = present[table]
        why = _not_mine(fact)
        if why is None and fact[4] != REFERENCE_COLUMNS[table]:
            why = "its columns differ from the reference schema"
        if why is None and not trusted:
            why = reasons.get(OWNED_TABLE if marker is not None else SEED_INFO_TABLE, "")
        if why:
            reasons[table] = f"{source} but {why}"
        else:
            owned[table] = fact[0]
    return Ownership(tables=owned, bookkeeping=tuple(verified), reasons=reasons)


def survey(conn) -> Survey:
    """Read (never change) which relations are hmb-ops's own and which belong to somebody else."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_schema()")
        schema = cur.fetchone()[0]
        if schema is None:
            raise UsageError("the connection has no current schema (empty search_path)",
                             hint="set search_path to the schema hmb-ops should use")
        mine = ownership(cur, schema)
        # Every user relation of the database, wherever it lives: extension members
        # (pg_stat_statements' views), system schemas and hmb-ops's scratch schemas excluded.
        cur.execute("""
            SELECT n.nspname, c.relname, c.oid::bigint, c.relkind
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = ANY(%s)
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname NOT LIKE 'hmb\\_ops\\_%%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e')
              AND NOT c.relispartition
            ORDER BY n.nspname <> %s, n.nspname, c.relname""", (list(_USER_RELKINDS), schema))
        rows = cur.fetchall()
    oids = {name: oid for nsp, name, oid, _kind in rows if nsp == schema}
    kinds = {name: kind for nsp, name, _oid, kind in rows if nsp == schema}
    owned, colliding, foreign = [], [], []
    for nsp, name, oid, _kind in rows:
        if nsp == schema and name in mine.bookkeeping:
            continue
        if nsp == schema and mine.tables.get(name) == oid:
            owned.append(name)
        elif nsp == schema and (name in TABLES or name in BOOKKEEPING):
            # A reference name, or a bookkeeping name hmb-ops cannot trust: building beside it
            # would tie hmb-ops's tables (or records) to somebody else's.
            colliding.append(name)
        else:
            foreign.append(name if nsp == schema else f"{nsp}.{name}")
    order = {t: i for i, t in enumerate(TABLES + BOOKKEEPING)}

    def rank(name: str) -> int:  # owned and colliding names are all reference or bookkeeping names
        return order.get(name, len(order))

    return Survey(schema=schema, owned=tuple(sorted(owned, key=rank)),
                  colliding=tuple(sorted(colliding, key=rank)), foreign=tuple(foreign),
                  missing=tuple(t for t in TABLES if t not in oids), oids=oids, kinds=kinds,
                  reasons={n: r for n, r in mine.reasons.items() if n in colliding},
                  bookkeeping=mine.bookkeeping)


def _qualified(schema: str, name: str) -> str:
    return _quote(schema) + "." + _quote(name)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ddl_for(table: str) -> str:
    statement = DDL[TABLES.index(table)]
    return statement.replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE", 1)


def record_owned(cur, schema: str, tables) -> None:
    """Write the ownership record of `tables` (just created in this transaction) with their oids."""
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {_qualified(schema, OWNED_TABLE)} (
        schema_name text NOT NULL,
        object_name text NOT NULL,
        relid oid NOT NULL,
        kind text NOT NULL DEFAULT 'table',
        created_by text NOT NULL DEFAULT 'hmb-ops',
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schema_name, object_name))""")
    cur.execute(f"COMMENT ON TABLE {_qualified(schema, OWNED_TABLE)} IS %s", (OWNED_COMMENT,))
    for table in tables:
        cur.execute(f"INSERT INTO {_qualified(schema, OWNED_TABLE)} (schema_name, object_name, relid)"
                    " VALUES (%s, %s, to_regclass(%s)) ON CONFLICT (schema_name, object_name)"
                    " DO UPDATE SET relid = EXCLUDED.relid, created_at = now()",
                    (schema, table, _qualified(schema, table)))


def collision_error(found: Survey) -> UsageError:
    names = ", ".join(found.colliding)
    others = f"; and beside them: {', '.join(found.foreign)}" if found.foreign else ""
    why = "".join(f"; {name}: {reason}" for name, reason in found.reasons.items())
    return UsageError(
        f"the database holds tables hmb-ops did not create with the reference schema's names: {names}"
        f" (schema {found.schema}{why}){others}; hmb-ops never drops or writes them",
        hint=f"{DEDICATED_HINT}; or, to drop them, name each: "
             f"hmb-ops db seed --drop-foreign {','.join(found.colliding)}")


def create_schema(conn, *, commit: bool = True) -> list[str]:
    """Create the reference tables that are missing and record them as hmb-ops's.

    Refuses (UsageError, nothing created) when a reference table name is held by a table hmb-ops
    did not create: building on it would tie hmb-ops's tables to a user's by foreign keys.
    Returns the tables that were created.
    """
    with conn.cursor() as cur:
        _lock(cur)
    found = survey(conn)
    if found.colliding:
        conn.rollback()
        raise collision_error(found)
    created = list(found.missing)
    with conn.cursor() as cur:
        for table in created:
            cur.execute(_ddl_for(table))
        record_owned(cur, found.schema, created + [t for t in found.owned if t not in created])
    if commit:
        conn.commit()
    return created


def dependents_outside(conn, names: list[str]) -> list[str]:
    """Objects outside `names` (relations of the current schema) that depend on one of them.

    A DROP without CASCADE would fail on each; a DROP with CASCADE would silently take them along.
    Reported as "view order_totals", "table orders (constraint orders_user_id_fkey)", ...
    """
    if not names:
        return []
    with conn.cursor() as cur:
        cur.execute("""
            WITH target AS (
                SELECT c.oid, c.reltype FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)),
            -- a table's sequences (serial columns) go with it: what depends on them counts too
            owned_seq AS (
                SELECT d.objid AS oid FROM pg_depend d JOIN target t ON d.refobjid = t.oid
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.deptype IN ('a', 'i')),
            gone AS (SELECT oid FROM target UNION SELECT oid FROM owned_seq),
            dep AS (
                SELECT d.classid, d.objid, d.objsubid FROM pg_depend d
                WHERE d.deptype = 'n' AND (
                    (d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM gone))
                    OR (d.refclassid = 'pg_type'::regclass AND d.refobjid IN (SELECT reltype FROM target))))
            SELECT DISTINCT
                CASE dep.classid
                    WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = dep.objid)
                    WHEN 'pg_constraint'::regclass THEN (SELECT conrelid FROM pg_constraint WHERE oid = dep.objid)
                    WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = dep.objid)
                    WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = dep.objid)
                    WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = dep.objid)
                    WHEN 'pg_class'::regclass THEN dep.objid
                END AS relid,
                CASE WHEN dep.classid = 'pg_constraint'::regclass
                     THEN (SELECT conname FROM pg_constraint WHERE oid = dep.objid) END AS conname,
                pg_describe_object(dep.classid, dep.objid, dep.objsubid) AS what
            FROM dep""", (list(names),))
        rows = cur.fetchall()
        cur.execute("SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
                    " AND relname = ANY(%s)", (list(names),))
        inside = {r[0] for r in cur.fetchall()}
        found: list[str] = []
        for relid, conname, what in rows:
            if relid is not None and relid in inside:
                continue
            if relid is not None:
                cur.execute("SELECT c.relkind, CASE WHEN c.relnamespace = current_schema()::regnamespace"
                            " THEN c.relname ELSE n.nspname || '.' || c.relname END"
                            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
                            (relid,))
                kind, rel = cur.fetchone()
                text = f"{_KIND_NAMES.get(kind, 'relation')} {rel}" + (f" (constraint {conname})" if conname else "")
            else:
                text = what
            if text not in found:
                found.append(text)
    return found


# The mark `hmb-ops indexes apply` comments its indexes with; copied from
# hmb_ops.indexes.ddl.MARK_PREFIX (db/ sits below indexes/, so it does not import it). Only the
# prefix is tested: the text after it may name the table or change.
INDEX_MARK_PREFIX = "hmb-ops:"


def attachments_outside(conn, names: list[str]) -> list[str]:
    """The user's objects attached to hmb-ops's tables `names` that a DROP TABLE would take along.

    Sequences OWNED BY a column, triggers and indexes depend "automatically" on their table:
    DROP TABLE removes them without CASCADE and without a word, so dependents_outside does not
    see them. Not reported: each table's own serial sequence (its column default uses it),
    internal (foreign key) triggers, constraint-backed indexes and indexes `indexes apply` marked.
    Reported as "sequence my_seq (OWNED BY follows.follower_id)", "trigger my_audit on users", ...
    """
    if not names:
        return []
    with conn.cursor() as cur:
        cur.execute("""
            WITH target AS (
                SELECT c.oid, c.relname FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(names)s)
                  AND c.relkind IN ('r', 'p'))
            SELECT 1 AS ord, 'sequence ' || CASE WHEN s.relnamespace = current_schema()::regnamespace
                       THEN s.relname ELSE n.nspname || '.' || s.relname END
                   || ' (OWNED BY ' || t.relname || '.' || a.attname || ')' AS what
            FROM pg_depend d
            JOIN target t ON d.refobjid = t.oid
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_namespace n ON n.oid = s.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
              AND d.deptype = 'a'
              -- the column's serial sequence: its default (pg_attrdef) depends on it
              AND NOT EXISTS (
                  SELECT 1 FROM pg_attrdef ad JOIN pg_depend dd
                    ON dd.classid = 'pg_attrdef'::regclass AND dd.objid = ad.oid
                  WHERE ad.adrelid = t.oid AND ad.adnum = d.refobjsubid
                    AND dd.refclassid = 'pg_class'::regclass AND dd.refobjid = s.oid)
            UNION ALL
            SELECT 2, 'trigger ' || tg.tgname || ' on ' || t.relname
            FROM pg_trigger tg JOIN target t ON tg.tgrelid = t.oid
            WHERE NOT tg.tgisinternal
            UNION ALL
            SELECT 3, 'index ' || ic.relname || ' on ' || t.relname || ' (not built by hmb-ops)'
            FROM pg_index i JOIN target t ON i.indrelid = t.oid
            JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                                                              AND con.conrelid = t.oid)
              AND left(coalesce(obj_description(i.indexrelid, 'pg_class'), ''), %(plen)s) <> %(prefix)s
            ORDER BY 1, 2""", {"names": list(names), "plen": len(INDEX_MARK_PREFIX), "prefix": INDEX_MARK_PREFIX})
        return [what for _, what in cur.fetchall()]


def drop_tables(conn, owned: Sequence[str], foreign: Sequence[str] = (), kinds: dict | None = None) -> None:
    """Drop the named relations of the current schema in one statement per kind, without CASCADE.

    Dependencies among the dropped relations are fine (PostgreSQL drops one statement's list
    together); anything else that depends on them makes the DROP fail, so the caller's transaction
    rolls back having dropped nothing. Views go first: a view can depend on a table, not the reverse.
    """
    kinds = kinds or {}
    groups: dict[str, list[str]] = {}
    for name in list(foreign) + list(owned):
        groups.setdefault(kinds.get(name, "r"), []).append(name)
    statements = {"v": "DROP VIEW", "m": "DROP MATERIALIZED VIEW", "f": "DROP FOREIGN TABLE"}
    with conn.cursor() as cur:
        for kind in ("v", "m", "f", "r", "p"):
            if groups.get(kind):
                cur.execute(f"{statements.get(kind, 'DROP TABLE')} " + ", ".join(_quote(n) for n in groups[kind]))


def drop_owned(conn, *, commit: bool = True) -> list[str]:
    """Drop the reference tables hmb-ops created (and its records of them); foreign ones stay.

    Returns the dropped tables. Raises UsageError, having dropped nothing, when an object hmb-ops
    does not own depends on one of them.
    """
    with conn.cursor() as cur:
        _lock(cur)
    found = survey(conn)
    owned = list(reversed(found.owned))
    outside = dependents_outside(conn, owned) + attachments_outside(conn, owned)
    if outside:
        conn.rollback()
        raise UsageError(f"cannot drop hmb-ops's tables: {', '.join(outside)} depend on them and hmb-ops did not"
                         " create those", hint="drop or change those objects first, or use a dedicated database")
    drop_tables(conn, owned)
    with conn.cursor() as cur:
        for table in found.bookkeeping:  # only hmb-ops's verified own: a same-named foreign one stays
            cur.execute(f"DROP TABLE {_qualified(found.schema, table)}")
    if commit:
        conn.commit()
    return owned
