"""The operations behind the CLI and the API: validate → plan → (lock) → apply, status."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hmb_ops.errors import ConfigError
from hmb_ops.indexes import apply as applymod, usage
from hmb_ops.indexes.catalog import Catalog, read_catalog
from hmb_ops.indexes.normalize import Normalized, normalize
from hmb_ops.indexes.plan import Plan, PlanOptions, build_plan
from hmb_ops.indexes.spec import IndexSpec


class SpecInvalid(ConfigError):
    """The spec does not fit the database; every problem is named (exit 2, nothing changed)."""

    def __init__(self, problems: list[str], source: str, line: int | None = None):
        n = len(problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the index spec: " + "; ".join(problems),
                         path=source or None, line=line, hint="fix the spec; nothing was changed")
        self.problems = list(problems)


@dataclass(frozen=True)
class Inspection:
    catalog: Catalog
    normalized: Normalized


def inspect(conn, spec: IndexSpec, *, read_only: bool = True) -> Inspection:
    """Validate the spec against the database (all problems at once) and read the live catalog."""
    norm = normalize(conn, spec, read_only=read_only)
    if norm.problems and spec.declared and all(": unknown table " in p for p in norm.problems):
        # Not a spec to fix but the wrong (or an empty) database: say that once, not per index.
        tables = sorted({ix.table for ix in spec.declared})
        shown = ", ".join(f"{spec.schema_name}.{t}" for t in tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise ConfigError(f"none of the spec's {len(tables)} tables ({shown}) exist in this database",
                          path=spec.source or None, line=norm.first_line,
                          hint="seed the reference schema with `hmb-ops db seed`, or give --database-url "
                               "of the database this spec is for; nothing was changed")
    if norm.problems:
        raise SpecInvalid(list(norm.problems), spec.source, norm.first_line)
    return Inspection(catalog=read_catalog(conn, spec.schema_name), normalized=norm)


def _connect(url: str, name: str, timeout: int | None = None, *, read_only: bool = False):
    """An autocommit connection; ``read_only``: every transaction defaults to READ ONLY.

    plan, status and verify use read-only sessions, so even a statement that escaped every check
    could not write: only normalize's scratch build opens a READ WRITE transaction explicitly, and
    it holds temporary tables only and is always rolled back.
    """
    from hmb_ops.db.connect import connect

    conn = connect(url, autocommit=True, timeout=timeout, application_name=f"hmb-ops indexes {name}")
    if read_only:
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except BaseException:
            conn.close()
            raise
    return conn


def make_plan(url: str, spec: IndexSpec, options: PlanOptions = PlanOptions(), *, timeout: int | None = None) -> Plan:
    conn = _connect(url, "plan", timeout, read_only=True)
    try:
        found = inspect(conn, spec, read_only=True)
        return build_plan(spec, found.catalog, found.normalized, options)
    finally:
        conn.close()


def apply(url: str, spec: IndexSpec, options: PlanOptions = PlanOptions(), *, wait: bool = False,
          progress=None, on_plan=None, timeout: int | None = None) -> applymod.ApplyResult:
    """Lock, validate, plan, hand the plan to ``on_plan`` (to print it), execute exactly it."""
    mon = _connect(url, "monitor", timeout)
    try:
        with mon.cursor() as cur:
            cur.execute("SHOW server_version_num")
            applymod.check_server_version(int(cur.fetchone()[0]))
        applymod.acquire_apply_lock(mon, wait=wait, progress=progress)
        try:
            started = time.monotonic()
            found = inspect(mon, spec, read_only=False)
            plan = build_plan(spec, found.catalog, found.normalized, options)
            if on_plan:
                on_plan(plan)
            result = applymod.execute_plan(url, plan, mon, progress=progress, connect_timeout=timeout)
            return applymod.ApplyResult(plan=plan, steps=result.steps, seconds=time.monotonic() - started)
        finally:
            applymod.release_apply_lock(mon)
    finally:
        mon.close()


@dataclass(frozen=True)
class StatusRow:
    name: str
    table: str
    declared: bool
    exists: bool
    valid: bool | None
    ready: bool | None
    matches: bool | None
    size_bytes: int | None
    scans: int | None
    state: str
    owned: bool | None = None    # hmb-ops's (built by apply, or on a table it created); None: absent
    ownership: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def status(url: str, spec: IndexSpec, *, timeout: int | None = None,
           unused_after_days: float = usage.UNUSED_AFTER_DAYS) -> dict:
    """Declared vs live, with size, scans and validity (every secondary index of the schema), and
    since when statistics are collected: an index is "unused" only over a long enough window."""
    plan = make_plan(url, spec, PlanOptions(unused_after_days=unused_after_days), timeout=timeout)
    conn = _connect(url, "status", timeout, read_only=True)
    try:
        catalog = read_catalog(conn, spec.schema_name)
    finally:
        conn.close()
    live = catalog.by_name()
    rows: list[StatusRow] = []
    for st in plan.indexes:
        ix = live.get(st.name)
        rows.append(StatusRow(st.name, st.table, True, ix is not None, ix.valid if ix else None,
                              ix.ready if ix else None, (st.status == "ok") if ix else None,
                              ix.size_bytes if ix else None, ix.scans if ix else None, st.status,
                              ix.owned if ix else None, ix.ownership if ix else None))
    declared = {st.name for st in plan.indexes}
    for ix in catalog.indexes:
        if ix.name in declared:
            continue
        rows.append(StatusRow(ix.name, ix.table, False, True, ix.valid, ix.ready, None, ix.size_bytes, ix.scans,
                              "primary_key" if ix.primary else "constraint" if ix.constraint_backed else "undeclared",
                              ix.owned, ix.ownership))
    verdicts = {u.index: u for u in (usage.judge(catalog.indexes, catalog.window, unused_after_days)
                                     if catalog.window else [])}
    listed = []
    for r in rows:
        d = r.to_dict()
        u = verdicts.get(r.name)
        d["usage"] = u.verdict if u else None
        d["usage_detail"] = u.detail if u else None
        d["index_age_s"] = round(u.index_age_s) if u and u.index_age_s is not None else None
        listed.append(d)
    return {"schema": spec.schema_name, "server_version_num": catalog.server_version_num,
            "statistics": ({**catalog.window.to_dict(), "unused_after_days": unused_after_days,
                            "line": usage.window_line(catalog.window, unused_after_days)}
                           if catalog.window else None),
            "summary": plan.summary(), "indexes": listed,
            "findings": [f.to_dict() for f in plan.findings],
            "building": [b.to_dict() for b in catalog.building]}
