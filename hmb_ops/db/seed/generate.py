"""The reference data, generated: deterministic, column-wise, with the skew of a real social network.

Data is generated column-wise with numpy from seeded random streams (same `seed` → same rows,
ids included), with the skew of a real social network: who gets followed is heavily skewed
towards a few accounts (user 1 has the most followers), so fan-out and feeds behave like the
seed's "1,000 followers" case. feed_items holds what fan-out on write would have produced: every
post in its author's followers' feeds and in the author's own.

Each table's method returns (columns, row count, chunk maker); hmb_ops.db.seed.load turns the
chunks into COPY text. No database access here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

BASE_TIME_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z: data is dated relative to a fixed day
YEAR_US = 365 * 86400 * 1_000_000


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


# -- generation -----------------------------------------------------------------------------------
# Each table draws from its own random stream (seed, table number), so the rows do not depend on
# which connection loads which table first.
STREAMS = {name: i for i, name in enumerate((
    "users", "jobs", "job_applications", "reviews", "follows", "posts", "post_likes", "post_comments",
    "conversations", "messages", "notifications", "profile_pictures"))}


class Generator:
    """The tables of one scale and seed; arrays several tables share are computed once, on first use."""

    def __init__(self, scale: Scale, seed: int, password_hash: str):
        import numpy as np

        self.np = np
        self.scale = scale
        self.seed = seed
        self.U = scale.users
        self.password_hash = password_hash
        self.n_posts = self.count(scale.posts)
        self.n_jobs = self.count(scale.jobs)
        # Arrays (and tuples of arrays) several tables share, computed on first use.
        self._job_emp: Any = None
        self._post_created: Any = None
        self._likes: Any = None
        self._messages: Any = None
        self._follows: Any = None
        self._post_users: Any = None
        self._feed: Any = None
        self._lazy = threading.RLock()  # two loader threads may ask for the same shared array

    def rng(self, table: str):
        return self.np.random.default_rng([self.seed, STREAMS[table]])

    def count(self, per_user: float) -> int:
        return max(1, round(self.U * per_user))

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
                    [("+" + str(p)) if h else "\\N"
                     for p, h in zip(phones[a:b].tolist(), has_phone[a:b].tolist(), strict=True)],
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
        titles = [f"{LEVELS[lv]} {ROLES[r]}".strip() for lv, r in zip(level.tolist(), role.tolist(), strict=True)]

        def chunk(a, b):
            ts = _ts_text(np, created[a:b])
            companies = _pick(np, COMPANIES, company[a:b])
            return [_ints(np.arange(a + 1, b + 1)), titles[a:b], companies,
                    [f"{t} at {c}" for t, c in zip(titles[a:b], companies, strict=True)],
                    _pick(np, CATEGORIES, cat[a:b]), _pick(np, JOB_TYPES, jtype[a:b]), _pick(np, LOCATIONS, loc[a:b]),
                    ["\\N" if n else str(v)
                     for v, n in zip(sal_min[a:b].tolist(), no_salary[a:b].tolist(), strict=True)],
                    ["\\N" if n else str(v)
                     for v, n in zip(sal_max[a:b].tolist(), no_salary[a:b].tolist(), strict=True)],
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
                     for i, k in zip(range(a + 1, b + 1), kinds, strict=True)],
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
