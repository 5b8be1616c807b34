"""Declared queries for the spec: a workload statement with %(pN)s parameters and sample values.

pg_stat_statements keeps no parameter values, so a sample is taken from the planner statistics of
the column the parameter is compared with (its most common value, else the middle of its
histogram); a LIKE/ILIKE pattern becomes '%<a piece of such a value>%'; a LIMIT/OFFSET-like integer
that compares with no column gets 20. When no sample can be found the query is left out, and the
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


def declared_query(target, sql: str, base: PlanFacts, types: list[str], *, reads_only: bool = True
                   ) -> tuple[dict | None, str]:
    """({sql, params}) for the spec, or (None, why not)."""
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
                if found:
                    raw = _column_sample(cur, *found[:3])
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
