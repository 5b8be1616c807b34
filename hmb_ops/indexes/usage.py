"""Honest "unused": how long the statistics have watched an index before 0 scans means anything.

``idx_scan = 0`` only says no scan was counted since the counters started: right after a build, a
statistics reset or (for a database never reset) the server's start, every index reads 0. So an
index is called unused only when it is not unique, primary or backing a constraint (those enforce
something whether read or not) and the window it was watched in is at least ``unused_after``
(default 7 days): the shorter of the statistics' age (``pg_stat_database.stats_reset``, else
``pg_postmaster_start_time()`` — since PostgreSQL 15 counters survive a clean restart, so the server
start is the conservative, younger bound) and the index's own age when known. The age is known for
indexes hmb-ops built: their mark carries the time of the plan that built them ("built <UTC time>");
for any other index it is unknown, and the judgement says so.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

UNUSED_AFTER_DAYS = 7.0
_BUILT = re.compile(r"built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)$")

_WINDOW_SQL = ("SELECT d.stats_reset, pg_postmaster_start_time(), now() FROM pg_stat_database d "
               "WHERE d.datname = current_database()")


@dataclass(frozen=True)
class StatsWindow:
    """Since when this database's statistics have been collected, and by which evidence."""

    since: datetime.datetime
    source: str                 # stats_reset | server_start
    now: datetime.datetime

    @property
    def age_s(self) -> float:
        return max(0.0, (self.now - self.since).total_seconds())

    def to_dict(self) -> dict:
        return {"since": self.since.isoformat(), "source": self.source, "age_s": round(self.age_s, 1)}


def read_window(cur) -> StatsWindow:
    cur.execute(_WINDOW_SQL)
    row = cur.fetchone()
    if row is None:  # the database row is always there; a view without it would be a broken server
        cur.execute("SELECT NULL::timestamptz, pg_postmaster_start_time(), now()")
        row = cur.fetchone()
    reset, started, now = row
    if reset is not None and reset > started:
        return StatsWindow(since=reset, source="stats_reset", now=now)
    # Reset before the server started (or never): counters may predate the start (kept over a clean
    # restart since PostgreSQL 15), but only the start is sure.
    return StatsWindow(since=started, source="server_start", now=now)


def built_at(comment: str | None) -> datetime.datetime | None:
    """When hmb-ops built the index, from its mark (None: not recorded)."""
    m = _BUILT.search(comment or "")
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def built_stamp(when: datetime.datetime | None = None) -> str:
    """The UTC time written into a mark (characters a mark may hold: digits, '-', ':', 'T', 'Z')."""
    when = when or datetime.datetime.now(datetime.UTC)
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


@dataclass(frozen=True)
class Usage:
    index: str
    table: str
    scans: int
    verdict: str                    # used | unused | too_young | exempt
    detail: str
    index_age_s: float | None       # None: unknown (not built by hmb-ops)
    watched_s: float                # the window the verdict rests on

    def to_dict(self) -> dict:
        return {"index": self.index, "table": self.table, "scans": self.scans, "verdict": self.verdict,
                "detail": self.detail, "index_age_s": None if self.index_age_s is None else round(self.index_age_s),
                "watched_s": round(self.watched_s)}


def judge(indexes, window: StatsWindow, unused_after_days: float = UNUSED_AFTER_DAYS) -> list[Usage]:
    """A verdict for each valid index (LiveIndex-like: name, table, scans, unique, primary,
    constraint_backed, valid, comment)."""
    need = unused_after_days * 86400
    out: list[Usage] = []
    for ix in indexes:
        if not ix.valid:
            continue
        built = built_at(ix.comment) if ix.marked else None
        age = None if built is None else max(0.0, (window.now - built).total_seconds())
        watched = window.age_s if age is None else min(window.age_s, age)
        if ix.primary or ix.unique or ix.constraint_backed:
            what = "primary key" if ix.primary else "unique" if ix.unique else "backs a constraint"
            out.append(Usage(ix.name, ix.table, ix.scans, "exempt",
                             f"{what}: enforces something even when never read, never called unused", age, watched))
        elif ix.scans > 0:
            out.append(Usage(ix.name, ix.table, ix.scans, "used", f"{ix.scans} scans", age, watched))
        elif watched < need:
            why = (f"the index is {human_age(age)} old" if age is not None and age < window.age_s
                   else f"statistics are {human_age(window.age_s)} old")
            out.append(Usage(ix.name, ix.table, 0, "too_young",
                             f"0 scans, but {why}; unused needs {_days(unused_after_days)}", age, watched))
        else:
            age_note = "" if age is not None else "; index age unknown (not built by hmb-ops)"
            out.append(Usage(ix.name, ix.table, 0, "unused",
                             f"0 scans in {human_age(watched)} of statistics{age_note}", age, watched))
    return out


def window_line(window: StatsWindow, unused_after_days: float = UNUSED_AFTER_DAYS) -> str:
    since = "the last statistics reset" if window.source == "stats_reset" else "the server's start"
    line = (f"statistics are {human_age(window.age_s)} old (since {since}, "
            f"{window.since.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC)")
    if window.age_s < unused_after_days * 86400:
        return line + f"; unused needs {_days(unused_after_days)}, so no index is called unused yet"
    return line + f"; an index with 0 scans over {_days(unused_after_days)} is called unused"
