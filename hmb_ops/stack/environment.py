"""Bring up what a run against the reference app needs, and take down exactly what we started.

Order: database (configured, or the embedded one started on demand) → schema + seed data (reused
when already there) → the declared indexes (or their absence) → the reference app under Gunicorn
with the tier's generated config on a free loopback port. Teardown runs in reverse, also when a
step fails or the user interrupts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hmb_ops.stack.confinement import Confined, ConfinementPlan
    from hmb_ops.stack.gunicorn import GunicornProcess

DEFAULT_TIER = "default"


class EnvironmentRequest(Protocol):
    """What a run asks of the environment (hmb_ops.loadtest.api.LoadRequest is one).

    Read-only members: the environment only reads the request, and a frozen dataclass (like
    LoadRequest) has no settable attributes, so plain annotations here would refuse it.
    """

    @property
    def database_url(self) -> str | None: ...
    @property
    def state_dir(self) -> str: ...
    @property
    def seed_scale(self) -> str: ...
    @property
    def with_indexes(self) -> bool: ...
    @property
    def tier(self) -> str | None: ...
    @property
    def config_files(self) -> tuple[str, ...]: ...
    @property
    def app_env(self) -> dict[str, str] | None: ...
    @property
    def app_workers(self) -> int | None: ...
    @property
    def app_threads(self) -> int | None: ...
    @property
    def app_worker_class(self) -> str | None: ...
    @property
    def app_config_file(self) -> str | None: ...


class Environment:
    """Context manager: database, data, indexes and the app. `.url`, `.app`, `.database_url`."""

    def __init__(self, req: EnvironmentRequest, work_dir: Path, *, note: Callable[[str], None] = lambda _m: None,
                 should_stop: Callable[[], bool] = lambda: False):
        self.req = req
        self.work_dir = work_dir
        self.note = note
        self.should_stop = should_stop
        self._stack = ExitStack()
        self.database_url: str | None = None
        self.app: GunicornProcess | None = None
        self.url: str | None = None
        self.server_info: dict = {}
        self.seeded_users: int | None = None
        self.confined: Confined | None = None                 # the app's limits, while it runs
        self.confinement_plan: ConfinementPlan | None = None  # decided before anything starts
        self.data_record: dict | None = None  # Results.data: reset from the template, or a user's database changed

    def _checkpoint(self) -> None:
        if self.should_stop():
            raise KeyboardInterrupt

    def __enter__(self) -> Environment:
        try:
            self._up()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _database(self) -> str:
        from hmb_ops.db.resolve import configured_url, database_for_run

        url, started = self._stack.enter_context(database_for_run(self.req.database_url, self.req.state_dir))
        if started:
            self.note("started the embedded PostgreSQL (stopped again after the run)")
        embedded = configured_url(self.req.database_url) is None
        if embedded and self.confined is not None:
            from hmb_ops.db.embedded import EmbeddedServer

            pid = EmbeddedServer(self.req.state_dir).pid()
            if pid is not None:  # hmb-ops's own server only: a user's PostgreSQL keeps its CPUs
                self.confined.pin_outside(pid)
        if not embedded:
            self.data_record = {"reset": False, "changes_user_database": True,
                                "note": "this run writes to your database (feed items, messages, likes): "
                                        "later runs against it start from different data"}
            self.note(f"data: {self.data_record['note']}")
        elif getattr(self.req, "reset_data", True):
            return self._run_database(url)
        else:
            self.data_record = {"reset": False, "note": "--no-reset: the data is what earlier runs left"}
        return url

    def _run_database(self, admin_url: str) -> str:
        """A database cloned from the seeded template for this run (dropped after it)."""
        from hmb_ops.db import template

        scale = self.req.seed_scale

        def prepare(url: str) -> None:  # seeds and indexes once per scale; a quick check after that
            self._prepare_data(url, indexes=True)

        name, created = template.ensure_template(admin_url, scale, prepare)
        if created:
            self.note(f"data: made the seeded template {name} (once per scale; kept for later runs)")
        self._checkpoint()
        run = template.clone_for_run(admin_url, name)
        self._stack.callback(_drop_quietly, admin_url, run.name)
        self.data_record = run.record()
        for gone in run.removed:
            self.note(f"data: removed {gone}, left by a run that was killed")
        self.note(f"data: {run.name} cloned from {name} in {run.seconds:.2f} s (the seeded state)")
        return run.url

    def _prepare_data(self, url: str, *, indexes: bool) -> None:
        from hmb_ops.db.seed import ensure_seeded

        if self.data_record is None or not self.data_record.get("reset"):
            self.note(f"data: ensuring seed scale {self.req.seed_scale}")
        # What a reload drops (hmb-ops's own tables only) is said before it happens.
        ensure_seeded(url, scale=self.req.seed_scale,
                      on_plan=lambda plan: [self.note(f"data: {line}") for line in plan.lines()])
        if indexes:
            from hmb_ops.indexes.api import ensure_indexes

            ensure_indexes(url)

    def _confine(self) -> None:
        """Decide the app's limits (exit 3 when impossible and required), refuse a memory limit below
        one worker (exit 2), then make the groups: all before the database or the app start."""
        from hmb_ops.stack.confinement import Confined, plan_confinement

        req = self.req
        cpus = getattr(req, "app_cpus", None)
        memory = getattr(req, "app_memory_bytes", None)
        plan = plan_confinement(cpus, memory, require=bool(getattr(req, "require_confinement", False)))
        self.confinement_plan = plan
        if plan.requested_memory_bytes is not None:  # bad input even where memory cannot be enforced
            from hmb_ops.stack.confinement import check_memory
            from hmb_ops.stack.confinement.rss import reference_worker_memory

            check_memory(plan.requested_memory_bytes, *reference_worker_memory())
        for warning in plan.warnings:
            self.note(f"warning: {warning}")
        if plan.method != "none":
            self.confined = box = self._stack.enter_context(Confined(plan))
            limits = [f"{plan.cpus:g} CPU(s)" if plan.cpus is not None else "",
                      f"{plan.memory_bytes / 2 ** 20:,.0f} MiB" if plan.memory_bytes is not None else ""]
            self.note(f"confinement: {plan.method}, {' / '.join(x for x in limits if x) or 'no limit'}, "
                      f"app on CPUs {plan.app_cpus}"
                      + (f", PostgreSQL and the load generator on {plan.other_cpus}" if plan.other_cpus else ""))
            for gone in box.removed_leftovers:
                self.note(f"confinement: removed {gone}, left by a run that was killed")

    def confinement_record(self) -> dict | None:
        """Results.confinement: how the app ran (None when no limit was asked)."""
        if self.confined is not None:
            return self.confined.record()
        plan = self.confinement_plan
        return plan.record() if plan is not None and plan.method != "none" else None

    def _up(self) -> None:
        req = self.req
        self._confine()
        self._checkpoint()
        self.database_url = url = self._database()
        self._checkpoint()
        from hmb_ops.db.seed import seeded_info

        self._prepare_data(url, indexes=False)
        info = seeded_info(url) or {}
        self.seeded_users = int(info.get("users") or 0) or None
        self._checkpoint()
        if req.with_indexes:
            from hmb_ops.indexes.api import ensure_indexes

            self.note("indexes: applying the declared indexes")
            # A missing extension is created only in a database hmb-ops has to itself.
            ensure_indexes(url)
        else:
            from hmb_ops.errors import UsageError
            from hmb_ops.indexes.api import drop_declared_report

            self.note("indexes: dropping the declared indexes (with_indexes=False)")
            kept = drop_declared_report(url)["skipped"]
            if kept:  # hmb-ops drops only its own indexes: a run with these would not be "without indexes"
                raise UsageError(f"cannot run without the declared indexes: {', '.join(kept)} "
                                 f"{'is' if len(kept) == 1 else 'are'} not hmb-ops's, so they were kept",
                                 hint="drop them yourself, or use a dedicated database")
        self._checkpoint()
        self._start_app(url)

    def _start_app(self, url: str) -> None:
        from hmb_ops.stack.app import reference_app

        req = self.req
        app_dir = self.work_dir / "app"
        tier = req.tier or DEFAULT_TIER
        env = dict(req.app_env or {})
        if req.app_workers is not None:
            env["WEB_CONCURRENCY"] = str(req.app_workers)
        if req.app_threads is not None:
            env["WEB_THREADS"] = str(req.app_threads)
        ref = reference_app(url, state_dir=req.state_dir, work_dir=app_dir, tier=tier,
                            config_files=tuple(req.config_files), worker_class=req.app_worker_class,
                            config_file=req.app_config_file, workers=req.app_workers, threads=req.app_threads,
                            env=env, log_dir=str(app_dir))
        values = ref.tier.plan.values if ref.tier else {}
        workers = req.app_workers if req.app_workers is not None else values.get("workers")
        threads = req.app_threads if req.app_threads is not None else values.get("threads")
        self.note(f"app: starting the reference app under Gunicorn (tier {tier}, "
                  f"{workers} workers × {threads} threads)")
        app = ref.process
        if self.confined is not None:  # the master starts inside the limits; its workers inherit them
            app.wrap = self.confined.wrap
        self._stack.callback(app.stop)
        app.start(ready_timeout=60)
        self.app = app
        self.url = app.url
        if req.app_config_file:  # the tier's numbers do not describe someone else's config file
            threads = req.app_threads
            workers = req.app_workers if req.app_workers is not None else (len(app.worker_pids()) or None)
        self.server_info = {"workers": workers, "threads": threads,
                            "worker_class": req.app_worker_class or (None if req.app_config_file
                                                                     else values.get("worker_class")),
                            "tier": tier, "config_file": app.config_file,
                            "app_env": {k: v for k, v in ref.environment.items()
                                        if "SECRET" not in k and "URL" not in k}}


def _drop_quietly(admin_url: str, name: str) -> None:
    """Drop the run database at teardown; a failure there must not hide the run's own error, and
    what is left is dropped by the next run (its owner is dead by then)."""
    from hmb_ops.db import template

    try:
        template.drop_run(admin_url, name)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
