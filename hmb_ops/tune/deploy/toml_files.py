"""railway.toml ([deploy] startCommand), nixpacks.toml ([start] cmd) and fly.toml ([processes],
[experimental] cmd, [[services]] / [http_service] processes, [env]).

Values are read with tomllib (stdlib); lines and spans come from `locate`, a small scanner of the
same text that finds `key = value` inside a table, so `tune --merge` rewrites only that value.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from hmb_ops.errors import ConfigError
from hmb_ops.tune.deploy.sources import Sources, StartSite

_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_LINE = re.compile(r"at line (\d+)")


def load(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        msg = _TOML_LINE.sub("", str(exc)).replace("(, column", "(column").strip()
        raise ConfigError(f"TOML syntax error: {msg}", path=str(path), line=int(m.group(1)) if m else None) from None


def _value_end(text: str, start: int) -> int:
    """End of the TOML value starting at `start`: a string, an array (nested, multi-line) or a bare word."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "\"'":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < len(text):
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                j += 1
            i = j + len(quote)
            if depth == 0:
                return i
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == "#" and depth > 0:
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        elif depth == 0 and c in "\n#":
            return len(text[:i].rstrip()) if c == "#" else i
        i += 1
    return len(text)


def locate(text: str, table: str, key: str, index: int = 0) -> tuple[int, int, int] | None:
    """(line, start, end) of `key`'s value in `[table]` (the index-th `[[table]]`); "" = the root table."""
    current, seen = "", -1
    pos = 0
    pattern = re.compile(r"^\s*(?:\"" + re.escape(key) + r"\"|'" + re.escape(key) + r"'|" + re.escape(key)
                         + r")\s*=\s*")
    for n, raw in enumerate(text.splitlines(keepends=True), start=1):
        h = _HEADER.match(raw)
        if h and not raw.lstrip().startswith("[[") and h.group(1):
            h = None
        if h:
            name = h.group(2).strip()
            if name == table:
                seen += 1
            current = name
        elif current == table and (table == "" or seen == index):
            m = pattern.match(raw)
            if m:
                start = pos + m.end()
                return n, start, _value_end(text, start)
        pos += len(raw)
    return None


def _site(path: Path, text: str, table: str, key: str, name: str, command, *, web: bool = True,
          env: dict[str, str] | None = None, env_lines: dict[str, str] | None = None, index: int = 0) -> StartSite:
    found = locate(text, table, key, index)
    line, span = (found[0], (found[1], found[2])) if found else (1, None)
    if isinstance(command, list):
        command = [str(w) for w in command]
        style = "toml-list"
    elif isinstance(command, str):
        style = "toml"
    else:
        raise ConfigError(f"{table}.{key} must be a string or a list of strings", path=str(path), line=line)
    return StartSite(path.name, line, name, command, dict(env or {}), dict(env_lines or {}), web=web, span=span,
                     style=style)


def read_railway(path: Path, text: str) -> Sources:
    data = load(path, text)
    cmd = (data.get("deploy") or {}).get("startCommand")
    if cmd is None:
        return Sources()
    return Sources(starts=[_site(path, text, "deploy", "startCommand", f"{path.name} deploy.startCommand", cmd)])


def read_nixpacks(path: Path, text: str) -> Sources:
    data = load(path, text)
    cmd = (data.get("start") or {}).get("cmd")
    if cmd is None:
        return Sources()
    return Sources(starts=[_site(path, text, "start", "cmd", f"{path.name} start.cmd", cmd)])


def _web_processes(data: dict) -> set[str]:
    """Process groups that receive HTTP: those [[services]] and [http_service] name ("app" by default)."""
    web: set[str] = set()
    services = data.get("services") or []
    http = data.get("http_service")
    for svc in [*(services if isinstance(services, list) else []), *([http] if isinstance(http, dict) else [])]:
        if isinstance(svc, dict):
            web.update(svc.get("processes") or ["app"])
    return web or {"app"}


def read_fly(path: Path, text: str) -> Sources:
    data = load(path, text)
    env = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (data.get("env") or {}).items()}
    env_lines = {}
    for k in env:
        found = locate(text, "env", k)
        env_lines[k] = f"{path.name}:{found[0] if found else 1}"
    web = _web_processes(data)
    out = Sources()
    processes = data.get("processes") or {}
    if not isinstance(processes, dict):
        raise ConfigError("[processes] must be a table of name = command", path=str(path))
    for name, cmd in processes.items():
        out.starts.append(_site(path, text, "processes", name, f"{path.name} process {name}", cmd,
                                web=name in web, env=env, env_lines=env_lines))
    exp = data.get("experimental") or {}
    if not processes and isinstance(exp, dict) and exp.get("cmd") is not None:
        out.starts.append(_site(path, text, "experimental", "cmd", f"{path.name} experimental.cmd", exp["cmd"],
                                env=env, env_lines=env_lines))
    if not out.starts and env:
        # No command here: the image's CMD runs with fly's [env].
        from hmb_ops.tune.deploy.sources import EnvSite

        out.envs.append(EnvSite(path.name, env, env_lines))
    return out
