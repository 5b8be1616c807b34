"""Declared queries for the spec: a workload statement with %(pN)s parameters and sample values.

pg_stat_statements keeps no parameter values, so a sample is taken from the constant an existing
partial index compares the column with (the query's own constant, most likely), else from the
planner statistics of the column the parameter is compared with (its most common value, else the
middle of its histogram); a LIKE/ILIKE pattern becomes '%<a piece of such a value>%' (a frequent term) or, asked
for, '%<a term no sampled value contains>%' (a typo or a rare term: the search an ordered scan with a
filter serves worst and a trigram index best); a LIMIT/OFFSET-like integer that compares with no
column gets 20. When no sample can be found the query is left out, and the
suggestion says so: a declared query without sample values cannot be verified.
"""

from __future__ import annotations

import re
from typing import Any

from hmb_ops.indexes import sqltext
from hmb_ops.indexes.suggest.conditions import PlanFacts
from hmb_ops.indexes.suggest.workload import first_word

_INTS = {"smallint", "integer", "bigint"}
_FLOATS = {"numeric", "real", "double precision"}


def _column_sample(cur, schema: str, table: str, column: str) -> str | None:
    cur.execute("SELECT (most_common_vals::text::text[])[1], "
                "(histogram_bounds::text::text[])[greatest(1, array_length(histogram_bounds::text::text[], 1) / 2)] "
                "FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = %s LIMIT 1",
                (schema, table, column))
    row = cur.fetchone()
    if not row:
        return None
    return row[0] if row[0] is not None else row[1]


# `= 'text'` (quotes doubled inside), `= true/false`, `= 42`: what follows the column in a deparsed predicate
_PREDICATE_VALUE = r""""?\s*=\s*('(?:[^']|'')*'|true|false|-?\d+(?:\.\d+)?)"""


def _partial_index_constant(cur, schema: str, table: str, column: str) -> str | None:
    """The constant an existing partial index compares ``column`` with (``WHERE status = 'active'``):
    pg_stat_statements turned the query's own constant into $n, and the index was built for that value,
    so it is the sample to plan with (the column's most common value may be another one)."""
    cur.execute("SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE n.nspname = %s AND t.relname = %s AND i.indpred IS NOT NULL ORDER BY i.indexrelid",
                (schema, table))
    # the server's own deparsed predicate: `(status = 'active'::text)`, `(is_read = false)`
    pattern = re.compile(r'(?<![\w.])"?' + re.escape(column) + _PREDICATE_VALUE)
    for (text,) in cur.fetchall():
        m = pattern.search(text or "")
        if m:
            value = m.group(1)
            return value[1:-1].replace("''", "'") if value.startswith("'") else value
    return None


NO_MATCH_WORD = "zqxjv"   # a letter run no English word holds; checked against the column's sampled values


def no_match_pattern(cur, schema: str, table: str, column: str) -> str:
    """'%<a term none of the column's sampled values contains>%', as a search for a typo or a rare word."""
    cur.execute("SELECT most_common_vals::text::text[], histogram_bounds::text::text[] "
                "FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = %s LIMIT 1",
                (schema, table, column))
    row = cur.fetchone() or (None, None)
    sampled = [v.lower() for values in row for v in (values or ()) if v]
    word, n = NO_MATCH_WORD, 0
    while any(word in v for v in sampled):
        n += 1
        word = f"{NO_MATCH_WORD}{n}"
    return f"%{word}%"


def like_pattern(value: str) -> str:
    """'%<the longest word of a real value>%', as a user searches ('%engineer%' in 'Senior Engineer');
    four characters from its middle when it has no word of three letters or more."""
    words = sorted(re.findall(r"[^\W_]{3,}", value), key=len, reverse=True)
    if words:
        return f"%{words[0].lower()}%"
    mid = max(0, len(value) // 2 - 2)
    return "%" + value[mid:mid + 4].replace("%", "").replace("_", "") + "%"


def _typed(value: str, pg_type: str) -> Any:
    base = pg_type.split("(")[0].strip()
    if base in _INTS:
        return int(value)
    if base in _FLOATS:
        return float(value)
    if base == "boolean":
        return value in ("t", "true")
    return value


def to_pyformat(sql: str) -> str:
    """``$n`` -> ``%(pN)s`` and every other ``%`` doubled, by the project's lexer (never inside strings)."""
    toks = sqltext.tokens(sql, params=True)
    spots = {t.pos: t for t in toks if t.kind == "param"}
    out: list[str] = []
    i = 0
    while i < len(sql):
        t = spots.get(i)
        if t is not None:
            out.append(f"%(p{t.text[1:]})s")
            i += len(t.text)
            continue
        out.append("%%" if sql[i] == "%" else sql[i])
        i += 1
    return "".join(out)


FREQUENT, NO_MATCH = "frequent", "no match"   # which LIKE/ILIKE pattern a sample uses


def has_like_params(base: PlanFacts) -> bool:
    return any(use.like_params for use in base.uses.values())


def declared_query(target, sql: str, base: PlanFacts, types: list[str], *, reads_only: bool = True,
                   like: str = FREQUENT) -> tuple[dict | None, str]:
    """({sql, params}) for the spec, or (None, why not). ``like``: FREQUENT or NO_MATCH patterns."""
    if reads_only and first_word(sql) not in ("select", "with"):
        return None, "a declared query must only read (this statement writes)"
    try:
        text = to_pyformat(" ".join(sql.split()))
        sqltext.check_statement(text)
    except sqltext.NotOneExpression as exc:
        return None, f"not usable as a declared query: {exc}"
    params: dict[str, Any] = {}
    where: dict[int, tuple[str, str, str, bool]] = {}
    for use in base.uses.values():
        for n, col in use.params.items():
            where.setdefault(n, (use.schema, use.table, col, n in use.like_params))
    with target.cursor() as cur:
        try:
            for n, pg_type in enumerate(types, 1):
                found = where.get(n)
                value: Any = None
                if found and found[3] and like == NO_MATCH:
                    value = no_match_pattern(cur, *found[:3])
                elif found:
                    raw = None if found[3] else _partial_index_constant(cur, *found[:3])
                    raw = raw if raw is not None else _column_sample(cur, *found[:3])
                    if raw is not None:
                        value = like_pattern(raw) if found[3] else _typed(raw, pg_type)
                elif pg_type.split("(")[0] in _INTS:
                    value = 20
                if value is None:
                    return None, f"no sample value for ${n} ({pg_type}) in the planner statistics"
                params[f"p{n}"] = value
        except (ValueError, TypeError) as exc:
            return None, f"a sample value did not fit its type: {exc}"
        finally:
            target.rollback()
    return {"sql": text, "params": params}, ""
