"""Writing tune's files into a folder that may hold the user's own deploy files.

A file that starts with hmb-ops's generated-by header is hmb-ops's own and is regenerated in place.
Any other file at one of the names tune writes is the user's, and is never overwritten silently:

- ``refuse`` (the default): nothing at all is written; each such file is named with a unified diff
  of what tune would change (exit 2).
- ``merge``: only the keys hmb-ops owns are changed in the user's file: the Procfile ``web:`` line,
  the web service's ``startCommand`` and the ``envVars`` entries tune sets in render.yaml, the
  variables tune sets in an env file. Everything else is kept byte for byte (other processes,
  services, databases, envVarGroups, comments). The user's app module is kept unless the caller
  names another. A user's gunicorn.conf.py is Python and has no keys to merge: it is left alone and
  the plan's config is written beside it as ``hmb-ops.gunicorn.conf.py``, which the merged start
  commands name with ``--config``. The user's own Gunicorn config (the file their web command names
  with -c/--config, else their ./gunicorn.conf.py, which Gunicorn loads by default) is never dropped:
  the plan's config runs it first, the way Gunicorn runs a config file, and then sets only the plan's
  values; each of the user's settings the plan replaces is listed (``DeployPlan.overrides``). Flags on
  the user's web command stay on the merged line unless they contradict the plan (then they are
  listed as overridden) or repeat a value the plan's config sets (``moved``).
- ``force``: the user's file is copied to ``<file>.bak-<UTC timestamp>`` and then replaced.

Nothing of the user's files is shown unmasked: diffs compare `mask_secrets` copies (secret-looking
values and URL passwords as ***), for the console and JSON alike.

Every decision is made (and every merge computed and checked) before the first byte is written, so
a refusal or a failed merge never leaves half a set; each file then lands whole (temp + rename).
A symbolic link (dangling or not) at any name tune would write is refused in every mode: tune
neither writes through a link nor replaces it.

Commands are parsed (shlex with shell punctuation, Gunicorn's own argument parser), never pasted:
a web command that does more than start one program (``cd x && gunicorn ...``) is not merged.
render.yaml is edited at the positions PyYAML's composer reports for the nodes hmb-ops owns, so
comments and layout elsewhere survive, and the result is re-parsed and compared with the intended
structural change before anything is written.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from hmb_ops.errors import ConfigError, StateDirError, UsageError
from hmb_ops.private_files import TOKEN_SECRET_ENV, write_private
from hmb_ops.tune.cmdline import expand, gunicorn_groups, parse_command
from hmb_ops.tune.deploy.yaml_nodes import compose, get, scalar
from hmb_ops.tune.plan import TunePlan
from hmb_ops.tune.render import (
    CONF,
    DEFAULT_PORT,
    ENV,
    PROCFILE,
    RENDER,
    _yaml_str,
    app_environment,
    chained_config,
    is_generated,
    plan_settings,
    render_all,
    render_env_var,
    render_gunicorn_conf,
    start_command,
    token_secret_comment,
)

MODES = ("refuse", "merge", "force")
# Where the plan's Gunicorn config goes when --merge finds the user's own gunicorn.conf.py.
MERGE_CONF = "hmb-ops.gunicorn.conf.py"
# Files that may hold secrets are private; the rest get the usual 0644.
SECRET_FILES = {ENV}
PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
MAX_DEPLOY_FILE = 1024 * 1024
_SERVERS = ("gunicorn", "uvicorn")
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=[\w./:${}@%+,-]*")


# ---------------------------------------------------------------------------------------------
# Showing the user's files: every line tune echoes (diffs, messages) goes through `mask_secrets`.

MASK = "***"
# PASS and PWD cover DB_PASS, SMTP_PWD, HTPASS; SALT covers signing salts.
_SECRET_NAME = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|SALT", re.I)
# NAME=value / NAME: value / "NAME": value at the start of a line (env file, Python, YAML, JSON).
_LINE_ASSIGN = re.compile(r"""^(?P<lead>\s*(?:-\s+)?(?:export\s+)?)(?P<q>["']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)"""
                          r"""(?P<op>\s*=\s*|\s*:\s+|\s*:(?=["']))(?P<value>\S.*)$""")
# NAME=value inside a command line (Procfile, startCommand) and --secret-flag[= ]value.
_INLINE_ASSIGN = re.compile(r"""(?<![\w.-])(?P<name>[A-Za-z_]\w*)=(?P<value>"[^"]*"|'[^']*'|[^\s;&|]+)""")
_SECRET_FLAG = re.compile(r"""(?P<flag>--?[\w-]*(?:password|passwd|secret|token|key|credential|private|auth)[\w-]*)"""
                          r"""(?P<op>=|\s+)(?P<value>"[^"]*"|'[^']*'|[^\s-][^\s;&|]*)""", re.I)
# render.yaml envVars: `key: NAME` names the variable whose `value:` follows.
_YAML_KEY = re.compile(r"""^\s*(?:-\s+)?key\s*:\s*["']?(?P<name>[^\s"'#,}]+)""")
_YAML_VALUE = re.compile(r"""^(?P<lead>\s*(?:-\s+)?value\s*:\s*)(?P<value>\S.*)$""")
_FLOW_VALUE = re.compile(r"""(?P<lead>\bvalue\s*:\s*)(?P<value>"[^"]*"|'[^']*'|[^,}]+)""")


_FLOW_MAP = re.compile(r"\{[^{}]*\}")
_FLOW_KEY = re.compile(r"""\bkey\s*:\s*["']?(?P<name>[^\s"',}]+)""")


def _mask_flow_item(m: re.Match) -> str:
    """`{key: NAME, value: v}`: the value masked when NAME looks secret."""
    key = _FLOW_KEY.search(m.group(0))
    if not key or not _secret_name(key.group("name")):
        return m.group(0)
    return _FLOW_VALUE.sub(lambda v: v.group("lead") + MASK, m.group(0))


def _secret_name(name: str) -> bool:
    # `key` itself is render.yaml's field naming a variable, not a secret.
    return bool(_SECRET_NAME.search(name)) and name.lower() != "key"


def mask_secrets(text: str) -> str:
    """`text` (a user's file, a command, a message) with every value that may be a secret as ***.

    Masked: values of keys whose names look secret (PASS, PWD, SECRET, TOKEN, KEY, CREDENTIAL,
    PRIVATE, AUTH, SALT) in env, Python, YAML and JSON lines and in NAME=value words of commands; the
    `value:` of a render.yaml envVars item whose `key:` looks secret (with a block scalar's lines);
    values of flags named like that; and the password of any URL (hmb_ops.db.dsn.mask_text).
    Line by line, so a diff of two masked texts never shows a secret on any of its lines.
    """
    from hmb_ops.db.dsn import mask_text

    out = []
    secret_item = False        # inside a render.yaml envVars item whose key looks secret
    block_indent = None        # inside the block scalar of a masked value: lines indented deeper
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        indent = len(body) - len(body.lstrip())
        if block_indent is not None:
            if body.strip() and indent <= block_indent:
                block_indent = None
            else:
                out.append((body[:indent] + MASK if body.strip() else body) + ending)
                continue
        body = _FLOW_MAP.sub(_mask_flow_item, body)
        key = _YAML_KEY.match(body)
        if key:
            secret_item = _secret_name(key.group("name"))
        elif body.lstrip().startswith("- "):
            secret_item = False
        value = _YAML_VALUE.match(body)
        if value and secret_item and not key:
            if value.group("value").rstrip().startswith(("|", ">")):
                block_indent = indent
            body = value.group("lead") + MASK
        m = _LINE_ASSIGN.match(body)
        if m and _secret_name(m.group("name")):
            if m.group("value").rstrip().startswith(("|", ">")):
                block_indent = indent
            body = body[:m.start("value")] + MASK
        body = _INLINE_ASSIGN.sub(lambda a: f"{a.group('name')}={MASK}" if _secret_name(a.group("name"))
                                  else a.group(0), body)
        body = _SECRET_FLAG.sub(lambda f: f.group("flag") + f.group("op") + MASK, body)
        out.append(mask_text(body) + ending)
    return "".join(out)


@dataclass(frozen=True)
class FileWrite:
    """What happens to one file: create, regenerate, unchanged, merge, overwrite (force) or refuse."""

    name: str
    action: str
    text: str
    previous: str | None
    mode: int
    backup: str | None = None
    reason: str = ""

    @property
    def diff(self) -> str:
        """The change as a unified diff of the masked texts: no secret of the user's is ever shown."""
        if self.previous is None or self.previous == self.text:
            return ""
        head = f"--- {self.name} (yours)\n+++ {self.name} (hmb-ops)\n"
        diff = "".join(difflib.unified_diff(mask_secrets(self.previous).splitlines(keepends=True),
                                            mask_secrets(self.text).splitlines(keepends=True),
                                            fromfile=f"{self.name} (yours)", tofile=f"{self.name} (hmb-ops)"))
        return diff or head + "# only values shown as *** differ\n"

    def to_dict(self) -> dict:
        return {"file": self.name, "action": self.action, "mode": f"{self.mode:04o}", "backup": self.backup,
                "reason": self.reason, "diff": self.diff}


@dataclass(frozen=True)
class DeployPlan:
    out_dir: Path
    mode: str
    writes: tuple[FileWrite, ...]
    rendered: dict[str, str] = field(default_factory=dict)
    # --merge: the user's own Gunicorn config the plan's config runs first, the user's settings the
    # plan replaces, and the flags of the user's web commands kept on the merged lines.
    chain: str | None = None
    overrides: tuple[Override, ...] = ()
    kept: tuple[tuple[str, tuple[str, ...]], ...] = ()
    moved: tuple[tuple[str, tuple[str, ...]], ...] = ()
    left: tuple[str, ...] = ()   # web processes of the user's other deploy files not rewritten, with why

    @property
    def refused(self) -> tuple[FileWrite, ...]:
        return tuple(w for w in self.writes if w.action == "refuse")

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "mode": self.mode, "files": [w.to_dict() for w in self.writes],
                "refused": [w.name for w in self.refused], "chained_config": self.chain,
                "overrides": [o.to_dict() for o in self.overrides],
                "kept_flags": [{"source": src, "flags": mask_secrets(" ".join(words))} for src, words in self.kept],
                "moved_flags": [{"source": src, "flags": mask_secrets(" ".join(words))} for src, words in self.moved],
                "left_as_is": [mask_secrets(n) for n in self.left]}


