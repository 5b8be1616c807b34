"""Every worker class tune knows, in one table: what kind of concurrency it has, whether it is
deprecated or gone, which Gunicorn settings do nothing for it, and how to tell it is installed.

`tune` (recommend, validate, render) and `tune check` read this table instead of keeping their own
lists, so "threads do nothing for a Uvicorn worker" is said the same way everywhere. Facts:
../shared/reference/field-notes-2.md section 2 (Gunicorn 27, uvicorn 0.54, uvicorn-worker 0.4).

    wc = lookup("uvicorn.workers.UvicornWorker")
    wc.kind == ASGI; wc.replacement == "uvicorn_worker.UvicornWorker"; wc.ignored["threads"]
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

# Kinds of concurrency inside one worker process.
SYNC = "sync"          # one request at a time
THREADS = "threads"    # a thread pool (gthread)
GREENLETS = "greenlets"  # cooperative greenlets (gevent, eventlet)
ASGI = "asgi"          # one asyncio event loop, no threads

# Who runs the workers.
GUNICORN = "gunicorn"
UVICORN = "uvicorn"    # `uvicorn --workers N`: uvicorn's own supervisor, no Gunicorn

# The standalone server, as a pseudo worker class (`tune check` reads it from a start command).
STANDALONE_UVICORN = "uvicorn"

_THREADS_ONLY_GTHREAD = "Gunicorn's threads setting is used by the gthread worker only"
_UVICORN_IGNORES = {
    "threads": "a Uvicorn worker runs one event loop and no request threads; "
               + _THREADS_ONLY_GTHREAD,
    "worker_connections": "Uvicorn workers ignore it (gthread and gevent only), so uvicorn's "
                          "limit_concurrency cannot be set under Gunicorn",
}


@dataclass(frozen=True)
class WorkerClass:
    name: str                      # what -k takes (or "uvicorn" for the standalone server)
    kind: str                      # SYNC, THREADS, GREENLETS or ASGI
    module: str | None             # must be importable for the class to load (None: part of Gunicorn)
    package: str                   # the distribution that provides it (pip install ...)
    server: str = GUNICORN
    aliases: tuple[str, ...] = ()  # other spellings that load the same class
    deprecated: str = ""           # why it still works but should not be used
    removed: str = ""              # why it no longer works
    replacement: str | None = None
    # Gunicorn setting -> why it has no effect with this class.
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def asgi(self) -> bool:
        return self.kind == ASGI

    @property
    def threaded(self) -> bool:
        return self.kind == THREADS

    def installed(self) -> bool:
        return self.module is None or module_available(self.module)

    def problem(self) -> str | None:
        """None when this class can be loaded here, else why not (one line, with what to do)."""
        if self.removed:
            return f"worker class {self.name!r} is not available: {self.removed}"
        if not self.installed():
            what = f"the {self.package} package, which is not installed"
            hint = f"; install it (pip install {self.package})"
            if self.replacement:
                hint += f" or use {self.replacement}"
            return f"worker class {self.name!r} needs {what}{hint}"
        return None

    def notes(self) -> list[str]:
        """Deprecation, as a warning line for a plan or a check."""
        if self.deprecated:
            return [f"worker class {self.name} is deprecated: {self.deprecated}"
                    + (f"; use {self.replacement}" if self.replacement else "")]
        return []

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "module": self.module, "package": self.package,
                "server": self.server, "aliases": list(self.aliases), "deprecated": self.deprecated,
                "removed": self.removed, "replacement": self.replacement, "ignored": dict(self.ignored),
                "installed": self.installed()}


REGISTRY: tuple[WorkerClass, ...] = (
    WorkerClass("sync", SYNC, None, "gunicorn", aliases=("gunicorn.workers.sync.SyncWorker",),
                ignored={"worker_connections": "the sync worker handles one request at a time"}),
    # threads > 1 with sync is not ignored: Gunicorn then loads gthread instead (gunicorn/config.py).
    WorkerClass("gthread", THREADS, None, "gunicorn", aliases=("gunicorn.workers.gthread.ThreadWorker",)),
    WorkerClass("gevent", GREENLETS, "gevent", "gevent",
                aliases=("gevent_wsgi", "gevent_pywsgi", "gunicorn.workers.ggevent.GeventWorker",
                         "gunicorn.workers.ggevent.GeventPyWSGIWorker"),
                ignored={"threads": "gevent serves requests on greenlets; " + _THREADS_ONLY_GTHREAD}),
    WorkerClass("eventlet", GREENLETS, "eventlet", "eventlet",
                removed="the eventlet worker was removed in Gunicorn 26; use gevent or gthread",
                replacement="gthread"),
    WorkerClass("tornado", ASGI, "tornado", "tornado", aliases=("gunicorn.workers.gtornado.TornadoWorker",),
                ignored={"threads": _THREADS_ONLY_GTHREAD}),
    WorkerClass("asgi", ASGI, None, "gunicorn", aliases=("gunicorn.workers.gasgi.ASGIWorker",),
                ignored={"threads": "Gunicorn's asgi worker runs one event loop; " + _THREADS_ONLY_GTHREAD}),
    WorkerClass("uvicorn_worker.UvicornWorker", ASGI, "uvicorn_worker", "uvicorn-worker",
                ignored=dict(_UVICORN_IGNORES)),
    WorkerClass("uvicorn_worker.UvicornH11Worker", ASGI, "uvicorn_worker", "uvicorn-worker",
                ignored=dict(_UVICORN_IGNORES)),
    WorkerClass("uvicorn.workers.UvicornWorker", ASGI, "uvicorn.workers", "uvicorn",
                deprecated="uvicorn.workers is deprecated upstream since uvicorn 0.30 (moved to the "
                           "uvicorn-worker package)",
                replacement="uvicorn_worker.UvicornWorker", ignored=dict(_UVICORN_IGNORES)),
    WorkerClass("uvicorn.workers.UvicornH11Worker", ASGI, "uvicorn.workers", "uvicorn",
                deprecated="uvicorn.workers is deprecated upstream since uvicorn 0.30 (moved to the "
                           "uvicorn-worker package)",
                replacement="uvicorn_worker.UvicornH11Worker", ignored=dict(_UVICORN_IGNORES)),
    # `uvicorn app:app --workers N`: spawned children, no pre-fork, so no Gunicorn setting applies.
    WorkerClass(STANDALONE_UVICORN, ASGI, "uvicorn", "uvicorn", server=UVICORN,
                ignored={"threads": "uvicorn has no request threads",
                         "preload_app": "uvicorn --workers spawns its workers (no pre-fork): nothing is "
                                        "shared copy-on-write"}),
)

_BY_NAME = {n: wc for wc in REGISTRY for n in (wc.name, *wc.aliases)}


def lookup(name: str | None) -> WorkerClass | None:
    """The registry entry for a -k value (any alias), or None for a class tune does not know."""
    if not name:
        return None
    return _BY_NAME.get(name.strip())


def kind_of(name: str | None) -> str | None:
    wc = lookup(name or "sync")
    return wc.kind if wc else None


def is_asgi(name: str | None) -> bool:
    return kind_of(name) == ASGI


def is_threaded(name: str | None) -> bool:
    return kind_of(name) == THREADS


def ignored_settings(name: str | None, settings: dict) -> list[str]:
    """One line per setting in `settings` that has no effect with this worker class.

    Only values that would change something are reported: threads=1 and worker_connections at
    Gunicorn's default (1000) are not.
    """
    wc = lookup(name or "sync")
    if wc is None:
        return []
    lines = []
    for setting, why in wc.ignored.items():
        value = settings.get(setting)
        if value is None or value is False:
            continue
        if setting == "threads" and _as_int(value) in (0, 1):
            continue
        if setting == "worker_connections" and _as_int(value) == 1000:
            continue
        lines.append(f"{setting}={value} has no effect with {wc.name}: {why}")
    return lines


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def module_available(module: str) -> bool:
    """Whether `module` can be imported here (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
