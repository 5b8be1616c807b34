"""Start commands read the way the shell, Gunicorn and Uvicorn read them.

A deploy file's start command (a Procfile line, a Dockerfile CMD, a compose `command:`...) is first
split like a POSIX shell splits it (shlex), `sh -c "..."` is unwrapped, leading `VAR=value`,
`exec`, `env VAR=value` and `python -m` words are taken off, `$VAR` / `${VAR:-default}` are
resolved from the environment the file gives (ENV, .env, envVars...), and what is left is parsed by
the server's own parser: Gunicorn's argparse parser (`gunicorn.config.Config().parser()`) or
Uvicorn's click command (`uvicorn.main.main`). Nothing is executed.

A flag whose value names a variable nobody sets is not guessed: the setting is reported as unknown
(`ServerCommand.unknown`), the rest of the command is still read.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from dataclasses import dataclass, field

GUNICORN = "gunicorn"
UVICORN = "uvicorn"
SERVERS = (GUNICORN, UVICORN)
SHELLS = ("sh", "bash", "dash", "ash", "zsh")
PLATFORM_VARS = ("PORT",)
# Words that run the next word as the program: `poetry run gunicorn ...`, `uv run uvicorn ...`.
RUNNERS = {("poetry", "run"), ("pipenv", "run"), ("uv", "run"), ("pdm", "run"), ("hatch", "run")}
_ASSIGN = re.compile(r"[A-Za-z_]\w*=.*", re.S)
_VAR = re.compile(r"\$(?:\{(\w+)(?:(:?[-=])([^}]*))?\}|(\w+))")
_PUNCT = re.compile(r"^[();<>|&]+$")

# Uvicorn's options in Gunicorn's setting names, so both servers are compared on one scale.
_UVICORN_AS_GUNICORN = {"workers": "workers", "timeout_keep_alive": "keepalive",
                        "timeout_graceful_shutdown": "graceful_timeout", "limit_max_requests": "max_requests"}


@dataclass(frozen=True)
class ServerCommand:
    """What one start command runs.

    server: "gunicorn", "uvicorn" or None (another program, named in `program`).
    settings: Gunicorn setting names (uvicorn's options translated) given on the command line,
    `app` for the application. unknown: setting -> the variable whose value is not known here.
    """

    server: str | None
    program: str | None
    settings: dict = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    inline_env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    error: str | None = None     # the server's parser refused the arguments
    wrapped: bool = False        # came out of `sh -c "..."`
    simple: bool = True          # one program (after VAR=, exec, env): no `&&`, `;`, pipes

    @property
    def app(self) -> str | None:
        return self.settings.get("app")


def split_words(command: str) -> list[str]:
    """The command's words as a POSIX shell splits them; `&&`, `;`, `|` stay words of their own.

    Raises ValueError (unbalanced quotes) for the caller to report with the file and line.
    """
    lex = shlex.shlex(command, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = ""
    return list(lex)


class _Expander:
    """$VAR expansion that remembers which variables it could not resolve."""

    def __init__(self, env: dict[str, str], *, keep_unset: bool = True):
        self.env = env
        self.keep_unset = keep_unset   # False: an unset variable expands to nothing, as the shell does
        self.missing: list[str] = []
        self.defaulted: list[str] = []

    def __call__(self, text: str) -> str:
        def sub(m: re.Match) -> str:
            name = m.group(1) or m.group(4)
            op, default = m.group(2), m.group(3)
            val = self.env.get(name)
            if op in (":-", ":=") and not val:
                self.defaulted.append(name)
                return default or ""
            if op in ("-", "=") and val is None:
                self.defaulted.append(name)
                return default or ""
            if val is None:
                self.missing.append(name)
                return m.group(0) if self.keep_unset else ""
            return val
        return _VAR.sub(sub, text)


def expand(text: str, env: dict[str, str]) -> str:
    """Shell-style $VAR, ${VAR}, ${VAR:-default} and ${VAR-default} expansion; unset is empty."""
    return _Expander(env, keep_unset=False)(text)


def parse_command(command: str | list[str], env: dict[str, str] | None = None) -> ServerCommand:
    """Parse a shell-form command (str) or an exec-form one (list of words, as Docker runs it)."""
    env = dict(env or {})
    try:
        words = split_words(command) if isinstance(command, str) else [str(w) for w in command]
    except ValueError as exc:
        return ServerCommand(None, None, error=f"cannot split the command: {exc}", simple=False)
    wrapped = False
    # `sh -c "gunicorn ..."` (exec form or shell form): the string is the command.
    for _ in range(3):
        if (len(words) >= 3 and os.path.basename(words[0]) in SHELLS
                and re.fullmatch(r"-[a-z]*c[a-z]*", words[1])):
            try:
                words = split_words(words[2])
            except ValueError as exc:
                return ServerCommand(None, None, error=f"cannot split the sh -c command: {exc}", simple=False)
            wrapped = True
        else:
            break
    simple = not any(_PUNCT.match(w) for w in words)
    segment = _server_segment(words)
    inline: dict[str, str] = {}
    i = 0
    while i < len(segment):
        w = segment[i]
        if _ASSIGN.fullmatch(w):
            k, _, v = w.partition("=")
            inline[k] = v
        elif w in ("exec", "env", "-i", "nohup"):
            pass
        elif i + 1 < len(segment) and (os.path.basename(w), segment[i + 1]) in RUNNERS:
            i += 1
        else:
            break
        i += 1
    rest = segment[i:]
    if len(rest) >= 3 and re.fullmatch(r"python[\d.]*", os.path.basename(rest[0])) and rest[1] == "-m":
        rest = [rest[2], *rest[3:]]
    program = os.path.basename(rest[0]) if rest else None
    scope = {**env, **{k: _Expander(env)(v) for k, v in inline.items()}}
    if program not in SERVERS:
        first = os.path.basename(words[0]) if words else None
        return ServerCommand(None, program or first, inline_env=inline, wrapped=wrapped, simple=simple)
    parse = _parse_gunicorn if program == GUNICORN else _parse_uvicorn
    settings, unknown, notes, error = parse(rest[1:], scope)
    return ServerCommand(program, program, settings, unknown, inline, tuple(notes), error, wrapped, simple)


def _server_segment(words: list[str]) -> list[str]:
    """The part of `cd app && exec gunicorn ...` that runs the server (the whole list when none does)."""
    segments: list[list[str]] = [[]]
    for w in words:
        if _PUNCT.match(w):
            segments.append([])
        else:
            segments[-1].append(w)
    for seg in segments:
        if any(os.path.basename(w) in SERVERS for w in seg):
            return seg
    return segments[0]


def _groups(args: list[str], options: dict[str, tuple[str, bool]]
            ) -> tuple[list[tuple[str | None, list[str]]], list[str]]:
    """(setting, words) per option and the positional words; `options`: flag -> (dest, takes a value)."""
    groups: list[tuple[str | None, list[str]]] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            positional += args[i + 1:]
            break
        if not word.startswith("-") or word == "-":
            positional.append(word)
            i += 1
            continue
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
        dest, takes = options.get(name, (None, False))
        attached = "=" in word if word.startswith("--") else len(word) > 2
        if dest is None or not takes or attached:
            groups.append((dest, [word]))
            i += 1
        else:
            groups.append((dest, args[i:i + 2]))
            i += 2
    return groups, positional


def _expand_groups(args: list[str], options: dict[str, tuple[str, bool]], scope: dict[str, str],
                   platform: dict[str, str] | None = None) -> tuple[list[str], dict[str, str], list[str]]:
    """The arguments with variables resolved; an option whose value needs an unknown variable is
    left out (setting -> variable in the second result) so the rest still parses."""
    groups, positional = _groups(args, options)
    out: list[str] = []
    unknown: dict[str, str] = {}
    notes: list[str] = []
    for dest, words in groups:
        ex = _Expander(scope)
        expanded = [ex(w) for w in words]
        # $PORT is the platform's (Heroku, Render, Railway set it at start): kept as written, so
        # `0.0.0.0:$PORT` compares with itself and is not reported as unknown.
        if platform is not None and dest and any(m in PLATFORM_VARS for m in ex.missing):
            platform[dest] = expanded[-1]    # uvicorn's --port is a number: kept aside, not parsed
            continue
        ex.missing = [m for m in ex.missing if m not in PLATFORM_VARS]
        if ex.missing:
            unknown[dest or words[0]] = "$" + ex.missing[0]
            continue
        for name in ex.defaulted:
            notes.append(f"${name} is not set here: {' '.join(words)} uses its default")
        out += expanded
    ex = _Expander(scope)
    pos = [ex(w) for w in positional]
    if ex.missing and positional:
        unknown["app"] = "$" + ex.missing[0]
        pos = []
    return out + pos, unknown, notes


def gunicorn_options() -> dict[str, tuple[str, bool]]:
    from gunicorn.config import Config

    return {flag: (a.dest, a.nargs != 0) for flag, a in Config().parser()._option_string_actions.items()}


def gunicorn_groups(args: list[str]) -> tuple[list[tuple[str | None, list[str]]], list[str]]:
    """Gunicorn's arguments as (setting, words) per option (None: an option Gunicorn does not know)
    and the positional words, split the way Gunicorn's own argument parser reads them."""
    return _groups(args, gunicorn_options())


def _parse_gunicorn(args: list[str], scope: dict[str, str]):
    from gunicorn.config import Config

    options = gunicorn_options()
    words, unknown, notes = _expand_groups(args, options, scope)
    cmd_args = scope.get("GUNICORN_CMD_ARGS", "").strip()
    settings: dict = {}
    error = None
    parser = Config().parser()
    # argparse reports a bad value on stderr before exiting; the caller reports it in one line.
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            if cmd_args:
                # Gunicorn applies GUNICORN_CMD_ARGS over the config file and under the command line.
                env_ns, _ = parser.parse_known_args(split_words(cmd_args))
                settings.update({k: v for k, v in vars(env_ns).items() if v is not None and k != "args"})
                notes.append(f"GUNICORN_CMD_ARGS={cmd_args}")
            ns, rest = parser.parse_known_args(words)
        except (SystemExit, ValueError):
            last = (err.getvalue().strip().splitlines() or ["rejected"])[-1]
            last = re.sub(r"^.*?error: ", "", last)
            return settings, unknown, notes, f"gunicorn rejects these arguments: {last}"
    if rest:
        notes.append(f"gunicorn does not know: {' '.join(rest)}")
    settings.update({k: v for k, v in vars(ns).items() if v is not None and k != "args"})
    # argparse only converts types; Gunicorn's validators run when it sets each value (app/base.py),
    # so `-w -3` passes the parser and then stops Gunicorn at start-up: refused here the same way.
    from gunicorn.errors import ConfigError as GunicornConfigError

    cfg = Config()
    for key, value in settings.items():
        # These are checked against this machine's users and files, not the one the file deploys to.
        if key in cfg.settings and key not in ("user", "group", "chdir", "reload_extra_files"):
            try:
                cfg.set(key, value)
            except (ValueError, TypeError, GunicornConfigError) as exc:
                return settings, unknown, notes, f"gunicorn rejects these arguments: {key}={value!r}: {exc}"
    if getattr(ns, "args", None):
        settings["app"] = ns.args[0]
    if isinstance(settings.get("bind"), list):
        settings["bind"] = ",".join(settings["bind"])
    if "worker_class" in settings:
        settings["worker_class"] = str(settings["worker_class"])
    return settings, unknown, notes, error


def uvicorn_options() -> dict[str, tuple[str, bool]]:
    from uvicorn.main import main as command

    options: dict[str, tuple[str, bool]] = {}
    for param in command.params:
        takes = not getattr(param, "is_flag", False)
        for flag in (*param.opts, *param.secondary_opts):
            if flag.startswith("-"):
                options[flag] = (param.name or flag, takes)
    return options


def _parse_uvicorn(args: list[str], scope: dict[str, str]):
    import click
    from uvicorn.main import main as command

    platform: dict[str, str] = {}
    words, unknown, notes = _expand_groups(args, uvicorn_options(), scope, platform)
    try:
        # auto_envvar_prefix=None: our own UVICORN_* variables must not leak into the reading.
        ctx = command.make_context("uvicorn", list(words), auto_envvar_prefix=None)
    except click.ClickException as exc:
        return {}, unknown, notes, f"uvicorn rejects these arguments: {exc.format_message()}"
    given = {p.name: ctx.params[p.name] for p in command.params
             if p.name and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE}
    settings: dict = {"worker_class": UVICORN}
    for name, value in given.items():
        if name in _UVICORN_AS_GUNICORN:
            settings[_UVICORN_AS_GUNICORN[name]] = value
    if ctx.params.get("app"):
        settings["app"] = ctx.params["app"]
    if "host" in given or "port" in given or "port" in platform:
        settings["bind"] = f"{ctx.params.get('host')}:{platform.get('port', ctx.params.get('port'))}"
    elif "uds" in given:
        settings["bind"] = f"unix:{given['uds']}"
    if "workers" not in settings and "workers" not in unknown and scope.get("WEB_CONCURRENCY", "").strip():
        # uvicorn's --workers defaults to $WEB_CONCURRENCY (uvicorn/config.py).
        try:
            settings["workers"] = int(scope["WEB_CONCURRENCY"])
        except ValueError:
            notes.append(f"WEB_CONCURRENCY={scope['WEB_CONCURRENCY']!r} is not a number")
    if given.get("reload") and settings.get("workers", 1) not in (None, 1):
        notes.append("uvicorn ignores --workers with --reload")
    return settings, unknown, notes, None


def uvicorn_defaults() -> dict:
    """What `uvicorn APP` runs with when nothing is given, in Gunicorn's setting names."""
    return {"workers": 1, "keepalive": 5, "bind": "127.0.0.1:8000", "worker_class": UVICORN,
            "graceful_timeout": None, "max_requests": None, "threads": None, "preload_app": None,
            "timeout": None}
