"""Bring up what a run against the reference app needs, and take down exactly what we started.

Order: database (configured, or the embedded one started on demand) → schema + seed data (reused
when already there) → the declared indexes (or their absence) → the reference app under Gunicorn
with the tier's generated config on a free loopback port. Teardown runs in reverse, also when a
step fails or the user interrupts.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from hmb_ops.errors import EnvironmentUnusable, UsageError

DEFAULT_TIER = "default"
PROBE_TIMEOUT_S = 3.0


def check_target(target: str, allow_remote: bool) -> str:
    """A usable http(s) base URL; anything outside loopback needs allow_remote (exit 2 otherwise)."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--target must be an http:// or https:// URL, got {shown_url(target)!r}")
    try:
        port_ok = parts.port != 0
    except ValueError:
        port_ok = False
    if not port_ok:
        raise UsageError(f"--target {shown_url(target)}: the port is not a number from 1 to 65535")
    host = parts.hostname
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback and not allow_remote:
        raise UsageError(f"refusing to load-test {host}: only loopback targets by default",
                         hint="add --allow-remote if you own that server and mean it")
    return target.rstrip("/")


def shown_url(url: str, limit: int = 200) -> str:
    """A URL fit for a message: userinfo masked, query and fragment dropped, control characters %-escaped.

    Locations come from the server and targets from the user; either can carry credentials
    (`user:password@`) or a token in the query. Userinfo is cut up to the LAST '@' without parsing,
    because a malformed URL (a '/', '?' or '#' inside the password) splits the authority too early."""
    text = "".join(c if c.isprintable() else "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
                   for c in url)
    sep = text.find("//")
    if sep >= 0 and text.rfind("@") > sep:
        text = text[:sep + 2] + "***" + text[text.rfind("@"):]
    for mark in ("?", "#"):
        if mark in text:
            text = text[:text.index(mark)] + mark + "…"
            break
    return text if len(text) <= limit else text[:limit] + "…"


def probe(target: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Any HTTP answer but a redirect will do; silence or a refused connection is exit 3, fast.

    One request with http.client, never urllib: urlopen follows redirects (a 302 on loopback
    would send the probe to any host the server names) and honours *_proxy variables (the probe
    would leave loopback through the proxy). A 3xx is refused, exit 3: the load generator does not
    follow redirects either, so every request of the run would be a redirect, not the app."""
    parts = urlsplit(target)
    shown = shown_url(target)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = None
    try:
        conn = conn_class(parts.hostname, parts.port, timeout=timeout)
        conn.request("GET", (parts.path or "") + "/", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        status, location = resp.status, resp.getheader("Location")
    except (http.client.HTTPException, socket.timeout, TimeoutError, ConnectionError, OSError, ValueError) as exc:
        raise EnvironmentUnusable(f"the target {shown} does not answer: {str(exc) or exc.__class__.__name__}",
                                  hint="start it, or check --target") from None
    finally:
        if conn is not None:
            conn.close()
    if 300 <= status < 400:
        where = f"to {shown_url(location)}" if location else "without a Location"
        raise EnvironmentUnusable(f"the target {shown} answered with a redirect (HTTP {status}) {where};"
                                  " hmb-ops never follows redirects",
                                  hint="give --target the URL the app itself answers on")


class Stack:
    """Context manager: database, data, indexes and the app. `.url`, `.app`, `.database_url`."""

    def __init__(self, req, work_dir: Path, *, note: Callable[[str], None] = lambda _m: None,
                 should_stop: Callable[[], bool] = lambda: False):
        self.req = req
        self.work_dir = work_dir
        self.note = note
        self.should_stop = should_stop
        self._stack = ExitStack()
        self.database_url: str | None = None
        self.app = None
        self.url: str | None = None
        self.server_info: dict = {}
        self.seeded_users: int | None = None

    def _checkpoint(self) -> None:
        if self.should_stop():
            raise KeyboardInterrupt

    def __enter__(self) -> "Stack":
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
        from hmb_ops.refapp.runner import GunicornProcess
        from hmb_ops.refapp.secret import token_secret_for_run
        from hmb_ops.tune.api import plan_for, tier_environment, write_files

        req = self.req
        app_dir = self.work_dir / "app"
        tier = req.tier or DEFAULT_TIER
        plan = plan_for(tier=tier, config_files=tuple(req.config_files), database_url=url,
                        worker_class=req.app_worker_class)
        write_files(plan, app_dir)
        env = dict(tier_environment(plan))
        env.update(req.app_env or {})
        config_file = req.app_config_file or str(app_dir / "gunicorn.conf.py")
        values = plan.values
        workers = req.app_workers if req.app_workers is not None else values.get("workers")
        threads = req.app_threads if req.app_threads is not None else values.get("threads")
        if req.app_workers is not None:
            env["WEB_CONCURRENCY"] = str(req.app_workers)
        if req.app_threads is not None:
            env["WEB_THREADS"] = str(req.app_threads)
        # The state folder's token key (or one set in the environment / app_env), never a derived one.
        secret, _source = token_secret_for_run(req.state_dir, {**os.environ, **(req.app_env or {})})
        self.note(f"app: starting the reference app under Gunicorn (tier {tier}, {workers} workers × {threads} threads)")
        app = GunicornProcess(url, config_file=config_file, workers=req.app_workers, threads=req.app_threads,
                              worker_class=req.app_worker_class, env=env, log_dir=str(app_dir),
                              token_secret=secret)
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
                            "tier": tier, "config_file": config_file,
                            "app_env": {k: v for k, v in env.items() if "SECRET" not in k and "URL" not in k}}
