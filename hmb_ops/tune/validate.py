"""Checks against the installed Gunicorn: setting names, worker classes, `gunicorn --check-config`."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hmb_ops.errors import CheckFailed, EnvironmentUnusable, UsageError
from hmb_ops.tune.worker_classes import module_available


@lru_cache(maxsize=1)
def known_settings() -> frozenset[str]:
    from gunicorn.config import KNOWN_SETTINGS

    return frozenset(s.name for s in KNOWN_SETTINGS)


def suggest_setting(name: str) -> str | None:
    close = difflib.get_close_matches(name, sorted(known_settings()), n=1, cutoff=0.75)
    return close[0] if close else None


def unknown_settings(names) -> list[str]:
    known = known_settings()
    return sorted(n for n in names if n not in known)


def check_app_name(app: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.()]*)?", app or ""):
        raise UsageError(f"--app {app!r} is not MODULE:VARIABLE", hint="e.g. hmb_ops.refapp.wsgi:app")


def worker_class_problem(name: str) -> str | None:
    """None when the installed Gunicorn can load this worker class, else why not.

    Known classes (sync, gthread, gevent, the Uvicorn workers, ...) are judged by the registry in
    hmb_ops.tune.worker_classes; any other dotted path must at least be importable.
    """
    from gunicorn.workers import SUPPORTED_WORKERS

    from hmb_ops.tune.worker_classes import lookup

    known = lookup(name)
    if known is not None:
        if known.server != "gunicorn":
            return (f"{name!r} is not a Gunicorn worker class: under Gunicorn use "
                    "uvicorn_worker.UvicornWorker; `uvicorn --workers N` runs without Gunicorn")
        problem = known.problem()
        if problem and known.deprecated:
            problem += f" ({known.deprecated})"
        return problem
    if name in SUPPORTED_WORKERS:
        return None
    if "." in name:
        module = name.rsplit(".", 1)[0]
        if name.startswith("egg:"):
            return None
        if not module_available(module):
            hint = " (install the uvicorn-worker package)" if module.startswith("uvicorn") else ""
            return f"worker class {name!r} is not importable here: module {module!r} is not installed{hint}"
        return None
    import gunicorn

    return (f"unknown worker class {name!r} for Gunicorn {gunicorn.__version__}; "
            f"known: {', '.join(sorted(SUPPORTED_WORKERS))} or a dotted path")


def check_worker_class(name: str) -> None:
    problem = worker_class_problem(name)
    if problem:
        raise UsageError(problem)


@dataclass(frozen=True)
class CheckConfigResult:
    ok: bool
    command: list[str]
    output: str

    def to_dict(self) -> dict:
        return {"ok": self.ok, "command": self.command, "output": self.output}


def gunicorn_check_config(conf: str | os.PathLike, app: str, *, cwd: str | os.PathLike | None = None,
                          env: dict[str, str] | None = None, timeout: float = 60) -> CheckConfigResult:
    """`gunicorn --check-config -c CONF APP` in a subprocess (it imports the app)."""
    # -B: importing the user's config and app must leave no __pycache__ in their folders.
    cmd = [sys.executable, "-B", "-m", "gunicorn", "--check-config", "--config", str(conf), app]
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run(cmd, cwd=str(cwd) if cwd else None, env=full_env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return CheckConfigResult(False, cmd, f"timed out after {timeout:.0f} s")
    except OSError as exc:
        raise EnvironmentUnusable(f"cannot run gunicorn: {exc}") from None
    text = (proc.stdout + proc.stderr).strip()
    return CheckConfigResult(proc.returncode == 0, cmd, text)


def validate_rendered(files: dict[str, str], app: str, *, run_check_config: bool = True,
                      workdir: str | os.PathLike | None = None) -> list[str]:
    """Static checks of a rendered gunicorn.conf.py, then `--check-config` when the app imports here.

    Returns notes (what was checked); raises CheckFailed when something is wrong.
    """
    import tempfile

    from hmb_ops.tune.check import evaluate_config

    notes = []
    with tempfile.TemporaryDirectory(prefix="hmb-tune-validate-") as tmp:
        conf = Path(tmp) / "gunicorn.conf.py"
        conf.write_text(files["gunicorn.conf.py"], encoding="utf-8")
        settings = evaluate_config(conf, env={})
        bad = unknown_settings(settings["settings"])
        if bad:
            raise CheckFailed(f"generated config has unknown Gunicorn settings: {', '.join(bad)}")
        problem = worker_class_problem(str(settings["settings"].get("worker_class", "sync")))
        if problem:
            raise CheckFailed(f"generated config: {problem}")
        notes.append("setting names and worker class checked against the installed Gunicorn")
        module = app.split(":", 1)[0]
        if run_check_config and module_available(module.split(".")[0]):
            from hmb_ops.private_files import TOKEN_SECRET_ENV, new_token_secret

            # The reference app refuses to import without a real token key, and the files hold only
            # the placeholder: the check gets a throwaway key that is never written anywhere.
            result = gunicorn_check_config(conf, app, cwd=workdir or tmp,
                                           env={TOKEN_SECRET_ENV: new_token_secret()})
            if not result.ok:
                last = result.output.splitlines()[-1] if result.output else "no output"
                raise CheckFailed(f"gunicorn --check-config failed: {last}")
            notes.append(f"gunicorn --check-config passed with {app}")
        elif run_check_config:
            notes.append(f"gunicorn --check-config skipped: {module} is not importable here")
    return notes
