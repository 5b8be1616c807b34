"""Request parsing for the ASGI variant, with the Flask app's rules and messages (hmb_ops.refapp.http):
bad input is a 4xx with the same JSON body, never a 500. Works on plain values (query mappings,
bytes), so the rules stay testable without a server."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

MAX_BIGINT = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
          503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None, fields: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers or {}
        self.fields = fields

    def body(self) -> dict:
        doc: dict[str, object] = {"error": self.code, "message": self.message}
        if self.fields:
            doc["fields"] = self.fields
        return doc


def clean_text(value: str, name: str, status: int = 422) -> str:
    if "\x00" in value:
        raise ApiError(status, f"{name} must not contain NUL characters", fields={name: "NUL character"})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(status, f"{name} is not valid UTF-8 text", fields={name: "invalid text"}) from None
    return value


def json_object(content_type: str | None, raw: bytes) -> dict:
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "send the body as JSON with Content-Type: application/json")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(422, "the body must be a JSON object")
    return doc


def too_large() -> ApiError:
    return ApiError(413, "The data value transmitted exceeds the capacity limit.", code="request_entity_too_large")


def field_str(doc: dict, name: str, *, required: bool = True, max_len: int = 5000, min_len: int = 0,
              default: str | None = None) -> str | None:
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


def required_str(doc: dict, name: str, *, max_len: int = 5000, min_len: int = 0) -> str:
    """A required string field (field_str with required=True never returns None)."""
    value = field_str(doc, name, max_len=max_len, min_len=min_len)
    assert value is not None
    return value


def arg_str(args: Mapping[str, str], name: str, *, max_len: int = 200) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    clean_text(value, name, status=400)
    if len(value) > max_len:
        raise ApiError(400, f"query parameter '{name}' is longer than {max_len} characters")
    return value


def arg_bool(args: Mapping[str, str], name: str) -> bool | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, f"query parameter '{name}' must be true or false")


def arg_limit(args: Mapping[str, str], default: int = 20, maximum: int = 100) -> int:
    value = args.get("limit")
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, f"query parameter 'limit' must be an integer between 1 and {maximum}") from None
    if not 1 <= n <= maximum:
        raise ApiError(400, f"query parameter 'limit' must be between 1 and {maximum}")
    return n


def path_id(text: str) -> int:
    """A path id as Flask's <int:...> converter takes it (digits only), within bigint; else 404."""
    if not text.isascii() or not text.isdigit():
        raise ApiError(404, "The requested URL was not found on the server.", code="not_found")
    value = int(text)
    if not 0 < value <= MAX_BIGINT:
        raise ApiError(404, "not found")
    return value


def encode_cursor(created_at: datetime, row_id: int) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}:{row_id}".encode()).rstrip(b"=").decode()


def arg_cursor(args: Mapping[str, str]) -> tuple[datetime, int] | None:
    value = args.get("cursor")
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
