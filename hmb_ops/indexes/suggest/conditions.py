"""What a statement does with each table, read from the server's own (generic, VERBOSE) plan.

The plan names every scanned relation with its alias and prints every condition qualified by
alias (VERBOSE): filters, index and recheck conditions, join conditions (hash, merge, join
filter) and sort keys. Each condition string is parsed into a tree (sqlglot) and walked, so a
column counts as an equality, range, join or LIKE/ILIKE use by structure, never by a regex over
the text. Sort keys count when a Limit sits above the sort (ORDER BY ... LIMIT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_CONDITION_KEYS = ("Filter", "Index Cond", "Recheck Cond", "Join Filter", "Hash Cond", "Merge Cond")
_SORT_KEY = re.compile(r'^\s*(?:"?(?P<alias>[A-Za-z_][\w$]*)"?\.)?"?(?P<col>[A-Za-z_][\w$]*)"?'
                       r'(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$', re.IGNORECASE)
# PostgreSQL prints LIKE as ~~ and ILIKE as ~~* in plans; sqlglot reads the keywords.
_LIKE_OPS = (("!~~*", " NOT ILIKE "), ("~~*", " ILIKE "), ("!~~", " NOT LIKE "), ("~~", " LIKE "))


@dataclass
class TableUse:
    schema: str
    table: str
    alias: str
    equality: list[str] = field(default_factory=list)   # columns compared with = / IN / = ANY to a value
    join: list[str] = field(default_factory=list)       # columns equal to another table's column
    range: list[str] = field(default_factory=list)      # <, <=, >, >=, BETWEEN
    like: list[str] = field(default_factory=list)       # LIKE / ILIKE with a pattern that may start with %
    sort: list[str] = field(default_factory=list)       # ORDER BY ... LIMIT keys on this table, in order
    params: dict[int, str] = field(default_factory=dict)  # $n -> the column it is compared with
    like_params: set[int] = field(default_factory=set)    # $n that are LIKE/ILIKE patterns

    def add(self, kind: str, column: str) -> None:
        bucket = getattr(self, kind)
        if column not in bucket:
            bucket.append(column)


@dataclass
class PlanFacts:
    total_cost: float
    uses: dict[str, TableUse]          # alias -> use
    relations: set[tuple[str, str]]    # (schema, table) of every scanned relation
    index_names: list[str]
    unparsed: int = 0                  # condition strings the parser could not read (ignored)


def _nodes(node: Any, above_limit: bool = False):
    if isinstance(node, dict):
        kind = node.get("Node Type", "")
        if "Node Type" in node:
            yield node, above_limit
        below = above_limit or kind == "Limit"
        if kind in ("Hash Join", "Nested Loop", "Merge Join", "Aggregate", "Group", "WindowAgg", "Unique"):
            below = above_limit and kind in ("Nested Loop",)  # a sort below a join or aggregate orders its input only
        for v in node.get("Plans", []) or []:
            yield from _nodes(v, below)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v, above_limit)


def _to_sql(cond: str) -> str:
    out: list[str] = []
    for i, chunk in enumerate(cond.split("'")):
        text = chunk
        if i % 2 == 0:  # outside string literals (a doubled '' quote just makes an empty inside chunk)
            for op, word in _LIKE_OPS:
                text = text.replace(op, word)
        out.append(text)
    return "'".join(out)


def _column(e) -> tuple[str, str] | None:
    """(alias, column) when the expression is a column, possibly cast or parenthesised."""
    from sqlglot import exp

    while isinstance(e, (exp.Paren, exp.Cast)):
        e = e.this
    if isinstance(e, exp.Column) and e.table:
        return e.table, e.name
    return None


def _param(e) -> int | None:
    from sqlglot import exp

    while isinstance(e, (exp.Paren, exp.Cast)):
        e = e.this
    if isinstance(e, exp.Parameter):
        try:
            return int(e.name)
        except (TypeError, ValueError):
            return None
    return None


def _expression_key(e) -> tuple[str, str, str] | None:
    """(alias, column, key) when ``e`` is a function of exactly one column of one table, such as
    lower((u.email)::text): the key is the expression without the alias, in parentheses, as an
    expression index takes it."""
    from sqlglot import exp

    while isinstance(e, exp.Paren):
        e = e.this
    if not isinstance(e, exp.Func) or isinstance(e, exp.Cast):
        return None
    cols = list(e.find_all(exp.Column))
    if not cols or len({(c.table, c.name) for c in cols}) != 1 or not cols[0].table:
        return None
    bare = e.copy().transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n)
    return cols[0].table, cols[0].name, "(" + bare.sql(dialect="postgres") + ")"


def _columns_in(e) -> set[str]:
    from sqlglot import exp

    return {c.table for c in e.find_all(exp.Column) if c.table}


def _like_pattern_may_lead_with_percent(e) -> bool:
    from sqlglot import exp

    while isinstance(e, (exp.Paren, exp.Cast)):
        e = e.this
    if isinstance(e, exp.Literal) and e.is_string:
        return e.this.startswith(("%", "_"))
    return True  # a parameter or expression: any pattern may come


def _walk_condition(tree, uses: dict[str, TableUse]) -> None:
    from sqlglot import exp

    comparisons = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between)
    for node in tree.find_all(*comparisons):
        if isinstance(node.parent, exp.Not):
            continue
        if isinstance(node, exp.Between):
            col = _column(node.this)
            if col and col[0] in uses:
                uses[col[0]].add("range", col[1])
            continue
        if isinstance(node, exp.In):
            col = _column(node.this)
            if col and col[0] in uses and not (_columns_in(node) - {col[0]}):
                uses[col[0]].add("equality", col[1])
            continue
        left, right = node.this, node.expression
        for a, b in ((left, right), (right, left)):
            col = _column(a)
            if col is None and isinstance(node, exp.EQ):
                expr = _expression_key(a)
                if expr and expr[0] in uses and expr[0] not in _columns_in(b):
                    uses[expr[0]].add("equality", expr[2])
                    n = _param(b) if _param(b) is not None else next(
                        (_param(x) for x in b.find_all(exp.Parameter)), None)
                    if n is not None:
                        uses[expr[0]].params.setdefault(n, expr[1])
                continue
            if not col or col[0] not in uses:
                continue
            use = uses[col[0]]
            other = _column(b)
            if isinstance(node, (exp.Like, exp.ILike)):
                if a is left and _like_pattern_may_lead_with_percent(b):
                    use.add("like", col[1])
                    n = _param(b)
                    if n is not None:
                        use.params.setdefault(n, col[1])
                        use.like_params.add(n)
                continue
            if other and other[0] != col[0]:
                if isinstance(node, exp.EQ):
                    use.add("join", col[1])
                continue
            if col[0] in _columns_in(b):
                continue  # both sides on the same table: no index condition
            inner = b.this if isinstance(b, exp.Any) else b
            n = _param(inner)
            if n is not None:
                use.params.setdefault(n, col[1])
            if isinstance(node, exp.EQ):
                use.add("equality", col[1])
            else:
                use.add("range", col[1])


def facts(plan_json: Any) -> PlanFacts:
    """Walk one EXPLAIN (VERBOSE, FORMAT JSON) document into per-table uses."""
    import sqlglot

    doc = plan_json[0] if isinstance(plan_json, list) and plan_json else plan_json
    top = (doc or {}).get("Plan", {}) if isinstance(doc, dict) else {}
    uses: dict[str, TableUse] = {}
    relations: set[tuple[str, str]] = set()
    index_names: list[str] = []
    nodes = list(_nodes(top))
    for node, _ in nodes:
        rel = node.get("Relation Name")
        if rel:
            schema = node.get("Schema", "public")
            relations.add((schema, rel))
            alias = node.get("Alias", rel)
            uses.setdefault(alias, TableUse(schema, rel, alias))
        name = node.get("Index Name")
        if name and name not in index_names:
            index_names.append(name)
    unparsed = 0
    for node, above_limit in nodes:
        for key in _CONDITION_KEYS:
            cond = node.get(key)
            if not cond:
                continue
            try:
                tree = sqlglot.parse_one(_to_sql(cond), dialect="postgres", into=None)
            except Exception:  # noqa: BLE001 - a condition the parser cannot read is ignored (counted), never guessed
                unparsed += 1
                continue
            _walk_condition(tree, uses)
        keys = node.get("Sort Key")
        if keys and above_limit and node.get("Node Type") in ("Sort", "Incremental Sort"):
            parsed = [_SORT_KEY.match(k) for k in keys]
            aliases = {m.group("alias") for m in parsed if m}
            if all(parsed) and len(aliases) == 1:
                alias = aliases.pop()
                if alias in uses:
                    for m in parsed:
                        if m is None:
                            continue
                        key = m.group("col") + (" DESC" if (m.group("dir") or "").upper() == "DESC" else "")
                        if m.group("nulls"):
                            default_first = (m.group("dir") or "").upper() == "DESC"
                            first = m.group("nulls").upper() == "FIRST"
                            if first != default_first:
                                key += f" NULLS {m.group('nulls').upper()}"
                        uses[alias].add("sort", key)
    return PlanFacts(float(top.get("Total Cost") or 0.0), uses, relations, index_names, unparsed)