@dataclass(frozen=True)
class Override:
    """A setting of the user's (in their config or on their web command) that the plan replaces."""

    setting: str
    source: str
    yours: str
    plan: str

    def to_dict(self) -> dict:
        return {"setting": self.setting, "source": mask_secrets(self.source), "yours": mask_secrets(self.yours),
                "plan": self.plan}

    def line(self) -> str:
        return mask_secrets(f"{self.setting}: yours {self.yours} → plan {self.plan} ({self.source})")


@dataclass
class MergeReport:
    """What merging the web commands kept and replaced (filled by `_web_command`)."""

    overrides: list[Override] = field(default_factory=list)
    kept: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    moved: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)   # same value as the plan's config


# ---------------------------------------------------------------------------------------------
# Reading the user's files


def _read(path: Path) -> str | None:
    """The file's text, None when absent; a file tune cannot read is an error naming it."""
    try:
        if path.is_dir():
            raise UsageError(f"{path} is a directory", hint="choose another --out")
        if path.stat().st_size > MAX_DEPLOY_FILE:
            raise UsageError(f"{path} is larger than {MAX_DEPLOY_FILE // 1024} KiB; not a deploy file tune can merge",
                             hint="choose another --out")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; tune will not touch it", hint="choose another --out") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", hint="check its permissions") from None


