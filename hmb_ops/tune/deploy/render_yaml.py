"""render.yaml (a Render Blueprint): each `type: web` service's startCommand and its envVars `value`s.

Services of other types (worker, cron, pserv) are named, not checked. envVars from a database, a
group or `sync: false` have no value here and are left unknown.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hmb_ops.errors import ConfigError
from hmb_ops.tune.deploy.sources import Sources, StartSite
from hmb_ops.tune.deploy.yaml_nodes import compose, get, line, scalar, text_value, value


def read(path: Path, text: str) -> Sources:
    where = str(path)
    root = compose(text, where)
    _k, services = get(root, "services")
    if root is None:
        return Sources()
    if not isinstance(services, yaml.SequenceNode):
        raise ConfigError("expected a 'services' list", path=where, line=line(root))
    out = Sources()
    for i, svc in enumerate(services.value):
        if not isinstance(svc, yaml.MappingNode):
            raise ConfigError("a service must be a mapping", path=where, line=line(svc))
        name = scalar(get(svc, "name")[1]) or f"service[{i}]"
        kind = scalar(get(svc, "type")[1]) or "web"
        env: dict[str, str] = {}
        env_lines: dict[str, str] = {}
        _ek, env_node = get(svc, "envVars")
        if isinstance(env_node, yaml.SequenceNode):
            for item in env_node.value:
                _kk, key = get(item, "key")
                _vk, val = get(item, "value")
                if scalar(key) and isinstance(val, yaml.ScalarNode):
                    env[scalar(key) or ""] = text_value(value(val))
                    env_lines[scalar(key) or ""] = f"{path.name}:{line(val)}"
        _ck, cmd = get(svc, "startCommand")
        site_line = line(cmd) if cmd is not None else line(svc)
        command = scalar(cmd)
        if cmd is not None and command is None:
            raise ConfigError("startCommand must be text", path=where, line=line(cmd))
        span = (cmd.start_mark.index, cmd.end_mark.index) if cmd is not None else None
        note = "" if command else "no startCommand: Render runs the service's default (gunicorn with its config)"
        out.starts.append(StartSite(path.name, site_line, f"{path.name} {name}", command, env, env_lines,
                                    web=kind == "web", span=span, style="yaml", note=note))
    return out
