"""docker-compose.yml / compose.yaml: each service's command / entrypoint and environment.

A service is checked when its command or entrypoint starts Gunicorn or Uvicorn (the web services);
the others (a database image, a queue worker) are named, not checked. A service without a command
runs its image's CMD, which the Dockerfile reader covers when the Dockerfile is in the folder.
`environment` may be a mapping or a `KEY=value` list; `env_file` files are read too, relative to the
compose file's folder; a missing one that is not `required: false` is an error, as docker compose refuses it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hmb_ops.errors import ConfigError
from hmb_ops.tune.cmdline import parse_command
from hmb_ops.tune.deploy.sources import Sources, StartSite, read_text
from hmb_ops.tune.deploy.yaml_nodes import compose, get, line, scalar, text_value, value


def _env_file_entries(files) -> list[tuple[str, bool, yaml.Node]]:
    """(path, required, node) of each `env_file` entry: a string, a list of strings, or a list of
    `{path, required}` mappings (compose spec; `required` defaults to true)."""
    if isinstance(files, yaml.ScalarNode):
        return [(scalar(files) or "", True, files)]
    if not isinstance(files, yaml.SequenceNode):
        return []
    out: list[tuple[str, bool, yaml.Node]] = []
    for n in files.value:
        if isinstance(n, yaml.ScalarNode):
            out.append((scalar(n) or "", True, n))
        else:
            _k, required = get(n, "required")
            out.append((scalar(get(n, "path")[1]) or "", required is None or value(required) is not False, n))
    return out


def _environment(path: Path, svc, where: str, service: str) -> tuple[dict[str, str], dict[str, str]]:
    from hmb_ops.tune.deploy import env_files

    env: dict[str, str] = {}
    lines: dict[str, str] = {}
    _k, files = get(svc, "env_file")
    for name, required, node in _env_file_entries(files):
        f = path.parent / name
        if name and not f.is_file():
            # docker compose refuses to start the service; an absolute path is the deploy host's, not checked.
            if required and not Path(name).is_absolute():
                raise ConfigError(f"service {service!r}: env_file {name} does not exist (docker compose refuses to "
                                  "start the service)", path=where, line=line(node),
                                  hint="create it, fix the path, or mark it `required: false`")
            continue
        if name and f.resolve().is_relative_to(path.parent.resolve()):
            e, ln = env_files.parse(f, read_text(f))
            env.update(e)
            lines.update(ln)
    _k, node = get(svc, "environment")
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if scalar(k) is not None and isinstance(v, yaml.ScalarNode) and v.tag != "tag:yaml.org,2002:null":
                env[scalar(k) or ""] = text_value(value(v))
                lines[scalar(k) or ""] = f"{path.name}:{line(v)}"
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            text = scalar(item) or ""
            if "=" in text:
                k, _, v = text.partition("=")
                env[k] = v
                lines[k] = f"{path.name}:{line(item)}"
    elif node is not None:
        raise ConfigError("environment must be a mapping or a list", path=where, line=line(node))
    return env, lines


def read(path: Path, text: str) -> Sources:
    where = str(path)
    root = compose(text, where)
    if root is None:
        return Sources()
    _k, services = get(root, "services")
    if not isinstance(services, yaml.MappingNode):
        raise ConfigError("expected a 'services' mapping", path=where, line=line(root))
    out = Sources()
    for key, svc in services.value:
        name = scalar(key) or "?"
        if not isinstance(svc, yaml.MappingNode):
            raise ConfigError(f"service {name!r} must be a mapping", path=where, line=line(key))
        env, env_lines = _environment(path, svc, where, name)
        _ck, cmd = get(svc, "command")
        _ek, entry = get(svc, "entrypoint")
        words = None
        node = cmd if cmd is not None else entry
        for n in (cmd, entry):
            if n is not None and not isinstance(n, (yaml.ScalarNode, yaml.SequenceNode)):
                raise ConfigError("command/entrypoint must be text or a list", path=where, line=line(n))
        if entry is not None and cmd is not None:
            e, c = value(entry), value(cmd)
            if isinstance(e, list) and isinstance(c, list) and parse_command(e, env).server is None:
                words = c   # an entrypoint script that execs its arguments
            elif isinstance(e, list) and isinstance(c, list):
                words, node = e + c, entry
            else:
                words, node = e, entry
        elif node is not None:
            words = value(node)
        if words is None:
            image = scalar(get(svc, "image")[1]) or ("build" if get(svc, "build")[1] is not None else "?")
            out.starts.append(StartSite(path.name, line(key), f"{path.name} {name}", None, env, env_lines,
                                        web=False, note=f"no command: runs its image's CMD ({image})"))
            continue
        words = [str(w) for w in words] if isinstance(words, list) else str(words)
        web = parse_command(words, env).server is not None
        style = "yaml-list" if isinstance(node, yaml.SequenceNode) else "yaml"
        out.starts.append(StartSite(path.name, line(node), f"{path.name} {name}", words, env, env_lines, web=web,
                                    span=(node.start_mark.index, node.end_mark.index), style=style))
    return out
