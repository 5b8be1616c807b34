"""`tune check`: what an existing app's deploy files really start, and where they disagree.

Each way the app can be started is a *surface*: gunicorn.conf.py on its own, the Procfile's web
process, each render.yaml web service, each env file applied to the config. For every surface the
effective Gunicorn settings are worked out the way Gunicorn does (config file evaluated with that
surface's environment, then command-line flags on top, then Gunicorn's defaults), and the
surfaces are compared. The config file is executed in a separate, time-limited process with a
controlled environment, never in ours.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hmb_ops.errors import ConfigError, UsageError

# hmb-ops.gunicorn.conf.py first: `tune --merge` writes the plan's config under that name beside a
# user's own gunicorn.conf.py, and the merged start commands and env file belong to it.
CONF_NAMES = ("hmb-ops.gunicorn.conf.py", "gunicorn.conf.py", "gunicorn_config.py", "gunicorn.py")
COMPARED = ("app", "workers", "threads", "worker_class", "preload_app", "timeout", "graceful_timeout",
            "keepalive", "max_requests", "bind")
POOL_VARS = ("DB_POOL_MAX", "DB_POOL_SIZE", "DATABASE_POOL_SIZE", "POOL_SIZE", "DB_MAX_CONNECTIONS")
BACKGROUND_VAR = "BACKGROUND_WORKERS"
ASSUMED_POOL = 5
ASSUMED_BACKGROUND = 4
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "site-packages", ".hmb-ops"}
MAX_SCANNED_FILES = 500

# Runs in the child: load the file the way Gunicorn's get_config_from_filename does (a module
# executed from its path), then describe every public name. Prints go to stderr so stdout stays JSON.
_EVALUATOR = r"""
import importlib.util, json, sys, types, traceback
path = sys.argv[1]
sys.path.insert(0, sys.argv[2])
real_stdout = sys.stdout
sys.stdout = sys.stderr
try:
    spec = importlib.util.spec_from_file_location("__config__", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
except BaseException as exc:
    tb = traceback.extract_tb(exc.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == path), None)
    msg = str(exc).splitlines()[0] if str(exc) else ""
    real_stdout.write(json.dumps({"error": type(exc).__name__ + (": " + msg if msg else ""), "line": line}))
    sys.exit(0)
out = {"values": {}, "callables": [], "modules": []}
for name, value in vars(mod).items():
    if name.startswith("_"):
        continue
    if isinstance(value, types.ModuleType):
        out["modules"].append(name)
    elif callable(value):
        out["callables"].append(name)
    else:
        try:
            json.dumps(value)
            out["values"][name] = value
        except (TypeError, ValueError):
            out["values"][name] = repr(value)