def _words(command: str, where: str) -> list[str]:
    """The command's words; shell punctuation (&&, ;, |, redirections) stays a word of its own."""
    lex = shlex.shlex(command, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    try:
        return list(lex)
    except ValueError as exc:
        raise ConfigError(f"cannot split the command: {exc}", path=where) from None


@dataclass(frozen=True)
class WebCommand:
    """A parsed web command: inline VAR=value words, the server it runs, its app and worker class."""

    assignments: tuple[str, ...]
    server: str | None
    app: str | None
    worker_class: str | None
    simple: bool      # one program, optionally after VAR=value words and `exec`: safe to rebuild
    preload: bool = False
    config: str | None = None   # what -c/--config names


def parse_web_command(command: str, where: str) -> WebCommand:
    words = _words(command, where)
    assignments = []
    i = 0
    while i < len(words) and (words[i] == "exec" or re.fullmatch(r"[A-Za-z_]\w*=.*", words[i])):
        if words[i] != "exec":
            assignments.append(words[i])
        i += 1
    punct = any(w and all(c in "();<>|&" for c in w) for w in words)
    server = os.path.basename(words[i]) if i < len(words) else None
    server = server if server in _SERVERS else None
    simple = (not punct and server is not None
              and all(_ASSIGNMENT.fullmatch(a) for a in assignments))
    app = worker_class = config = None
    preload = False
    if server == "gunicorn":
        parsed = parse_command(command, {})
        flags = parsed.settings if parsed.error is None else {}
        if flags:
            app = flags.get("app")
            worker_class = flags.get("worker_class")
            preload = bool(flags.get("preload_app"))
            config = flags.get("config")
    return WebCommand(tuple(assignments), server, app, worker_class, simple, preload, config)


_WEB_LINE = re.compile(r"^\s*web\s*:(.*)$")


def _procfile_web(text: str) -> list[tuple[int, str]]:
    return [(i, m.group(1).strip()) for i, line in enumerate(text.splitlines())
            if (m := _WEB_LINE.match(line))]


def _web_service(root, where: str, service: str | None) -> tuple[int, yaml.MappingNode]:
    """(index, node) of the service tune owns keys in: the named one, else the one starting gunicorn/uvicorn."""
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping with a 'services' list", path=where)
    _k, services = get(root, "services")
    if not isinstance(services, yaml.SequenceNode) or services.flow_style:
        raise ConfigError("expected a block-style 'services' list", path=where,
                          hint="--force replaces the file (a backup is kept)")
    named, candidates = [], []
    for i, svc in enumerate(services.value):
        if not isinstance(svc, yaml.MappingNode):
            continue
        name = scalar(get(svc, "name")[1]) or f"service[{i}]"
        named.append(name)
        if service is not None:
            if name == service:
                return i, svc
            continue
        cmd = scalar(get(svc, "startCommand")[1])
        if cmd and parse_web_command(cmd, where).server:
            candidates.append((i, svc, name))
    if service is not None:
        raise UsageError(f"{where}: no service named {service!r} (services: {', '.join(named) or 'none'})",
                         hint="give --service the name of the web service to tune")
    if len(candidates) == 1:
        return candidates[0][0], candidates[0][1]
    if not candidates:
        raise UsageError(f"{where}: no service's startCommand runs gunicorn or uvicorn, so tune cannot tell "
                         f"which one to change (services: {', '.join(named) or 'none'})",
                         hint="name it with --service NAME")
    raise UsageError(f"{where}: several services start gunicorn or uvicorn: {', '.join(c[2] for c in candidates)}",
                     hint="name the one to tune with --service NAME")


@dataclass(frozen=True)
class ExistingWeb:
    """The app and worker class the user's own deploy files start, and where that was read."""

    app: str | None
    worker_class: str | None
    source: str | None
    preload_source: str | None = None   # where the web command says --preload, if any does


def _users_web(out: Path, service: str | None) -> list[tuple[str, WebCommand]]:
    """The web commands of the user's own files (ours, with the generated header, skipped): the Procfile
    web line, the render.yaml web service, then the Dockerfile, compose, railway, nixpacks and fly ones."""
    found: list[tuple[str, WebCommand]] = []
    proc = _read(out / PROCFILE)
    if proc is not None and not is_generated(proc):
        for _i, cmd in _procfile_web(proc)[:1]:
            found.append((f"{PROCFILE} web", parse_web_command(cmd, str(out / PROCFILE))))
    render = _read(out / RENDER)
    if render is not None and not is_generated(render):
        where = str(out / RENDER)
        _i, svc = _web_service(compose(render, where), where, service)
        start = scalar(get(svc, "startCommand")[1])
        if start:
            name = scalar(get(svc, "name")[1]) or "web"
            found.append((f"{RENDER} {name}", parse_web_command(start, where)))
    return found + _other_files_web(out)


def existing_web(out_dir: str | os.PathLike, *, service: str | None = None, keep_app: bool = True) -> ExistingWeb:
    """What the user's Procfile web line and render.yaml web service run (files with our header skipped).

    Two files naming different apps is an error: tune would have to guess which one to keep.
    """
    found = _users_web(Path(out_dir), service)
    for source, web in found:
        if web.server == "uvicorn":
            raise UsageError(f"{source} starts uvicorn directly; tune writes a Gunicorn command and cannot "
                             "tell which app and worker class to keep",
                             hint="give --app MODULE:VAR (and --worker-class, e.g. uvicorn_worker.UvicornWorker)")
    apps = {web.app for _s, web in found if web.app}
    if len(apps) > 1 and keep_app:   # with --app the user has said which one
        desc = "; ".join(f"{s}: {w.app}" for s, w in found if w.app)
        raise UsageError(f"the deploy files start different apps ({desc})", hint="say which one with --app MODULE:VAR")
    preload = next((source for source, web in found if web.preload), None)
    for source, web in found:
        if web.app:
            return ExistingWeb(web.app, web.worker_class, source, preload)
    return ExistingWeb(None, None, None, preload)


def _other_files_web(out: Path) -> list[tuple[str, WebCommand]]:
    """The Gunicorn web commands of the user's Dockerfile, compose, railway, nixpacks and fly files."""
    from hmb_ops.tune.cmdline import parse_command
    from hmb_ops.tune.deploy.edits import MERGED_FILES, _command_text
    from hmb_ops.tune.deploy.sources import read_sources

    names = [n for n in MERGED_FILES if (out / n).is_file() and not (out / n).is_symlink()]
    found = []
    for site in read_sources(out, names).starts if names else []:
        text = _command_text(site)
        if site.web and text and parse_command(site.command or "", site.env).server == "gunicorn":
            found.append((f"{site.name} ({site.where})", parse_web_command(text, str(out / site.file))))
    return found


# ---------------------------------------------------------------------------------------------
# Merging


def _flag_value(setting: str, words: list[str], scope: dict[str, str]):
    """The value Gunicorn's parser gives `setting` from these words ($VARs expanded from `scope`)."""
    from gunicorn.config import Config

    # argparse reports a bad value on stderr before exiting; the user sees our message instead.
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            ns, _rest = Config().parser().parse_known_args([expand(w, scope) for w in words])
        except SystemExit:
            return " ".join(words)
    value = getattr(ns, setting, None)
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _same(setting: str, yours, plans) -> bool:
    if setting == "worker_class":
        from hmb_ops.tune.check import _normalise_worker_class

        return _normalise_worker_class(yours) == _normalise_worker_class(plans)
    return yours == plans


_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+")


def _shell_word(word: str) -> str:
    """A word for a command line again; $VAR stays expandable (double quotes), like the user wrote it."""
    if _PLAIN_WORD.fullmatch(word) or re.fullmatch(r"[\w@%+=:,./${}-]+", word):
        return word
    if "$" in word:
        return '"' + re.sub(r'(["\\`])', r"\\\1", word) + '"'
    return shlex.quote(word)


def _web_command(existing: str | None, plan: TunePlan, conf: str, where: str,
                 report: MergeReport | None = None, source: str = "web") -> str:
    """The plan's start command, keeping the user's VAR=value words and every flag that does not
    contradict the plan; each flag that does is recorded in `report` as overridden."""
    ours = start_command(plan, conf)
    if existing is None:
        return ours
    web = parse_web_command(existing, where)
    if not web.simple:
        raise ConfigError(f"the web command does more than start gunicorn: {mask_secrets(repr(existing))}; tune "
                          "will not rewrite it",
                          path=where, hint=f"change it by hand to `{ours}`, or use --force (a backup is kept)")
    if web.server != "gunicorn":
        return " ".join([*web.assignments, ours])
    words = _words(existing, where)
    start = next(i for i, w in enumerate(words) if os.path.basename(w) == "gunicorn")
    groups, positional = gunicorn_groups(words[start + 1:])
    scope = {**app_environment(plan), "PORT": str(DEFAULT_PORT),
             **dict(a.split("=", 1) for a in web.assignments)}
    planned = plan_settings(plan)
    from hmb_ops.tune.worker_classes import lookup

    plan_class = lookup(str(planned.get("worker_class") or "sync"))
    ignored = dict(plan_class.ignored) if plan_class else {}
    kept: list[str] = []
    for setting, group in groups:
        if setting == "config":
            continue  # the plan's config replaces it and runs it first (see prepare)
        if setting in ignored and setting not in planned and plan_class is not None:
            # A flag the plan's worker class ignores (threads with a Uvicorn worker) would only mislead.
            if report is not None:
                report.overrides.append(Override(setting, f"{source}: {' '.join(group)}",
                                                 str(_flag_value(setting, group, scope)),
                                                 f"dropped (no effect with {plan_class.name})"))
            continue
        if setting is not None and setting in planned:  # None: an option Gunicorn does not know
            yours = _flag_value(setting, group, scope)
            if not _same(setting, yours, planned[setting]):
                if report is not None:
                    report.overrides.append(Override(setting, f"{source}: {' '.join(group)}", str(yours),
                                                     str(planned[setting])))
                continue
            if setting != "preload_app":
                # The plan's config sets the same value (and lets its variable, e.g. WEB_CONCURRENCY,
                # override it, which a number on the command line would not). --preload stays: the
                # plan took it from this command.
                if report is not None:
                    report.moved.append((source, tuple(group)))
                continue
        kept += group
    if kept and report is not None:
        report.kept.append((source, tuple(kept)))
    # The first positional word is the app (the plan's: the user's unless --app named another).
    return " ".join([*web.assignments, "gunicorn", "--config", conf, *map(_shell_word, kept),
                     plan.app, *map(_shell_word, positional[1:])])


def merge_procfile(text: str, plan: TunePlan, conf: str, where: str, report: MergeReport | None = None) -> str:
    """The user's Procfile with its web line set to the plan's command; every other line as it was."""
    lines = text.splitlines(keepends=True)
    webs = _procfile_web(text)
    if len(webs) > 1:
        raise ConfigError(f"{len(webs)} web lines; a Procfile has one per process type", path=where,
                          line=webs[1][0] + 1)
    if not webs:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        return "".join(lines) + f"web: {start_command(plan, conf)}\n"
    idx, cmd = webs[0]
    ending = lines[idx][len(lines[idx].rstrip("\r\n")):]
    lines[idx] = f"web: {_web_command(cmd, plan, conf, where, report, f'{PROCFILE} web')}" + ending
    return "".join(lines)


_ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_]\w*)\s*=")


