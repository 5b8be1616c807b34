"""Where a project's deploy files start the app and what environment they give it.

Each reader (one module per file kind: `procfile`, `dockerfile`, `compose`, `render_yaml`,
`toml_files`, `json_files`, `env_files`) turns one file into `StartSite`s (a start command, the
line it is on, the environment that file gives it, and the exact characters of the command so
`tune --merge` can replace only them) and `EnvSite`s (variables with their lines). A file that does
not parse is a ConfigError naming file:line (exit 2). Commands are not interpreted here: that is
`hmb_ops.tune.cmdline`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hmb_ops.errors import ConfigError, UsageError

MAX_DEPLOY_FILE = 1024 * 1024


@dataclass(frozen=True)
class StartSite:
    """One start command in one file.

    command: text (shell form) or words (exec form / YAML list, as the platform runs them).
    env: the variables the same file gives this process (Dockerfile ENV, compose environment,
    render envVars, fly [env]), env_lines: each one's file:line.
    web: False for a process that is not the web server (a worker, a cron); it is named, not checked.
    span: (start, end) characters of the command's value in the file's text; style: how a new
    command is written back there (see hmb_ops.tune.deploy.edits).
    """

    file: str
    line: int
    name: str
    command: str | list[str] | None
    env: dict[str, str] = field(default_factory=dict)
    env_lines: dict[str, str] = field(default_factory=dict)
    web: bool = True
    span: tuple[int, int] | None = None
    style: str = "plain"
    prefix: tuple[str, ...] = ()   # exec-form words before the shell string (`sh -c`)
    note: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class EnvSite:
    """Variables a file sets for every process (.env, app.json's env)."""

    file: str
    env: dict[str, str]
    env_lines: dict[str, str]


@dataclass
class Sources:
    starts: list[StartSite] = field(default_factory=list)
    envs: list[EnvSite] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def read_text(path: Path) -> str:
    """A deploy file's text; too large, not UTF-8 or unreadable is bad input naming the file."""
    try:
        if path.stat().st_size > MAX_DEPLOY_FILE:
            raise UsageError(f"{path} is larger than {MAX_DEPLOY_FILE // 1024} KiB; not a deploy file")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=str(path)) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the file: {exc.strerror or exc}", hint="check its permissions") from None


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _readers() -> dict[str, Callable[[Path, str], Sources]]:
    from hmb_ops.tune.deploy import compose, dockerfile, procfile, render_yaml
    from hmb_ops.tune.deploy.json_files import read_app_json, read_railway as read_railway_json
    from hmb_ops.tune.deploy.toml_files import read_fly, read_nixpacks, read_railway as read_railway_toml

    return {
        "Procfile": procfile.read,
        "render.yaml": render_yaml.read, "render.yml": render_yaml.read,
        "railway.json": read_railway_json, "app.json": read_app_json,
        "railway.toml": read_railway_toml, "nixpacks.toml": read_nixpacks,
        "fly.toml": read_fly,
        "Dockerfile": dockerfile.read,
        "docker-compose.yml": compose.read, "docker-compose.yaml": compose.read,
        "compose.yml": compose.read, "compose.yaml": compose.read,
    }


def deploy_file_names(names) -> list[str]:
    """The names among a folder's listing that this module reads (env files apart)."""
    readers = _readers()
    return [n for n in sorted(names) if n in readers]


def read_sources(root: Path, names: list[str]) -> Sources:
    """Every start command and environment in the deploy files `names` of `root`."""
    from hmb_ops.tune.deploy import env_files

    readers = _readers()
    out = Sources()
    for name in names:
        if name not in readers and not env_files.is_env_file(name):
            continue
        path = root / name
        got = read_text_as(path, read_text(path))
        out.starts += got.starts
        out.envs += got.envs
        out.files.append(name)
    return out


def read_text_as(path: Path, text: str) -> Sources:
    """`text` read as the deploy file `path` (its kind from its name); files it names, such as a compose
    service's env_file, are looked up beside `path`."""
    from hmb_ops.tune.deploy import env_files

    reader = _readers().get(path.name)
    return reader(path, text) if reader else env_files.read(path, text)


def env_file_names(names) -> list[str]:
    from hmb_ops.tune.deploy import env_files

    return [n for n in sorted(names) if env_files.is_env_file(n)]


def is_regular(root: Path, name: str) -> bool:
    return os.path.isfile(root / name)
