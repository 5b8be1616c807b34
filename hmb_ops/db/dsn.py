"""Database URLs: parse, validate, mask. No psycopg2 import here, so the CLI can use it cheaply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from hmb_ops.errors import InvalidDatabaseUrl

SCHEMES = ("postgresql", "postgres")
MASK = "***"


@dataclass(frozen=True)
class DatabaseUrl:
    url: str
    host: str
    port: int | None
    user: str | None
    dbname: str | None

    @property
    def masked(self) -> str:
        return mask(self.url)

    def with_database(self, dbname: str) -> "DatabaseUrl":
        parts = urlsplit(self.url)
        return parse(urlunsplit(parts._replace(path="/" + quote(dbname))))


def parse(url: str) -> DatabaseUrl:
    """Validate a PostgreSQL URL; raise InvalidDatabaseUrl (exit 2) naming what is wrong."""
    hint = "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    if not url or not url.strip():
        raise InvalidDatabaseUrl("the database URL is empty", hint=hint)
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDatabaseUrl(f"malformed database URL {mask(url)}: {exc}", hint=hint) from None
    if parts.scheme not in SCHEMES:
        raise InvalidDatabaseUrl(
            f"malformed database URL {mask(url)}: scheme must be postgresql:// or postgres://",
            hint=hint)
    query = dict(parse_qsl(parts.query))
    host = parts.hostname or query.get("host") or ""
    if not host:
        raise InvalidDatabaseUrl(f"malformed database URL {mask(url)}: no host", hint=hint)
    if port is not None and not 0 < port < 65536:
        raise InvalidDatabaseUrl(f"malformed database URL {mask(url)}: port out of range", hint=hint)
    dbname = unquote(parts.path.lstrip("/")) or None
    return DatabaseUrl(url=url, host=host, port=port, user=unquote(parts.username) if parts.username else None,
                       dbname=dbname)


_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@")
_PW_PARAM = re.compile(r"(?i)(password=)([^&\s]+)")


def mask(url: str) -> str:
    """Return the URL with its password replaced by ***, whatever else is wrong with it."""
    if not url:
        return url
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@" if m["pw"] else m[0], url)
    return _PW_PARAM.sub(lambda m: m[1] + MASK, out)


def mask_text(text: str, *urls: str) -> str:
    """Remove every password of the given URLs (and any URL-shaped password) from free text."""
    for url in urls:
        if not url:
            continue
        try:
            pw = urlsplit(url).password
        except ValueError:
            pw = None
        if pw:
            for form in {pw, unquote(pw), quote(unquote(pw), safe="")}:
                text = text.replace(form, MASK)
    return _PW_PARAM.sub(lambda m: m[1] + MASK, re.sub(
        r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*):([^@/\s]+)@", lambda m: f"{m[1]}:{MASK}@", text))
