"""`indexes suggest`: workload -> columns (generic plans) -> candidates -> the planner's verdict -> suggestions.

The rule (dexter's, the baseline to beat): a candidate counts for a statement only when the plan
uses it and the statement's estimated cost at least halves. When the plan uses several candidates,
each is tried alone and the best single one is kept if it halves the cost by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.indexes.suggest import candidates as cand
from hmb_ops.indexes.suggest.candidates import Candidate
from hmb_ops.indexes.suggest.conditions import PlanFacts, facts
from hmb_ops.indexes.suggest.model import ExistingRelation, Skipped, Statement, Suggestion, SuggestResult
from hmb_ops.indexes.suggest.samples import FREQUENT, NO_MATCH, declared_query, has_like_params
from hmb_ops.indexes.suggest.workload import Workload, from_file, from_pg_stat_statements

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
FREQUENT_LABEL, NO_MATCH_LABEL = "frequent values", "a search term matching no sampled value"


@dataclass(frozen=True)
class SuggestOptions:
    queries_file: str | None = None
    top: int = 50
    min_calls: int = 1
    min_saving: float = 0.5          # the cost must fall by at least this fraction (0.5: halve)
    state_dir: Path | str = ".hmb-ops"


def read_workload(url: str, opts: SuggestOptions) -> Workload:
    if opts.queries_file:
        wl = from_file(opts.queries_file)
        wl.statements = wl.statements[:opts.top]
        return wl
    return from_pg_stat_statements(url, top=opts.top, min_calls=opts.min_calls)


def suggest(url: str, opts: SuggestOptions, *, progress=None) -> SuggestResult:
    from hmb_ops.db.connect import connect
    from hmb_ops.db.dsn import parse

    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    workload = read_workload(url, opts)
    target = connect(url, application_name="hmb-ops indexes suggest")
    try:
        with target.cursor() as cur:
            cur.execute("SHOW server_version_num")
            version = int(cur.fetchone()[0])
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'hypopg'")
            hypo = cur.fetchone()
        target.rollback()
        result = SuggestResult(database=parse(url).masked, source=workload.source,
                               method="hypopg" if hypo else "what-if copy", server_version=version,
                               skipped=list(workload.skipped), notes=list(workload.notes))
        if not workload.statements:
            result.seconds = time.monotonic() - t0
            return result
        env = _environment(target, version, hypo, opts)
        try:
            _run(env, target, workload, result, opts, say)
            result.notes += getattr(env, "notes", [])
        finally:
            env.close()
    finally:
        target.close()
    result.seconds = time.monotonic() - t0
    return result


def _environment(target, version: int, hypo, opts: SuggestOptions):
    if hypo:
        from hmb_ops.indexes.suggest.whatif_hypo import HypoWhatIf

        return HypoWhatIf(target, version, hypo[0])
    from hmb_ops.indexes.suggest.whatif_copy import CopyWhatIf

    return CopyWhatIf(target, opts.state_dir, version).open()


def _plan(env, sql: str, present: list[Candidate], values: list | None = None
          ) -> tuple[PlanFacts, str, dict[str, Candidate]]:
    plan, mode, names = env.plan(sql, present, values)
    f = facts(plan)
    used = {n: names[n] for n in f.index_names if n in names}
    return f, mode, used


def _run(env, target, workload: Workload, result: SuggestResult, opts: SuggestOptions, say) -> None:
    base: dict[int, PlanFacts] = {}
    per_statement: dict[int, list[Candidate]] = {}
    kept: list[Statement] = []
    stats = _column_stats(target)
    existing = _existing_indexes(target)
    say(f"planning {len(workload.statements)} statement(s) ({result.method})")
    for st in workload.statements:
        try:
            f, mode, _ = _plan(env, st.sql, [])
        except Exception as exc:  # noqa: BLE001 - any server error planning it: skipped and counted, with the reason
            result.skipped.append(Skipped("unplannable", st.sql[:500], _first_line(exc)))
            continue
        user = {(s, t) for s, t in f.relations if s not in SYSTEM_SCHEMAS}
        if not user:
            result.skipped.append(Skipped("not_user_tables", st.sql[:500], "reads only system catalogs"))
            continue
        st.plan_mode, st.cost_before = mode, round(f.total_cost, 2)
        base[st.id] = f
        kept.append(st)
        found: list[Candidate] = []
        for use in f.uses.values():
            if use.schema in SYSTEM_SCHEMAS:
                continue
            for c in cand.for_use(use, stats.get((use.schema, use.table), {}), trigram=True):
                if _duplicates_valid_index(c, existing.get((c.schema, c.table), [])):
                    continue  # the planner already has that index; a copy would only tie with it
                if c.method == "gin" and not env.trigram_ok:
                    label = f"{c.table}({c.key_sql()}) USING gin"
                    if label not in result.not_evaluated:
                        result.not_evaluated.append(label)
                    continue
                if all(c.identity != o.identity for o in found):
                    found.append(c)
        per_statement[st.id] = found
    result.statements = kept
    unique: dict[tuple, Candidate] = {}
    for cs in per_statement.values():
        for c in cs:
            unique.setdefault(c.identity, c)
    result.candidates_tried = len(unique)
    say(f"trying {len(unique)} candidate index(es)")
    problems = env.build(list(unique.values()))
    if problems:
        result.notes.append(f"{len(problems)} candidate(s) could not be built in the copy (first: {problems[0]})")
    winners: dict[tuple, tuple[Candidate, list[tuple[Statement, float, float]]]] = {}
    for st in kept:
        f0 = base[st.id]
        tables = {(s, t) for s, t in f0.relations}
        present = [c for c in unique.values() if (c.schema, c.table) in tables]
        if not present or f0.total_cost <= 0:
            continue
        try:
            f1, _, used = _plan(env, st.sql, present)
        except Exception as exc:  # noqa: BLE001 - planning with candidates failed: no suggestion for it
            st.note = f"not planned with candidates: {_first_line(exc)}"
            continue
        values = None
        judged: _Sampled | bool | None = None
        if not _halves(f0, f1, used, opts) and has_like_params(f0) and any(c.method == "gin" for c in present):
            # a generic plan prices LIKE $1 at a default selectivity: judge it with sample patterns instead
            for label, sample in _sample_value_sets(env, target, st.sql, f0):
                try:
                    sampled = _plan_sample(env, st.sql, present, label, sample)
                except Exception:  # noqa: BLE001 - the sampled plan is a second opinion; without it, no suggestion
                    continue
                if sampled.halves(opts):
                    judged = sampled
                    break
        elif _halves(f0, f1, used, opts) and _partial_on(existing, f0):
            judged = _sampled_opinion(env, target, st, f0, present, opts)
            if judged is False:
                continue
        if isinstance(judged, _Sampled):
            # judged on the sample that confirmed it: the generic plan may have used another candidate
            values, f0, f1, used = judged.values, judged.before, judged.after, judged.used
            st.plan_mode, st.cost_before = f"{judged.mode}; {judged.label}", round(f0.total_cost, 2)
        if not _halves(f0, f1, used, opts):
            continue
        limit = f0.total_cost * (1 - opts.min_saving)
        chosen = _pick(env, st.sql, list(used.values()), f1.total_cost, limit, values)
        st.cost_after = round(min(cost for _, cost in chosen), 2)
        for c, cost in chosen:
            entry = winners.setdefault(c.identity, (c, []))
            entry[1].append((st, f0.total_cost, cost))
    result.suggestions = _suggestions(env, target, winners)
    for s in result.suggestions:
        _attach_queries(env, target, s, {st.id: st for st in kept}, base)
    for s in result.suggestions:
        for sid in s.statements:
            for st in kept:
                if st.id == sid:
                    st.served_by.append(s.name)


def _suggestions(env, target, winners) -> list[Suggestion]:
    existing = _existing_indexes(target)
    taken = {name for rows in existing.values() for name, *_ in rows}
    out: list[Suggestion] = []
    ordered = sorted(winners.values(), key=lambda w: -sum(b - a for _, b, a in w[1]))
    for c, served in ordered:
        name = cand.index_name(c, taken)
        size, note = env.size(c)
        out.append(Suggestion(
            name=name, schema=c.schema, table=c.table, method=c.method,
            keys=[k.split()[0] if c.method == "gin" else (k[1:-1] if k.startswith("(") else k) for k in c.keys],
            opclass="gin_trgm_ops" if c.method == "gin" else None, kind=c.kind,
            statements=[st.id for st, _, _ in served],
            cost_before=round(sum(b for _, b, _ in served), 2), cost_after=round(sum(a for _, _, a in served), 2),
            size_bytes=size, size_note=note,
            existing=relations_to_existing(c, existing.get((c.schema, c.table), [])),
            ddl=c.ddl(name, concurrently=True)))
    return out


def _pick(env, sql: str, used: list[Candidate], cost_all: float, limit: float, values: list | None
          ) -> list[tuple[Candidate, float]]:
    """The candidates to suggest for one statement. Per table, when the plan used several, each is
    tried alone (with the other tables' ones kept) and the best that still halves the cost wins; a
    plan using candidates on several tables (a join, the partitions of one table) keeps one per table."""
    by_table: dict[tuple[str, str], list[Candidate]] = {}
    for c in used:
        by_table.setdefault((c.schema, c.table), []).append(c)
    if len(by_table) > 1:
        # each table's candidates must earn their place: without them (the others kept) the cost
        # at least doubles, the halving rule applied to their own share (a partition's index does, a
        # second copy of a primary key's keys on the joined table does not)
        kept: dict[tuple[str, str], list[Candidate]] = {}
        for key in by_table:
            rest = [c for k, group in by_table.items() if k != key for c in group]
            f_rest, _, _ = _plan(env, sql, rest, values)
            if f_rest.total_cost >= 2 * cost_all:
                kept[key] = by_table[key]
        by_table = kept or by_table
    chosen: list[tuple[Candidate, float]] = []
    for key, cs in by_table.items():
        if len(cs) == 1:
            chosen.append((cs[0], cost_all))
            continue
        others = [c for k, group in by_table.items() if k != key for c in group]
        best: tuple[Candidate, float] | None = None
        for c in cs:
            fa, _, ua = _plan(env, sql, [c, *others], values)
            if c in ua.values() and fa.total_cost <= limit and (best is None or fa.total_cost < best[1]):
                best = (c, fa.total_cost)
        chosen += [best] if best else [(c, cost_all) for c in cs]
    return chosen


def _duplicates_valid_index(c: Candidate, rows) -> bool:
    valid = {name for name, _am, ok, partial, _k in rows if ok and not partial}
    return any(r.relation == "duplicate" and r.index in valid for r in relations_to_existing(c, rows))


def _partial_on(existing, f0: PlanFacts) -> bool:
    return any(partial for rel in f0.relations for _n, _am, _v, partial, _k in existing.get(rel, []))


def _halves(before: PlanFacts, after: PlanFacts, used, opts: SuggestOptions) -> bool:
    """Dexter's rule: the plan uses a candidate and the statement's cost at least halves."""
    return bool(used) and after.total_cost <= before.total_cost * (1 - opts.min_saving)


@dataclass(frozen=True)
class _Sampled:
    """A statement planned with sample values, without and with the candidates."""

    label: str
    values: list
    before: PlanFacts
    after: PlanFacts
    used: dict
    mode: str

    def halves(self, opts: SuggestOptions) -> bool:
        return _halves(self.before, self.after, self.used, opts)


def _plan_sample(env, sql: str, present: list[Candidate], label: str, values: list) -> _Sampled:
    before, mode, _ = _plan(env, sql, [], values)
    after, _, used = _plan(env, sql, present, values)
    return _Sampled(label, values, before, after, used, mode)


def _sampled_opinion(env, target, st: Statement, f0: PlanFacts, present: list[Candidate], opts: SuggestOptions
                     ) -> _Sampled | bool | None:
    """A partial index cannot match a generic plan whose constant pg_stat_statements turned into $n
    (is_read = false became is_read = $2): with sample values the existing partial index may serve the
    statement. A LIKE/ILIKE statement is judged with a frequent term and with a term matching nothing:
    an ordered partial index with a filter serves the first, only a trigram index serves the second.

    None: the generic plan's verdict stands (frequent values confirm it, or no sample could be
    planned); False: no sampled plan confirms a candidate (it is not suggested, ``st.note`` says why);
    else the no-match sample that alone confirms one (the generic plan may have picked another
    candidate: it is judged on that sample)."""
    sets = _sample_value_sets(env, target, st.sql, f0)
    costs = []
    for label, values in sets:
        try:
            s = _plan_sample(env, st.sql, present, label, values)
        except Exception:  # noqa: BLE001 - no second opinion: the generic plan's verdict stands
            return None
        if s.halves(opts):
            # frequent values confirm the generic plan's verdict: it stands, with its costs
            return None if label == FREQUENT_LABEL else s
        costs.append(f"{s.before.total_cost:.2f} ({label})")
    if not sets:
        return None
    st.note = (f"not suggested: with sample values an existing partial index serves it (cost {', '.join(costs)}); "
               "the generic plan could not match its predicate to a $n parameter")
    return False


def _sample_value_sets(env, target, sql: str, f0: PlanFacts) -> list[tuple[str, list]]:
    """[(what the sample is, values for $1..$n)]: frequent values; for a LIKE/ILIKE statement also a
    search term that matches none of the column's sampled values."""
    try:
        types = env.param_types(sql)
    except Exception:  # noqa: BLE001 - no types, no sample values: the generic plan's verdict stands
        return []
    kinds = [FREQUENT, NO_MATCH] if has_like_params(f0) else [FREQUENT]
    out = []
    for kind in kinds:
        q, _why = declared_query(target, sql, f0, types, reads_only=False, like=kind)
        if q is not None:
            label = NO_MATCH_LABEL if kind == NO_MATCH else FREQUENT_LABEL
            out.append((label, [q["params"][f"p{n}"] for n in range(1, len(types) + 1)]))
    return out