real_stdout.write(json.dumps(out))
"""


def controlled_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only what Python needs to run, plus the surface's own variables: nothing from our shell leaks in."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT") if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def evaluate_config(path: str | os.PathLike, *, env: dict[str, str] | None = None,
                    timeout: float = 10, root: str | os.PathLike | None = None) -> dict:
    """{"settings": {known name: value}, "unknown": [names], "callables": [...]} for one config file.

    `root`: the app's folder (working directory and first on sys.path, as Gunicorn run there has it);
    default the config file's folder.
    """
    from hmb_ops.tune.validate import known_settings, suggest_setting

    p = Path(path)
    cwd = str(Path(root).resolve()) if root is not None else str(p.resolve().parent)
    # -B: -I ignores PYTHONDONTWRITEBYTECODE, and the user's folder must get no __pycache__ from us.
    cmd = [sys.executable, "-I", "-B", "-c", _EVALUATOR, str(p.resolve()), cwd]
    try:
        proc = subprocess.run(cmd, env=controlled_env(env), cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"evaluating it took longer than {timeout:g} s", path=str(p),
                          hint="a config file should only assign settings; move slow work out of it") from None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"evaluating it failed: {_mask(last)}", path=str(p)) from None
    if "error" in data:
        raise ConfigError(f"evaluating it raised {_mask(data['error'])}", path=str(p), line=data.get("line"),
                          hint="Gunicorn would refuse to start with this file; fix the line named")
    known = known_settings()
    settings = {k: v for k, v in data["values"].items() if k in known}
    _validate_values(p, settings)
    settings.update({k: "<function>" for k in data["callables"] if k in known})
    unknown = sorted(k for k in data["values"] if k not in known)
    # A function whose name is one letter off a hook (post_fork vs postfork) is a hook that never runs.
    unknown += sorted(k for k in data["callables"] if k not in known and suggest_setting(k))
    return {"settings": settings, "unknown": unknown, "callables": sorted(data["callables"])}


def _validate_values(path: Path, settings: dict) -> None:
    """Gunicorn runs each config value through its validator at start-up and refuses the file on the
    first it rejects (`workers = -3`); the same here, with the line. user, group, chdir and
    reload_extra_files name things on the machine the file deploys to, so they are not checked here."""
    from gunicorn.config import Config
    from gunicorn.errors import ConfigError as GunicornConfigError

    cfg = Config()
    for key, value in settings.items():
        if key not in cfg.settings or key in ("user", "group", "chdir", "reload_extra_files"):
            continue
        try:
            cfg.set(key, value)
        except (ValueError, TypeError, GunicornConfigError) as exc:
            raise ConfigError(f"Gunicorn rejects {key} = {value!r}: {_mask(str(exc))}", path=str(path),
                              line=_config_line(path, key),
                              hint="Gunicorn would refuse to start with this file; fix the line named") from None




@dataclass
class Surface:
    """One way the app is started. places: setting -> file:line its value comes from; unknown:
    setting -> the variable no file here sets."""

    name: str
    file: str
    env: dict[str, str] = field(default_factory=dict)
    command: str | None = None
    settings: dict = field(default_factory=dict)
    origins: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    line: int | None = None
    env_lines: dict[str, str] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    server: str = "gunicorn"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def place(self, key: str) -> str:
        return self.places.get(key) or self.where

    def to_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "line": self.line, "server": self.server,
                "command": _mask(self.command) if self.command else None,
                "env": {k: ("***" if _SECRET_NAME.search(k) else _mask(v)) for k, v in self.env.items()},
                "settings": self.settings, "origins": self.origins, "places": self.places,
                "unknown": self.unknown, "notes": [_mask(n) for n in self.notes]}


_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL|AUTH", re.I)


def _mask(text: str) -> str:
    # Deploy files may carry real credentials (DATABASE_URL=postgres://u:pw@…, SECRET_KEY=… before a
    # command, --password flags); reports never repeat them: the same masking as tune --out's diffs.
    from hmb_ops.tune.deploy.writer import mask_secrets

    return mask_secrets(text)


@dataclass(frozen=True)
class Finding:
    kind: str       # drift | unknown_setting | worker_class | budget | command
    key: str
    message: str
    values: tuple = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "message": self.message, "values": list(self.values)}


@dataclass(frozen=True)
class CheckReport:
    directory: str
    files: tuple[str, ...]
    surfaces: tuple[Surface, ...]
    pool_sizes: tuple[dict, ...]
    findings: tuple[Finding, ...]
    not_checked: tuple[str, ...] = ()   # processes that are not the web server, named

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {"directory": self.directory, "ok": self.ok, "files": list(self.files),
                "surfaces": [s.to_dict() for s in self.surfaces], "pool_sizes": list(self.pool_sizes),
                "findings": [f.to_dict() for f in self.findings], "not_checked": list(self.not_checked)}


def _gunicorn_defaults() -> dict:
    from gunicorn.config import KNOWN_SETTINGS

    return {s.name: s.default for s in KNOWN_SETTINGS}


def _normalise_worker_class(name) -> str:
    from gunicorn.workers import SUPPORTED_WORKERS

    if not isinstance(name, str):
        return str(name)
    for alias, path in SUPPORTED_WORKERS.items():
        if name == path:
            return alias
    return name


def _walk(root: Path, suffixes: tuple[str, ...], max_depth: int):
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and depth < max_depth)
        for name in sorted(filenames):
            if name.endswith(suffixes):
                count += 1
                if count > MAX_SCANNED_FILES:
                    return
                yield Path(dirpath) / name


_DOC_POOL = re.compile(r"(\d+)\s+(?:database\s+|db\s+)?connections?\s+per\s+worker", re.I)
_CODE_POOL = re.compile(r"[\"'](" + "|".join(POOL_VARS) + r")[\"']\s*,\s*[\"']?(\d+)")
_CODE_BACKGROUND = re.compile(r"[\"']" + BACKGROUND_VAR + r"[\"']\s*,\s*[\"']?(\d+)")


def _pool_claims(root: Path) -> tuple[list[dict], int | None]:
    """Pool sizes stated in docs (*.md) and defaulted in code (*.py); the code's background default."""
    claims: list[dict] = []
    background = None
    for path in _walk(root, (".md", ".rst", ".txt"), 3):
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _DOC_POOL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            claims.append({"source": f"{path.relative_to(root)}:{line}", "kind": "docs", "value": int(m.group(1))})
    for path in _walk(root, (".py",), 4):
        if path.name in CONF_NAMES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _CODE_POOL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            claims.append({"source": f"{path.relative_to(root)}:{line}", "kind": "code default",
                           "value": int(m.group(2)), "variable": m.group(1)})
        if background is None and (mb := _CODE_BACKGROUND.search(text)):
            background = int(mb.group(1))
    return claims, background


