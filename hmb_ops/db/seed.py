"""Realistic, deterministic reference data, loaded with COPY.

Data is generated column-wise with numpy from one seeded generator (same `seed` → same rows), with
the skew of a real social network: who gets followed is heavily skewed towards a few accounts
(user 1 has the most followers), so fan-out and feeds behave like the seed's "1,000 followers"
case. The feed table is filled server-side from posts × follows, as fan-out on write would have.

Speed: each table is turned into COPY text in large chunks by joining whole columns (no per-row
Python objects beyond one string), and a producer thread generates the next chunk while the
server ingests the current one (psycopg2 releases the GIL while sending). Foreign keys are not
re-checked row by row during the load when the role may set `session_replication_role` (the
data is consistent by construction); primary keys are always enforced.

Passwords: every seeded user gets the same password, hashed once with bcrypt at `hash_rounds`
(each user still has a real bcrypt hash, only the salt is shared). A cheap cost (4) keeps load
tests from measuring bcrypt; 10 is what the reference app used. `ensure_seeded` re-hashes in
place when asked for another password or cost, without reloading.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hmb_ops.errors import UsageError

META_TABLE = "hmb_ops_seed_info"
LOCK_KEY = 0x686D62736565  # "hmbsee": serialises concurrent seeders of one database
BASE_TIME_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z: data is dated relative to a fixed day
YEAR_US = 365 * 86400 * 1_000_000
CHUNK_ROWS = 200_000
DEFAULT_PASSWORD = "hmb-ops-demo"
DEFAULT_HASH_ROUNDS = 10


@dataclass(frozen=True)
class Scale:
    users: int
    follows: float = 8.0          # per user (before de-duplication)
    posts: float = 2.0
    likes: float = 5.0
    comments: float = 1.0
    jobs: float = 0.1
    applications: float = 0.5
    conversations: float = 1.0
    messages: float = 5.0
    notifications: float = 5.0
    reviews: float = 0.05
    pictures: float = 0.5


SCALES: dict[str, Scale] = {
    "small": Scale(users=1_000),
    "medium": Scale(users=100_000),
    "large": Scale(users=1_000_000),
}

ProgressFn = Callable[[str, int, int], None]


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


# -- vocabulary (short, fixed, so the data is the same everywhere) --------------------------------
FIRST = ["Ava", "Liam", "Maya", "Noah", "Zoe", "Eli", "Nia", "Kai", "Ruth", "Jude", "Tia", "Omar", "Lena",
         "Ivan", "Sade", "Theo"]
LAST = ["Rolle", "Knowles", "Ferguson", "Smith", "Johnson", "Bethel", "Moss", "Pinder", "Sands", "Cartwright",
        "Darville", "Munroe", "Strachan", "Thompson"]
LOCATIONS = ["Nassau", "Freeport", "Marsh Harbour", "George Town", "Andros Town", "Alice Town", "Cockburn Town",
             "Dunmore Town", "Governor's Harbour", "West End"]
LEVELS = ["Junior", "Senior", "Lead", "Assistant", "Head", "Trainee", ""]
ROLES = ["Python Developer", "Chef", "Accountant", "Nurse", "Dive Instructor", "Front Desk Agent",
         "Electrician", "Sales Associate", "Marketing Manager", "Data Analyst", "Boat Captain",
         "Housekeeper", "Teacher", "Security Officer", "Graphic Designer", "Mechanic"]
CATEGORIES = ["technology", "hospitality", "finance", "healthcare", "tourism", "construction", "retail",
              "marketing", "education", "maritime"]
JOB_TYPES = ["full-time", "part-time", "contract", "internship"]
COMPANIES = ["Atlantis Resorts", "Baha Mar", "Bank of The Bahamas", "Island Tech", "Sandals", "BTC",
             "Kalik Brewery", "Nassau Cruise Port", "Doctors Hospital", "Super Value"]
SENTENCES = ["Looking for my next opportunity in Nassau.", "Great day at the beach office today!",
             "We are hiring! Check the jobs board.", "Just finished a new certification.",
             "Anyone know a good mechanic in Freeport?", "Proud of the team for this launch.",
             "Conch salad for lunch, obviously.", "Networking event at Baha Mar tonight.",
             "Tips for interviewing in hospitality?", "Sharing my portfolio, feedback welcome.",
             "Fishing charter season is open.", "Volunteering at the regatta this weekend."]
MESSAGES = ["Hi, is the position still open?", "Thanks for connecting!", "Can we talk tomorrow?",
            "I sent my CV by e-mail.", "See you at the interview.", "Sounds good.", "What time works for you?",
            "Congrats on the new role!"]
NOTIFY_TYPES = ["follow", "job_application", "job_post", "like", "comment", "mention", "message"]
NOTIFY_TEXT = {"follow": "started following you", "job_application": "applied to your job",
               "job_post": "posted a new job", "like": "liked your post", "comment": "commented on your post",
               "mention": "mentioned you", "message": "sent you a message"}


# -- helpers --------------------------------------------------------------------------------------
def _ts_text(np, micros):
    """ISO timestamps (UTC; the session runs with TimeZone=UTC) for an int64 array of epoch µs."""
    return np.datetime_as_string(micros.astype("datetime64[us]"), unit="s").tolist()


def _ints(arr) -> list[str]:
    return list(map(str, arr.tolist()))


def _pick(np, words: list[str], idx) -> list[str]:
    return np.asarray(words, dtype=object)[idx].tolist()


def _bools(arr) -> list[str]:
    return ["t" if b else "f" for b in arr.tolist()]


def _unique_pairs(np, a, b, n_max: int):
    """Drop duplicate (a, b) pairs and a == b, keeping generation order stable."""
    key = a.astype("int64") * (n_max + 1) + b
    _, first = np.unique(key, return_index=True)
    first.sort()
    keep = first[a[first] != b[first]]
    return a[keep], b[keep]


class _Loader:
    """COPY one table from column lists, generating the next chunk while the server ingests."""

    def __init__(self, conn, progress: ProgressFn | None):
        self.conn = conn
        self.progress = progress

    def copy(self, table: str, columns: list[str], n: int, make_chunk: Callable[[int, int], list[list[str]]]) -> int:
        chunks: queue.Queue = queue.Queue(maxsize=2)
        errors: list[BaseException] = []

        def produce():
            try:
                for start in range(0, n, CHUNK_ROWS):
                    stop = min(n, start + CHUNK_ROWS)
                    cols = make_chunk(start, stop)
                    text = "\n".join(map("\t".join, zip(*cols))) + "\n"
                    chunks.put((stop, text.encode("utf-8")))
            except BaseException as exc:  # surfaced in the consumer thread
                errors.append(exc)
            finally:
                chunks.put(None)

        worker = threading.Thread(target=produce, name=f"seed-{table}", daemon=True)
        worker.start()
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        done = 0
        reader = _QueueReader(chunks, self._advance(table, n))
        try:
            if n:
                with self.conn.cursor() as cur:
                    cur.copy_expert(sql, reader, size=1 << 20)
        finally:
            reader.drain()
            worker.join()
        if errors:
            raise errors[0]
        done = n
        if self.progress:
            self.progress(table, done, n)
        return done

    def _advance(self, table: str, total: int):
        def step(done: int):
            if self.progress:
                self.progress(table, done, total)
        return step


class _QueueReader:
    """A file-like object for copy_expert that reads the producer's chunks."""

    def __init__(self, chunks: queue.Queue, on_chunk):
        self.chunks = chunks
        self.on_chunk = on_chunk
        self.buf = memoryview(b"")
        self.finished = False

    def read(self, size: int = -1) -> bytes:
        while not self.buf and not self.finished:
            item = self.chunks.get()
            if item is None:
                self.finished = True
                break
            done, data = item
            self.buf = memoryview(data)
            self.on_chunk(done)
        if not self.buf:
            return b""
        if size is None or size < 0:
            size = len(self.buf)
        out, self.buf = bytes(self.buf[:size]), self.buf[size:]
        return out

    readline = read

    def drain(self) -> None:
        while not self.finished:
            if self.chunks.get() is None:
                self.finished = True


