"""A user's locustfile under hmb-ops: its User classes, our stages, and Locust's request events
recorded raw into the generator's Recorder.

Locust and the user's own code are imported only in the generator's child processes, never in the
CLI process (this module imports neither at the top). Before a run the parent checks a file in a
throwaway child, `check_in_child`:

    python -m hmb_ops.loadtest.user_locustfile FILE    → last line: {"ok": true, "classes": [...]}
                                                          or {"ok": false, "error": "FILE:LINE: ..."}
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

CONNECTION_WORDS = ("connection", "refused", "reset", "broken pipe", "remotedisconnected", "name or service")


class LocustfileError(Exception):
    """The file cannot be used: one line, already naming the file (and the line when known)."""


def _where(path: Path, exc: BaseException, shown: str) -> str:
    """FILE:LINE of the deepest frame inside the user's file (or FILE alone), FILE as the user gave it."""
    if isinstance(exc, SyntaxError) and exc.lineno and Path(exc.filename or "") == path:
        return f"{shown}:{exc.lineno}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    return f"{shown}:{line}" if line else shown


def load_user_classes(file: str) -> list[type]:
    """The runnable User classes of a locustfile, imported the way Locust does (its folder on sys.path,
    the module under its own name); any failure is a LocustfileError."""
    from locust import User

    path = Path(file).absolute()
    if not path.is_file():
        raise LocustfileError(f"{file}: no such file")
    if path.suffix != ".py":
        raise LocustfileError(f"{file}: a locustfile is a .py file")
    # Locust imports a locustfile with its folder first on sys.path, so its sibling modules import.
    sys.path.insert(0, str(path.parent))
    name = f"hmb_user_locustfile_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LocustfileError(f"{file}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - user code: SystemExit or anything else is a bad file, not a crash
        text = str(exc).splitlines()[0] if str(exc) else ""
        if isinstance(exc, SyntaxError):
            text = exc.msg
        raise LocustfileError(f"{_where(path, exc, file)}: does not import: {exc.__class__.__name__}"
                              + (f": {text}" if text else "")) from None
    classes = [v for v in vars(module).values()
               if inspect.isclass(v) and issubclass(v, User) and v.abstract is False]
    if not classes:
        raise LocustfileError(f"{file}: defines no user class (a non-abstract subclass of HttpUser, "
                              "FastHttpUser or User)")
    return classes


def host_conflict(classes: list[dict], target: str | None) -> str | None:
    """Why the classes' own `host` attributes cannot run against this target, or None.

    hmb-ops points every user at one target (--target, or the reference app it starts); a class that
    names another host would be silently redirected, so a differing host is refused before the run."""
    for cls in classes:
        host, name = cls.get("host"), cls["name"]
        if not host:
            continue
        if target is None:
            return (f"user class {name} sets host = {host!r} but no --target was given "
                    "(hmb-ops would start the reference app); pass --target or remove the host")
        if host.rstrip("/") != target.rstrip("/"):
            return (f"user class {name} sets host = {host!r}, which is not the target {target!r}; "
                    "remove the host from the class or pass it as --target")
    return None


def failure_kind(response: Any, exception: BaseException | None) -> str | None:
    """The kind of a failed request, like the built-in engine's: an HTTP status (redirect,
    rate_limited_429, http_NNN), connection, timeout, or the exception's class for anything else
    (a `catch_response` failure on a 2xx, an error raised in a `with` block)."""
    if exception is None:
        return None
    from hmb_ops.loadtest.behaviour import failure_kind as status_kind

    status = int(getattr(response, "status_code", 0) or 0)
    if status >= 300:
        return status_kind(status)
    name = exception.__class__.__name__
    text = f"{name} {exception}".lower()
    if isinstance(exception, (socket.timeout, TimeoutError)) or "timeout" in text or "timed out" in text:
        return "timeout"
    if status == 0 and (isinstance(exception, OSError) or any(w in text for w in CONNECTION_WORDS)):
        return "connection"
    return f"exception_{name}"


