"""`tune --merge` into the deploy files tune does not render itself: Dockerfile, docker-compose.yml,
railway.toml, railway.json, nixpacks.toml, fly.toml.

Only what tune owns changes: the start command of each web process that runs Gunicorn (rebuilt by
the writer's `_web_command`, keeping the user's VAR=value words and flags that do not contradict the
plan; `sh -c "..."` keeps its wrapper) and the values of the variables tune sets (WEB_CONCURRENCY,
WEB_THREADS, ...) where the same file sets them (Dockerfile ENV, compose environment, fly [env]).
Each change replaces exactly the characters the reader located (`StartSite.span`); the edited text
is read again by the same reader and must give the intended commands and values with every other
process unchanged, else nothing is written (ConfigError, exit 2). A web process started by
`uvicorn` directly is left as it is and said so: tune writes Gunicorn commands.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from hmb_ops.errors import ConfigError

# The files this module merges into, with the reader of each.
MERGED_FILES = ("Dockerfile", "docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
                "railway.toml", "railway.json", "nixpacks.toml", "fly.toml")


@dataclass
class FileMerge:
    text: str
    left: list[str] = field(default_factory=list)     # web processes not rewritten, with why


def _words_of(command: str) -> list[str]:
    return shlex.split(command)


def _encode(site, text: str, new: str) -> tuple[int, int, str]:
    """(start, end, replacement) for a new command at the site's span, in the file's own syntax."""
    assert site.span is not None
    start, end = site.span
    style = site.style
    if style == "docker-shell":
        return start, end, new
    if style == "docker-exec":
        return start, end, json.dumps(_words_of(new))
    if style == "docker-exec-shell":
        return start, end, json.dumps([*site.prefix, new])
    if style in ("json", "toml"):
        return start, end, json.dumps(new)        # a JSON string is a valid TOML basic string too
    if style == "toml-list":
        return start, end, json.dumps(_words_of(new))
    if style == "yaml":
        from hmb_ops.tune.render import _yaml_str

        return start, end, _yaml_str(new)
    if style == "yaml-list":
        flow = json.dumps(_words_of(new))          # a JSON array is a YAML flow sequence
        block = not text[start:end].lstrip().startswith("[")
        if block:
            # A block sequence ends where the next key starts: replace through the end of its last line.
            line_end = text.rfind("\n", start, end)
            return start, (line_end if line_end > start else end), flow
        return start, end, flow
    raise ConfigError(f"cannot write a command in style {style}", path=site.file)


def _command_text(site) -> str | None:
    """The command as one shell line: the sh -c string for a wrapped exec form, the words joined otherwise."""
    cmd = site.command
    if isinstance(cmd, list):
        if site.style == "docker-exec-shell":
            return cmd[-1]
        return shlex.join(cmd)
    return cmd


_EXEC = re.compile(r"^\s*(?:[A-Za-z_]\w*=\S*\s+)*exec\s")
_ENV_WORD = re.compile(r"(?P<key>[A-Za-z_]\w*)=(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s\"']*)")


def _env_edits(path: Path, text: str, wanted: dict[str, str], skip: set[str],
               services: set[str]) -> list[tuple[int, int, str]]:
    """Edits of the values of tune's variables where this file sets them for a process tune rewrote
    (`services`: the compose services whose command was rewritten; one Dockerfile or fly.toml env
    serves the rewritten process)."""
    name = path.name
    edits: list[tuple[int, int, str]] = []
    services_rewritten = services
    if not services:
        return edits
    if name == "Dockerfile":
        from hmb_ops.tune.deploy.dockerfile import instructions

        for ins in instructions(path, text):
            if ins.op != "ENV":
                continue
            raw = text[ins.start:ins.end]
            first = raw.split(None, 1)
            if first and "=" not in first[0]:
                key = first[0]
                if key in wanted and key not in skip:
                    value_at = ins.start + raw.index(first[1]) if len(first) > 1 else ins.end
                    edits.append((value_at, ins.end, wanted[key]))
                continue
            for m in _ENV_WORD.finditer(raw):
                if m.group("key") in wanted and m.group("key") not in skip:
                    edits.append((ins.start + m.start("value"), ins.start + m.end("value"), wanted[m.group("key")]))
    elif name == "fly.toml":
        from hmb_ops.tune.deploy.toml_files import locate

        for key, value in wanted.items():
            found = locate(text, "env", key)
            if found and key not in skip:
                edits.append((found[1], found[2], json.dumps(value)))
    elif name in ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"):
        import yaml

        from hmb_ops.tune.deploy.yaml_nodes import compose, get, scalar

        root = compose(text, str(path))
        _k, services = get(root, "services")
        for svc_key, svc in (services.value if isinstance(services, yaml.MappingNode) else []):
            if f"{name} {scalar(svc_key)}" not in services_rewritten:
                continue
            _ek, env = get(svc, "environment")
            if isinstance(env, yaml.MappingNode):
                for k, v in env.value:
                    map_key = scalar(k) or ""
                    if map_key in wanted and map_key not in skip and isinstance(v, yaml.ScalarNode):
                        edits.append((v.start_mark.index, v.end_mark.index, json.dumps(wanted[map_key])))
            elif isinstance(env, yaml.SequenceNode):
                for item in env.value:
                    item_key = (scalar(item) or "").split("=", 1)[0]
                    if item_key in wanted and item_key not in skip and isinstance(item, yaml.ScalarNode):
                        item_text = f"{item_key}={wanted[item_key]}"
                        plain = item.style is None and re.fullmatch(r"[\w.:/=-]+", item_text)
                        edits.append((item.start_mark.index, item.end_mark.index,
                                      item_text if plain else json.dumps(item_text)))
    return edits


def merge_file(path: Path, text: str, plan, conf: str, report, *, wanted_env: dict[str, str],
               skip_env: set[str]) -> FileMerge:
    """The user's file with tune's keys changed (see the module docstring); `report` collects overrides."""
    from hmb_ops.tune.cmdline import parse_command
    from hmb_ops.tune.deploy.sources import read_sources
    from hmb_ops.tune.deploy.writer import _web_command

    where = str(path)
    root = path.parent
    before = read_sources(root, [path.name]).starts
    edits: list[tuple[int, int, str]] = []
    expected: dict[str, str] = {}
    out = FileMerge(text)
    for site in before:
        if not site.web or site.command is None or site.span is None:
            continue
        parsed = parse_command(site.command, site.env)
        if parsed.server == "uvicorn":
            out.left.append(f"{site.name} ({site.where}): starts uvicorn directly; left as it is "
                            "(tune writes Gunicorn commands: give --worker-class uvicorn_worker.UvicornWorker "
                            "and change it by hand)")
            continue
        if parsed.server != "gunicorn":
            continue
        existing = _command_text(site)
        new = _web_command(existing, plan, conf, f"{where}:{site.line}", report, site.name)
        if _EXEC.match(existing or "") and not _EXEC.match(new):
            # `exec gunicorn` makes Gunicorn the shell's replacement (PID 1 in a container gets the signals).
            new = new.replace("gunicorn --config", "exec gunicorn --config", 1)
        if new == existing:
            continue
        edits.append(_encode(site, text, new))
        expected[site.name] = new
    edits += _env_edits(path, text, wanted_env, skip_env, set(expected))
    new_text = text
    for start, end, repl in sorted(edits, key=lambda e: e[0], reverse=True):
        new_text = new_text[:start] + repl + new_text[end:]
    if new_text == text:
        return out
    _verify(path, new_text, before, expected, wanted_env, skip_env)
    out.text = new_text
    return out


def _verify(path: Path, new_text: str, before, expected: dict[str, str], wanted_env: dict[str, str],
            skip_env: set[str]) -> None:
    """The edited file, read again, must start exactly the intended commands and nothing else changed."""
    from hmb_ops.tune.deploy.sources import read_text_as

    # Read as the file in its own folder, so a compose service's env_file is found where docker compose
    # finds it (a copy in a temporary folder had none of them).
    try:
        after = read_text_as(path, new_text).starts
    except ConfigError as exc:
        raise ConfigError(f"the merged file would not parse ({exc.one_line()})", path=str(path),
                          hint="edit it by hand (tune without --out prints the values) or use --force") from None
    problem = None
    if [s.name for s in after] != [s.name for s in before]:
        problem = "its processes changed"
    for old, new in zip(before, after, strict=False):
        want = expected.get(old.name)
        got = _command_text(new)
        if want is not None:
            if got is None or _words_of(got) != _words_of(want):
                problem = f"{old.name} would start {got!r}"
        elif new.command != old.command:
            problem = f"{old.name} changed"
        for key, value in new.env.items():
            # only what this file sets; an env_file's values are that file's (named, not edited)
            if not new.env_lines.get(key, "").startswith(f"{path.name}:"):
                continue
            if key in wanted_env and key not in skip_env and key in old.env and value != wanted_env[key]:
                problem = f"{key} in {old.name} is {value!r}"
    if problem:
        raise ConfigError(f"cannot merge into this layout without changing more than tune's keys: {problem}",
                          path=str(path), hint="edit it by hand (tune without --out prints the values) or use --force")