# -- generation -----------------------------------------------------------------------------------
def _generate_and_load(conn, scale: Scale, seed: int, password_hash: str, loader: _Loader,
                       timings: dict[str, float]) -> dict[str, int]:
    import numpy as np

    rng = np.random.default_rng(seed)
    U = scale.users
    rows: dict[str, int] = {}

    def count(per_user: float) -> int:
        return max(1, int(round(U * per_user)))

    def stamp(n):  # random creation times over the year before BASE_TIME
        return BASE_TIME_US - rng.integers(0, YEAR_US, n, dtype=np.int64)

    def timed(table, fn):
        t0 = time.perf_counter()
        rows[table] = fn()
        timings[table] = time.perf_counter() - t0

    # users
    user_created = np.sort(stamp(U))
    first_idx = rng.integers(0, len(FIRST), U)
    last_idx = rng.integers(0, len(LAST), U)
    loc_idx = rng.integers(0, len(LOCATIONS), U)
    for_hire = rng.random(U) < 0.3
    has_phone = rng.random(U) < 0.6
    phones = rng.integers(2_420_000_000, 2_429_999_999, U, dtype=np.int64)
    roles = np.where(rng.random(U) < 0.1, 1, 0)

    def users_chunk(a, b):
        ids = range(a + 1, b + 1)
        ts = _ts_text(np, user_created[a:b])
        return [[str(i) for i in ids], [f"user{i}@example.test" for i in ids], [password_hash] * (b - a),
                _pick(np, FIRST, first_idx[a:b]), _pick(np, LAST, last_idx[a:b]), [f"user{i}" for i in ids],
                [("+" + str(p)) if h else "\\N" for p, h in zip(phones[a:b].tolist(), has_phone[a:b].tolist())],
                _pick(np, LOCATIONS, loc_idx[a:b]), _pick(np, ["user", "employer"], roles[a:b]),
                _bools(for_hire[a:b]), ts, ts]

    timed("users", lambda: loader.copy("users", ["id", "email", "hashed_password", "first_name", "last_name",
                                                "username", "phone", "location", "role", "is_available_for_hire",
                                                "created_at", "updated_at"], U, users_chunk))

    # jobs (employers are a minority of users)
    nj = count(scale.jobs)
    job_created = np.sort(stamp(nj))
    job_emp = rng.integers(1, U + 1, nj)
    job_level = rng.integers(0, len(LEVELS), nj)
    job_role = rng.integers(0, len(ROLES), nj)
    job_cat = rng.integers(0, len(CATEGORIES), nj)
    job_type = rng.integers(0, len(JOB_TYPES), nj)
    job_company = rng.integers(0, len(COMPANIES), nj)
    job_loc = rng.integers(0, len(LOCATIONS), nj)
    sal_min = (rng.integers(20, 90, nj) * 1000).astype(np.int64)
    sal_max = sal_min + rng.integers(5, 40, nj) * 1000
    no_salary = rng.random(nj) < 0.2
    remote = rng.random(nj) < 0.2
    active = rng.random(nj) < 0.85
    titles = [(f"{LEVELS[lv]} {ROLES[r]}".strip()) for lv, r in zip(job_level.tolist(), job_role.tolist())]

    def jobs_chunk(a, b):
        ts = _ts_text(np, job_created[a:b])
        return [_ints(np.arange(a + 1, b + 1)), titles[a:b], _pick(np, COMPANIES, job_company[a:b]),
                [f"{t} at {c}" for t, c in zip(titles[a:b], _pick(np, COMPANIES, job_company[a:b]))],
                _pick(np, CATEGORIES, job_cat[a:b]), _pick(np, JOB_TYPES, job_type[a:b]),
                _pick(np, LOCATIONS, job_loc[a:b]),
                ["\\N" if n else str(v) for v, n in zip(sal_min[a:b].tolist(), no_salary[a:b].tolist())],
                ["\\N" if n else str(v) for v, n in zip(sal_max[a:b].tolist(), no_salary[a:b].tolist())],
                _bools(remote[a:b]), _pick(np, ["closed", "active"], active[a:b].astype(int)),
                _ints(job_emp[a:b]), ts, ts]

    timed("jobs", lambda: loader.copy("jobs", ["id", "title", "company", "description", "category", "job_type",
                                              "location", "salary_min", "salary_max", "is_remote", "status",
                                              "employer_id", "created_at", "updated_at"], nj, jobs_chunk))

    # job applications: unique (job, applicant)
    app_job, app_user = _unique_pairs(np, rng.integers(1, nj + 1, count(scale.applications)),
                                      rng.integers(1, U + 1, count(scale.applications)), U)
    na = len(app_job)
    app_created = stamp(na)
    app_status = rng.integers(0, 4, na)
    timed("job_applications", lambda: loader.copy(
        "job_applications", ["id", "job_id", "applicant_id", "cover_letter", "status", "created_at"], na,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(app_job[a:b]), _ints(app_user[a:b]),
                      ["I would love to join your team."] * (b - a),
                      _pick(np, ["pending", "reviewed", "accepted", "rejected"], app_status[a:b]),
                      _ts_text(np, app_created[a:b])]))

    # follows: who is followed is power-law skewed (user 1 the most), followers are uniform
    nf = count(scale.follows)
    followed = np.minimum((U * rng.random(nf) ** 3).astype(np.int64) + 1, U)
    follower = rng.integers(1, U + 1, nf)
    follower, followed = _unique_pairs(np, follower, followed, U)
    nf = len(follower)
    follow_created = stamp(nf)
    timed("follows", lambda: loader.copy(
        "follows", ["id", "follower_id", "followed_id", "created_at"], nf,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(follower[a:b]), _ints(followed[a:b]),
                      _ts_text(np, follow_created[a:b])]))

    # posts (ids in time order, like a live system), likes computed first for like_count
    npo = count(scale.posts)
    post_created = np.sort(stamp(npo))
    post_user = rng.integers(1, U + 1, npo)
    post_text = rng.integers(0, len(SENTENCES), npo)
    post_kind = rng.choice(4, npo, p=[0.7, 0.1, 0.15, 0.05])
    like_post_raw = np.minimum((npo * rng.random(count(scale.likes)) ** 2).astype(np.int64), npo - 1)
    like_post = npo - like_post_raw  # recent posts get more likes
    like_user, like_post = _unique_pairs(np, rng.integers(1, U + 1, len(like_post)), like_post, max(U, npo))
    like_counts = np.bincount(like_post, minlength=npo + 1)[1:]

    def posts_chunk(a, b):
        ts = _ts_text(np, post_created[a:b])
        kinds = _pick(np, ["text", "job", "image", "video"], post_kind[a:b])
        return [_ints(np.arange(a + 1, b + 1)), _ints(post_user[a:b]), _pick(np, SENTENCES, post_text[a:b]),
                [f"https://img.example.test/{i}.jpg" if k == "image" else "\\N"
                 for i, k in zip(range(a + 1, b + 1), kinds)],
                kinds, _ints(like_counts[a:b]), ts, ts]

    timed("posts", lambda: loader.copy("posts", ["id", "user_id", "content", "image_url", "post_type", "like_count",
                                                "created_at", "updated_at"], npo, posts_chunk))
    nl = len(like_user)
    like_created = np.maximum(post_created[like_post - 1], stamp(nl))
    timed("post_likes", lambda: loader.copy(
        "post_likes", ["id", "user_id", "post_id", "created_at"], nl,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(like_user[a:b]), _ints(like_post[a:b]),
                      _ts_text(np, like_created[a:b])]))

    nc = count(scale.comments)
    com_post = rng.integers(1, npo + 1, nc)
    com_user = rng.integers(1, U + 1, nc)
    com_text = rng.integers(0, len(SENTENCES), nc)
    com_created = np.maximum(post_created[com_post - 1], stamp(nc))
    timed("post_comments", lambda: loader.copy(
        "post_comments", ["id", "post_id", "user_id", "content", "created_at", "updated_at"], nc,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(com_post[a:b]), _ints(com_user[a:b]),
                      _pick(np, SENTENCES, com_text[a:b]), *([_ts_text(np, com_created[a:b])] * 2)]))

    # conversations: unique unordered pairs; messages inside them; updated_at = last message
    p1 = rng.integers(1, U + 1, count(scale.conversations))
    p2 = rng.integers(1, U + 1, len(p1))
    lo, hi = np.minimum(p1, p2), np.maximum(p1, p2)
    lo, hi = _unique_pairs(np, lo, hi, U)
    ncv = len(lo)
    conv_created = stamp(ncv)
    nm = count(scale.messages)
    msg_conv = rng.integers(1, ncv + 1, nm)
    from_first = rng.random(nm) < 0.5
    msg_sender = np.where(from_first, lo[msg_conv - 1], hi[msg_conv - 1])
    msg_receiver = np.where(from_first, hi[msg_conv - 1], lo[msg_conv - 1])
    msg_created = np.maximum(conv_created[msg_conv - 1], stamp(nm))
    msg_read = rng.random(nm) < 0.8
    msg_text = rng.integers(0, len(MESSAGES), nm)
    conv_updated = conv_created.copy()
    np.maximum.at(conv_updated, msg_conv - 1, msg_created)
    timed("conversations", lambda: loader.copy(
        "conversations", ["id", "participant_1_id", "participant_2_id", "created_at", "updated_at"], ncv,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(lo[a:b]), _ints(hi[a:b]),
                      _ts_text(np, conv_created[a:b]), _ts_text(np, conv_updated[a:b])]))
    timed("messages", lambda: loader.copy(
        "messages", ["id", "conversation_id", "sender_id", "receiver_id", "content", "is_read", "created_at"], nm,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(msg_conv[a:b]), _ints(msg_sender[a:b]),
                      _ints(msg_receiver[a:b]), _pick(np, MESSAGES, msg_text[a:b]), _bools(msg_read[a:b]),
                      _ts_text(np, msg_created[a:b])]))

    nn = count(scale.notifications)
    n_user = np.minimum((U * rng.random(nn) ** 2).astype(np.int64) + 1, U)
    n_actor = rng.integers(1, U + 1, nn)
    n_type = rng.integers(0, len(NOTIFY_TYPES), nn)
    n_related = rng.integers(1, npo + 1, nn)
    n_read = rng.random(nn) < 0.7
    n_created = stamp(nn)
    texts = [NOTIFY_TEXT[t] for t in NOTIFY_TYPES]
    timed("notifications", lambda: loader.copy(
        "notifications", ["id", "user_id", "actor_id", "notification_type", "content", "related_id", "is_read",
                          "created_at"], nn,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(n_user[a:b]), _ints(n_actor[a:b]),
                      _pick(np, NOTIFY_TYPES, n_type[a:b]), _pick(np, texts, n_type[a:b]),
                      _ints(n_related[a:b]), _bools(n_read[a:b]), _ts_text(np, n_created[a:b])]))

    nr = count(scale.reviews)
    r_job = rng.integers(1, nj + 1, nr)
    r_reviewer = rng.integers(1, U + 1, nr)
    r_reviewee = job_emp[r_job - 1]
    r_rating = rng.integers(1, 6, nr)
    r_created = stamp(nr)
    timed("reviews", lambda: loader.copy(
        "reviews", ["id", "job_id", "reviewer_id", "reviewee_id", "rating", "comment", "created_at"], nr,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(r_job[a:b]), _ints(r_reviewer[a:b]),
                      _ints(r_reviewee[a:b]), _ints(r_rating[a:b]), ["Good to work with."] * (b - a),
                      _ts_text(np, r_created[a:b])]))

    npp = count(scale.pictures)
    pic_user = rng.integers(1, U + 1, npp)
    pic_created = stamp(npp)
    # The newest picture of each user is the current one.
    order = np.lexsort((-pic_created, pic_user))
    current = np.zeros(npp, dtype=bool)
    firsts = order[np.r_[True, pic_user[order][1:] != pic_user[order][:-1]]]
    current[firsts] = True
    timed("profile_pictures", lambda: loader.copy(
        "profile_pictures", ["id", "user_id", "file_url", "is_current", "created_at"], npp,
        lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(pic_user[a:b]),
                      [f"https://img.example.test/u/{i}.jpg" for i in range(a + 1, b + 1)],
                      _bools(current[a:b]), _ts_text(np, pic_created[a:b])]))

    # feed_items: what fan-out on write would have produced (followers + the author), in time order
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO feed_items (user_id, post_id, author_id, created_at)"
            " SELECT r.user_id, r.post_id, r.author_id, r.created_at FROM ("
            "  SELECT f.follower_id AS user_id, p.id AS post_id, p.user_id AS author_id, p.created_at"
            "  FROM posts p JOIN follows f ON f.followed_id = p.user_id"
            "  UNION ALL SELECT p.user_id, p.id, p.user_id, p.created_at FROM posts p) r")
        rows["feed_items"] = cur.rowcount
    timings["feed_items"] = time.perf_counter() - t0
    if loader.progress:
        loader.progress("feed_items", rows["feed_items"], rows["feed_items"])
    return rows


