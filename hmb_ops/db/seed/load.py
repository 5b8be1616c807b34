"""COPY loading: each table turned into COPY text in large chunks, on one or two connections.

Speed: each table is turned into COPY text in large chunks by joining whole columns (no per-row
Python objects beyond one string), and a producer thread generates the next chunk while the
server ingests the current one (psycopg2 releases the GIL while sending). When the role may set
`session_replication_role`, foreign keys are not re-checked row by row (the data is consistent
by construction) and tables load on two connections at once; otherwise one connection loads them
in foreign-key order. Primary keys of the tables nothing refers to are built after the load, as
pgbench does; the resulting constraints are the same as `db init` creates.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from hmb_ops.db.seed.generate import Generator

CHUNK_ROWS = 200_000

ProgressFn = Callable[[str, int, int], None]

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


class Loader:
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
                    text = "\n".join(map("\t".join, zip(*cols, strict=True))) + "\n"
                    chunks.put((stop, text.encode("utf-8")))
            except BaseException as exc:  # noqa: BLE001 - surfaced in the consumer thread
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


def load_table(conn, gen: Generator, task: str, parts: int, progress, rows: dict, timings: dict) -> None:
    """COPY one table (or one part of feed_items, "feed_items:N") and commit it."""
    t0 = time.perf_counter()
    table, _, part = task.partition(":")
    columns, n, chunk = gen.feed_items(int(part), parts) if part else getattr(gen, table)()
    # Only tables no foreign key refers to can be truncated, and only a whole table (not a part).
    freeze = table in LEAF_TABLES and parts <= 1 if table == "feed_items" else table in LEAF_TABLES
    rows[task] = Loader(conn, progress).copy(table, columns, n, chunk, freeze=freeze)
    conn.commit()
    timings[task] = time.perf_counter() - t0


def run_tasks(conns, gen: Generator, order: tuple[str, ...], progress, rows: dict, timings: dict) -> None:
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
            load_table(conn, gen, task, parts, progress, rows, timings)

    def stop():
        with lock:
            pending.clear()
        cancel_all(conns)

    in_parallel(*[(lambda c=c: work(c)) for c in conns], cancel=stop)
    for collected in (rows, timings):
        pieces = [k for k in collected if k.startswith("feed_items:")]
        collected["feed_items"] = sum(collected.pop(k) for k in pieces)


def cancel_all(conns) -> None:
    """Cancel the statement each open connection is running (a Ctrl-C mid-COPY)."""
    for c in conns:
        if c is not None and not c.closed:
            try:
                c.cancel()
            except Exception:  # noqa: BLE001 - best effort: a connection that cannot cancel has nothing running
                pass


def in_parallel(*jobs, cancel=None):
    """Run callables on threads (each with its own connection); re-raise the first failure.

    Interrupted while waiting (Ctrl-C arrives in the main thread), it cancels the statements in
    flight (`cancel`) until the threads end, so the caller's clean-up never races a running COPY.
    """
    errors: list[BaseException] = []
    results: list = [None] * len(jobs)

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
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


def bulk_session(conn) -> bool:
    """Session settings for bulk loading; returns whether FK triggers are off for this session."""
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("SET synchronous_commit = off")
    conn.commit()
    return _try_defer_fk(conn)


def add_primary_keys(conn, tables) -> None:
    """Same constraint (name and definition) as the schema's inline PRIMARY KEY."""
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        for table in tables:
            cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    conn.commit()


def analyze(conn, tables) -> None:
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
