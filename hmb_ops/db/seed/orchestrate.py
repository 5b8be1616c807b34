"""Seeding a database: the plan (what may be dropped, or a refusal before any change), the seed
record, the lock between seeders, the load with its clean-up, and re-use of matching data.

Passwords: every seeded user gets the same password, hashed once with bcrypt at `hash_rounds`
(each user still has a real bcrypt hash, only the salt is shared). A cheap cost (4) keeps load
tests from measuring bcrypt; 10 is what the reference app used. `ensure_seeded` re-hashes in
place when asked for another password or cost, without reloading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from hmb_ops.db.seed.generate import SCALES, Generator, Scale
from hmb_ops.db.seed.load import (
    BIG_FIRST,
    FK_ORDER,
    LEAF_TABLES,
    ProgressFn,
    add_primary_keys,
    analyze,
    bulk_session,
    cancel_all,
    in_parallel,
    run_tasks,
)
from hmb_ops.errors import UsageError

META_TABLE = "hmb_ops_seed_info"
LOCK_KEY = 0x686D62736565  # "hmbsee": serialises concurrent seeders of one database
DEFAULT_PASSWORD = "hmb-ops-demo"
DEFAULT_HASH_ROUNDS = 10


@dataclass(frozen=True)
class SeedResult:
    scale: str
    seed: int
    rows: dict[str, int]
    seconds: float
    hash_rounds: int
    fk_checks_deferred: bool
    seconds_by_table: dict[str, float] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"scale": self.scale, "seed": self.seed, "rows": dict(self.rows), "total_rows": self.total_rows,
                "seconds": round(self.seconds, 3), "rows_per_second": round(self.rows_per_second, 1),
                "hash_rounds": self.hash_rounds, "fk_checks_deferred": self.fk_checks_deferred,
                "seconds_by_table": {k: round(v, 3) for k, v in self.seconds_by_table.items()}}


# The seed record: what was loaded and whether the load finished. It is written, with state
# 'loading', in the same transaction that creates (and records as hmb-ops's) the tables, and
# committed before the first row is copied: a seed killed mid-load leaves a database that is
# recognisably hmb-ops's own and half-seeded, which the next seed repairs without --reset.
META_COLUMNS = "scale, seed, users, hash_rounds, password_hash, rows, seconds, seeded_at"
OPTIONAL_META = {"state": "'complete'", "shares_database": "false", "run_id": "NULL"}


def _meta_ddl(cur) -> None:
    cur.execute(f"""CREATE TABLE {META_TABLE} (
        id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        state text NOT NULL CHECK (state IN ('loading', 'complete')),
        schema_name text NOT NULL DEFAULT current_schema(),
        scale text NOT NULL, seed integer NOT NULL, users bigint,
        hash_rounds integer NOT NULL, password_hash text NOT NULL,
        rows jsonb, seconds double precision,
        shares_database boolean NOT NULL DEFAULT false,
        run_id text,
        created_by text NOT NULL DEFAULT 'hmb-ops',
        seeded_at timestamptz NOT NULL DEFAULT now())""")
    cur.execute(f"COMMENT ON TABLE {META_TABLE} IS"
                " 'hmb-ops: what hmb-ops db seed loaded here, and whether it finished'")


def _check_scale(scale: str) -> Scale:
    if scale not in SCALES:
        raise UsageError(f"unknown scale {scale!r}", hint=f"use one of {', '.join(SCALES)}")
    return SCALES[scale]


def check_password(password: str) -> None:
    """bcrypt hashes at most 72 bytes and no NUL: refuse such a password before anything changes."""
    if not password:
        raise UsageError("the seed password must not be empty")
    if "\x00" in password:
        raise UsageError("the seed password must not contain a NUL character")
    size = len(password.encode("utf-8"))
    if size > 72:
        raise UsageError(f"the seed password is {size} bytes long; bcrypt uses at most 72",
                         hint="give a shorter --password")


@dataclass(frozen=True)
class SeedPlan:
    """What a seed is about to do to the database, shown before its first DROP."""

    schema: str
    drop_owned: tuple[str, ...]      # hmb-ops's own tables, dropped and recreated
    drop_foreign: tuple[str, ...]    # relations hmb-ops did not create, named by the user to be dropped
    kept_foreign: tuple[str, ...]    # relations hmb-ops did not create that stay untouched (shared database)
    repair: bool                     # an interrupted seed left the database half-loaded

    def to_dict(self) -> dict:
        return {"schema": self.schema, "drop_owned": list(self.drop_owned), "drop_foreign": list(self.drop_foreign),
                "kept_foreign": list(self.kept_foreign), "repair": self.repair}

    def lines(self, verb: str = "dropping") -> list[str]:
        out = []
        if self.repair:
            out.append("repairing a half-seeded database (an earlier seed was interrupted)")
        if self.drop_foreign:
            out.append(f"{verb} tables hmb-ops did not create, as named by --drop-foreign: "
                       f"{', '.join(self.drop_foreign)}")
        if self.drop_owned:
            out.append(f"{verb} hmb-ops's own tables in schema {self.schema}: {', '.join(self.drop_owned)}")
        if self.kept_foreign:
            out.append(f"leaving untouched the tables hmb-ops did not create: {', '.join(self.kept_foreign)}")
        return out


def _coexist_error(schema: str, others) -> UsageError:
    from hmb_ops.db.schema import DEDICATED_HINT

    return UsageError(
        f"the database holds tables hmb-ops did not create: {', '.join(others)}; hmb-ops seeds and"
        " load-tests only a database it owns, unless told to share it",
        hint=f"{DEDICATED_HINT}; or share this one (hmb-ops never touches those tables) with"
             " hmb-ops db seed --allow-foreign-tables")


def _owned_hold_data(conn, owned) -> bool:
    with conn.cursor() as cur:
        for table in owned:
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")')
            if cur.fetchone()[0]:
                return True
    return False


def _plan(conn, *, reset: bool, replace_owned: bool, drop_foreign=(), allow_foreign: bool = False) -> tuple:
    """Decide what a load may drop, or refuse (UsageError) before anything changes.

    Returns (plan, survey, shares_database). `replace_owned`: hmb-ops's own data may be replaced
    without --reset (ensure_seeded's different scale or seed).
    """
    from hmb_ops.db.schema import attachments_outside, collision_error, dependents_outside, survey

    found = survey(conn)
    meta = read_seed_record(conn)
    named = tuple(dict.fromkeys(n.strip() for n in drop_foreign if n.strip()))
    droppable = set(found.colliding) | {f for f in found.foreign if f in found.oids}
    unknown = [n for n in named if n not in droppable and n not in found.owned]
    if unknown:
        raise UsageError(f"--drop-foreign names {', '.join(unknown)}, not a table or view of schema {found.schema}"
                         " that hmb-ops did not create",
                         hint=f"relations hmb-ops did not create there: {', '.join(sorted(droppable)) or 'none'}")
    named = tuple(n for n in named if n in droppable)
    if [t for t in found.colliding if t not in named]:
        raise collision_error(found)
    owned = tuple(reversed(found.owned))  # children first, the order a DROP per table would need
    # Before the sharing question: dropping a named table that others still depend on cannot work
    # whatever is shared, and the dependents are what the user has to decide about.
    # Plus the user's sequences, triggers and indexes on hmb-ops's own tables: a plain DROP TABLE
    # takes those along silently. (A table named by --drop-foreign is the user's: its own go with it.)
    outside = dependents_outside(conn, list(owned) + list(named)) + attachments_outside(conn, list(owned))
    if outside:
        conn.rollback()
        subject = " and ".join(p for p in (", ".join(named) + " (named by --drop-foreign)" if named else "",
                                             "hmb-ops's own tables" if owned else "") if p)
        raise UsageError(f"cannot drop {subject}: {', '.join(outside)} {'depends' if len(outside) == 1 else 'depend'}"
                         " on them and would be lost (hmb-ops drops nothing with CASCADE)",
                         hint="name those too with --drop-foreign, drop them yourself, or use a dedicated database"
                              if named else "drop or change those objects first, or use a dedicated database")
    others = tuple(t for t in found.foreign if t not in named)
    shares = allow_foreign or bool(meta and meta["shares_database"])
    if others and not shares:
        raise _coexist_error(found.schema, others)
    repair = meta is not None and meta["state"] == "loading"
    if not (reset or replace_owned or repair) and (
            (meta is not None and meta["state"] == "complete") or _owned_hold_data(conn, found.owned)):
        raise UsageError("the database already holds data",
                         hint="add --reset to replace hmb-ops's reference data with a new seed")
    conn.rollback()
    plan = SeedPlan(schema=found.schema, drop_owned=owned, drop_foreign=named, kept_foreign=others, repair=repair)
    return plan, found, shares


DEADLOCK_ATTEMPTS = 3
_T = TypeVar("_T")


def _retry_on_deadlock(run: Callable[[], _T]) -> _T:
    """Run `run()` again when the server broke a deadlock by cancelling this seed.

    A seed drops and builds tables that another session (`indexes apply` building or analysing
    them, say) may hold locks on in the opposite order; PostgreSQL then rolls back one side. A
    seed's drop-and-create is one transaction and an interrupted load is repaired by the next
    run, so a fresh attempt is safe. After the last one the caller gets exit 3, not a crash.
    """
    import psycopg2.errors

    from hmb_ops.errors import LockBusy

    for attempt in range(1, DEADLOCK_ATTEMPTS):
        try:
            return run()
        except psycopg2.errors.DeadlockDetected:
            time.sleep(0.2 * attempt)
    try:
        return run()
    except psycopg2.errors.DeadlockDetected:
        raise LockBusy(f"the seed lost a lock deadlock {DEADLOCK_ATTEMPTS} times in a row to another session"
                       " working on hmb-ops's tables",
                       hint="wait for that session (an `indexes apply`, say) to finish, then rerun") from None


def seed(url: str, **options) -> SeedResult | SeedPlan:
    """`_seed` (below), tried again when it loses a deadlock to another session."""
    return _retry_on_deadlock(lambda: _seed(url, **options))


def _seed(url: str, *, scale: str = "small", seed: int = 42, password: str = DEFAULT_PASSWORD,
          reset: bool = False, progress: ProgressFn | None = None,
          hash_rounds: int = DEFAULT_HASH_ROUNDS, drop_foreign=(), allow_foreign: bool = False,
          on_plan: Callable[[SeedPlan], None] | None = None, dry_run: bool = False) -> SeedResult | SeedPlan:
    """Load the reference data set into tables hmb-ops owns.

    Refuses (UsageError, before any change) a database that already holds seeded data unless
    `reset`; one holding tables hmb-ops did not create unless `allow_foreign` (they coexist,
    untouched) or, for each one to be dropped, its name in `drop_foreign`. A half-seeded database
    (interrupted seed) is repaired. Every input is validated and the password hashed before the
    first DROP. `on_plan(plan)` is called with what will be dropped before it is; `dry_run` returns
    that plan and changes nothing. `progress(table, rows_done, rows_total)` as each table advances.
    """
    spec = _check_scale(scale)
    _check_rounds(hash_rounds)
    check_password(password)
    from hmb_ops.db.connect import connect
    from hmb_ops.passwords import hash_password

    password_hash = hash_password(password, hash_rounds)
    conn = connect(url, application_name="hmb-ops seed")
    try:
        _lock(conn)
        plan, found, shares = _plan(conn, reset=reset, replace_owned=False, drop_foreign=drop_foreign,
                                    allow_foreign=allow_foreign)
        if dry_run:
            return plan
        if on_plan:
            on_plan(plan)
        return _load(conn, url, scale, spec, seed, password_hash, hash_rounds, progress, plan, found, shares)
    finally:
        conn.close()


def _check_rounds(hash_rounds: int) -> None:
    if not 4 <= hash_rounds <= 16:
        raise UsageError(f"hash rounds must be between 4 and 16, got {hash_rounds}")


def _lock(conn) -> None:
    # Session-level: held until the connection closes, so two seeders never interleave (the
    # second waits here, then finds the first one's data).
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    conn.commit()


def _prepare(conn, plan: SeedPlan, found, scale: str, seed: int, password_hash: str, hash_rounds: int,
             shares: bool, run_id: str) -> None:
    """One transaction, committed before loading: drop what the plan names (no CASCADE), create the
    tables, record them as hmb-ops's and mark the seed as loading."""
    from hmb_ops.db.schema import create_schema, drop_tables

    drop_tables(conn, plan.drop_owned, plan.drop_foreign, found.kinds)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {META_TABLE}")
    create_schema(conn, commit=False)
    with conn.cursor() as cur:
        _meta_ddl(cur)
        cur.execute(f"INSERT INTO {META_TABLE} (state, scale, seed, hash_rounds, password_hash, shares_database,"
                    " run_id) VALUES ('loading', %s, %s, %s, %s, %s, %s)",
                    (scale, seed, hash_rounds, password_hash, shares, run_id))
    conn.commit()


def _load(conn, url: str, scale: str, spec: Scale, seed: int, password_hash: str, hash_rounds: int,
          progress: ProgressFn | None, plan: SeedPlan, found, shares: bool) -> SeedResult:
    import json

    from hmb_ops.db.connect import connect
    from hmb_ops.db.schema import TABLES

    started = time.perf_counter()
    import secrets

    fk_deferred = bulk_session(conn)
    run_id = secrets.token_hex(8)  # which load the 'loading' record belongs to
    _prepare(conn, plan, found, scale, seed, password_hash, hash_rounds, shares, run_id)
    gen = Generator(spec, seed, password_hash)
    rows: dict[str, int] = {}
    timings: dict[str, float] = {}
    second = None

    try:
        with conn.cursor() as cur:
            for table in LEAF_TABLES:
                cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        conn.commit()
        if fk_deferred:
            # Foreign keys are not checked per row, so tables load side by side on two
            # connections: the server, not Python, is the bottleneck of COPY.
            second = connect(url, application_name="hmb-ops seed")
            bulk_session(second)
            run_tasks([conn, second], gen, BIG_FIRST, progress, rows, timings)
        else:
            run_tasks([conn], gen, FK_ORDER, progress, rows, timings)
        t0 = time.perf_counter()
        conns = [conn] + ([second] if second is not None else [])
        # feed_items alone is about as big as all the other leaf tables together.
        shares_pk = [LEAF_TABLES[:1], LEAF_TABLES[1:]] if len(conns) == 2 else [LEAF_TABLES]
        in_parallel(*[partial(add_primary_keys, c, part) for c, part in zip(conns, shares_pk, strict=True)],
                     cancel=lambda: cancel_all(conns))
        timings["primary_keys"] = time.perf_counter() - t0
        rows = {t: rows[t] for t in TABLES}
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" GREATEST((SELECT max(id) FROM {table}), 1))")
            cur.execute(f"UPDATE {META_TABLE} SET state = 'complete', users = %s, rows = %s, seconds = %s,"
                        " seeded_at = now()", (rows["users"], json.dumps(rows), time.perf_counter() - started))
        conn.commit()
        # Fresh statistics so the first queries are planned on the real sizes.
        t0 = time.perf_counter()
        for c in conns:
            c.autocommit = True
        in_parallel(*[partial(analyze, c, TABLES[i::len(conns)]) for i, c in enumerate(conns)],
                     cancel=lambda: cancel_all(conns))
        timings["analyze"] = time.perf_counter() - t0
    except BaseException:
        # Nothing half-applied: a failed or interrupted load drops the tables it created (hmb-ops's
        # own, through the ownership record, never with CASCADE). Should that fail too (a second
        # Ctrl-C, a kill), the seed record still says 'loading' and the next seed repairs.
        for c in (second, conn):
            if c is not None and not c.closed:
                try:
                    c.close()  # a cancelled COPY can leave it unusable; the clean-up uses its own
                except Exception:  # noqa: BLE001 - closing is best effort; the original error is re-raised
                    pass
        second = None
        _drop_unfinished(url, run_id)
        raise
    finally:
        if second is not None:
            second.close()
    elapsed = time.perf_counter() - started
    return SeedResult(scale=scale, seed=seed, rows=rows, seconds=elapsed, hash_rounds=hash_rounds,
                      fk_checks_deferred=fk_deferred, seconds_by_table=timings)