# -- public API -----------------------------------------------------------------------------------
def _meta_ddl(cur) -> None:
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {META_TABLE} (
        id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        scale text NOT NULL, seed integer NOT NULL, users bigint NOT NULL,
        hash_rounds integer NOT NULL, password_hash text NOT NULL,
        rows jsonb NOT NULL, seconds double precision NOT NULL,
        seeded_at timestamptz NOT NULL DEFAULT now())""")


def _check_scale(scale: str) -> Scale:
    if scale not in SCALES:
        raise UsageError(f"unknown scale {scale!r}", hint=f"use one of {', '.join(SCALES)}")
    return SCALES[scale]


def _has_data(cur) -> bool:
    from hmb_ops.db.schema import TABLES

    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    existing = {r[0] for r in cur.fetchall()}
    for table in TABLES:
        if table in existing:
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
            if cur.fetchone()[0]:
                return True
    return False


def seed(url: str, *, scale: str = "small", seed: int = 42, password: str = DEFAULT_PASSWORD,
         reset: bool = False, progress: ProgressFn | None = None,
         hash_rounds: int = DEFAULT_HASH_ROUNDS) -> SeedResult:
    """Load the reference data set. Refuses a database that already holds data unless `reset`.

    `progress(table, rows_done, rows_total)` is called as each table advances.
    """
    spec = _check_scale(scale)
    _check_rounds(hash_rounds)
    from hmb_ops.db.connect import connect

    conn = connect(url, application_name="hmb-ops seed")
    try:
        _lock(conn)
        with conn.cursor() as cur:
            busy = _has_data(cur)
        conn.rollback()
        if busy and not reset:
            raise UsageError("the database already holds data",
                             hint="add --reset to replace it with the reference data set")
        return _load(conn, scale, spec, seed, password, hash_rounds, progress)
    finally:
        conn.close()


def _check_rounds(hash_rounds: int) -> None:
    if not 4 <= hash_rounds <= 16:
        raise UsageError(f"hash rounds must be between 4 and 16, got {hash_rounds}")


def _lock(conn) -> None:
    # Session-level: held until the connection closes, so two seeders never interleave.
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    conn.commit()


def _load(conn, scale: str, spec: Scale, seed: int, password: str, hash_rounds: int,
          progress: ProgressFn | None) -> SeedResult:
    import json

    from hmb_ops.db.schema import TABLES, create_schema, drop_schema
    from hmb_ops.refapp.auth import hash_password

    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("SET synchronous_commit = off")
        cur.execute(f"DROP TABLE IF EXISTS {META_TABLE}")
    conn.commit()
    drop_schema(conn)
    create_schema(conn)
    password_hash = hash_password(password, hash_rounds)
    fk_deferred = _try_defer_fk(conn)
    timings: dict[str, float] = {}
    try:
        rows = _generate_and_load(conn, spec, seed, password_hash, _Loader(conn, progress), timings)
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" GREATEST((SELECT max(id) FROM {table}), 1))")
            _meta_ddl(cur)
            cur.execute(f"INSERT INTO {META_TABLE} (scale, seed, users, hash_rounds, password_hash, rows, seconds)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (scale, seed, rows["users"], hash_rounds, password_hash, json.dumps(rows),
                         time.perf_counter() - started))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if fk_deferred and not conn.closed:
            with conn.cursor() as cur:
                cur.execute("RESET session_replication_role")
            conn.commit()
    # Fresh statistics so the first queries are planned on the real sizes.
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    elapsed = time.perf_counter() - started
    return SeedResult(scale=scale, seed=seed, rows=rows, seconds=elapsed, hash_rounds=hash_rounds,
                      fk_checks_deferred=fk_deferred, seconds_by_table=timings)


def _try_defer_fk(conn) -> bool:
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
        conn.commit()
        return True
    except psycopg2.Error:
        conn.rollback()
        return False


def seeded_info(url: str) -> dict | None:
    """What the metadata table says was seeded ({"scale", "seed", "users", ...}); None if nothing."""
    from hmb_ops.db.connect import connection

    with connection(url, application_name="hmb-ops seed") as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (META_TABLE,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT scale, seed, users, hash_rounds, rows, seconds, seeded_at FROM {META_TABLE}")
        row = cur.fetchone()
    if row is None:
        return None
    return {"scale": row[0], "seed": row[1], "users": row[2], "hash_rounds": row[3], "rows": row[4],
            "seconds": row[5], "seeded_at": row[6].isoformat()}


def ensure_seeded(url: str, *, scale: str = "small", seed: int = 42, password: str = DEFAULT_PASSWORD,
                  progress: ProgressFn | None = None, hash_rounds: int | None = None) -> bool:
    """Seed unless the database already holds this scale and seed; True when it seeded now.

    Matching data is reused; only the password hashes are rewritten in place when `password` (or
    `hash_rounds`, when given) differs from what is stored.
    """
    spec = _check_scale(scale)
    if hash_rounds is not None:
        _check_rounds(hash_rounds)
    from hmb_ops.db.connect import connect
    from hmb_ops.refapp.auth import check_password, hash_password

    conn = connect(url, application_name="hmb-ops seed")
    try:
        _lock(conn)
        info = _read_meta(conn)
        conn.rollback()
        if info is not None and info["scale"] == scale and info["seed"] == seed:
            rounds = hash_rounds or info["hash_rounds"]
            if rounds != info["hash_rounds"] or not check_password(password, info["password_hash"]):
                new_hash = hash_password(password, rounds)
                with conn.cursor() as cur:
                    cur.execute("UPDATE users SET hashed_password = %s", (new_hash,))
                    cur.execute(f"UPDATE {META_TABLE} SET password_hash = %s, hash_rounds = %s",
                                (new_hash, rounds))
                conn.commit()
            return False
        _load(conn, scale, spec, seed, password, hash_rounds or DEFAULT_HASH_ROUNDS, progress)
        return True
    finally:
        conn.close()


def _read_meta(conn) -> dict | None:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (META_TABLE,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT scale, seed, hash_rounds, password_hash FROM {META_TABLE}")
        row = cur.fetchone()
    if row is None:
        return None
    return {"scale": row[0], "seed": row[1], "hash_rounds": row[2], "password_hash": row[3]}