class _Evaluator:
    def __init__(self, conf: Path | None, timeout: float):
        self.conf, self.timeout = conf, timeout
        self.cache: dict[tuple, dict] = {}

    def __call__(self, env: dict[str, str], conf: Path | None = None) -> dict | None:
        conf = conf or self.conf
        if conf is None:
            return None
        key = (str(conf), tuple(sorted(env.items())))
        if key not in self.cache:
            self.cache[key] = evaluate_config(conf, env=env, timeout=self.timeout)
        return self.cache[key]


_ENV_SETTING = {"workers": "WEB_CONCURRENCY", "threads": "WEB_THREADS", "timeout": "GUNICORN_TIMEOUT"}


def _config_line(conf: Path | None, setting: str) -> int | None:
    """The line assigning `setting` in a config file (the value's place in a drift report)."""
    if conf is None:
        return None
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r"^" + re.escape(setting) + r"\s*=", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _resolve(surface: Surface, evaluated: dict | None, conf_name: str | None, flags: dict | None,
             defaults: dict, conf_path: Path | None = None) -> None:
    conf_settings = (evaluated or {}).get("settings", {})
    for key in COMPARED:
        setting = "wsgi_app" if key == "app" else key
        place = None
        if flags and key in flags:
            val, origin, place = flags[key], "command line", surface.where
        elif key in surface.unknown:
            val, origin = None, f"unknown: {surface.unknown[key]} is not set in any file here"
        elif setting in conf_settings and conf_settings[setting] is not None:
            val = conf_settings[setting]
            var = _ENV_SETTING.get(key)
            origin = f"{conf_name}" + (f" with {var}={surface.env[var]}" if var and var in surface.env else "")
            line = _config_line(conf_path, setting)
            place = (surface.env_lines.get(var) if var and var in surface.env_lines else None) or (
                f"{conf_name}:{line}" if line else conf_name)
        elif key == "workers" and surface.env.get("WEB_CONCURRENCY", "").strip():
            val, origin = surface.env["WEB_CONCURRENCY"], "WEB_CONCURRENCY (Gunicorn's default for workers)"
            place = surface.env_lines.get("WEB_CONCURRENCY") or surface.where
        elif key == "app":
            val, origin = None, "not named"
        elif key == "bind":
            val, origin = None, "Gunicorn default"   # compared only where a file sets it
        else:
            val, origin = defaults.get(setting), "Gunicorn default"
        if key == "worker_class" and val is not None:
            val = _normalise_worker_class(val)
        if key == "bind" and isinstance(val, list):
            val = ",".join(val)
        if key in ("workers", "threads", "timeout", "graceful_timeout", "keepalive", "max_requests"):
            try:
                val = int(val)
            except (TypeError, ValueError):
                pass
        surface.settings[key] = val
        surface.origins[key] = origin
        if place:
            surface.places[key] = place
    # Gunicorn runs gthread when the worker class is sync and threads > 1 (Config.worker_class_str),
    # so `-w 3 --threads 2` and `-k gthread --threads 2` are the same server, not drift.
    threads = surface.settings.get("threads")
    if surface.settings.get("worker_class") == "sync" and isinstance(threads, int) and threads > 1:
        surface.settings["worker_class"] = "gthread"
        surface.origins["worker_class"] = "Gunicorn loads gthread for sync with threads > 1"


