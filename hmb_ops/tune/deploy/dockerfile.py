"""Dockerfile: the final stage's CMD / ENTRYPOINT (exec form and shell form) and its ENV.

Read the way Docker reads them: instructions are case-insensitive and continue over lines ending
in the escape character (`\\`, or the one an `# escape=` directive names); an argument that is a
JSON array of strings is the exec form, anything else the shell form (run as `/bin/sh -c`). An
exec-form ENTRYPOINT gets CMD's words appended; a shell-form ENTRYPOINT ignores CMD. ENV takes
`KEY=value ...` or `KEY value`, and `$VAR` in a value is the ENV set before it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from hmb_ops.errors import ConfigError
from hmb_ops.tune.cmdline import parse_command
from hmb_ops.tune.deploy.sources import Sources, StartSite

_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_HEREDOC = re.compile(r"<<-?\s*[\"']?(\w+)[\"']?")
_INSTRUCTION = re.compile(r"^\s*(?P<op>[A-Za-z]+)(?:\s+|$)")


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str
    line: int
    start: int   # index of the arguments in the file's text
    end: int


def instructions(path: Path, text: str) -> list[Instruction]:
    escape = "\\"
    lines = text.splitlines(keepends=True)
    for raw in lines[:5]:
        m = _DIRECTIVE.match(raw.strip())
        if m:
            escape = m.group(1)
            break
        if not raw.startswith("#"):
            break
    out: list[Instruction] = []
    pos = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        body = raw.rstrip("\r\n")
        line_start = pos
        pos += len(raw)
        i += 1
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        m = _INSTRUCTION.match(body)
        if not m:
            raise ConfigError(f"not a Dockerfile instruction: {body.strip()[:60]!r}", path=str(path), line=i)
        first_line = i
        args_start = line_start + m.end()
        parts = [body[m.end():]]
        end = line_start + len(body)
        while parts[-1].rstrip().endswith(escape) and i < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            nxt = lines[i]
            nbody = nxt.rstrip("\r\n")
            end = pos + len(nbody)
            pos += len(nxt)
            i += 1
            if nbody.lstrip().startswith("#"):
                continue   # comment lines inside a continued instruction are dropped by Docker
            parts.append(nbody)
        args = " ".join(p.strip() for p in parts).strip()
        if not args:
            raise ConfigError(f"{m.group('op').upper()} has no arguments", path=str(path), line=first_line,
                              hint="docker build refuses this Dockerfile too")
        out.append(Instruction(m.group("op").upper(), args, first_line, args_start, end))
        heredoc = _HEREDOC.search(args)
        if heredoc:
            # RUN <<EOF ... EOF: the body is not instructions.
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                pos += len(lines[i])
                i += 1
            if i < len(lines):
                pos += len(lines[i])
                i += 1
    return out


def exec_form(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    try:
        words = json.loads(args)
    except ValueError:
        return None   # Docker runs a malformed array as a shell command
    return words if isinstance(words, list) and all(isinstance(w, str) for w in words) else None


def _env(ins: Instruction, path: Path, env: dict[str, str], lines: dict[str, str],
         args: dict[str, str] | None = None) -> None:
    """ENV KEY=value ... / ENV KEY value; `$VAR` in a value is an earlier ENV, else an ARG's default."""
    from hmb_ops.tune.cmdline import _Expander

    scope = {**(args or {}), **env}

    try:
        words = shlex.split(ins.args)
    except ValueError as exc:
        raise ConfigError(f"ENV: {exc}", path=str(path), line=ins.line) from None
    if words and "=" not in words[0]:
        # ENV KEY value with spaces
        if len(words) < 2:
            raise ConfigError(f"ENV {words[0]} has no value", path=str(path), line=ins.line)
        env[words[0]] = _Expander(scope)(ins.args.split(None, 1)[1].strip())
        lines[words[0]] = f"{path.name}:{ins.line}"
        return
    for w in words:
        if "=" not in w:
            raise ConfigError(f"ENV: {w!r} is not KEY=value", path=str(path), line=ins.line)
        k, _, v = w.partition("=")
        env[k] = _Expander(scope)(v)
        scope[k] = env[k]
        lines[k] = f"{path.name}:{ins.line}"


def read(path: Path, text: str) -> Sources:
    env: dict[str, str] = {}
    env_lines: dict[str, str] = {}
    args: dict[str, str] = {}      # ARG defaults: build-time only, but ENV values may use them
    cmd = entry = None
    for ins in instructions(path, text):
        if ins.op == "FROM":
            # A new stage: what runs is the last stage's CMD, with its ENV.
            cmd = entry = None
            env, env_lines, args = {}, {}, {}
        elif ins.op == "ARG":
            name, eq, default = ins.args.partition("=")
            if eq:
                args[name.strip()] = default.strip().strip("\"'")
        elif ins.op == "ENV":
            _env(ins, path, env, env_lines, args)
        elif ins.op == "CMD":
            cmd = ins
        elif ins.op == "ENTRYPOINT":
            entry = ins
            cmd = None   # Docker resets CMD when ENTRYPOINT is set in the same stage
    if cmd is None and entry is None:
        return Sources()
    site_ins = cmd
    words: str | list[str]
    note = ""
    cmd_words = _words(cmd) if cmd else None
    if entry is not None:
        entry_words = _words(entry)
        server_in_entry = parse_command(entry_words, env).server is not None
        if isinstance(entry_words, list) and cmd_words is not None and not server_in_entry:
            note = f"after ENTRYPOINT {json.dumps(entry_words)}"
        elif isinstance(entry_words, list) and isinstance(cmd_words, list):
            site_ins, cmd_words = entry, entry_words + cmd_words
        else:
            site_ins, cmd_words = entry, entry_words
    assert site_ins is not None and cmd_words is not None
    words = cmd_words
    exec_words = exec_form(site_ins.args)
    if exec_words is not None:
        prefix: tuple[str, ...] = ()
        if len(exec_words) >= 3 and exec_words[0].rsplit("/", 1)[-1] in ("sh", "bash") and exec_words[1].endswith("c"):
            prefix = tuple(exec_words[:-1])
        style = "docker-exec-shell" if prefix else "docker-exec"
    else:
        prefix, style = (), "docker-shell"
    return Sources(starts=[StartSite(path.name, site_ins.line, f"{path.name} {site_ins.op}", words, dict(env),
                                     dict(env_lines), span=(site_ins.start, site_ins.end), style=style,
                                     prefix=prefix, note=note)])


def _words(ins: Instruction) -> str | list[str]:
    words = exec_form(ins.args)
    return words if words is not None else ins.args
