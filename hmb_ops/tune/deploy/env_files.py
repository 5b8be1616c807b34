"""Env files (.env, *.env, .env.production): NAME=value lines, as docker compose and heroku local read them."""

from __future__ import annotations

import re
from pathlib import Path

from hmb_ops.errors import ConfigError
from hmb_ops.tune.deploy.sources import EnvSite, Sources

_LINE = re.compile(r"^(?:export\s+)?(?P<key>[A-Za-z_]\w*)\s*=\s*(?P<value>.*)$")


def is_env_file(name: str) -> bool:
    return name == ".env" or name.endswith(".env") or name.startswith(".env.")


def parse(path: Path, text: str) -> tuple[dict[str, str], dict[str, str]]:
    env: dict[str, str] = {}
    lines: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ConfigError(f"not a NAME=value line: {line[:40]!r}", path=str(path), line=n,
                              hint="env files hold NAME=value lines and # comments")
        value = _value(m.group("value").strip())
        env[m.group("key")] = value
        lines[m.group("key")] = f"{path.name}:{n}"
    return env, lines


def _value(raw: str) -> str:
    """A quoted value up to its closing quote (a `# comment` may follow, as docker compose and
    python-dotenv read `KEY="3" # three`), else the text before ` #`."""
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        if end > 0 and (raw[end + 1:].strip() == "" or raw[end + 1:].lstrip().startswith("#")):
            return raw[1:end]
    return raw.split(" #", 1)[0].strip()


def read(path: Path, text: str) -> Sources:
    env, lines = parse(path, text)
    return Sources(envs=[EnvSite(path.name, env, lines)])