def _resolve_uvicorn(surface: Surface, flags: dict) -> None:
    """`uvicorn APP --workers N`: uvicorn's own supervisor; no Gunicorn config file is read."""
    from hmb_ops.tune.cmdline import uvicorn_defaults

    for key, default in uvicorn_defaults().items():
        if key in flags:
            surface.settings[key], surface.origins[key] = flags[key], "command line"
            surface.places[key] = surface.where
        elif key in surface.unknown:
            surface.settings[key] = None
            surface.origins[key] = f"unknown: {surface.unknown[key]} is not set in any file here"
        else:
            surface.settings[key] = None if key == "bind" else default
            surface.origins[key] = "uvicorn default" if default is not None else "not used by uvicorn"
    surface.settings["app"] = flags.get("app")
    surface.origins["app"] = "command line" if flags.get("app") else "not named"
    if flags.get("app"):
        surface.places["app"] = surface.where


@dataclass(frozen=True)
class _DeployFiles:
    """The deploy files found in the app's folder (the names are the folder's whole listing)."""

    root: Path
    names: tuple[str, ...]
    conf: Path | None
    procfile: Path | None
    render: Path | None
    env_files: tuple[Path, ...]
    others: tuple[Path, ...] = ()   # Dockerfile, compose, railway, nixpacks, fly.toml, app.json

    @property
    def all(self) -> list[Path]:
        return [p for p in [self.conf, self.procfile, self.render, *self.others, *self.env_files] if p is not None]


def check_directory(directory: str | os.PathLike, *, max_connections: int | None = None,
                    memory_bytes: int | None = None, worker_memory_bytes: int | None = None,
                    timeout: float = 10) -> CheckReport:
    """Every surface of the deploy files in `directory`, and every rule they break, in this order:
    unknown settings and unusable commands, drift between surfaces, settings with no effect for the
    worker class, worker classes the installed Gunicorn cannot load (or deprecated ones), pool sizes
    that disagree, then the connection and memory budgets."""
    deploy = _deploy_files(directory)
    reader = _SurfaceReader(deploy, timeout)
    surfaces, findings = reader.read()
    findings += _setting_drift(surfaces)
    findings += _no_effect(surfaces)
    findings += _unloadable_worker_classes(surfaces)
    claims, code_background = _pool_sizes(deploy.root, surfaces)
    findings += _pool_drift(claims)
    findings += _pool_mode_conflicts(surfaces)
    for s in surfaces:
        findings += _connection_budget(s, claims, code_background, max_connections)
        if memory_bytes:
            findings += _memory_budget(s, memory_bytes, worker_memory_bytes)
    findings = [dataclasses.replace(f, message=_mask(f.message)) for f in findings]
    return CheckReport(directory=str(deploy.root), files=tuple(p.name for p in deploy.all),
                       surfaces=tuple(surfaces), pool_sizes=tuple(claims), findings=tuple(findings),
                       not_checked=tuple(reader.not_checked))


