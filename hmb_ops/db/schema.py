"""The reference schema: the tables of the HireMeBahamas backend plus a fan-out feed table.

Primary and foreign keys only. Every secondary index (including the unique ones on e-mail and
follows) is declared in configs/indexes.yaml and owned by `hmb-ops indexes`, so the same database
can be measured with and without them.
"""

from __future__ import annotations

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


def create_schema(conn) -> list[str]:
    """Create the tables that are missing (idempotent). Returns the tables that were created."""
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cur.fetchall()}
        for statement in DDL:
            cur.execute(statement)
    conn.commit()
    return [t for t in TABLES if t not in existing]


def missing_tables(conn) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cur.fetchall()}
    return [t for t in TABLES if t not in existing]


def drop_schema(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS " + ", ".join(reversed(TABLES)) + " CASCADE")
    conn.commit()
