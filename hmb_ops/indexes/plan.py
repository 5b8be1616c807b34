"""Declared vs live → a plan: plain data (statements with timeouts and hazards), no database here."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hmb_ops.errors import UsageError
from hmb_ops.indexes import ddl, usage
from hmb_ops.indexes.catalog import BuildProgress, Catalog, LiveIndex
from hmb_ops.indexes.normalize import Normalized
from hmb_ops.indexes.spec import IndexSpec

NEW_SUFFIX = "hmbnew"
OLD_SUFFIX = "hmbold"


@dataclass(frozen=True)
class PlanOptions:
    create_extensions: bool = False
    allow_replace: bool = False
    drop_undeclared: bool = False
    # Indexes hmb-ops did not build that the user lets it take over (replace, rebuild or drop) by name.
    adopt: tuple[str, ...] = ()
    lock_timeout_ms: int = 2_000          # DDL that takes a lock: fail fast, retry
    lock_retries: int = 5
    build_lock_wait_ms: int = 60_000      # CIC waiting for older transactions counts as a lock wait
    build_timeout_ms: int = 2 * 3600_000  # the build itself
    unused_after_days: float = usage.UNUSED_AFTER_DAYS  # 0 scans over a shorter window is not "unused"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hazard:
    code: str
    message: str
    allowed: bool = True
    flag: str | None = None
    target: str | None = None  # the index a foreign_index hazard is about (what --adopt must name)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Action:
    id: int
    kind: str            # create_extension | create | drop | build_replacement | swap | analyze
    index: str | None
    table: str | None
    statements: tuple[str, ...]
    transactional: bool  # True: the statements run in one transaction (the rename swap)
    lock_timeout_ms: int
    statement_timeout_ms: int
    retries: int
    reason: str
    hazards: tuple[Hazard, ...] = ()
    # Whether the existing index this step changes or drops is hmb-ops's (None: it builds a new one).
    owned: bool | None = None
    # COMMENT ON INDEX marking what the step built as hmb-ops's, run right after the statements succeed.
    mark: str | None = None

    @property
    def refused(self) -> list[Hazard]:
        return [h for h in self.hazards if not h.allowed]

    @property
    def all_statements(self) -> tuple[str, ...]:
        return self.statements + ((self.mark,) if self.mark else ())

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "index": self.index, "table": self.table,
                "sql": list(self.all_statements), "transactional": self.transactional,
                "lock_timeout_ms": self.lock_timeout_ms, "statement_timeout_ms": self.statement_timeout_ms,
                "retries": self.retries, "reason": self.reason, "owned": self.owned,
                "hazards": [h.to_dict() for h in self.hazards]}


@dataclass(frozen=True)
class IndexState:
    name: str
    table: str
    status: str           # ok | missing | different | invalid | building
    declared: str         # normalised declared definition
    live: str | None      # live definition (normalised the same way), None when absent
    size_bytes: int | None = None
    scans: int | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    kind: str             # undeclared | redundant | duplicate | unused | debris | building
    index: str
    table: str
    detail: str
    covered_by: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Plan:
    schema: str
    server_version_num: int
    options: PlanOptions
    indexes: tuple[IndexState, ...]
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def refused(self) -> list[tuple[Action, Hazard]]:
        return [(a, h) for a in self.actions for h in a.refused]

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for st in self.indexes:
            counts[st.status] = counts.get(st.status, 0) + 1
        return {"declared": len(self.indexes), **{k: counts.get(k, 0) for k in
                ("ok", "missing", "different", "invalid", "building")},
                "actions": len(self.actions), "refused": len(self.refused)}

    def to_dict(self) -> dict:
        return {"schema": self.schema, "server_version_num": self.server_version_num,
                "summary": self.summary(), "options": self.options.to_dict(),
                "indexes": [s.to_dict() for s in self.indexes],
                "actions": [a.to_dict() for a in self.actions],
                "findings": [f.to_dict() for f in self.findings]}

    def sql_script(self) -> str:
        """The plan as a psql script (autocommit, one statement at a time, timeouts per step)."""
        if not self.actions:
            return "-- nothing to do: every declared index exists, is valid and matches\n"
        lines = ["-- hmb-ops indexes plan: run with psql in autocommit mode (no BEGIN around CONCURRENTLY)"]
        for a in self.actions:
            lines.append(f"\n-- [{a.id}] {a.kind} {a.index or a.table or ''}: {a.reason}")
            if a.owned is not None:
                lines.append("--   the index is hmb-ops's" if a.owned else "--   the index is NOT hmb-ops's")
            for h in a.hazards:
                lines.append(f"--   hazard {h.code}: {h.message}" + ("" if h.allowed else f" (needs {h.flag})"))
            lines.append(f"SET lock_timeout = '{a.lock_timeout_ms}ms';")
            lines.append(f"SET statement_timeout = '{a.statement_timeout_ms}ms';")
            if a.transactional:
                lines.append("BEGIN;")
            lines.extend(s + ";" for s in a.all_statements)
            if a.transactional:
                lines.append("COMMIT;")
        lines.append("RESET lock_timeout;\nRESET statement_timeout;")
        return "\n".join(lines) + "\n"


def _key_signature(ix: LiveIndex) -> list[tuple]:
    # A key covers another only with the same operator class, ordering and collation: `title COLLATE "C"`
    # sorts differently from `title`, so neither serves the other's ORDER BY or range scans.
    return [(k, ix.opclasses[i] if i < len(ix.opclasses) else None, ix.options[i] if i < len(ix.options) else None,
             ix.collations[i] if i < len(ix.collations) else None)
            for i, k in enumerate(ix.key_parts)]


def redundancy(indexes: list[LiveIndex]) -> list[Finding]:
    """Duplicate and prefix-redundant indexes: same table, method and predicate, leading keys covered.

    A unique index is never called redundant (it enforces something); it can cover others.
    """
    out: list[Finding] = []
    usable = [ix for ix in indexes if ix.valid]
    for a in usable:
        for b in usable:
            if a.name == b.name or a.table != b.table or a.method != b.method or a.predicate != b.predicate:
                continue
            if a.method != "btree" or a.unique:
                continue
            sa, sb = _key_signature(a), _key_signature(b)
            if len(sa) > len(sb) or sb[:len(sa)] != sa:
                continue
            if not set(a.include) <= set(b.key_parts) | set(b.include):
                continue  # a covering index answers from the index alone where b would read the table
            extra = [c for c in b.include if c not in a.include]
            if len(sa) == len(sb) and extra:
                # b holds more columns: a is covered by it (whichever name sorts first), not the same index.
                out.append(Finding("redundant", a.name, a.table,
                                   f"same keys ({', '.join(a.key_parts)}) as {b.name}, which also includes "
                                   f"({', '.join(extra)})", covered_by=b.name))
            elif len(sa) == len(sb):
                if b.unique or a.name > b.name:  # report an exact duplicate pair once
                    out.append(Finding("duplicate", a.name, a.table,
                                       f"same definition as {b.name}", covered_by=b.name))
            else:
                out.append(Finding("redundant", a.name, a.table,
                                   f"its keys ({', '.join(a.key_parts)}) are a prefix of {b.name} "
                                   f"({', '.join(b.key_parts)})", covered_by=b.name))
    return out


def _partition_bound(ix: LiveIndex) -> str | None:
    """Why `ix` cannot be dropped online by apply (None: it can)."""
    if ix.parent_index:
        return f"a partition's part of the partitioned index {ix.parent_index} (dropped only with it)"
    if ix.partitioned:
        return "on a partitioned table: DROP INDEX CONCURRENTLY cannot drop it (drop it by hand, off-peak)"
    return None


def _debris_base(name: str) -> str | None:
    for suffix in (NEW_SUFFIX, OLD_SUFFIX):
        if name.endswith("_" + suffix):
            return name[: -len(suffix) - 1]
    return None


def build_plan(spec: IndexSpec, catalog: Catalog, norm: Normalized, options: PlanOptions = PlanOptions()) -> Plan:
    live = catalog.by_name()
    building: dict[str, BuildProgress] = {p.index: p for p in catalog.building if p.index}
    schema = spec.schema_name
    declared_names = {ix.name for ix in spec.declared}
    debris_prefixes = {ddl.temp_name(n, s): n for n in declared_names for s in (NEW_SUFFIX, OLD_SUFFIX)}
    actions: list[dict] = []
    states: list[IndexState] = []
    findings: list[Finding] = []
    touched: list[str] = []

    lock_step = dict(lock_timeout_ms=options.lock_timeout_ms, statement_timeout_ms=options.lock_timeout_ms * 30,
                     retries=options.lock_retries)
    build_step = dict(lock_timeout_ms=options.build_lock_wait_ms, statement_timeout_ms=options.build_timeout_ms,
                      retries=0)

    def add(kind, index, table, statements, reason, step, hazards=(), transactional=False, owned=None, mark=None):
        actions.append(dict(kind=kind, index=index, table=table, statements=tuple(statements), reason=reason,
                            hazards=tuple(hazards), transactional=transactional, owned=owned, mark=mark, **step))
        if kind in ("create", "build_replacement") and table not in touched:
            touched.append(table)

    # Ownership: only an index hmb-ops built (marked) or one on a table hmb-ops created is replaced,
    # rebuilt or dropped; any other needs --adopt naming it, else the whole plan is refused.
    source = spec.source.replace("\\", "/").rsplit("/", 1)[-1] or "built-in"
    built = usage.built_stamp()  # the plan's time: the build follows it (status reads the index's age from it)
    adopt = set(options.adopt)
    debris_live = {n for n in live if n in debris_prefixes and n not in declared_names}
    undeclared_live = {n for n, have in live.items() if n not in declared_names and n not in debris_live
                       and not have.primary and not have.constraint_backed and not _partition_bound(have)}
    for name in sorted(adopt - declared_names):
        if name in live and (why := _partition_bound(live[name])) is not None:
            raise UsageError(f"--adopt {name}: indexes apply cannot drop it: {why}; nothing was changed",
                             hint="leave it out of --adopt")
    unknown = sorted(adopt - declared_names - debris_live - (undeclared_live if options.drop_undeclared else set()))
    if unknown:
        lone = sorted(set(unknown) & undeclared_live)
        raise UsageError(f"--adopt names {', '.join(unknown)}, which the spec does not declare (nor is a leftover "
                         "of a declared index's replace); nothing was changed",
                         hint=(f"an undeclared index is only dropped with --drop-undeclared --adopt {','.join(lone)}"
                               if lone else
                               "--adopt takes the names of declared indexes (or, with --drop-undeclared, of "
                               "undeclared ones to drop); `hmb-ops indexes status` lists them"))

    def mark_for(name: str, table: str) -> str:
        return ddl.comment_index_sql(schema, name, ddl.mark_text("built by indexes apply", schema, table, source,
                                                                 built=built))

    def foreign(name: str, verb: str) -> list[Hazard]:
        return [Hazard("foreign_index", f"{verb} {name}, which hmb-ops did not build (no hmb-ops mark, not on a "
                       f"table hmb-ops created)", name in adopt, "--adopt", target=name)]

    def take_over(have: LiveIndex) -> list[Hazard]:
        """Hazards for changing `have`; when --adopt names it, first mark it as hmb-ops's (an own step)."""
        if have.owned:
            return []
        if have.name in adopt:
            add("adopt", have.name, have.table,
                [ddl.comment_index_sql(schema, have.name,
                                       ddl.mark_text("adopted by indexes apply --adopt", schema, have.table,
                                                     source))],
                "named by --adopt: mark it as hmb-ops's before changing it", lock_step,
                foreign(have.name, "takes over"), owned=False)
        return foreign(have.name, "replaces or drops")

    for ext in norm.missing_extensions:
        add("create_extension", None, None, [ddl.create_extension_sql(ext)],
            f"extension {ext} is declared but not installed", lock_step,
            [Hazard("extension", f"creates extension {ext} in the database", options.create_extensions,
                    "--create-extensions")])

    # Leftovers of an interrupted online replace: dropped when hmb-ops's (marked, or on its table);
    # a same-named index somebody else built needs --adopt.
    for name, leftover in sorted(live.items()):
        replaced = debris_prefixes.get(name)
        if replaced and name not in declared_names and name not in building:
            findings.append(Finding("debris", name, leftover.table, f"left by an interrupted replace of {replaced}" + (
                "" if leftover.owned else f" (or built by somebody else: not hmb-ops's; --adopt {name} drops it)")))
            hz = take_over(leftover)
            add("drop", name, leftover.table, [ddl.drop_index_sql(schema, name)],
                f"leftover of an interrupted replace of {replaced}", lock_step, hz, owned=leftover.owned)

    for ix in spec.declared:
        want = norm.canonical.get(ix.name, "")
        create = ddl.create_index_sql(ix, schema)
        unique_hazard = ([Hazard("unique_build", "fails if existing rows hold duplicate keys; the invalid index it "
                                 "leaves still enforces uniqueness until repaired")] if ix.unique else [])
        have = live.get(ix.name)
        if have is None:
            states.append(IndexState(ix.name, ix.table, "missing", want, None, detail=norm.pending.get(ix.name, "")))
            add("create", ix.name, ix.table, [create], "declared, not in the database", build_step, unique_hazard,
                mark=mark_for(ix.name, ix.table))
            continue
        base = dict(name=ix.name, table=ix.table, declared=want, live=have.canonical,
                    size_bytes=have.size_bytes, scans=have.scans)
        not_mine = "" if have.owned else "; not hmb-ops's (" + (
            "adopted with --adopt)" if ix.name in adopt else f"--adopt {ix.name} lets hmb-ops change it)")
        if ix.name in building:
            p = building[ix.name]
            states.append(IndexState(**base, status="building",
                                     detail=f"being built by pid {p.pid} ({p.phase})"))
            continue
        if not (have.valid and have.ready):
            states.append(IndexState(**base, status="invalid",
                                     detail="left by a failed or interrupted build: unusable for reads, still "
                                            "maintained on writes" + not_mine))
            mine = take_over(have)
            add("drop", ix.name, ix.table, [ddl.drop_index_sql(schema, ix.name)],
                "invalid index (failed or interrupted build): drop before rebuilding", lock_step, mine,
                owned=have.owned)
            add("create", ix.name, ix.table, [create], "rebuild the invalid index", build_step, unique_hazard,
                mark=mark_for(ix.name, ix.table))
            continue
        if have.table != ix.table or have.canonical != want:
            states.append(IndexState(**base, status="different",
                                     detail="live definition differs from the declared one" + not_mine))
            tmp_new, tmp_old = ddl.temp_name(ix.name, NEW_SUFFIX), ddl.temp_name(ix.name, OLD_SUFFIX)
            mine = take_over(have)
            hz = [Hazard("replace", f"replaces {ix.name} online (build {tmp_new}, swap names, drop the old one)",
                         options.allow_replace, "--allow-replace")]
            add("build_replacement", ix.name, ix.table, [ddl.create_index_sql(ix, schema, name=tmp_new)],
                "definition changed: build the new definition under a temporary name", build_step,
                hz + mine + unique_hazard, owned=have.owned, mark=mark_for(tmp_new, ix.table))
            add("swap", ix.name, ix.table, [ddl.rename_index_sql(schema, ix.name, tmp_old),
                                            ddl.rename_index_sql(schema, tmp_new, ix.name)],
                "swap the new index in under the declared name", lock_step, hz + mine, transactional=True,
                owned=have.owned)
            add("drop", tmp_old, have.table, [ddl.drop_index_sql(schema, tmp_old)], "drop the replaced index",
                lock_step, hz + mine, owned=have.owned)
            continue
        if not have.owned and ix.name in adopt:
            take_over(have)
        states.append(IndexState(**base, status="ok", detail=not_mine.lstrip("; ")))

    for name, have in sorted(live.items()):
        if name in declared_names or have.primary or have.constraint_backed or name in debris_prefixes:
            continue
        if name in building:
            findings.append(Finding("building", name, have.table, f"being built by pid {building[name].pid}"))
            continue
        whose = "hmb-ops's" if have.owned else "not hmb-ops's"
        if (why := _partition_bound(have)) is not None:
            findings.append(Finding("undeclared", name, have.table, f"not in the spec; {whose}; kept: {why}"))
            continue
        # --drop-undeclared alone drops only hmb-ops's own undeclared indexes; one that is not
        # hmb-ops's (the user's, maybe on a table the spec never mentions) is dropped only when
        # --adopt names it too, and is then marked as hmb-ops's first, like any adopted index.
        drops = options.drop_undeclared and (have.owned or name in adopt)
        how = "--drop-undeclared" if have.owned else f"--drop-undeclared --adopt {name}"
        findings.append(Finding("undeclared", name, have.table,
                                f"not in the spec; {whose}" + ("" if drops else f" (kept; {how} drops it)")))
        if drops:
            # An explicit flag and each index listed in the plan, with whose it is.
            add("drop", name, have.table, [ddl.drop_index_sql(schema, name)], f"undeclared index ({whose})",
                lock_step, take_over(have) + [
                    Hazard("drop_undeclared", f"drops {name}, which the spec does not declare ({whose})",
                           True, "--drop-undeclared")], owned=have.owned)

    live_list = list(catalog.indexes)
    findings.extend(redundancy(live_list))
    for f in redundancy(list(norm.scratch)):
        if f.index in live and f.covered_by in live:
            continue  # already reported from the live catalog
        findings.append(Finding(f.kind, f.index, f.table, f.detail + " (in the spec)", covered_by=f.covered_by))
    if catalog.window is not None:  # 0 scans means "unused" only over a long enough window (usage.py)
        for verdict in usage.judge(live_list, catalog.window, options.unused_after_days):
            if verdict.verdict == "unused":
                findings.append(Finding("unused", verdict.index, verdict.table, verdict.detail))

    for table in touched:
        add("analyze", None, table, [ddl.analyze_sql(schema, table)], "refresh planner statistics", lock_step)

    numbered = tuple(Action(id=i + 1, **a) for i, a in enumerate(actions))
    return Plan(schema=schema, server_version_num=catalog.server_version_num, options=options,
                indexes=tuple(states), actions=numbered, findings=tuple(findings))