def _deploy_files(directory: str | os.PathLike) -> _DeployFiles:
    """The folder's deploy files; a missing, unreadable or empty folder is bad input (exit 2)."""
    from hmb_ops.tune.deploy.sources import deploy_file_names, env_file_names

    root = Path(directory)
    if not root.exists():
        raise UsageError(f"{root}: no such directory",
                         hint="give the folder that holds gunicorn.conf.py / Procfile / render.yaml")
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory", hint="give the folder, not a file")
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        raise UsageError(f"{root}: cannot read the directory: {exc.strerror or exc}",
                         hint="check its permissions") from None
    files = [n for n in names if (root / n).is_file()]
    readable = deploy_file_names(files)
    deploy = _DeployFiles(
        root=root, names=tuple(names),
        conf=next((root / n for n in CONF_NAMES if n in names), None),
        procfile=root / "Procfile" if "Procfile" in readable else None,
        render=next((root / n for n in ("render.yaml", "render.yml") if n in readable), None),
        env_files=tuple(root / n for n in env_file_names(files)),
        others=tuple(root / n for n in readable if n not in ("Procfile", "render.yaml", "render.yml")))
    if not deploy.all:
        raise UsageError(f"{root}: no deploy files found",
                         hint="expected gunicorn.conf.py, Procfile, render.yaml, railway.toml/json, nixpacks.toml, "
                              "fly.toml, app.json, Dockerfile, docker-compose.yml or an env file")
    for p in deploy.all:
        if not os.access(p, os.R_OK):
            raise UsageError(f"{p}: cannot read the file", hint="check its permissions")
    return deploy


