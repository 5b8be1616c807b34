"""bcrypt password hashing, shared by the seed (which stores the hash) and the reference app (which
checks it). Its own module so that hmb_ops.db.seed never imports the Flask app's package."""

from __future__ import annotations

import functools

# The cost of the dummy hash when nothing tells the real one (the seed's default cost).
DEFAULT_COST = 10


def check_password(password: str, hashed: str) -> bool:
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except (ValueError, UnicodeError):
        return False


def hash_password(password: str, rounds: int) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


@functools.lru_cache(maxsize=4)
def dummy_hash(cost: int) -> str:
    """A hash of a random password at `cost`, made once per process: checking any password against
    it costs what checking a real account's does, and nothing matches it."""
    import secrets

    if not 4 <= cost <= 31:  # bcrypt's range; a stored hash claiming another cost is not a model
        cost = DEFAULT_COST
    return hash_password(secrets.token_urlsafe(16), cost)


def hash_cost(hashed: str) -> int | None:
    """The cost factor of a bcrypt hash ($2b$10$...), None when it is not one."""
    parts = hashed.split("$")
    if len(parts) >= 4 and parts[2].isdigit():
        return int(parts[2])
    return None
