"""The reference app as hmb-ops starts it: the state folder's token key, the tier's generated
Gunicorn config and environment, and the `GunicornProcess` that serves it (not started yet)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmb_ops.stack.gunicorn import GunicornProcess


@dataclass(frozen=True)
class TierConfig:
    """What `tune` generated for a tier: the plan, its gunicorn.conf.py and the app's environment."""

    plan: Any  # hmb_ops.tune.plan.TunePlan
    config_file: str
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceApp:
    """A GunicornProcess for the reference app and what it was built from."""

    process: GunicornProcess
    tier: TierConfig | None
    environment: dict[str, str]
    secret_source: str


def tier_config(tier: str, database_url: str, config_files: tuple[str, ...], out_dir: Path, *,
                worker_class: str | None = None) -> TierConfig:
    """Write the tier's generated files into out_dir (tune's plan for that tier and this database)."""
    from hmb_ops.tune.api import plan_for, tier_environment, write_files

    plan = plan_for(tier=tier, config_files=tuple(config_files), database_url=database_url,
                    worker_class=worker_class)
    files = write_files(plan, out_dir)
    conf = next(p for p in files if p.name == "gunicorn.conf.py")
    return TierConfig(plan, str(conf), dict(tier_environment(plan)))


def ensure_schema(database_url: str) -> list[str]:
    from hmb_ops.db.connect import connection
    from hmb_ops.db.schema import create_schema

    with connection(database_url) as conn:
        return create_schema(conn)


def token_secret(state_dir: str | os.PathLike, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(key, source): HMB_REFAPP_TOKEN_SECRET from this environment (or `env`) else the state folder's.

    A bad key in the environment is bad input (exit 2), raised before anything is written or started."""
    from hmb_ops.refapp.secret import token_secret_for_run

    return token_secret_for_run(state_dir, {**os.environ, **(env or {})})


def app_target(worker_class: str | None) -> str:
    """The reference app's Gunicorn target for this worker class: the FastAPI variant for ASGI
    workers (exit 3 naming the extra when it is not installed), else the Flask app."""
    from hmb_ops.tune.worker_classes import is_asgi

    if not is_asgi(worker_class):
        return "hmb_ops.refapp.wsgi:app"
    from hmb_ops.refapp_asgi import ASGI_APP, require_extra

    require_extra()
    return ASGI_APP


def reference_app(database_url: str, *, state_dir: str | os.PathLike, work_dir: Path | None = None,
                  tier: str | None = None,
                  config_files: tuple[str, ...] = (), worker_class: str | None = None,
                  config_file: str | None = None, workers: int | None = None, threads: int | None = None,
                  env: Mapping[str, str] | None = None, host: str = "127.0.0.1", port: int = 0,
                  log_dir: str | None = None) -> ReferenceApp:
    """The reference app under Gunicorn: with a tier, its generated config and environment (written
    into work_dir, a new temporary folder when None), else the app's built-in gthread defaults; `env`
    and `config_file` win over the tier."""
    secret, source = token_secret(state_dir, env)
    generated = None
    environment: dict[str, str] = {}
    if tier:
        out_dir = work_dir or Path(tempfile.mkdtemp(prefix="hmb-tier-"))
        generated = tier_config(tier, database_url, config_files, out_dir, worker_class=worker_class)
        environment.update(generated.environment)
    environment.update(env or {})
    served = worker_class or (generated.plan.values.get("worker_class") if generated else None)
    process = GunicornProcess(database_url, host=host, port=port, app=app_target(served),
                              config_file=config_file or (generated.config_file if generated else None),
                              workers=workers, threads=threads, worker_class=worker_class, env=environment,
                              log_dir=log_dir, token_secret=secret)
    return ReferenceApp(process, generated, environment, source)