def _drop_unfinished(url: str, run_id: str) -> None:
    """Drop this load's tables if the record still says this very load is unfinished.

    On a fresh connection, under the seeders' lock: another seeder that got the lock meanwhile
    has repaired (and re-marked) the database, and then nothing here is this load's any more.
    Bounded, so a Ctrl-C never hangs on it; whatever it cannot do the next seed repairs.
    """
    from hmb_ops.db.connect import connect
    from hmb_ops.db.schema import drop_owned

    try:
        conn = connect(url, application_name="hmb-ops seed", timeout=5)
    except Exception:  # noqa: BLE001 - no connection, no clean-up: the next seed repairs
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '30s'")
        conn.commit()
        _lock(conn)
        meta = read_seed_record(conn)
        if meta is not None and meta["state"] == "loading" and meta["run_id"] == run_id:
            drop_owned(conn)
        else:
            conn.rollback()
    except Exception:  # noqa: BLE001 - whatever the clean-up cannot do, the next seed repairs
        pass
    finally:
        conn.close()


def seeded_info(url: str) -> dict | None:
    """What the seed record says was loaded ({"scale", "seed", "users", ...}); None if no finished seed."""
    from hmb_ops.db.connect import connection

    with connection(url, application_name="hmb-ops seed") as conn:
        meta = read_seed_record(conn)
    if meta is None or meta["state"] != "complete":
        return None
    return {"scale": meta["scale"], "seed": meta["seed"], "users": meta["users"], "hash_rounds": meta["hash_rounds"],
            "rows": meta["rows"], "seconds": meta["seconds"], "seeded_at": meta["seeded_at"].isoformat()}


