"""Realistic, deterministic reference data, loaded with COPY.

Data is generated column-wise with numpy from seeded random streams (same `seed` → same rows,
ids included), with the skew of a real social network: who gets followed is heavily skewed
towards a few accounts (user 1 has the most followers), so fan-out and feeds behave like the
seed's "1,000 followers" case. feed_items holds what fan-out on write would have produced: every
post in its author's followers' feeds and in the author's own.

Speed: each table is turned into COPY text in large chunks by joining whole columns (no per-row
Python objects beyond one string), and a producer thread generates the next chunk while the
server ingests the current one (psycopg2 releases the GIL while sending). When the role may set
`session_replication_role`, foreign keys are not re-checked row by row (the data is consistent
by construction) and tables load on two connections at once; otherwise one connection loads them
in foreign-key order. Primary keys of the tables nothing refers to are built after the load, as
pgbench does; the resulting constraints are the same as `db init` creates.

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

    def copy(self, table: str, columns: list[str], n: int, make_chunk: Callable[[int, int], list[list[str]]],
             *, freeze: bool = False) -> int:
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
        if freeze:
            # Rows written already frozen and all-visible: the primary-key build and ANALYZE
            # that follow need not rewrite every page to set hint bits. FREEZE requires the
            # table to be emptied in the same transaction, hence the TRUNCATE of an empty table.
            with self.conn.cursor() as cur:
                cur.execute(f"TRUNCATE {table}")
            sql += " WITH (FREEZE)"
        reader = _QueueReader(chunks, self._advance(table, n))
        try:
            if n:
                with self.conn.cursor() as cur:
                    cur.copy_expert(sql, reader, size=1 << 20)
        finally:
            reader.drain()
            worker.join()
        if errors:
            raise errors[0]  # the COPY saw an early end; the caller rolls the whole load back
        if self.progress:
            self.progress(table, n, n)
        return n

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
# Each table draws from its own random stream (seed, table number), so the rows do not depend on
# which connection loads which table first.
STREAMS = {name: i for i, name in enumerate((
    "users", "jobs", "job_applications", "reviews", "follows", "posts", "post_likes", "post_comments",
    "conversations", "messages", "notifications", "profile_pictures"))}
# Foreign-key order, for a role that must load with FK checks on (one connection).
FK_ORDER = ("users", "jobs", "job_applications", "reviews", "follows", "posts", "post_likes", "post_comments",
            "conversations", "messages", "notifications", "profile_pictures", "feed_items:0")
# With FK checks off: feed_items (about half of all rows) on one connection, the rest on the other.
BIG_FIRST = ("feed_items:0", "follows", "notifications", "messages", "post_likes", "posts",
             "users", "conversations", "post_comments", "job_applications", "profile_pictures", "jobs", "reviews")
# Tables no foreign key points at: their primary keys are built after the load, in one pass per
# table (as pgbench does), instead of one index insertion and WAL record per copied row.
LEAF_TABLES = ("feed_items", "follows", "post_likes", "messages", "notifications", "post_comments",
               "job_applications", "profile_pictures", "reviews")


class _Generator:
    def __init__(self, scale: Scale, seed: int, password_hash: str):
        import numpy as np

        self.np = np
        self.scale = scale
        self.seed = seed
        self.U = scale.users
        self.password_hash = password_hash
        self.n_posts = self.count(scale.posts)
        self.n_jobs = self.count(scale.jobs)
        self._job_emp = None
        self._post_created = None
        self._likes = None
        self._messages = None
        self._follows = None
        self._post_users = None
        self._feed = None
        self._lazy = threading.RLock()  # two loader threads may ask for the same shared array

    def rng(self, table: str):
        return self.np.random.default_rng([self.seed, STREAMS[table]])

    def count(self, per_user: float) -> int:
        return max(1, int(round(self.U * per_user)))

    def stamp(self, rng, n):
        """Random creation times over the year before BASE_TIME."""
        return BASE_TIME_US - rng.integers(0, YEAR_US, n, dtype=self.np.int64)

    # Arrays other tables refer to are computed on first use, from their own stream only.
    def job_employers(self):
        with self._lazy:
            return self._job_employers()

    def _job_employers(self):
        if self._job_emp is None:
            self._job_emp = self.rng("jobs").integers(1, self.U + 1, self.n_jobs)
        return self._job_emp

    def post_created(self):
        with self._lazy:
            return self._post_created_()

    def _post_created_(self):
        if self._post_created is None:
            self._post_created = self.np.sort(self.stamp(self.rng("posts"), self.n_posts))
        return self._post_created

    def likes(self):
        with self._lazy:
            return self._likes_()

    def _likes_(self):
        if self._likes is None:
            np, rng, npo = self.np, self.rng("post_likes"), self.n_posts
            n = self.count(self.scale.likes)
            newest_bias = np.minimum((npo * rng.random(n) ** 2).astype(np.int64), npo - 1)
            post = npo - newest_bias  # recent posts get more likes
            user, post = _unique_pairs(np, rng.integers(1, self.U + 1, n), post, max(self.U, npo))
            created = np.maximum(self.post_created()[post - 1], self.stamp(rng, len(user)))
            self._likes = (user, post, created)
        return self._likes

    # -- one method per table: returns (columns, row count, chunk maker) --------------------------
    def users(self):
        np, rng, U = self.np, self.rng("users"), self.U
        created = np.sort(self.stamp(rng, U))
        first_idx = rng.integers(0, len(FIRST), U)
        last_idx = rng.integers(0, len(LAST), U)
        loc_idx = rng.integers(0, len(LOCATIONS), U)
        for_hire = rng.random(U) < 0.3
        has_phone = rng.random(U) < 0.6
        phones = rng.integers(2_420_000_000, 2_429_999_999, U, dtype=np.int64)
        roles = (rng.random(U) < 0.1).astype(int)
        pw = self.password_hash

        def chunk(a, b):
            ids = range(a + 1, b + 1)
            ts = _ts_text(np, created[a:b])
            return [[str(i) for i in ids], [f"user{i}@example.test" for i in ids], [pw] * (b - a),
                    _pick(np, FIRST, first_idx[a:b]), _pick(np, LAST, last_idx[a:b]), [f"user{i}" for i in ids],
                    [("+" + str(p)) if h else "\\N" for p, h in zip(phones[a:b].tolist(), has_phone[a:b].tolist())],
                    _pick(np, LOCATIONS, loc_idx[a:b]), _pick(np, ["user", "employer"], roles[a:b]),
                    _bools(for_hire[a:b]), ts, ts]

        return (["id", "email", "hashed_password", "first_name", "last_name", "username", "phone", "location",
                 "role", "is_available_for_hire", "created_at", "updated_at"], U, chunk)

    def jobs(self):
        np, nj = self.np, self.n_jobs
        emp = self.job_employers()
        rng = np.random.default_rng([self.seed, STREAMS["jobs"], 1])
        created = np.sort(self.stamp(rng, nj))
        level = rng.integers(0, len(LEVELS), nj)
        role = rng.integers(0, len(ROLES), nj)
        cat = rng.integers(0, len(CATEGORIES), nj)
        jtype = rng.integers(0, len(JOB_TYPES), nj)
        company = rng.integers(0, len(COMPANIES), nj)
        loc = rng.integers(0, len(LOCATIONS), nj)
        sal_min = (rng.integers(20, 90, nj) * 1000).astype(np.int64)
        sal_max = sal_min + rng.integers(5, 40, nj) * 1000
        no_salary = rng.random(nj) < 0.2
        remote = rng.random(nj) < 0.2
        active = (rng.random(nj) < 0.85).astype(int)
        titles = [f"{LEVELS[lv]} {ROLES[r]}".strip() for lv, r in zip(level.tolist(), role.tolist())]

        def chunk(a, b):
            ts = _ts_text(np, created[a:b])
            companies = _pick(np, COMPANIES, company[a:b])
            return [_ints(np.arange(a + 1, b + 1)), titles[a:b], companies,
                    [f"{t} at {c}" for t, c in zip(titles[a:b], companies)],
                    _pick(np, CATEGORIES, cat[a:b]), _pick(np, JOB_TYPES, jtype[a:b]), _pick(np, LOCATIONS, loc[a:b]),
                    ["\\N" if n else str(v) for v, n in zip(sal_min[a:b].tolist(), no_salary[a:b].tolist())],
                    ["\\N" if n else str(v) for v, n in zip(sal_max[a:b].tolist(), no_salary[a:b].tolist())],
                    _bools(remote[a:b]), _pick(np, ["closed", "active"], active[a:b]), _ints(emp[a:b]), ts, ts]

        return (["id", "title", "company", "description", "category", "job_type", "location", "salary_min",
                 "salary_max", "is_remote", "status", "employer_id", "created_at", "updated_at"], nj, chunk)

    def job_applications(self):
        np, rng = self.np, self.rng("job_applications")
        n = self.count(self.scale.applications)
        job, user = _unique_pairs(np, rng.integers(1, self.n_jobs + 1, n), rng.integers(1, self.U + 1, n), self.U)
        created = self.stamp(rng, len(job))
        status = rng.integers(0, 4, len(job))
        return (["id", "job_id", "applicant_id", "cover_letter", "status", "created_at"], len(job),
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(job[a:b]), _ints(user[a:b]),
                              ["I would love to join your team."] * (b - a),
                              _pick(np, ["pending", "reviewed", "accepted", "rejected"], status[a:b]),
                              _ts_text(np, created[a:b])])

    def reviews(self):
        np, rng = self.np, self.rng("reviews")
        n = self.count(self.scale.reviews)
        job = rng.integers(1, self.n_jobs + 1, n)
        reviewer = rng.integers(1, self.U + 1, n)
        reviewee = self.job_employers()[job - 1]
        rating = rng.integers(1, 6, n)
        created = self.stamp(rng, n)
        return (["id", "job_id", "reviewer_id", "reviewee_id", "rating", "comment", "created_at"], n,
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(job[a:b]), _ints(reviewer[a:b]),
                              _ints(reviewee[a:b]), _ints(rating[a:b]), ["Good to work with."] * (b - a),
                              _ts_text(np, created[a:b])])

    def follows_data(self):
        with self._lazy:
            if self._follows is None:
                # Who is followed is power-law skewed (user 1 the most), followers are uniform.
                np, rng, U = self.np, self.rng("follows"), self.U
                n = self.count(self.scale.follows)
                followed = np.minimum((U * rng.random(n) ** 3).astype(np.int64) + 1, U)
                follower = rng.integers(1, U + 1, n)
                follower, followed = _unique_pairs(np, follower, followed, U)
                self._follows = (follower, followed, self.stamp(rng, len(follower)))
            return self._follows

    def post_users(self):
        with self._lazy:
            if self._post_users is None:
                rng = self.np.random.default_rng([self.seed, STREAMS["posts"], 2])
                self._post_users = rng.integers(1, self.U + 1, self.n_posts)
            return self._post_users

    def follows(self):
        np = self.np
        follower, followed, created = self.follows_data()
        return (["id", "follower_id", "followed_id", "created_at"], len(follower),
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(follower[a:b]), _ints(followed[a:b]),
                              _ts_text(np, created[a:b])])

    def feed_plan(self, parts: int):
        """Post ranges and first feed id of each part: fan-out of every post to its author's
        followers and to the author, in post (= time) order, so ids are deterministic."""
        with self._lazy:
            if self._feed is None or self._feed[0] != parts:
                np = self.np
                follower, followed, _ = self.follows_data()
                counts = np.bincount(followed, minlength=self.U + 1)
                order = np.argsort(followed, kind="stable")
                per_post = counts[self.post_users()] + 1
                step = -(-self.n_posts // parts)
                bounds = [(lo, min(self.n_posts, lo + step)) for lo in range(0, self.n_posts, step)]
                sizes = [int(per_post[lo:hi].sum()) for lo, hi in bounds]
                firsts = np.concatenate(([1], 1 + np.cumsum(sizes)[:-1])).tolist()
                self._feed = (parts, bounds, sizes, firsts, counts, np.cumsum(counts) - counts, follower[order])
            return self._feed

    def feed_items(self, part: int, parts: int):
        np = self.np
        _, bounds, sizes, firsts, counts, starts, by_followed = self.feed_plan(parts)
        lo, hi = bounds[part]
        authors = self.post_users()[lo:hi]
        per_post = counts[authors] + 1
        total = sizes[part]
        post_idx = np.repeat(np.arange(lo, hi), per_post)
        k = np.arange(total) - np.repeat(np.cumsum(per_post) - per_post, per_post)
        author = self.post_users()[post_idx]
        pick = np.minimum(starts[author] + np.maximum(k - 1, 0), max(len(by_followed) - 1, 0))
        user = np.where(k == 0, author, by_followed[pick] if len(by_followed) else author)
        created = self.post_created()[post_idx]
        first = firsts[part]
        return (["id", "user_id", "post_id", "author_id", "created_at"], total,
                lambda a, b: [_ints(np.arange(first + a, first + b)), _ints(user[a:b]), _ints(post_idx[a:b] + 1),
                              _ints(author[a:b]), _ts_text(np, created[a:b])])

    def posts(self):
        np, npo = self.np, self.n_posts
        created = self.post_created()
        rng = np.random.default_rng([self.seed, STREAMS["posts"], 1])
        user = self.post_users()
        text = rng.integers(0, len(SENTENCES), npo)
        kind = rng.choice(4, npo, p=[0.7, 0.1, 0.15, 0.05])
        like_counts = np.bincount(self.likes()[1], minlength=npo + 1)[1:]

        def chunk(a, b):
            ts = _ts_text(np, created[a:b])
            kinds = _pick(np, ["text", "job", "image", "video"], kind[a:b])
            return [_ints(np.arange(a + 1, b + 1)), _ints(user[a:b]), _pick(np, SENTENCES, text[a:b]),
                    [f"https://img.example.test/{i}.jpg" if k == "image" else "\\N"
                     for i, k in zip(range(a + 1, b + 1), kinds)],
                    kinds, _ints(like_counts[a:b]), ts, ts]

        return (["id", "user_id", "content", "image_url", "post_type", "like_count", "created_at", "updated_at"],
                npo, chunk)

    def post_likes(self):
        np = self.np
        user, post, created = self.likes()
        return (["id", "user_id", "post_id", "created_at"], len(user),
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(user[a:b]), _ints(post[a:b]),
                              _ts_text(np, created[a:b])])

    def post_comments(self):
        np, rng = self.np, self.rng("post_comments")
        n = self.count(self.scale.comments)
        post = rng.integers(1, self.n_posts + 1, n)
        user = rng.integers(1, self.U + 1, n)
        text = rng.integers(0, len(SENTENCES), n)
        created = np.maximum(self.post_created()[post - 1], self.stamp(rng, n))
        return (["id", "post_id", "user_id", "content", "created_at", "updated_at"], n,
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(post[a:b]), _ints(user[a:b]),
                              _pick(np, SENTENCES, text[a:b]), *([_ts_text(np, created[a:b])] * 2)])

    def _conversation_data(self):
        with self._lazy:
            return self._conversation_data_()

    def _conversation_data_(self):
        # Conversations are unique unordered pairs; updated_at is their last message's time.
        if self._messages is None:
            np, U = self.np, self.U
            rng = self.rng("conversations")
            n = self.count(self.scale.conversations)
            p1, p2 = rng.integers(1, U + 1, n), rng.integers(1, U + 1, n)
            lo, hi = _unique_pairs(np, np.minimum(p1, p2), np.maximum(p1, p2), U)
            conv_created = self.stamp(rng, len(lo))
            mrng = self.rng("messages")
            nm = self.count(self.scale.messages)
            conv = mrng.integers(1, len(lo) + 1, nm)
            from_first = mrng.random(nm) < 0.5
            sender = np.where(from_first, lo[conv - 1], hi[conv - 1])
            receiver = np.where(from_first, hi[conv - 1], lo[conv - 1])
            created = np.maximum(conv_created[conv - 1], self.stamp(mrng, nm))
            read = mrng.random(nm) < 0.8
            text = mrng.integers(0, len(MESSAGES), nm)
            updated = conv_created.copy()
            np.maximum.at(updated, conv - 1, created)
            self._messages = (lo, hi, conv_created, updated, conv, sender, receiver, created, read, text)
        return self._messages

    def conversations(self):
        np = self.np
        lo, hi, created, updated = self._conversation_data()[:4]
        return (["id", "participant_1_id", "participant_2_id", "created_at", "updated_at"], len(lo),
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(lo[a:b]), _ints(hi[a:b]),
                              _ts_text(np, created[a:b]), _ts_text(np, updated[a:b])])

    def messages(self):
        np = self.np
        conv, sender, receiver, created, read, text = self._conversation_data()[4:]
        return (["id", "conversation_id", "sender_id", "receiver_id", "content", "is_read", "created_at"], len(conv),
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(conv[a:b]), _ints(sender[a:b]),
                              _ints(receiver[a:b]), _pick(np, MESSAGES, text[a:b]), _bools(read[a:b]),
                              _ts_text(np, created[a:b])])

    def notifications(self):
        np, rng, U = self.np, self.rng("notifications"), self.U
        n = self.count(self.scale.notifications)
        user = np.minimum((U * rng.random(n) ** 2).astype(np.int64) + 1, U)
        actor = rng.integers(1, U + 1, n)
        kind = rng.integers(0, len(NOTIFY_TYPES), n)
        related = rng.integers(1, self.n_posts + 1, n)
        read = rng.random(n) < 0.7
        created = self.stamp(rng, n)
        texts = [NOTIFY_TEXT[t] for t in NOTIFY_TYPES]
        return (["id", "user_id", "actor_id", "notification_type", "content", "related_id", "is_read", "created_at"],
                n, lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(user[a:b]), _ints(actor[a:b]),
                                 _pick(np, NOTIFY_TYPES, kind[a:b]), _pick(np, texts, kind[a:b]),
                                 _ints(related[a:b]), _bools(read[a:b]), _ts_text(np, created[a:b])])

    def profile_pictures(self):
        np, rng = self.np, self.rng("profile_pictures")
        n = self.count(self.scale.pictures)
        user = rng.integers(1, self.U + 1, n)
        created = self.stamp(rng, n)
        # The newest picture of each user is the current one.
        order = np.lexsort((-created, user))
        current = np.zeros(n, dtype=bool)
        current[order[np.r_[True, user[order][1:] != user[order][:-1]]]] = True
        return (["id", "user_id", "file_url", "is_current", "created_at"], n,
                lambda a, b: [_ints(np.arange(a + 1, b + 1)), _ints(user[a:b]),
                              [f"https://img.example.test/u/{i}.jpg" for i in range(a + 1, b + 1)],
                              _bools(current[a:b]), _ts_text(np, created[a:b])])


def _load_table(conn, gen: _Generator, task: str, parts: int, progress, rows: dict, timings: dict) -> None:
    """COPY one table (or one part of feed_items, "feed_items:N") and commit it."""
    t0 = time.perf_counter()
    table, _, part = task.partition(":")
    columns, n, chunk = gen.feed_items(int(part), parts) if part else getattr(gen, table)()
    # Only tables no foreign key refers to can be truncated, and only a whole table (not a part).
    freeze = table in LEAF_TABLES and parts <= 1 if table == "feed_items" else table in LEAF_TABLES
    rows[task] = _Loader(conn, progress).copy(table, columns, n, chunk, freeze=freeze)
    conn.commit()
    timings[task] = time.perf_counter() - t0


def _run_tasks(conns, gen: _Generator, order: tuple[str, ...], progress, rows: dict, timings: dict) -> None:
    """Every connection takes the next task of `order` until none is left; each task commits."""
    lock = threading.Lock()
    pending = list(order)
    parts = sum(1 for t in order if t.startswith("feed_items:"))

    def work(conn):
        while True:
            with lock:
                if not pending:
                    return
                task = pending.pop(0)
            _load_table(conn, gen, task, parts, progress, rows, timings)

    def stop():
        with lock:
            pending.clear()
        _cancel(conns)

    _in_parallel(*[(lambda c=c: work(c)) for c in conns], cancel=stop)
    for collected in (rows, timings):
        pieces = [k for k in collected if k.startswith("feed_items:")]
        collected["feed_items"] = sum(collected.pop(k) for k in pieces)


def _cancel(conns) -> None:
    for c in conns:
        if c is not None and not c.closed:
            try:
                c.cancel()
            except Exception:
                pass


def _in_parallel(*jobs, cancel=None):
    """Run callables on threads (each with its own connection); re-raise the first failure.

    Interrupted while waiting (Ctrl-C arrives in the main thread), it cancels the statements in
    flight (`cancel`) until the threads end, so the caller's clean-up never races a running COPY.
    """
    errors: list[BaseException] = []
    results: list = [None] * len(jobs)

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(jobs)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        while any(t.is_alive() for t in threads):
            if cancel is not None:
                cancel()
            for t in threads:
                t.join(0.5)
        raise
    if errors:
        raise errors[0]
    return results


# -- public API -----------------------------------------------------------------------------------
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


def _retry_on_deadlock(run):
    """Run `run()` again when the server broke a deadlock by cancelling this seed.

    A seed drops and builds tables that another session (`indexes apply` building or analysing
    them, say) may hold locks on in the opposite order; PostgreSQL then rolls back one side. A
    seed's drop-and-create is one transaction and an interrupted load is repaired by the next
    run, so a fresh attempt is safe. After the last one the caller gets exit 3, not a crash.
    """
    import psycopg2.errors

    from hmb_ops.errors import LockBusy

    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return run()
        except psycopg2.errors.DeadlockDetected:
            if attempt == DEADLOCK_ATTEMPTS:
                raise LockBusy(f"the seed lost a lock deadlock {attempt} times in a row to another session"
                               " working on hmb-ops's tables",
                               hint="wait for that session (an `indexes apply`, say) to finish, then rerun") from None
            time.sleep(0.2 * attempt)


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


def _session(conn) -> bool:
    """Session settings for bulk loading; returns whether FK triggers are off for this session."""
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("SET synchronous_commit = off")
    conn.commit()
    return _try_defer_fk(conn)


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

    fk_deferred = _session(conn)
    run_id = secrets.token_hex(8)  # which load the 'loading' record belongs to
    _prepare(conn, plan, found, scale, seed, password_hash, hash_rounds, shares, run_id)
    gen = _Generator(spec, seed, password_hash)
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
            _session(second)
            _run_tasks([conn, second], gen, BIG_FIRST, progress, rows, timings)
        else:
            _run_tasks([conn], gen, FK_ORDER, progress, rows, timings)
        t0 = time.perf_counter()
        conns = [conn] + ([second] if second is not None else [])
        # feed_items alone is about as big as all the other leaf tables together.
        shares_pk = [LEAF_TABLES[:1], LEAF_TABLES[1:]] if len(conns) == 2 else [LEAF_TABLES]
        _in_parallel(*[(lambda c=c, part=part: _add_primary_keys(c, part)) for c, part in zip(conns, shares_pk)],
                     cancel=lambda: _cancel(conns))
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
        _in_parallel(*[(lambda c=c, part=TABLES[i::len(conns)]: _analyze(c, part)) for i, c in enumerate(conns)],
                     cancel=lambda: _cancel(conns))
        timings["analyze"] = time.perf_counter() - t0
    except BaseException:
        # Nothing half-applied: a failed or interrupted load drops the tables it created (hmb-ops's
        # own, through the ownership record, never with CASCADE). Should that fail too (a second
        # Ctrl-C, a kill), the seed record still says 'loading' and the next seed repairs.
        for c in (second, conn):
            if c is not None and not c.closed:
                try:
                    c.close()  # a cancelled COPY can leave it unusable; the clean-up uses its own
                except Exception:
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
    except Exception:
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
    except Exception:
        pass
    finally:
        conn.close()


def _add_primary_keys(conn, tables) -> None:
    """Same constraint (name and definition) as the schema's inline PRIMARY KEY."""
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        for table in tables:
            cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    conn.commit()


def _analyze(conn, tables) -> None:
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"ANALYZE {table}")


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
    return dict(zip(keys, row))