class _SurfaceReader:
    """Each way the deploy files start the app, with its effective settings, and the findings met
    on the way (unknown settings in the config file, commands that start neither Gunicorn nor
    Uvicorn, commands the server's parser refuses)."""

    def __init__(self, deploy: _DeployFiles, timeout: float):
        self.deploy = deploy
        self.defaults = _gunicorn_defaults()
        self.evaluate = _Evaluator(deploy.conf, timeout)
        self.conf_name = deploy.conf.name if deploy.conf else None
        self.surfaces: list[Surface] = []
        self.findings: list[Finding] = []
        self.not_checked: list[str] = []

    def read(self) -> tuple[list[Surface], list[Finding]]:
        from hmb_ops.tune.deploy.sources import read_sources

        deploy = self.deploy
        if deploy.conf is not None:
            self._config_file(deploy.conf)
        sources = read_sources(deploy.root, [p.name for p in deploy.all if p != deploy.conf])
        # .env resolves $VAR in commands (heroku local and docker compose read it); app.json's env is
        # what Heroku gives every process.
        dotenv = next((e for e in sources.envs if e.file == ".env"), None)
        platform = [e for e in sources.envs if e.file in ("app.json", "fly.toml")]
        for site in sources.starts:
            if not site.web:
                what = site.note or (" ".join(site.command) if isinstance(site.command, list) else site.command)
                self.not_checked.append(_mask(f"{site.name} ({site.where}): {what}"))
                continue
            env, env_lines = {}, {}
            if site.file == "Procfile":
                for e in platform:
                    env.update(e.env)
                    env_lines.update(e.env_lines)
            env.update(site.env)
            env_lines.update(site.env_lines)
            if site.command is None:
                s = Surface(name=site.name, file=site.file, env=env, line=site.line, env_lines=env_lines)
                _resolve(s, self.evaluate(env), self.conf_name, None, self.defaults, deploy.conf)
                s.notes.append(site.note or "no start command: assumes gunicorn with the config file")
                self.surfaces.append(s)
                continue
            self._command(site, env, env_lines, dotenv)
        # An env file a compose service names with env_file is that service's, not a surface of its own.
        used = {place.rsplit(":", 1)[0] for site in sources.starts for place in site.env_lines.values()}
        for e in sources.envs:
            if e.file not in ("app.json", "fly.toml") and e.file not in used:
                self._env_file(deploy.root / e.file, e.env, e.env_lines)
        return self.surfaces, self.findings

    def _config_file(self, conf: Path) -> None:
        from hmb_ops.tune.validate import suggest_setting

        s = Surface(name=conf.name, file=conf.name)
        ev = self.evaluate({})
        _resolve(s, ev, self.conf_name, None, self.defaults, conf)
        self.surfaces.append(s)
        for name in (ev or {}).get("unknown", []):  # ev is None only without a config file
            close = suggest_setting(name)
            line = _config_line(conf, name)
            self.findings.append(Finding(
                "unknown_setting", name,
                f"{conf.name}{f':{line}' if line else ''}: '{name}' is not a Gunicorn setting; Gunicorn ignores it "
                "silently" + (f" (did you mean '{close}'?)" if close else "")))

    def _command(self, site, env: dict[str, str], env_lines: dict[str, str], dotenv) -> None:
        from hmb_ops.tune.cmdline import parse_command

        root, names = self.deploy.root, self.deploy.names
        text = " ".join(site.command) if isinstance(site.command, list) else site.command
        scope = {**(dotenv.env if dotenv else {}), **env}
        parsed = parse_command(site.command, scope)
        s = Surface(name=site.name, file=site.file, env=dict(env), command=text, line=site.line,
                    env_lines=dict(env_lines), unknown=dict(parsed.unknown))
        s.env.update(parsed.inline_env)
        for k in parsed.inline_env:
            s.env_lines[k] = site.where
        s.notes.extend(parsed.notes)
        if site.note:
            s.notes.append(site.note)
        for key, var in parsed.unknown.items():
            s.notes.append(f"{key}: unknown ({var} is not set in any file here)")
        if parsed.error:
            self.findings.append(Finding("command", "command", f"{site.name} ({site.where}): {parsed.error}"))
            self.surfaces.append(s)
            return
        if parsed.server is None:
            s.notes.append("starts neither gunicorn nor uvicorn")
            self.findings.append(Finding("command", "command",
                                         f"{site.name} ({site.where}): '{text}' starts neither Gunicorn nor Uvicorn"))
            self.surfaces.append(s)
            return
        s.server = parsed.server
        flags = dict(parsed.settings)
        if parsed.server == "uvicorn":
            _resolve_uvicorn(s, flags)
            self.surfaces.append(s)
            return
        # Without --config Gunicorn reads ./gunicorn.conf.py only under that exact name.
        conf_path = root / "gunicorn.conf.py" if "gunicorn.conf.py" in names else None
        if flags.get("config"):
            cand = root / str(flags["config"]).removeprefix("python:")
            conf_path = cand if cand.is_file() else None
            if conf_path is None:
                self.findings.append(Finding("command", "config",
                                             f"{site.name} ({site.where}): config file {flags['config']} "
                                             f"not found in {root}"))
        ev = self.evaluate(s.env, conf_path) if conf_path else None
        _resolve(s, ev, conf_path.name if conf_path else None, flags, self.defaults, conf_path)
        for n in parsed.notes:
            if n.startswith("gunicorn does not know"):
                self.findings.append(Finding("command", "command", f"{site.name} ({site.where}): {n}"))
        self.surfaces.append(s)

    def _env_file(self, env_file: Path, env: dict[str, str], env_lines: dict[str, str]) -> None:
        gunicorn_vars = ("WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_TIMEOUT")
        if self.deploy.conf is None and not any(k in env for k in gunicorn_vars):
            return
        s = Surface(name=f"{self.conf_name or 'gunicorn'} + {env_file.name}", file=env_file.name, env=env,
                    env_lines=dict(env_lines))
        _resolve(s, self.evaluate(env), self.conf_name, None, self.defaults, self.deploy.conf)
        self.surfaces.append(s)