def ensure_seeded(url: str, **options) -> bool:
    """`_ensure_seeded` (below), tried again when it loses a deadlock to another session."""
    return _retry_on_deadlock(lambda: _ensure_seeded(url, **options))


def _ensure_seeded(url: str, *, scale: str = "small", seed: int = 42, password: str = DEFAULT_PASSWORD,
                   progress: ProgressFn | None = None, hash_rounds: int | None = None,
                   on_plan: Callable[[SeedPlan], None] | None = None) -> bool:
    """Seed unless the database already holds this scale and seed; True when it seeded now.

    Matching data is reused; only the password hashes are rewritten in place when `password` (or
    `hash_rounds`, when given) differs from what is stored. Other hmb-ops data is replaced and a
    half-seeded database repaired. A database holding tables hmb-ops did not create is refused
    (UsageError) unless an earlier `db seed --allow-foreign-tables` recorded that it is shared;
    those tables are never touched either way.
    """
    spec = _check_scale(scale)
    if hash_rounds is not None:
        _check_rounds(hash_rounds)
    check_password(password)
    from hmb_ops.db.connect import connect
    from hmb_ops.db.schema import TABLES, survey
    from hmb_ops.passwords import check_password as matches, hash_password

    conn = connect(url, application_name="hmb-ops seed")
    try:
        _lock(conn)
        info = read_seed_record(conn)
        found = survey(conn)
        conn.rollback()
        if (info is not None and info["state"] == "complete" and info["scale"] == scale and info["seed"] == seed
                and set(found.owned) == set(TABLES)):
            if found.all_foreign and not info["shares_database"]:
                raise _coexist_error(found.schema, found.all_foreign)
            rounds = hash_rounds or info["hash_rounds"]
            if rounds != info["hash_rounds"] or not matches(password, info["password_hash"]):
                new_hash = hash_password(password, rounds)
                with conn.cursor() as cur:
                    cur.execute("UPDATE users SET hashed_password = %s", (new_hash,))
                    cur.execute(f"UPDATE {META_TABLE} SET password_hash = %s, hash_rounds = %s",
                                (new_hash, rounds))
                conn.commit()
            return False
        plan, found, shares = _plan(conn, reset=False, replace_owned=True)
        rounds = hash_rounds or DEFAULT_HASH_ROUNDS
        password_hash = hash_password(password, rounds)
        if on_plan:
            on_plan(plan)
        _load(conn, url, scale, spec, seed, password_hash, rounds, progress, plan, found, shares)
        return True
    finally:
        conn.close()


