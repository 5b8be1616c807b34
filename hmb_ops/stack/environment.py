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
        from hmb_ops.db.resolve import database_for_run

        url, started = self._stack.enter_context(database_for_run(self.req.database_url, self.req.state_dir))
        if started:
            self.note("started the embedded PostgreSQL (stopped again after the run)")
        return url

    def _up(self) -> None:
        req = self.req
        self.database_url = url = self._database()
        self._checkpoint()
        from hmb_ops.db.seed import ensure_seeded, seeded_info

        self.note(f"data: ensuring seed scale {req.seed_scale}")
        # What a reload drops (hmb-ops's own tables only) is said before it happens.
        ensure_seeded(url, scale=req.seed_scale,
                      on_plan=lambda plan: [self.note(f"data: {line}") for line in plan.lines()])
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
