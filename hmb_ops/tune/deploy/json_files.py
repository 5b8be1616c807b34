"""railway.json (deploy.startCommand) and app.json (Heroku's env values; its commands are in the Procfile).

json gives no positions: the line of a value is found by scanning the text for its key, which is
enough for file:line and, for a startCommand, for the exact span of its string.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hmb_ops.errors import ConfigError
from hmb_ops.tune.deploy.sources import EnvSite, Sources, StartSite, line_of

_STRING = r'"(?:[^"\\]|\\.)*"'


def load(path: Path, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"JSON syntax error: {exc.msg}", path=str(path), line=exc.lineno) from None


def _key_value(text: str, key: str, after: int = 0) -> tuple[int, int] | None:
    m = re.compile(r'"' + re.escape(key) + r'"\s*:\s*(' + _STRING + ")").search(text, after)
    return (m.start(1), m.end(1)) if m else None


def read_railway(path: Path, text: str) -> Sources:
    data = load(path, text)
    deploy = data.get("deploy") if isinstance(data, dict) else None
    cmd = deploy.get("startCommand") if isinstance(deploy, dict) else None
    if cmd is None:
        return Sources()
    if not isinstance(cmd, str):
        raise ConfigError("deploy.startCommand must be a string", path=str(path))
    deploy_at = text.find('"deploy"')
    span = _key_value(text, "startCommand", max(deploy_at, 0))
    line = line_of(text, span[0]) if span else 1
    return Sources(starts=[StartSite(path.name, line, f"{path.name} deploy.startCommand", cmd, span=span,
                                     style="json")])


def read_app_json(path: Path, text: str) -> Sources:
    data = load(path, text)
    env_data = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env_data, dict):
        return Sources()
    env: dict[str, str] = {}
    lines: dict[str, str] = {}
    env_at = max(text.find('"env"'), 0)
    for key, spec in env_data.items():
        val = spec.get("value") if isinstance(spec, dict) else spec
        if val is None or isinstance(val, (dict, list)):
            continue   # a generator or a required value the user enters: unknown here
        env[str(key)] = str(val).lower() if isinstance(val, bool) else str(val)
        at = text.find(f'"{key}"', env_at)
        lines[str(key)] = f"{path.name}:{line_of(text, at) if at >= 0 else 1}"
    return Sources(envs=[EnvSite(path.name, env, lines)])
