"""Request parsing and JSON errors shared by every route: bad input is a 4xx, never a 500."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Literal, overload

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

MAX_BIGINT = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None, fields: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or {400: "bad_request", 401: "unauthorized", 404: "not_found",
                             409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                             422: "invalid", 503: "unavailable"}.get(status, "error")
        self.headers = headers or {}
        self.fields = fields

    def body(self) -> dict:
        doc: dict[str, object] = {"error": self.code, "message": self.message}
        if self.fields:
            doc["fields"] = self.fields
        return doc


def clean_text(value: str, name: str, status: int = 422) -> str:
    """PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse both."""
    if "\x00" in value:
        raise ApiError(status, f"{name} must not contain NUL characters", fields={name: "NUL character"})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(status, f"{name} is not valid UTF-8 text", fields={name: "invalid text"}) from None
    return value


def json_body() -> dict:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "send the body as JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    limit = request.max_content_length
    # A body without Content-Length (Transfer-Encoding: chunked) is read through a stream that
    # stops at the limit without a word: what was read is a truncated body. One more byte
    # from the server's own stream tells a body of exactly `limit` bytes from a longer one.
    if (request.content_length is None and limit is not None and len(raw) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge()
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(422, "the body must be a JSON object")
    return doc


@overload
def field_str(doc: dict, name: str, *, required: Literal[True] = True, max_len: int = 5000,
              min_len: int = 0, default: str | None = None) -> str: ...
@overload
def field_str(doc: dict, name: str, *, required: bool, max_len: int = 5000,
              min_len: int = 0, default: str | None = None) -> str | None: ...


def field_str(doc: dict, name: str, *, required: bool = True, max_len: int = 5000,
              min_len: int = 0, default: str | None = None) -> str | None:
    if name not in doc or doc[name] is None:
        if required:
            raise ApiError(422, f"field '{name}' is required", fields={name: "required"})
        return default
    value = doc[name]
    if not isinstance(value, str):
        raise ApiError(422, f"field '{name}' must be a string", fields={name: "must be a string"})
    clean_text(value, name)
    if len(value) > max_len:
        raise ApiError(422, f"field '{name}' is longer than {max_len} characters", fields={name: "too long"})
    if len(value.strip()) < min_len:
        raise ApiError(422, f"field '{name}' must not be empty", fields={name: "empty"})
    return value


def arg_str(name: str, *, max_len: int = 200) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    clean_text(value, name, status=400)
    if len(value) > max_len:
        raise ApiError(400, f"query parameter '{name}' is longer than {max_len} characters")
    return value


def arg_bool(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, f"query parameter '{name}' must be true or false")


def arg_limit(default: int = 20, maximum: int = 100) -> int:
    value = request.args.get("limit")
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, f"query parameter 'limit' must be an integer between 1 and {maximum}") from None
    if not 1 <= n <= maximum:
        raise ApiError(400, f"query parameter 'limit' must be between 1 and {maximum}")
    return n


def check_id(value: int) -> int:
    if not 0 < value <= MAX_BIGINT:
        raise ApiError(404, "not found")
    return value


def encode_cursor(created_at: datetime, row_id: int) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}:{row_id}".encode()).rstrip(b"=").decode()


def arg_cursor() -> tuple[datetime, int] | None:
    """Keyset cursor (created_at, id) of the last item of the previous page."""
    value = request.args.get("cursor")
    if value is None or value == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        micros_text, id_text = raw.split(":")
        micros, row_id = int(micros_text), int(id_text)
        if not (0 <= row_id <= MAX_BIGINT and -2**52 < micros < 2**52):
            raise ValueError
        return _EPOCH + timedelta(microseconds=micros), row_id
    except (ValueError, UnicodeError, OverflowError):
        raise ApiError(400, "query parameter 'cursor' is not a cursor this API returned") from None


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None