def may_create_extensions(url: str, extensions) -> bool:
    """Whether hmb-ops may create the declared `extensions` without being asked.

    Creating an extension changes the database outside hmb-ops's tables, so it does so unasked
    only in a database it has to itself. In a shared one (tables hmb-ops did not create, or
    recorded as shared by db seed --allow-foreign-tables) a missing extension is refused
    (UsageError) before anything changes; `indexes apply --create-extensions` is the consent.
    Returns False for a shared database whose extensions are all there.
    """
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import survey

    with connection(url, application_name="hmb-ops seed") as conn:
        found = survey(conn)
        meta = read_seed_record(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT extname FROM pg_extension")
            installed = {r[0] for r in cur.fetchall()}
        conn.rollback()
    if not (found.all_foreign or (meta and meta["shares_database"])):
        return True
    missing = [e for e in extensions if e not in installed]
    if missing:
        names = ", ".join(missing)
        raise UsageError(
            f"the database is shared with tables hmb-ops did not create and lacks extension {names}, which"
            " the declared indexes need; hmb-ops creates an extension unasked only in a database it has to itself",
            hint="to allow it, run hmb-ops indexes apply --create-extensions on this database first;"
                 " or use a dedicated database")
    return False


def read_seed_record(conn) -> dict | None:
    """The seed record, or None. A record written before seeds had a state counts as complete."""
    from hmb_ops.db.schema import SEED_INFO_COLUMNS

    with conn.cursor() as cur:
        # Only the table hmb-ops creates counts: a same-named one of another role, or with other
        # columns, could otherwise say "shared" or "seeded" for the user.
        cur.execute("SELECT c.relkind = 'r' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                    " FROM pg_class c WHERE c.oid = to_regclass(%s)", (META_TABLE,))
        row = cur.fetchone()
        if row is None or not row[0]:
            return None
        cur.execute("SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = %s::regclass"
                    " AND attnum > 0 AND NOT attisdropped", (META_TABLE,))
        columns = set(cur.fetchone()[0] or ())
        if not set(SEED_INFO_COLUMNS) <= columns:
            return None
        optional = ", ".join(name if name in columns else default for name, default in OPTIONAL_META.items())
        cur.execute(f"SELECT {optional}, {META_COLUMNS} FROM {META_TABLE}")
        row = cur.fetchone()
    if row is None:
        return None
    keys = list(OPTIONAL_META) + [c.strip() for c in META_COLUMNS.split(",")]
    return dict(zip(keys, row, strict=True))
