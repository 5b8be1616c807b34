"""`hmb-ops indexes`: plan, apply, verify, status and bench declared PostgreSQL indexes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hmb_ops.cli.common import Ctx, console, emit_json, info, interactive, json_option, out, pass_ctx, table

if TYPE_CHECKING:  # rich loads only when a live bar is drawn (CLI start-up stays light)
    from rich.progress import Progress, TaskID

file_option = click.option("--file", "spec_file", type=click.Path(dir_okay=False), metavar="FILE",
                           help="Index spec YAML (default: the shipped hmb_ops/configs/indexes.yaml).")


def _adopt_names(ctx, param, values) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip()
            if not name:
                raise click.BadParameter("give index names separated by commas (an empty name was given)")
            if name not in names:
                names.append(name)
    return tuple(names)


def _plan_options(fn):
    fn = click.option("--adopt", multiple=True, metavar="NAME[,NAME]", callback=_adopt_names,
                      help="Let hmb-ops take over (mark as its own, then replace, rebuild or drop) these declared "
                           "indexes it did not build; without it such a plan is refused (exit 2). With "
                           "--drop-undeclared it also names undeclared indexes that are not hmb-ops's to drop.")(fn)
    fn = click.option("--create-extensions", is_flag=True,
                      help="Allow CREATE EXTENSION for declared extensions (pg_trgm).")(fn)
    fn = click.option("--allow-replace", is_flag=True,
                      help="Allow replacing an index whose definition changed (online: build, swap, drop); "
                           "an index hmb-ops did not build also needs --adopt NAME.")(fn)
    fn = click.option("--drop-undeclared", is_flag=True,
                      help="Also drop hmb-ops's own secondary indexes the spec does not declare; an undeclared "
                           "index that is not hmb-ops's is kept unless --adopt NAME names it too.")(fn)
    fn = click.option("--build-timeout", type=click.FloatRange(1, 7 * 86400), default=7200.0, show_default=True,
                      metavar="S", help="statement_timeout for each CREATE INDEX CONCURRENTLY.")(fn)
    fn = click.option("--lock-wait", "build_lock_wait", type=click.FloatRange(0.1, 86400), default=60.0,
                      show_default=True, metavar="S",
                      help="How long a concurrent build may wait for older transactions before giving up.")(fn)
    fn = click.option("--lock-retries", type=click.IntRange(0, 50), default=5, show_default=True, metavar="N",
                      help="Retries (with backoff) for those steps when the lock is busy.")(fn)
    return click.option("--lock-timeout", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
                        metavar="S",
                        help="Lock wait per try for steps that take locks (drop, rename, extension, analyze).")(fn)


def _options(create_extensions, allow_replace, drop_undeclared, lock_timeout, lock_retries, build_lock_wait,
             build_timeout, adopt=()):
    from hmb_ops.indexes.plan import PlanOptions

    return PlanOptions(create_extensions=create_extensions, allow_replace=allow_replace,
                       drop_undeclared=drop_undeclared, adopt=tuple(adopt), lock_timeout_ms=int(lock_timeout * 1000),
                       lock_retries=lock_retries, build_lock_wait_ms=int(build_lock_wait * 1000),
                       build_timeout_ms=int(build_timeout * 1000))


def _spec(spec_file):
    from hmb_ops.indexes.spec import load

    return load(spec_file)


def _dur(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _mb(n):
    return "-" if n is None else f"{n / 1e6:.2f} MB"


def _print_plan(plan, *, sql: bool) -> None:
    if sql:
        out(plan.sql_script().rstrip())
        return
    not_ok = [[s.name, s.table, s.status, s.detail] for s in plan.indexes if s.status != "ok"]
    if not_ok:
        table("declared indexes that need work", ["index", "table", "status", "detail"], not_ok)
    else:
        out(f"{len(plan.indexes)} declared indexes: all exist, are valid and match their declaration")
    if plan.actions:
        adopt = sorted({h.target for _, h in plan.refused if h.flag == "--adopt" and h.target})
        refused = sorted({h.flag + (" " + ",".join(adopt) if h.flag == "--adopt" else "")
                          for _, h in plan.refused if h.flag})
        out(f"plan: {len(plan.actions)} action(s)" + (f", refused without {' '.join(refused)}" if refused else ""))
        for a in plan.actions:
            target = f"{a.index} on {a.table}" if a.index and a.table else (a.index or a.table or "")
            hazards = ", ".join(h.code + ("" if h.allowed else f" (needs {h.flag}"
                                          + (f" {h.target})" if h.target else ")")) for h in a.hazards)
            if a.owned is not None:
                target += " (hmb-ops's)" if a.owned else " (NOT hmb-ops's)"
            out(f"  [{a.id}] {a.kind} {target}  "
                f"(lock_timeout {_dur(a.lock_timeout_ms)}, statement_timeout {_dur(a.statement_timeout_ms)}"
                + (f", retries {a.retries}" if a.retries else "") + ")" + (f"  hazards: {hazards}" if hazards else ""))
            for stmt in a.all_statements:
                out(f"      {stmt}")
    else:
        out("nothing to do")
    notable = [f for f in plan.findings if f.kind != "unused"]
    if notable:
        table("findings", ["kind", "index", "table", "detail"], [[f.kind, f.index, f.table, f.detail] for f in notable])
    unused = [f.index for f in plan.findings if f.kind == "unused"]
    if unused:
        info(f"unused (0 scans over at least {plan.options.unused_after_days:g} days of statistics): "
             f"{len(unused)} index(es); `hmb-ops indexes status` lists them")


@click.group()
def indexes():
    """Reconcile declared PostgreSQL indexes with a live database, online and safely.

    plan shows what differs; apply builds it with CREATE INDEX CONCURRENTLY (invalid leftovers are
    dropped and rebuilt); verify proves the declared queries use their indexes within target.
    plan, status and verify only read (READ ONLY sessions). Spec expressions and predicates must each
    be one expression: text with ';', comments or non-IMMUTABLE functions is a spec error (exit 2).
    """


@indexes.command()
@file_option
@_plan_options
@click.option("--sql", "as_sql", is_flag=True, help="Print the plan as a psql script.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the plan is not empty (for CI drift checks).")
@json_option
@pass_ctx
def plan(ctx: Ctx, spec_file, as_sql, exit_code, as_json, **flags):
    """Classify every declared index against the database and list the actions that would fix it."""
    from hmb_ops.errors import CheckFailed
    from hmb_ops.indexes.service import make_plan

    spec = _spec(spec_file)
    db = ctx.database()
    result = make_plan(db.url, spec, _options(**flags))
    if as_json:
        emit_json({"database": db.masked, "spec": spec.source, **result.to_dict()})
    else:
        _print_plan(result, sql=as_sql)
    if exit_code and result.actions:
        raise CheckFailed(f"{len(result.actions)} action(s) pending", hint="run `hmb-ops indexes apply`")


class _Progress:
    """Live bar on a terminal (from pg_stat_progress_create_index), quiet lines otherwise."""

    def __init__(self, live: bool):
        self.live = live
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "waiting_for_lock":
            info(f"waiting for another apply (pid {ev['holder_pid']}) to finish")
        elif kind == "start":
            label = f"[{ev['action']}] {ev['kind']} {ev['index'] or ev['table'] or ''}"
            if self.live:
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[phase]}"),
                                    TimeElapsedColumn(), console=console(),
                                    transient=True)
                self.bar.start()
                self.task = self.bar.add_task(label, total=1.0, phase="")
            else:
                info(f"{label} ...")
        elif kind == "progress" and self.bar is not None and self.task is not None:
            phase = ev.get("phase") or ""
            if ev.get("blocked_by"):
                phase += f" (waiting for pid {', '.join(map(str, ev['blocked_by']))})"
            self.bar.update(self.task, completed=ev.get("fraction") or 0.0, phase=phase)
        elif kind == "retry":
            info(f"  lock busy (pids {ev['blocked_by'] or '?'}); retry {ev['attempt']} in {ev['delay_s']}s")
        elif kind == "done":
            self.stop()
            info(f"[{ev['action']}] {ev['kind']} {ev['index'] or ev['table'] or ''} done in {ev['seconds']}s")

    def stop(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@indexes.command()
@file_option
@_plan_options
@click.option("--wait", is_flag=True, help="Wait for a concurrent apply instead of failing (exit 3).")
@json_option
@pass_ctx
def apply(ctx: Ctx, spec_file, wait, as_json, **flags):
    """Execute the plan online: CONCURRENTLY, one statement at a time, then ANALYZE what changed."""
    from hmb_ops.indexes.service import apply as run_apply

    spec = _spec(spec_file)
    db = ctx.database()
    opts = _options(**flags)
    progress = _Progress(live=interactive() and not as_json)

    def show(p):
        if not as_json:
            _print_plan(p, sql=False)

    try:
        result = run_apply(db.url, spec, opts, wait=wait, progress=progress, on_plan=show)
    finally:
        progress.stop()
    if as_json:
        emit_json({"database": db.masked, "spec": spec.source, **result.to_dict()})
    elif result.steps:
        info(f"applied {len(result.steps)} step(s) in {result.seconds:.2f}s")


@indexes.command()
@file_option
@click.option("--runs", type=click.IntRange(0, 10000), default=20, show_default=True,
              help="Timed runs per query (0 skips latency).")
@json_option
@pass_ctx
def verify(ctx: Ctx, spec_file, runs, as_json):
    """Every declared index valid and matching; every declared query uses it, within its target."""
    from hmb_ops.errors import CheckFailed
    from hmb_ops.indexes.verify import verify as run_verify

    spec = _spec(spec_file)
    report = run_verify(ctx.database().url, spec, runs=runs)
    if as_json:
        emit_json(report.to_dict())
    else:
        for st in report.indexes:
            if st.status != "ok":
                out(f"FAIL index {st.name} on {st.table}: {st.status} {st.detail}".rstrip())
        for q in report.queries:
            lat = (f"p50 {q.latency_ms['p50']} / p95 {q.latency_ms['p95']} ms" if q.latency_ms else "not timed")
            target = f" (target {q.target_ms:g} ms)" if q.target_ms else ""
            how = f"{q.status} {q.index}" + (f" [{q.plan_mode} plan]" if q.plan_mode else "")
            out(f"{'ok  ' if q.ok else 'FAIL'} {q.name}: {how}; {lat}{target}")
            if q.status != "uses_index":
                out(f"       {q.reason}")
    if not report.ok:
        raise CheckFailed(f"verify failed: {'; '.join(report.failures())}")
    if not as_json:
        info(f"verify passed: {len(report.indexes)} indexes, {len(report.queries)} queries")


def _age(seconds) -> str:
    from hmb_ops.indexes.usage import human_age

    return "unknown" if seconds is None else human_age(seconds)


unused_after_option = click.option("--unused-after", "unused_after", type=click.FloatRange(0, 3650), default=None,
                                   metavar="DAYS", envvar="HMB_OPS_UNUSED_AFTER_DAYS",
                                   help="Call an index with 0 scans unused only when statistics (and the index, "
                                        "when its age is known) are at least this old [default: the spec's "
                                        "unused_after_days, else 7; env HMB_OPS_UNUSED_AFTER_DAYS].")


@indexes.command()
@file_option
@unused_after_option
@json_option
@pass_ctx
def status(ctx: Ctx, spec_file, unused_after, as_json):
    """Declared vs live indexes with size, scans, validity, age and usage.

    Says since when statistics are collected (last reset, else the server's start) and calls an
    index unused only when it is not unique/primary/a constraint's and 0 scans were counted over
    --unused-after days (the index's own age counts when hmb-ops built it; otherwise it is unknown).
    """
    from hmb_ops.indexes.service import status as run_status
    from hmb_ops.indexes.usage import UNUSED_AFTER_DAYS

    spec = _spec(spec_file)
    days = unused_after if unused_after is not None else (
        spec.unused_after_days if spec.unused_after_days is not None else UNUSED_AFTER_DAYS)
    report = run_status(ctx.database().url, spec, unused_after_days=days)
    if as_json:
        emit_json(report)
        return
    table("indexes", ["index", "table", "declared", "state", "valid", "size", "scans", "age", "usage", "owner"],
          [[r["name"], r["table"], "yes" if r["declared"] else "no", r["state"],
            "-" if r["valid"] is None else ("yes" if r["valid"] else "NO"), _mb(r["size_bytes"]),
            "-" if r["scans"] is None else r["scans"], "-" if not r["exists"] else _age(r["index_age_s"]),
            (r["usage"] or "-").replace("_", " "),
            "-" if r["owned"] is None else ("hmb-ops" if r["owned"] else "not hmb-ops")] for r in report["indexes"]])
    if report.get("statistics"):
        info(report["statistics"]["line"])
    for f in report["findings"]:
        info(f"{f['kind']}: {f['index']} ({f['table']}): {f['detail']}")


@indexes.command()
@file_option
@click.option("--runs", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="Timed runs per query and mode.")
@click.option("--query", "only", multiple=True, metavar="NAME", help="Only this query or index (repeatable).")
@click.option("--allow-table-locks", is_flag=True,
              help="Allow bench on tables hmb-ops did not create: the \"without\" run holds an ACCESS EXCLUSIVE "
                   "lock on the table while it measures, blocking its readers and writers.")
@click.option("--adopt", multiple=True, metavar="NAME[,NAME]", callback=_adopt_names,
              help="Let bench take over (mark as hmb-ops's) these declared indexes it did not build, so the "
                   "\"without\" run may drop them in its rolled-back transaction; without it bench refuses (exit 2).")
@json_option
@pass_ctx
def bench(ctx: Ctx, spec_file, runs, only, allow_table_locks, adopt, as_json):
    """Each declared query without vs with its index (applies the spec first; locks tables briefly).

    On a table hmb-ops did not create it refuses (exit 2) unless --allow-table-locks is given; it never
    drops an index that is not hmb-ops's unless --adopt names it.
    """
    from hmb_ops.indexes.bench import bench as run_bench

    report = run_bench(ctx.database().url, _spec(spec_file), runs=runs, only=tuple(only),
                       allow_table_locks=allow_table_locks, adopt=tuple(adopt),
                       progress=None if as_json else (lambda ev: info(f"timing {ev['query']} ...")))
    if as_json:
        emit_json(report.to_dict())
        return
    table(f"each query without vs with its index ({runs} runs each; client-side query time in ms: EXECUTE + fetch)",
          ["query", "table rows", "without p50 / p95", "with p50 / p95", "speedup", "target"],
          [[r.name, f"{r.rows:,}", f"{r.without_ms['p50']} / {r.without_ms['p95']}",
            f"{r.with_ms['p50']} / {r.with_ms['p95']}", f"{r.speedup}x" if r.speedup else "-",
            f"{r.target_ms:g}" if r.target_ms else "-"] for r in report.rows])


@indexes.command("export")
@click.option("--schema", "schemas", multiple=True, metavar="S",
              help="Export this schema (repeatable; default: every schema holding an index).")
@click.option("--out", "out_file", type=click.Path(), metavar="FILE",
              help="Write the spec here (default: stdout); with several schemas, FILE gets one file per schema "
                   "(FILE's stem + '.<schema>.yaml').")
@click.option("--force", is_flag=True, help="Replace --out when it exists (without it: exit 2, nothing written).")
@click.option("--no-queries", is_flag=True, help="Do not read pg_stat_statements for queries: entries.")
@json_option
@pass_ctx
def export_cmd(ctx: Ctx, schemas, out_file, force, no_queries, as_json):
    """Write the live database's secondary indexes as an index spec (the format of docs/index-spec.md).

    Each index is read from the catalog and kept only when the spec rebuilds it exactly (then
    `indexes plan --file` on the same database is empty); constraint-backing indexes and forms the
    spec cannot hold are listed (stderr and comments in the file), never declared. With
    pg_stat_statements, the statements whose plans use an index become its queries: entries.
    """
    import datetime
    from pathlib import Path

    from hmb_ops.errors import UsageError
    from hmb_ops.indexes.export import export as run_export
    from hmb_ops.indexes.export_yaml import render, write

    if out_file:
        # Checked before reading the database: a folder given as --out would get its per-schema files
        # written beside it (FOLDER.public.yaml in its parent); a dangling link is a file that is there.
        given = Path(out_file)
        if given.is_dir():
            raise UsageError(f"{out_file} is a folder; --out takes a file name", hint="give a file such as "
                                                                                     f"{given / 'indexes.yaml'}")
        if not given.parent.is_dir():
            raise UsageError(f"{given.parent} is not a folder; nothing was written", hint="create it first")
        if (given.exists() or given.is_symlink()) and not force:
            raise UsageError(f"{out_file} exists; nothing was written", hint="add --force to replace it, or choose "
                                                                            "another --out")
    db = ctx.database()
    result = run_export(db.url, list(schemas), with_queries=not no_queries)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    texts = {sx.schema: render(sx, header=f"Exported by `hmb-ops indexes export` from {db.masked} "
                                          f"(schema {sx.schema}) at {stamp}.") for sx in result.schemas}
    if len(texts) > 1 and not out_file and not as_json:
        raise UsageError(f"{len(texts)} schemas hold indexes ({', '.join(texts)}): a spec holds one schema",
                         hint="give --schema S, or --out FILE for one file per schema")
    targets: dict[str, Path] = {}
    if out_file:
        base = Path(out_file)
        for schema in texts:
            suffix = base.suffix or ".yaml"
            targets[schema] = base if len(texts) == 1 else base.with_name(f"{base.stem}.{schema}{suffix}")
        existing = [str(p) for p in targets.values() if p.exists() or p.is_symlink()]
        if existing and not force:
            raise UsageError(f"{', '.join(existing)} exist(s); nothing was written", hint="add --force to replace")
        for schema, path in targets.items():
            write(path, texts[schema], force=force)
    for sx in result.schemas:
        for c in sx.constraints:
            info(f"constraint: {sx.schema}.{c.index} on {c.table}: {c.reason}")
        for s in sx.skipped:
            info(f"skipped: {sx.schema}.{s.index} on {s.table}: {s.reason}")
    if result.queries_note:
        info(f"queries: {result.queries_note}")
    if as_json:
        emit_json({"database": db.masked, "files": {k: str(v) for k, v in targets.items()}, **result.to_dict()})
    elif not out_file:
        out(next(iter(texts.values())).rstrip())
    summary = (f"exported {result.exported} index(es) from {len(result.schemas)} schema(s) in {result.seconds:.2f}s; "
               f"{sum(len(s.constraints) for s in result.schemas)} constraint index(es) and "
               f"{len(result.skipped)} skipped form(s) listed; {result.queries_found} workload statement(s) as queries")
    info(summary + (f" -> {', '.join(str(p) for p in targets.values())}" if targets else ""))


@indexes.command()
@click.option("--queries", "queries_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Read the workload from a file of SQL statements or a PostgreSQL log instead of "
                   "pg_stat_statements.")
@click.option("--spec-out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the suggestions as index spec entries (with their queries) for plan/apply/verify.")
@click.option("--force", is_flag=True, help="Replace an existing --spec-out file.")
@click.option("--min-calls", type=click.IntRange(1, None), default=1, show_default=True, metavar="N",
              help="Only statements called at least N times (pg_stat_statements).")
@click.option("--top", type=click.IntRange(1, 1000), default=50, show_default=True, metavar="N",
              help="The N statements costing most by total time, and the N by mean time.")
@json_option
@pass_ctx
def suggest(ctx: Ctx, queries_file, spec_out, force, min_calls, top, as_json):
    """Indexes the real workload is missing, kept only when the planner says they help.

    Reads the costliest statements (pg_stat_statements, or --queries FILE), finds the columns each
    filters, joins and sorts on from its generic plan, and keeps a candidate index only when the plan
    uses it and the statement's estimated cost at least halves: with HypoPG when the server has it,
    otherwise on a what-if copy (a scratch database on the embedded server holding the schema and
    planner statistics, dropped afterwards). Changes nothing on your database.
    """
    from hmb_ops.indexes.suggest.service import SuggestOptions, suggest as run_suggest

    if spec_out:
        from hmb_ops.indexes.suggest.spec_out import check_target

        check_target(spec_out, force=force)
    elif force:
        from hmb_ops.errors import UsageError

        raise UsageError("--force only applies to --spec-out", hint="add --spec-out FILE or drop --force")
    db = ctx.database()
    result = run_suggest(db.url, SuggestOptions(queries_file=queries_file, top=top, min_calls=min_calls,
                                                state_dir=ctx.state_dir),
                         progress=None if as_json else info)
    left: list[str] = []
    if spec_out and result.suggestions:
        from hmb_ops.indexes.suggest.spec_out import write

        left = write(result, spec_out, force=force)
    if as_json:
        emit_json({**result.to_dict(), "spec_out": spec_out if spec_out and result.suggestions else None})
        return
    _print_suggestions(result, spec_out, left)


def _print_suggestions(result, spec_out, left) -> None:
    skipped = result.skipped_counts()
    skipped_text = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(skipped.items()))
    info(f"{len(result.statements)} statement(s) from {result.source}, planned with {result.method}"
         + (f"; skipped: {skipped_text}" if skipped_text else "") + f" ({result.seconds:.1f} s)")
    for note in result.notes:
        info(f"note: {note}")
    if result.not_evaluated:
        info(f"not evaluated ({result.method} cannot model them): {', '.join(result.not_evaluated)}")
    if not result.statements:
        out("nothing to suggest: the workload is empty"
            + (f" ({skipped_text} skipped)" if skipped_text else ""))
        return
    if not result.suggestions:
        out(f"nothing to suggest: no candidate index halves the cost of any of {len(result.statements)} statement(s)"
            f" ({result.candidates_tried} tried)")
        return
    table("suggested indexes (estimated planner cost, summed over the statements each serves)",
          ["index", "table", "keys", "statements", "cost before -> after", "est. size", "existing"],
          [[s.name, s.table, ", ".join(s.keys) + (f" ({s.opclass}, {s.method})" if s.method != "btree" else ""),
            ", ".join(f"#{i}" for i in s.statements), f"{s.cost_before:g} -> {s.cost_after:g}",
            _mb(s.size_bytes), "; ".join(r.detail for r in s.existing) or "-"] for s in result.suggestions])
    served = {i for s in result.suggestions for i in s.statements}
    for st in result.statements:
        if st.id in served:
            out(f"  #{st.id} ({st.calls} calls, {st.plan_mode}): {' '.join(st.sql.split())[:160]}")
    for s in result.suggestions:
        out(f"  {s.ddl};")
        for note in s.query_notes:
            info(f"  {s.name}: {note}")
    if spec_out:
        info(f"wrote {spec_out}: review it, then `hmb-ops indexes plan --file {spec_out}`")
        for line in left:
            info(f"  left out of {spec_out}: {line}")
