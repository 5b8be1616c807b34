"""A user's own app, found the way Gunicorn finds it: `--chdir DIR` and `--pythonpath P[,P]`.

Gunicorn changes into `chdir` (default: the working directory) and puts it first on sys.path, then
adds each `pythonpath` entry made absolute from there (gunicorn/app/base.py). tune does the same
for `gunicorn --check-config` and for the worker it starts to measure memory, so an app that
imports in its project folder imports here too, and one that does not fails with its own error in
one line (exit 2) instead of a false "not importable".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.errors import UsageError

# Runs in a child, like Gunicorn's import of the app: chdir, sys.path, import, attribute.
_IMPORTER = r"""
import importlib, json, os, sys, traceback
chdir, paths, target = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
os.chdir(chdir)
sys.path.insert(0, chdir)
for p in paths:
    sys.path.insert(0, p)
module, _, attr = target.partition(":")
attr = attr or "application"   # Gunicorn's default when MODULE has no :VARIABLE (gunicorn.util.import_app)


def _interface(obj):
    # As uvicorn tells ASGI 3 apart: an async __call__ (or an async function); WSGI takes (environ, start_response).
    import inspect
    if inspect.isclass(obj):
        return "unknown"
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else getattr(obj, "__call__", None)
    if call is None:
        return "unknown"
    if inspect.iscoroutinefunction(call):
        return "asgi"
    try:
        params = [p for p in inspect.signature(call).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return "unknown"
    return "wsgi" if len(params) == 2 else "unknown"


try:
    mod = importlib.import_module(module)
    if attr:
        obj = mod
        for part in attr.split("."):
            obj = getattr(obj, part.split("(")[0])
    print(json.dumps({"ok": True, "interface": _interface(obj) if attr and "(" not in attr else "unknown"}))
except BaseException as exc:
    tb = traceback.extract_tb(exc.__traceback__)
    here = next((f"{os.path.relpath(f.filename, chdir)}:{f.lineno}" for f in reversed(tb)
                 if f.filename.startswith(chdir)), None)
    msg = (str(exc).splitlines() or [""])[0]
    print(json.dumps({"ok": False, "error": type(exc).__name__ + (": " + msg if msg else ""), "where": here}))
"""


@dataclass(frozen=True)
class AppLocation:
    """Where Gunicorn would import the app from: its chdir and extra sys.path entries (absolute)."""

    chdir: Path
    pythonpath: tuple[Path, ...] = ()
    explicit: bool = False    # --chdir or --pythonpath given: an app that does not import is an error

    def gunicorn_args(self) -> list[str]:
        args = ["--chdir", str(self.chdir)]
        if self.pythonpath:
            args += ["--pythonpath", ",".join(str(p) for p in self.pythonpath)]
        return args

    def to_dict(self) -> dict:
        return {"chdir": str(self.chdir), "pythonpath": [str(p) for p in self.pythonpath]}


def resolve_location(chdir: str | os.PathLike | None, pythonpath: str | None) -> AppLocation:
    """--chdir (default: here) and --pythonpath (comma-separated, relative to chdir), checked."""
    base = Path(chdir if chdir is not None else os.getcwd())
    if chdir is not None:
        if not base.exists():
            raise UsageError(f"--chdir {chdir}: no such directory", hint="give the folder your app is started from")
        if not base.is_dir():
            raise UsageError(f"--chdir {chdir}: not a directory", hint="give the folder your app is started from")
    base = base.resolve()
    paths: list[Path] = []
    for entry in (pythonpath or "").split(","):
        raw = entry.strip()
        if not raw:
            continue
        p = (base / raw).resolve()
        if not p.is_dir():
            raise UsageError(f"--pythonpath {raw}: no such directory under {base}",
                             hint="paths are relative to --chdir, separated by commas, as Gunicorn takes them")
        paths.append(p)
    return AppLocation(base, tuple(paths), explicit=chdir is not None or bool(paths))


def import_problem(app: str, location: AppLocation, env: dict[str, str] | None = None,
                   timeout: float = 60) -> str | None:
    """None when `app` imports from `location` (in a child process), else its error in one line."""
    return _import(app, location, env, timeout)[0]


def _import(app: str, location: AppLocation, env: dict[str, str] | None = None,
            timeout: float = 60) -> tuple[str | None, str]:
    """(its error in one line or None, "asgi" | "wsgi" | "unknown") for `app` imported from `location`."""
    # Not -I: Python reads PYTHONPATH for Gunicorn too, so it counts here (relative entries from chdir).
    cmd = [sys.executable, "-B", "-c", _IMPORTER, str(location.chdir),
           json.dumps([str(p) for p in location.pythonpath]), app]
    run_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, cwd=str(location.chdir), env=run_env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"importing it took longer than {timeout:g} s", "unknown"
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the import crashed: {last}", "unknown"
    if data["ok"]:
        return None, str(data.get("interface") or "unknown")
    return data["error"] + (f" ({data['where']})" if data.get("where") else ""), "unknown"


def require_importable(app: str, location: AppLocation, env: dict[str, str] | None = None,
                       worker_class: str | None = None) -> None:
    """The app imports from `location`, and is the kind of app (WSGI or ASGI) `worker_class` serves."""
    problem, interface = _import(app, location, env)
    if problem:
        from hmb_ops.db.dsn import mask_text

        raise UsageError(f"--app {app} does not import from {location.chdir}: {mask_text(problem)}",
                         hint="fix the error, or point --chdir/--pythonpath at the folder Gunicorn starts it from")
    if worker_class is not None:
        interface_problem(app, interface, worker_class)


def interface_problem(app: str, interface: str, worker_class: str) -> None:
    """Refuse (exit 2) a WSGI app under an ASGI worker class and the reverse: both fail on every request,
    while `gunicorn --check-config` (which only imports the app) passes."""
    from hmb_ops.tune.worker_classes import is_asgi, lookup

    if lookup(worker_class) is None or interface == "unknown":
        return
    asgi_worker = is_asgi(worker_class)
    if interface == "wsgi" and asgi_worker:
        raise UsageError(f"--app {app} is a WSGI app, and the worker class {worker_class} serves ASGI apps: "
                         "every request would fail",
                         hint="use --worker-class gthread, or wrap the app for ASGI (asgiref's WsgiToAsgi)")
    if interface == "asgi" and not asgi_worker:
        raise UsageError(f"--app {app} is an ASGI app, and the worker class {worker_class} serves WSGI apps: "
                         "every request would fail",
                         hint="use --worker-class uvicorn_worker.UvicornWorker")


def check_config(conf_text: str, app: str, location: AppLocation, env: dict[str, str] | None = None,
                 timeout: float = 60, worker_class: str | None = None) -> str:
    # The note is the same as for the reference app; where the app was imported from is the caller's.
    """`gunicorn --check-config` of the rendered config with the app imported from `location`.

    The app is imported first on its own so a failure is its error in one line (UsageError, exit 2);
    then Gunicorn checks the config with the app loaded the way it will be at start-up.
    """
    from hmb_ops.errors import CheckFailed
    from hmb_ops.tune.validate import gunicorn_check_config

    require_importable(app, location, env, worker_class)
    with tempfile.TemporaryDirectory(prefix="hmb-tune-check-") as tmp:
        conf = Path(tmp) / "gunicorn.conf.py"
        conf.write_text(conf_text, encoding="utf-8")
        run_env = dict(env or {})
        if location.pythonpath:
            given = os.environ.get("PYTHONPATH")
            paths = [str(p) for p in location.pythonpath] + ([given] if given else [])
            run_env["PYTHONPATH"] = os.pathsep.join(paths)
        result = gunicorn_check_config(conf, app, cwd=location.chdir, env=run_env, timeout=timeout)
    if not result.ok:
        last = result.output.splitlines()[-1] if result.output else "no output"
        raise CheckFailed(f"gunicorn --check-config failed: {last}")
    return f"gunicorn --check-config passed with {app}"