def merge_env(text: str, plan: TunePlan, conf: str, where: str) -> str:
    """The user's env file with tune's variables set; a token secret already there is kept as it is."""
    wanted = app_environment(plan)
    lines = text.splitlines(keepends=True)
    seen = set()
    for i, line in enumerate(lines):
        m = _ENV_LINE.match(line)
        if not m or m.group(2) not in wanted:
            continue
        key = m.group(2)
        seen.add(key)
        if key == TOKEN_SECRET_ENV:
            continue  # the user's own secret (or their way of providing one) stays
        ending = line[len(line.rstrip("\r\n")):] or "\n"
        lines[i] = f"{m.group(1)}{key}={wanted[key]}{ending}"
    missing = [k for k in wanted if k not in seen]
    if missing:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        lines.append(f"# Set by `hmb-ops tune --merge` for {conf}:\n")
        for key in missing:
            if key == TOKEN_SECRET_ENV:
                lines += [c + "\n" for c in token_secret_comment()]
            lines.append(f"{key}={wanted[key]}\n")
    return "".join(lines)


def _line_end_after(text: str, node) -> int:
    """Index just past the line on which `node` ends (block nodes' marks run on to the next token)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    idx = node.end_mark.index
    if idx > 0 and text[idx - 1] == "\n":
        return idx
    nl = text.find("\n", idx)
    return len(text) if nl < 0 else nl + 1


def _replace_scalar(text: str, node, new: str) -> tuple[int, int, str]:
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        # A block scalar's span ends at the start of the next line: keep that line break.
        return start, end, new + "\n"
    return start, end, new


def merge_render_yaml(text: str, plan: TunePlan, conf: str, where: str, service: str | None,
                      report: MergeReport | None = None) -> str:
    """The user's render.yaml with only the web service's startCommand and tune's envVars entries changed."""
    if not text.endswith("\n"):
        text += "\n"  # so every insertion lands on a line of its own
    root = compose(text, where)
    index, svc = _web_service(root, where, service)
    key_col = svc.value[0][0].start_mark.column if svc.value else svc.start_mark.column
    wanted = app_environment(plan)
    edits: list[tuple[int, int, str]] = []
    inserts: list[str] = []          # new lines for the end of the service mapping

    _k, cmd_node = get(svc, "startCommand")
    name = scalar(get(svc, "name")[1]) or "web"
    new_cmd = _web_command(scalar(cmd_node), plan, conf, where, report, f"{RENDER} {name}")
    if cmd_node is None:
        inserts.append(f"{' ' * key_col}startCommand: {_yaml_str(new_cmd)}\n")
    elif not isinstance(cmd_node, yaml.ScalarNode):
        raise ConfigError("startCommand of the web service is not text", path=where, line=cmd_node.start_mark.line + 1)
    else:
        edits.append(_replace_scalar(text, cmd_node, _yaml_str(new_cmd)))

    env_key, env_node = get(svc, "envVars")
    present: set[str] = set()
    expected_items: dict[str, dict] = {}
    if env_node is not None and not (isinstance(env_node, yaml.SequenceNode)
                                     and (not env_node.flow_style or not env_node.value)):
        raise ConfigError("envVars of the web service is not a block-style list", path=where,
                          line=env_node.start_mark.line + 1, hint="--force replaces the file (a backup is kept)")
    if env_node is not None:
        for item in env_node.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            key = scalar(get(item, "key")[1])
            if key not in wanted or key in present:
                continue
            present.add(key)
            if key == TOKEN_SECRET_ENV:
                continue  # the user's own secret, sync: false or generateValue stays as it is
            _vk, value_node = get(item, "value")
            if value_node is not None and isinstance(value_node, yaml.ScalarNode) and len(item.value) == 2:
                edits.append(_replace_scalar(text, value_node, _yaml_str(wanted[key])))
            else:
                # fromDatabase / fromGroup / sync: replace the whole item with a plain value.
                first = item.value[0][0]
                col = first.start_mark.column
                edits.append((first.start_mark.index, _line_end_after(text, item),
                              f"key: {key}\n{' ' * col}value: {_yaml_str(wanted[key])}\n"))
            expected_items[key] = {"key": key, "value": wanted[key]}
    missing = [k for k in wanted if k not in present]
    if missing:
        if env_node is not None and not env_node.flow_style:
            col = env_node.start_mark.column
            new_lines = [ln + "\n" for k in missing for ln in render_env_var(k, wanted[k], col)]
            pos = _line_end_after(text, env_node)
            edits.append((pos, pos, "".join(new_lines)))
        else:
            lines = [ln + "\n" for k in missing for ln in render_env_var(k, wanted[k], key_col + 2)]
            if env_node is not None:  # `envVars: []`
                edits.append((env_key.start_mark.index, _line_end_after(text, env_node),
                              "envVars:\n" + "".join(lines)))
            else:
                inserts.append(f"{' ' * key_col}envVars:\n" + "".join(lines))
    if inserts:
        pos = _line_end_after(text, svc)
        edits.append((pos, pos, "".join(inserts)))

    new = text
    # From the end backwards so earlier positions stay valid; of two insertions at one place the
    # later-planned one is applied first and so lands after the other (envVars items, then keys).
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], edits[i][1], i), reverse=True)
    for start, end, repl in (edits[i] for i in order):
        new = new[:start] + repl + new[end:]

    # The edit must be exactly the intended change: compare the parsed result with it.
    expected = yaml.safe_load(text)
    svc_data = expected["services"][index]
    svc_data["startCommand"] = new_cmd
    env_list = svc_data.get("envVars") or []
    env_list = [expected_items.get(e["key"], e) if isinstance(e, dict) and isinstance(e.get("key"), str) else e
                for e in env_list]
    for k in missing:
        env_list.append({"key": k, "generateValue": True} if k == TOKEN_SECRET_ENV else {"key": k, "value": wanted[k]})
    svc_data["envVars"] = env_list
    try:
        got = yaml.safe_load(new)
    except yaml.YAMLError:
        got = None
    if got != expected:
        raise ConfigError("cannot merge into this layout without changing more than the web service's keys",
                          path=where, hint="edit it by hand (tune without --out prints the values) or use --force")
    return new


