"""Bearer tokens (HMAC-SHA256 signed, with expiry; stdlib only) and the bcrypt password checks of
hmb_ops.passwords (shared with the seed, which must not import the app).

A token is `base64url(json payload) "." base64url(signature)`; the payload carries the user id and
the expiry. Checking one needs no database round trip, like the JWTs of the reference app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

# Re-exported: the routes call them as auth.check_password etc.
from hmb_ops.passwords import DEFAULT_COST, check_password, dummy_hash, hash_cost, hash_password

__all__ = ["DEFAULT_COST", "InvalidToken", "bearer", "check_password", "dummy_hash", "hash_cost", "hash_password",
           "issue", "verify"]


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
