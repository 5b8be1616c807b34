"""Recorded statements as declared queries: $n -> %(pn)s, literal % kept, sample-value sources, PREPARE."""

from __future__ import annotations

from hmb_ops.indexes import sqltext
from hmb_ops.indexes.export_queries import (
    Statement,
    _is_read,
    _keyword_params,
    _param_columns,
    _unprepared,
    to_query,
)
from hmb_ops.indexes.spec import placeholders


def stmt(text: str) -> Statement:
    return Statement(queryid=-42, text=text, calls=3, total_ms=1.0, mean_ms=0.3)


def test_parameters_become_named_and_a_literal_percent_survives_psycopg2():
    s = stmt("SELECT id FROM items WHERE code LIKE 'c1%' AND title = $1 ORDER BY id LIMIT $2")
    toks = sqltext.tokens(s.text, params=True)
    q = to_query(s, toks, {1: "title 3", 2: 20}, [])
    assert q.sql == "SELECT id FROM items WHERE code LIKE 'c1%%' AND title = %(p1)s ORDER BY id LIMIT %(p2)s"
    assert q.params == {"p1": "title 3", "p2": 20} and q.unsampled == []
    assert q.name == "stmt_ffffffffffffffd6"
    # what verify prepares is the recorded statement again
    assert placeholders(q.sql) == ("SELECT id FROM items WHERE code LIKE 'c1%' AND title = $1 ORDER BY id LIMIT $2",
                                   ["p1", "p2"])


def test_where_sample_values_come_from():
    toks = sqltext.tokens("SELECT 1 FROM t f WHERE f.user_id = $1 AND $2 < created_at AND tag = ANY($3) "
                          "AND lower(email) = lower($4) LIMIT $5 OFFSET $6", params=True)
    assert _param_columns(toks) == {1: "user_id", 2: "created_at", 3: "tag"}
    assert _keyword_params(toks) == {5: 20, 6: 0}


def test_only_single_reads_are_planned_and_prepare_is_unwrapped():
    assert _is_read(sqltext.tokens("SELECT 1 FROM t WHERE a = $1", params=True))
    for text in ("UPDATE t SET a = $1", "SELECT * FROM pg_stat_activity", "WITH x AS (DELETE FROM t) SELECT 1",
                 "SELECT 1; SELECT 2"):
        assert not _is_read(sqltext.tokens(text, params=True)), text
    got = _unprepared(stmt("PREPARE hmb_q_1 (int, text) AS SELECT id FROM t WHERE a = $1 AND b = $2"))
    assert got.text == "SELECT id FROM t WHERE a = $1 AND b = $2" and got.queryid == -42
    assert _unprepared(stmt("SELECT 1")).text == "SELECT 1"