def _attach_queries(env, target, s: Suggestion, by_id: dict[int, Statement], base: dict[int, PlanFacts]) -> None:
    # a trigram index proves itself on a term matching nothing (as the shipped spec's '%zzyzx%'): with a
    # frequent term the planner may rightly prefer an ordered scan, and `verify` would call it unused
    like = NO_MATCH if s.method == "gin" else FREQUENT
    for sid in s.statements:
        st = by_id[sid]
        try:
            types = env.param_types(st.sql)
        except Exception as exc:  # noqa: BLE001 - the types cannot be had: the query is left out, with the reason
            s.query_notes.append(f"statement {sid}: {_first_line(exc)}")
            continue
        q, why = declared_query(target, st.sql, base[sid], types, like=like)
        if q is None:
            s.query_notes.append(f"statement {sid}: {why}")
        else:
            s.queries.append({"name": f"{s.table}_statement_{sid}", **q})


def _first_line(exc: Exception) -> str:
    text = (getattr(exc, "pgerror", None) or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _column_stats(target) -> dict[tuple[str, str], dict[str, float]]:
    with target.cursor() as cur:
        cur.execute("SELECT schemaname, tablename, attname, n_distinct FROM pg_stats "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        rows = cur.fetchall()
    target.rollback()
    out: dict[tuple[str, str], dict[str, float]] = {}
    for schema, table, col, nd in rows:
        out.setdefault((schema, table), {})[col] = float(nd or 0)
    return out


_EXISTING_SQL = """
SELECT n.nspname, t.relname, c.relname, am.amname, i.indisvalid, i.indpred IS NOT NULL,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
"""


def _existing_indexes(target) -> dict[tuple[str, str], list[tuple[str, str, bool, bool, list[str]]]]:
    with target.cursor() as cur:
        cur.execute(_EXISTING_SQL)
        rows = cur.fetchall()
    target.rollback()
    out: dict[tuple[str, str], list] = {}
    for schema, table, name, am, valid, partial, keys in rows:
        out.setdefault((schema, table), []).append((name, am, valid, partial, list(keys)))
    return out


def _norm(keys) -> list[tuple[str, bool]]:
    out = []
    for k in keys:
        words = " ".join(k.lower().split()).replace('"', "").split(" ")
        out.append((" ".join(w for w in words if w not in ("asc", "desc", "nulls", "first", "last")),
                    "desc" in words))
    return out


def relations_to_existing(c: Candidate, existing: list[tuple[str, str, bool, bool, list[str]]]
                          ) -> list[ExistingRelation]:
    """Existing indexes with the same keys (a duplicate) or a prefix either way (direction-flipped counts)."""
    mine = _norm(c.keys)
    flipped = [(col, not d) for col, d in mine]
    out: list[ExistingRelation] = []
    for name, am, valid, partial, keys in existing:
        if am != c.method:
            continue
        theirs = _norm(keys)
        state = "" if valid else " (INVALID: a failed build; rebuild or drop it)"
        for m in (mine, flipped):
            if theirs == m:
                kind = "same_keys_partial" if partial else "duplicate"
                detail = (f"{name} has the same keys but a predicate (partial): it cannot serve every row"
                          if partial else f"{name} has the same keys{state}")
                out.append(ExistingRelation(name, kind, detail))
                break
            if len(theirs) < len(m) and m[:len(theirs)] == theirs:
                out.append(ExistingRelation(name, "existing_is_prefix",
                                            f"{name} ({', '.join(keys)}) is a prefix of it{state}: once this one "
                                            "is built it serves those lookups too, and "
                                            f"{name} may become redundant"))
                break
            if len(m) < len(theirs) and theirs[:len(m)] == m:
                out.append(ExistingRelation(name, "suggestion_is_prefix",
                                            f"it is a prefix of {name} ({', '.join(keys)}){state}"))
                break
    return out