# ---------------------------------------------------------------------------------------------
# Planning and writing


def backup_name(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def _users_chain(out: Path, service: str | None) -> str | None:
    """The user's own Gunicorn config that Gunicorn loads today, which the merged config runs first.

    The file their web command names with -c/--config (for a config hmb-ops generated: the one it
    runs first), else ./gunicorn.conf.py when it is theirs (Gunicorn loads that one by default).
    """
    named = {source: web.config for source, web in _users_web(out, service) if web.simple and web.config}
    chains: dict[str, str] = {}
    for source, path in named.items():
        if path.startswith("python:") or "$" in path:
            raise ConfigError(f"{source} names the Gunicorn config {path!r}, which tune cannot run first",
                              path=str(out), hint="--force replaces the files (a backup is kept)")
        text = _read(out / path)
        if text is None:
            raise ConfigError(f"{source} names the Gunicorn config {path}, which is not in {out}; tune cannot "
                              "keep its settings", path=str(out), hint="run tune in the app's folder, or use --force")
        chain = chained_config(text) if is_generated(text) else path
        if chain is not None:
            chains[source] = chain
    if len(set(chains.values())) > 1:
        desc = "; ".join(f"{s}: {c}" for s, c in chains.items())
        raise UsageError(f"the deploy files start Gunicorn with different config files ({desc})",
                         hint="make them name the same one, or use --force (a backup is kept)")
    if chains:
        return next(iter(chains.values()))
    current = _read(out / CONF)
    return CONF if current is not None and not is_generated(current) else None


def _config_overrides(out: Path, chain: str, plan: TunePlan) -> list[Override]:
    """Each setting of the user's config whose value (with the plan's environment) the plan replaces."""
    from hmb_ops.tune.check import evaluate_config

    evaluated = evaluate_config(out / chain, env=app_environment(plan), root=out)["settings"]
    planned = plan_settings(plan)
    return [Override(name, chain, str(evaluated[name]), str(planned[name]))
            for name in planned if name in evaluated and (planned[name] == "<function>"
                                                          or not _same(name, evaluated[name], planned[name]))]


def _refuse_links(out: Path, names) -> None:
    """A symbolic link at a name tune writes is refused: writing through it would change a file
    elsewhere (or create one where a dangling link points), replacing it would silently drop the
    user's link. Checked before the user's config is run and before any write, so nothing at all is written."""
    for name in names:
        path = out / name
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise UsageError(f"{path} is a symbolic link (to {target}); hmb-ops neither writes through nor "
                             "replaces links — replace it with the file itself or choose another --out")


def prepare(plan: TunePlan, out_dir: str | os.PathLike, *, mode: str = "refuse", service: str | None = None,
            now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> DeployPlan:
    """Decide, for every file tune writes, what happens to it; nothing is written here."""
    if mode not in MODES:
        raise UsageError(f"unknown write mode {mode!r}")
    out = Path(out_dir)
    conf = CONF
    chain = None
    report = MergeReport()
    if mode == "merge":
        current = _read(out / CONF)
        if current is not None and not is_generated(current):
            conf = MERGE_CONF
    # Every name written below (the merge's own config instead of the user's gunicorn.conf.py).
    _refuse_links(out, [MERGE_CONF if (name == CONF and conf == MERGE_CONF) else name
                        for name in (CONF, ENV, PROCFILE, RENDER)])
    if mode == "merge":
        chain = _users_chain(out, service)
        if chain is not None and (out / chain).resolve() == (out / conf).resolve():
            # Only when the files were edited by hand into naming each other: never run a file into itself.
            raise ConfigError(f"the web command's config {chain} is the file tune would write", path=str(out / chain),
                              hint="use --force (a backup is kept)")
        if chain is not None:
            report.overrides += _config_overrides(out, chain, plan)
    rendered = render_all(plan, conf, chain)
    if mode == "merge":
        # Regenerating beside the user's files needs --merge again: the header says so.
        rendered = {name: text.replace(" --out .\n", " --merge --out .\n", 1) for name, text in rendered.items()}
    writes: list[FileWrite] = []
    stamp = now()
    for name, text in rendered.items():
        target = MERGE_CONF if (name == CONF and conf == MERGE_CONF) else name
        path = out / target
        file_mode = SECRET_MODE if name in SECRET_FILES else PUBLIC_MODE
        previous = _read(path)
        if previous is None:
            writes.append(FileWrite(target, "create", text, None, file_mode))
        elif is_generated(previous):
            action = "unchanged" if previous == text else "regenerate"
            writes.append(FileWrite(target, action, text, previous, file_mode, reason="carries hmb-ops's header"))
        elif mode == "force":
            writes.append(FileWrite(target, "overwrite", text, previous, file_mode,
                                    backup=str(backup_name(path, stamp)), reason="not written by hmb-ops; --force"))
        elif mode == "merge":
            where = str(path)
            if name == PROCFILE:
                merged = merge_procfile(previous, plan, conf, where, report)
            elif name == RENDER:
                merged = merge_render_yaml(previous, plan, conf, where, service, report)
            elif name == ENV:
                merged = merge_env(previous, plan, conf, where)
            else:  # the alternative config name is taken by a file of the user's too
                writes.append(FileWrite(target, "refuse", text, previous, file_mode,
                                        reason="not written by hmb-ops; a Python file has no keys to merge"))
                continue
            if name != ENV:
                # A merged file stays the user's: their mode is kept (an env file is always private).
                file_mode = os.stat(path).st_mode & 0o777
            writes.append(FileWrite(target, "unchanged" if merged == previous else "merge", merged, previous,
                                    file_mode, reason="not written by hmb-ops; only hmb-ops's keys changed"))
        else:
            writes.append(FileWrite(target, "refuse", text, previous, file_mode,
                                    reason="not written by hmb-ops (no generated-by header)"))
    left: list[str] = []
    if mode == "merge":
        writes += _merge_other_files(out, plan, conf, report, left)
    else:
        # Files tune does not render keep starting Gunicorn their own way: said, so the drift is no surprise.
        left += [f"{source}: starts Gunicorn with its own flags; --merge rewrites it to run the plan's config"
                 for source, _web in _other_files_web(out)]
    left += _env_file_overrides(out, plan)
    checked = dict(rendered)
    if chain is not None:
        # tune validates the config in a temporary folder: that copy finds the user's config and
        # modules in the app's folder, where the written one finds them at start-up.
        root = out.resolve()
        checked[CONF] = render_gunicorn_conf(plan, str(root / chain), str(root))
    return DeployPlan(out, mode, tuple(writes), checked, chain, tuple(report.overrides), tuple(report.kept),
                      tuple(report.moved), tuple(left))


# The variables the written gunicorn.conf.py reads at start-up, so another env file setting them wins.
_CONF_ENV = ("WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_TIMEOUT")


def _env_file_overrides(out: Path, plan: TunePlan) -> list[str]:
    """The user's other env files (.env, prod.env) that set a start-up variable to another value than the plan:
    wherever they are loaded they override the plan, so `tune check` would report drift right after writing."""
    from hmb_ops.tune.deploy.env_files import is_env_file, parse

    wanted = app_environment(plan)
    notes = []
    try:
        names = sorted(p.name for p in out.iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return []
    for name in names:
        if name == ENV or not is_env_file(name):
            continue
        text = _read(out / name)
        if text is None:
            continue
        try:
            env, lines = parse(out / name, text)
        except ConfigError:
            continue  # `tune check` names the line that does not parse
        for key in _CONF_ENV:
            if key in env and key in wanted and env[key].strip() != str(wanted[key]):
                notes.append(f"{lines[key]} sets {key}={env[key]}, which overrides the plan's {wanted[key]} "
                             f"wherever {name} is loaded; set it to {wanted[key]} or remove it")
    return notes


def _merge_other_files(out: Path, plan: TunePlan, conf: str, report: MergeReport, left: list[str]) -> list[FileWrite]:
    """--merge into the user's Dockerfile, compose, railway, nixpacks and fly files (hmb_ops.tune.deploy.edits)."""
    from hmb_ops.tune.deploy.edits import MERGED_FILES, merge_file

    names = [n for n in MERGED_FILES if (out / n).exists() or (out / n).is_symlink()]
    _refuse_links(out, names)
    writes = []
    for name in names:
        path = out / name
        previous = _read(path)
        if previous is None:
            continue
        merged = merge_file(path, previous, plan, conf, report, wanted_env=app_environment(plan),
                            skip_env={TOKEN_SECRET_ENV})
        left += merged.left
        if merged.text != previous:
            writes.append(FileWrite(name, "merge", merged.text, previous, os.stat(path).st_mode & 0o777,
                                    reason="not written by hmb-ops; only hmb-ops's keys changed"))
    return writes


def _write_atomic(path: Path, text: str, mode: int, *, create: bool = False) -> None:
    """`text` at `path`, whole or not at all; `create`: only if nothing is there yet."""
    try:
        write_private(path, text, mode, create_only=create)
    except FileExistsError:
        raise UsageError(f"{path} appeared while tune was running; it was left alone",
                         hint="run tune again to see what it would change") from None


def apply(deploy: DeployPlan) -> list[Path]:
    """Write a prepared plan: backups first, then each file whole. Refuses if any file was refused."""
    if deploy.refused:
        raise refusal_error(deploy)
    out = deploy.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"cannot create {out}: {exc.strerror or exc}", hint="choose another --out") from None
    # A link made since the decision is refused like one found then, before any write.
    _refuse_links(out, [w.name for w in deploy.writes])
    for w in deploy.writes:
        # Decided on what was read: a file changed since then is not replaced by a stale decision.
        if _read(out / w.name) != w.previous:
            raise UsageError(f"{out / w.name} changed or appeared while tune was running; nothing was written",
                             hint="run tune again")
    written = []
    try:
        for w in deploy.writes:
            if w.backup:
                shutil.copy2(out / w.name, w.backup)
        for w in deploy.writes:
            if w.action != "unchanged":
                _write_atomic(out / w.name, w.text, w.mode, create=w.action == "create")
            elif (os.stat(out / w.name).st_mode & 0o777) != w.mode:
                os.chmod(out / w.name, w.mode)
            written.append(out / w.name)
    except OSError as exc:
        raise StateDirError(f"cannot write in {out}: {exc.strerror or exc}", hint="choose another --out") from None
    return written


def refusal_error(deploy: DeployPlan) -> UsageError:
    names = ", ".join(str(deploy.out_dir / w.name) for w in deploy.refused)
    return UsageError(f"refusing to overwrite {len(deploy.refused)} file(s) hmb-ops did not write: {names}; "
                      "nothing was written",
                      hint="--merge changes only hmb-ops's keys in them, --force replaces them after a backup")