def _setting_drift(surfaces: list[Surface]) -> list[Finding]:
    """A compared setting with different values on different surfaces, each with its file:line."""
    findings = []
    for key in COMPARED:
        vals = [(s.name, s.settings.get(key), s.origins.get(key), s.place(key)) for s in surfaces
                if s.settings.get(key) is not None]
        distinct = {json.dumps(v, sort_keys=True, default=str) for _, v, _, _ in vals}
        if key == "bind":
            # Hosts compared: 127.0.0.1 in one file and 0.0.0.0 in another is the disagreement that
            # breaks a deploy (unreachable in a container); ports come from the platform's $PORT, a
            # Dockerfile's ENV PORT is only its fallback, and separate services listen apart anyway.
            distinct = {str(v).rsplit(":", 1)[0] for _, v, _, _ in vals}
        # Two servers' own defaults differing (Gunicorn's keepalive 2 s, uvicorn's 5 s) is nobody's setting.
        all_defaults = all(str(o).endswith(" default") for _, _, o, _ in vals)
        if len(distinct) > 1 and not all_defaults:
            desc = "; ".join(f"{n}: {v} ({o}, {p})" for n, v, o, p in vals)
            findings.append(Finding("drift", key, _mask(f"{key} differs: {desc}"),
                                    tuple({"surface": n, "value": v, "origin": o, "place": p} for n, v, o, p in vals)))
    return findings


def _no_effect(surfaces: list[Surface]) -> list[Finding]:
    """Settings a surface sets that its worker class ignores (threads with a Uvicorn worker)."""
    from hmb_ops.tune.worker_classes import ignored_settings

    findings = []
    for s in surfaces:
        wc = s.settings.get("worker_class")
        explicit = {k: s.settings.get(k) for k in ("threads", "worker_connections", "preload_app")
                    if s.origins.get(k) not in (None, "Gunicorn default", "uvicorn default", "not used by uvicorn")}
        for line in ignored_settings(str(wc) if wc else None, explicit):
            key = line.split("=", 1)[0]
            findings.append(Finding("no_effect", key, f"{s.name} ({s.place(key)}): {line}",
                                    ({"surface": s.name, "place": s.place(key), "value": explicit.get(key)},)))
    return findings


def _unloadable_worker_classes(surfaces: list[Surface]) -> list[Finding]:
    """Worker classes that the installed Gunicorn cannot load, or that are deprecated (each named once)."""
    from hmb_ops.tune.validate import worker_class_problem
    from hmb_ops.tune.worker_classes import lookup

    findings = []
    seen = set()
    for s in surfaces:
        wc = s.settings.get("worker_class")
        if wc and wc not in seen and s.server == "gunicorn":
            seen.add(wc)
            problem = worker_class_problem(str(wc))
            entry = lookup(str(wc))
            notes = [problem] if problem else (entry.notes() if entry else [])
            for note in notes:
                findings.append(Finding("worker_class", "worker_class", f"{s.name} ({s.place('worker_class')}): "
                                        f"{note}", ({"surface": s.name, "value": wc},)))
    return findings


def _pool_mode_conflicts(surfaces: list[Surface]) -> list[Finding]:
    """App settings that break under the PgBouncer pool mode the files declare (tune.pgbouncer, when present)."""
    try:
        from hmb_ops.tune import pgbouncer
    except ImportError:
        return []
    conflicts = getattr(pgbouncer, "pool_mode_conflicts", None)
    if conflicts is None:
        return []
    findings = []
    for s in surfaces:
        for message in conflicts(s.env):
            findings.append(Finding("pool_mode", "pool_mode", f"{s.name} ({s.where}): {message}"))
    return findings


def _pool_sizes(root: Path, surfaces: list[Surface]) -> tuple[list[dict], int | None]:
    """Pool sizes: what docs state, what code defaults to, what each surface's environment sets;
    and the code's default number of background workers."""
    claims, code_background = _pool_claims(root)
    for s in surfaces:
        for var in POOL_VARS:
            if s.env.get(var, "").strip().isdigit():
                claims.append({"source": s.name, "kind": "environment", "value": int(s.env[var]), "variable": var,
                               "place": s.env_lines.get(var) or s.where})
    return claims, code_background


