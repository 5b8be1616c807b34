"""Honest "unused": the window an index was watched in decides, and some indexes are never unused."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from hmb_ops.indexes import ddl, usage

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


@dataclass
class Ix:
    name: str
    scans: int = 0
    unique: bool = False
    primary: bool = False
    constraint_backed: bool = False
    valid: bool = True
    comment: str | None = None
    table: str = "t"

    @property
    def marked(self) -> bool:
        return ddl.mark_table(self.comment) == "public.t"


def window(days: float, source: str = "stats_reset") -> usage.StatsWindow:
    return usage.StatsWindow(since=NOW - datetime.timedelta(days=days), source=source, now=NOW)


def built(days_ago: float) -> str:
    stamp = usage.built_stamp(NOW - datetime.timedelta(days=days_ago))
    return ddl.mark_text("built by indexes apply", "public", "t", "spec.yaml", built=stamp)


def verdicts(indexes, w, days=7.0):
    return {u.index: u for u in usage.judge(indexes, w, days)}


def test_fresh_statistics_call_nothing_unused():
    got = verdicts([Ix("a"), Ix("b", comment=built(0.01))], window(0.01, "server_start"))
    assert {u.verdict for u in got.values()} == {"too_young"}
    assert "statistics are 14 minutes old; unused needs 7 days" in got["a"].detail
    line = usage.window_line(window(0.01, "server_start"))
    assert line.startswith("statistics are 14 minutes old (since the server's start, 2026-12-01 11:45 UTC)")
    assert "unused needs 7 days, so no index is called unused yet" in line


def test_old_statistics_but_a_young_index_built_by_hmb_ops_is_not_unused():
    got = verdicts([Ix("young", comment=built(2)), Ix("old", comment=built(30)), Ix("unknown")], window(60))
    assert got["young"].verdict == "too_young" and "the index is 2.0 days old" in got["young"].detail
    assert got["young"].index_age_s == 2 * 86400
    assert got["old"].verdict == "unused" and "30.0 days of statistics" in got["old"].detail
    assert got["unknown"].verdict == "unused" and "index age unknown" in got["unknown"].detail
    assert got["unknown"].index_age_s is None


def test_unique_primary_and_constraint_indexes_are_never_unused():
    got = verdicts([Ix("u", unique=True), Ix("p", primary=True, unique=True), Ix("c", constraint_backed=True),
                    Ix("used", scans=3), Ix("broken", valid=False)], window(365))
    assert {k: v.verdict for k, v in got.items()} == {"u": "exempt", "p": "exempt", "c": "exempt", "used": "used"}


def test_the_threshold_is_configurable_and_a_copied_mark_gives_no_age():
    copied = ddl.mark_text("built by indexes apply", "public", "other", "s.yaml", built=usage.built_stamp(NOW))
    got = verdicts([Ix("a", comment=built(2)), Ix("copied", comment=copied)], window(3), days=1)
    assert got["a"].verdict == "unused"
    assert got["copied"].index_age_s is None  # a mark naming another table is not believed


def test_the_mark_with_its_build_time_still_names_its_table():
    text = built(0)
    assert text.endswith(", built 2026-12-01T12:00:00Z)")
    assert ddl.mark_table(text) == "public.t"
    assert usage.built_at(text) == NOW
    assert usage.built_at("hmb-ops: built by indexes apply on public.t (spec s.yaml)") is None
