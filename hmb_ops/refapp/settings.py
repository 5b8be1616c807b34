"""The reference app's settings, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hmb_ops.private_files import TOKEN_SECRET_ENV
from hmb_ops.refapp.secret import app_secret_message, token_secret_problem


class SettingsError(ValueError):
    """A setting the app cannot start with; the message names the variable and what to set."""


def _int(env, name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return max(minimum, int(float(raw)))
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _float(env, name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return max(minimum, float(raw))
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    pool_min: int = 2
    pool_max: int = 5
    pool_timeout: float = 5.0
    statement_timeout_ms: int = 30000
    background_workers: int = 4
    background_queue_size: int = 1000
    background_mode: str = "thread"
    background_drain_timeout: float = 25.0
    notify_delay_ms: int = 0
    token_secret: bytes = b""
    token_ttl: int = 3600
    bcrypt_rounds: int = 0          # 0: keep whatever cost the stored hash has
    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("DATABASE_URL", "")
        pool_max = _int(env, "DB_POOL_MAX", 5, 1)
        pool_min = min(_int(env, "DB_POOL_MIN", 2, 0), pool_max)
        mode = (env.get("BACKGROUND_MODE") or "thread").strip().lower()
        if mode not in ("thread", "inline"):
            raise SettingsError(f"BACKGROUND_MODE must be thread or inline, got {mode!r}")
        # No fallback: a key derived from anything the deployment already holds (the database URL
        # once was) lets whoever knows that thing mint a token for any user.
        secret = env.get(TOKEN_SECRET_ENV)
        problem = token_secret_problem(secret)
        if problem:
            raise SettingsError(app_secret_message(problem))
        rounds = _int(env, "BCRYPT_ROUNDS", 0, 0)
        if rounds and not 4 <= rounds <= 16:
            raise SettingsError(f"BCRYPT_ROUNDS must be between 4 and 16, got {rounds}")
        return cls(
            database_url=url,
            pool_min=pool_min,
            pool_max=pool_max,
            pool_timeout=_float(env, "DB_POOL_TIMEOUT", 5.0, 0.0),
            statement_timeout_ms=_int(env, "DB_STATEMENT_TIMEOUT_MS", 30000, 0),
            background_workers=_int(env, "BACKGROUND_WORKERS", 4, 1),
            background_queue_size=_int(env, "BACKGROUND_QUEUE_SIZE", 1000, 1),
            background_mode=mode,
            background_drain_timeout=_float(env, "BACKGROUND_DRAIN_TIMEOUT", 25.0, 0.0),
            notify_delay_ms=_int(env, "NOTIFY_DELAY_MS", 0, 0),
            token_secret=secret.encode("utf-8", "surrogateescape"),
            token_ttl=_int(env, "HMB_REFAPP_TOKEN_TTL", 3600, 1),
            bcrypt_rounds=rounds,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024),
        )