def _pool_drift(claims: list[dict]) -> list[Finding]:
    if len({c["value"] for c in claims}) <= 1:
        return []
    desc = "; ".join(f"{c['source']} ({c['kind']}{', ' + c['place'] if c.get('place') else ''}): {c['value']}"
                     for c in claims)
    return [Finding("drift", "db_pool_max", f"database pool size per worker differs: {desc}", tuple(claims))]


def _connection_budget(s: Surface, claims: list[dict], code_background: int | None,
                       max_connections: int | None) -> list[Finding]:
    """The surface's peak connections during deploys against the budget (tune/budget.py), with the
    pool it really uses and, when the docs state another, with the documented one."""
    from hmb_ops.tune.budget import DB_USABLE_FRACTION, DEPLOY_COPIES, connection_budget

    workers = s.settings.get("workers")
    if not isinstance(workers, int):
        return []
    connections = connection_budget(max_connections or None)  # 0 or None: not declared
    conn, budget = connections.max_connections, connections.budget
    conn_src = "declared" if max_connections else "assumed PostgreSQL default"
    code_pool = next((c["value"] for c in claims if c["kind"] == "code default"), None)
    docs_pool = next((c["value"] for c in claims if c["kind"] == "docs"), None)
    pool_env = next((int(s.env[v]) for v in POOL_VARS if s.env.get(v, "").strip().isdigit()), None)
    pool, pool_src = next(((p, src) for p, src in ((pool_env, "environment"), (code_pool, "code default"),
                                                    (docs_pool, "docs"), (ASSUMED_POOL, "assumed"))
                           if p is not None))
    bg_env = s.env.get(BACKGROUND_VAR, "").strip()
    background = int(bg_env) if bg_env.isdigit() else (code_background if code_background is not None
                                                         else ASSUMED_BACKGROUND)
    findings = []
    peak = connections.peak(workers, pool, background)
    if not connections.fits(workers, pool, background):
        findings.append(Finding(
            "budget", "db_connections",
            f"{s.name}: ({workers} workers × pool {pool} ({pool_src}) + {background} background) × "
            f"{DEPLOY_COPIES} during deploys = {peak} > {DB_USABLE_FRACTION:g} × max_connections {conn} "
            f"({conn_src}) = {budget}; use a smaller pool, fewer workers or PgBouncer",
            ({"surface": s.name, "peak": peak, "budget": budget},)))
    if docs_pool is not None and docs_pool != pool:
        docs_peak = connections.peak(workers, docs_pool, background)
        if not connections.fits(workers, docs_pool, background):
            findings.append(Finding(
                "budget", "db_connections",
                f"{s.name}: with the documented pool of {docs_pool} per worker: ({workers} × {docs_pool} + "
                f"{background}) × {DEPLOY_COPIES} = {docs_peak} > {DB_USABLE_FRACTION:g} × max_connections "
                f"{conn} ({conn_src}) = {budget}; fix the docs or size the pool for the budget",
                ({"surface": s.name, "peak": docs_peak, "budget": budget, "pool": docs_pool},)))
    return findings


def _memory_budget(s: Surface, memory_bytes: int, worker_memory_bytes: int | None) -> list[Finding]:
    """The surface's workers and master against the usable share of the machine's memory."""
    from hmb_ops.resources import format_size
    from hmb_ops.tune.recommend import ESTIMATED_MASTER_MEMORY, ESTIMATED_WORKER_MEMORY, MEMORY_USABLE_FRACTION

    workers = s.settings.get("workers")
    if not isinstance(workers, int):
        return []
    wm = worker_memory_bytes or ESTIMATED_WORKER_MEMORY
    need = ESTIMATED_MASTER_MEMORY + workers * wm
    usable = int(memory_bytes * MEMORY_USABLE_FRACTION)
    if need <= usable:
        return []
    return [Finding(
        "budget", "memory",
        f"{s.name}: {workers} workers × {format_size(wm)} + master {format_size(ESTIMATED_MASTER_MEMORY)} "
        f"= {format_size(need)} > {format_size(usable)} usable of {format_size(memory_bytes)}",
        ({"surface": s.name, "needed_bytes": need, "usable_bytes": usable},))]
