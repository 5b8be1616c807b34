"""Bearer tokens (HMAC-SHA256 signed, with expiry; stdlib only) and bcrypt password checks.

A token is `base64url(json payload) "." base64url(signature)`; the payload carries the user id and
the expiry. Checking one needs no database round trip, like the JWTs of the reference app.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time

# The cost of the dummy hash when nothing tells the real one (the seed's default cost).
DEFAULT_COST = 10


class InvalidToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def issue(user_id: int, secret: bytes, ttl: int, *, now: float | None = None) -> str:
    payload = {"sub": int(user_id), "exp": int((now if now is not None else time.time()) + ttl)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{sig}"


def verify(token: str, secret: bytes, *, now: float | None = None) -> int:
    """The user id of a valid, unexpired token; InvalidToken otherwise (with a reason)."""
    try:
        body, sig = token.split(".")
        given = _unb64(sig)
        expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    except (ValueError, UnicodeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(given, expected):
        raise InvalidToken("bad token signature")
    try:
        payload = json.loads(_unb64(body))
        user_id, expires = int(payload["sub"]), int(payload["exp"])
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed token") from None
    if expires <= (now if now is not None else time.time()):
        raise InvalidToken("token expired")
    return user_id


def bearer(header: str | None) -> str:
    if not header:
        raise InvalidToken("missing Authorization: Bearer <token>")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("Authorization must be 'Bearer <token>'")
    return value.strip()


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