def attach_recorder(events: Any, rec: Any) -> None:
    """Every request event into the Recorder: the latency in µs from Locust's float milliseconds
    (never Locust's rounded statistics), the failure by kind. A connection failure has no latency
    (nothing was answered), as in the built-in engine."""
    series, fail = rec.series, rec.fail

    def on_request(name: str, response_time: float, exception: BaseException | None = None,
                   response: Any = None, **_kw: Any) -> None:
        rec.sent += 1
        kind = failure_kind(response, exception) if exception is not None else None
        if kind != "connection":
            series(name).append(max(0, round((response_time or 0.0) * 1000.0)))
        if kind is not None:
            fail(name, kind)

    events.request.add_listener(on_request)


def pace(classes: list[type], schedule: Any, rec: Any) -> None:
    """The open model for a locustfile: each task starts at the next slot of the shared schedule
    (like k6's arrival-rate executors start iterations), replacing the classes' wait_time. A task
    starting over LATE_SEND_S after its slot is late; slots the users never reach are dropped.
    Latency stays as Locust times each request (from its own start, not from the slot)."""
    import time

    from hmb_ops.loadtest.behaviour import LATE_SEND_S

    def until_next_slot(_user: Any = None) -> float:
        delay = schedule.next_slot() - time.perf_counter()
        if -delay > LATE_SEND_S:
            rec.late += 1
        rec.slots += 1
        return max(0.0, delay)

    for cls in classes:
        started = getattr(cls, "on_start")  # noqa: B009 - any User class, typed as a plain type

        def on_start(self: Any, _started: Any = started) -> None:
            _started(self)
            import gevent

            gevent.sleep(until_next_slot())  # the first task waits for its slot too

        setattr(cls, "on_start", on_start)  # noqa: B010 - any User class, typed as a plain type
        setattr(cls, "wait_time", until_next_slot)  # noqa: B010 - called as a method: the user is ignored


def prepare(spec: dict, events: Any, rec: Any) -> list[type]:
    """The spec's locustfile loaded, its classes aimed at the target, its requests recorded (and
    paced by the arrival rate in the open model)."""
    classes = load_user_classes(spec["locustfile"])
    for cls in classes:
        setattr(cls, "host", spec["target"])  # noqa: B010 - any User class, typed as a plain type
    attach_recorder(events, rec)
    if spec.get("arrival_rate"):
        from hmb_ops.loadtest import arrival
        from hmb_ops.loadtest.behaviour import OpenSchedule

        processes = max(1, int(spec.get("processes") or 1))
        pace(classes, arrival.schedule_for(spec) or OpenSchedule(spec["arrival_rate"] / processes), rec)
    # A locustfile's users have no log-in phase of ours: every spawned user is ready at once.
    rec.ready = 10**9
    return classes


def check(file: str) -> dict:
    try:
        classes = load_user_classes(file)
    except LocustfileError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "classes": [{"name": c.__name__, "host": getattr(c, "host", None) or None}
                                    for c in classes]}


CHECK_TIMEOUT_S = 60.0


def check_in_child(file: str, target: str | None) -> list[dict]:
    """The file's user classes, imported in a throwaway child; a bad file or a host that conflicts
    with the target is a ConfigError (exit 2) before anything starts."""
    import subprocess

    from hmb_ops.errors import ConfigError, EnvironmentUnusable

    try:
        proc = subprocess.run([sys.executable, "-m", "hmb_ops.loadtest.user_locustfile", file],
                              capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{file}: importing it took over {CHECK_TIMEOUT_S:g} s",
                          hint="a locustfile should not do work at import time") from None
    result = None
    for line in reversed(proc.stdout.splitlines()):  # the user's own prints come before ours
        try:
            result = json.loads(line)
            break
        except ValueError:
            continue
    if not isinstance(result, dict):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvironmentUnusable(f"checking the locustfile {file} failed: {tail}")
    if not result.get("ok"):
        raise ConfigError(str(result.get("error")))
    problem = host_conflict(result["classes"], target)
    if problem:
        raise ConfigError(f"{file}: {problem}")
    return result["classes"]


def main(argv: list[str]) -> int:
    from gevent import monkey

    monkey.patch_all()  # as in a real run: locustfiles may import requests or gevent at the top
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    result = check(argv[0])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
