"""Database URLs: parse, validate, mask. No psycopg2 import here, so the CLI can use it cheaply.

A URL is valid only when libpq (which connects) and Python's urlsplit (which the rest of the code
and every reader of a log uses) split it the same way. Where they could disagree — an unencoded
'@', '/', '?' or '#' in a password, a bad percent-escape, a space — the URL is malformed (exit 2)
and the message never shows the part that might be the password: a password that cannot be
located cannot be masked, so nothing around it is echoed either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from hmb_ops.errors import InvalidDatabaseUrl

SCHEMES = ("postgresql", "postgres")
MASK = "***"
HINT = "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME with special characters percent-encoded"

# libpq's connection keywords (PostgreSQL 17): a query parameter outside this list makes libpq fail
# with a message that quotes it, and a password holding '&' would be split into such parameters.
LIBPQ_KEYWORDS = frozenset("""
host hostaddr port dbname user password passfile require_auth channel_binding connect_timeout
client_encoding options application_name fallback_application_name keepalives keepalives_idle
keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode sslnegotiation
requiressl sslcompression sslcert sslkey sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni
requirepeer ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib gssdelegation service
target_session_attrs load_balance_hosts ssl
""".split())

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z", re.S)
_KEYWORD_DSN = re.compile(r"\s*[A-Za-z_]+\s*=")
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A password keyword anywhere in text (also the end of DB_PASSWORD=, sslpassword=): quoted (libpq:
# backslash escapes, may be unterminated) or bare (up to whitespace; a backslash escapes the next
# character, a space included).
_KW_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:\\.|\\\Z|[^'\\])*(?:'|\Z)|(?:\\.|\\\Z|[^\s\\])+)", re.S)
_OTHER_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:@/\s]*):[^\s]*@")
# In free text: a URL (from its scheme to the next whitespace) or a password keyword.
_IN_TEXT = re.compile(r"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://\S*)"
                      r"|(?P<kw>password\s*=\s*)(?:'(?:\\.|\\\Z|[^'\\])*(?:'|\Z)|(?:\\.|\\\Z|[^\s\\])+)",
                      re.I | re.S)


class _Malformed(Exception):
    """A problem in a URL, described without quoting any part of it."""


@dataclass(frozen=True)
class _Parts:
    scheme: str
    userinfo: str | None   # as written, without the '@'
    hostlist: str          # as written: host[:port][,host[:port]...]
    path: str | None       # as written, after the '/'
    params: tuple[tuple[str, str, str, str], ...]  # (raw key, raw value, key, value)
    user: str | None
    password: str | None
    hosts: tuple[tuple[str, int | None], ...]

    def rebuild(self, *, password_mask: bool = False, path: str | None = None) -> str:
        out = f"{self.scheme}://"
        if self.userinfo is not None:
            user_raw, sep, pw_raw = self.userinfo.partition(":")
            out += user_raw + (sep + (MASK if password_mask and pw_raw else pw_raw)) + "@"
        out += self.hostlist
        path = self.path if path is None else path
        if path is not None:
            out += "/" + path
        if self.params:
            out += "?" + "&".join(f"{rk}={MASK if password_mask and k == 'password' else rv}"
                                  for rk, rv, k, _v in self.params)
        return out

    def secrets(self) -> list[str]:
        """The password as written and as decoded (userinfo and ?password=)."""
        found = [self.password, (self.userinfo or "").partition(":")[2]] if self.password else []
        found += [x for _rk, rv, k, v in self.params if k == "password" for x in (rv, v)]
        return [f for f in found if f]


def _decode(text: str, what: str) -> str:
    """libpq's percent-decoding: every '%' starts a two-hex-digit escape, %00 is refused."""
    if _PCT.search(text):
        raise _Malformed(f"invalid percent-escape in the {what} (write a literal '%' as %25)")
    if re.search(r"%00", text):
        raise _Malformed(f"%00 in the {what}")
    return unquote(text)


def _split(url: str) -> _Parts:
    """Split the way libpq does (fe-connect.c, conninfo_uri_parse_options) and refuse whatever
    urlsplit would read differently. Problems are described, never quoted."""
    m = _SCHEME.fullmatch(url)
    if not m:
        if _KEYWORD_DSN.match(url):
            raise _Malformed("this is a keyword DSN (host=... password=...); hmb-ops takes a URL")
        raise _Malformed("it does not start with postgresql:// or postgres://")
    scheme, rest = m.groups()
    if scheme not in SCHEMES:
        raise _Malformed("the scheme must be postgresql:// or postgres://")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in rest):
        raise _Malformed("it contains a space or a control character (percent-encode a space as %20)")
    if "#" in rest:
        raise _Malformed("it contains '#' (percent-encode '#' in a password as %23)")
    slash = rest.find("/")
    head = rest if slash < 0 else rest[:slash]
    # libpq: the credentials end at the first '@' before any '/'; urlsplit: at the last '@'
    # before any '/', '?' or '#'. Only one '@', before any '?', satisfies both.
    if head.count("@") > 1:
        raise _Malformed("more than one '@' before the host (percent-encode '@' in the password as %40)")
    userinfo = None
    after = rest
    if "@" in head:
        userinfo, _, after = rest.partition("@")
        if "?" in userinfo:
            raise _Malformed("'?' before the '@' (percent-encode '?' in the password as %3F)")
    stop = min([i for i in (after.find("/"), after.find("?")) if i >= 0], default=len(after))
    hostlist, remainder = after[:stop], after[stop:]
    path = query = None
    if remainder.startswith("/"):
        path, q, query = remainder[1:].partition("?")
        query = query if q else None
    elif remainder.startswith("?"):
        query = remainder[1:]
    user = password = None
    if userinfo is not None:
        user_raw, sep, pw_raw = userinfo.partition(":")
        user = _decode(user_raw, "user name") or None
        password = _decode(pw_raw, "password") if sep else None
    hosts = []
    for entry in hostlist.split(","):
        if entry.startswith("["):
            host, bracket, port_text = entry[1:].partition("]")
            if not bracket or (port_text and not port_text.startswith(":")):
                raise _Malformed("an IPv6 host must be written [ADDRESS] or [ADDRESS]:PORT")
            port_text = port_text[1:]
        else:
            host, _, port_text = entry.partition(":")
        if port_text and not (port_text.isascii() and port_text.isdigit()):
            if "@" in rest[len(head):]:
                raise _Malformed("the port is not a number: a '/' in the password cuts the URL short "
                                 "(percent-encode '/' as %2F and '@' as %40)")
            raise _Malformed("the port is not a number")
        port = int(port_text) if port_text else None
        if port is not None and not 0 < port < 65536:
            raise _Malformed("port out of range (1-65535)")
        hosts.append((_decode(host, "host"), port))
    # An '@' after the host is either a '/' in the password cutting the credentials off
    # ('app:pa/ss@host' reads as host 'app', database 'ss@host') or an unencoded '@' in a
    # database name or value; either way the password could end up shown as a database name.
    if "@" in (path or "") or (userinfo is None and "@" in rest):
        raise _Malformed("an '@' after the host: a '/' in the password cuts the URL short (percent-encode "
                         "'/' as %2F; an '@' in a database name or query value as %40)")
    params = []
    items = query.split("&") if query else []
    if items and items[-1] == "":
        items.pop()  # libpq ignores one trailing '&'
    for item in items:
        if item.count("=") != 1:
            raise _Malformed("a query parameter is not KEY=VALUE (percent-encode '&' and '=' in a "
                             "password as %26 and %3D)")
        rk, _, rv = item.partition("=")
        key = _decode(rk, "query")
        if key not in LIBPQ_KEYWORDS:
            raise _Malformed("a query parameter is not a libpq connection option (percent-encode '&' "
                             "and '=' in a password as %26 and %3D)")
        params.append((rk, rv, key, _decode(rv, "query")))
    return _Parts(scheme=scheme, userinfo=userinfo, hostlist=hostlist, path=path, params=tuple(params),
                  user=user, password=password, hosts=tuple(hosts))


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

    def with_database(self, dbname: str) -> DatabaseUrl:
        return parse(_split(self.url).rebuild(path=quote(dbname, safe="")))


def parse(url: str) -> DatabaseUrl:
    """Validate a PostgreSQL URL; raise InvalidDatabaseUrl (exit 2) naming what is wrong."""
    if not url or not url.strip():
        raise InvalidDatabaseUrl("the database URL is empty", hint=HINT)
    url = url.strip()
    try:
        parts = _split(url)
    except _Malformed as exc:
        shown = _mask_loose(url) if _SCHEME.fullmatch(url) else None
        where = f"malformed database URL {shown}" if shown else "malformed database URL"
        raise InvalidDatabaseUrl(f"{where}: {exc}", hint=HINT) from None
    query = {k: v for _rk, _rv, k, v in parts.params}
    first_host, first_port = parts.hosts[0]
    host = first_host or query.get("host") or ""
    if not host:
        raise InvalidDatabaseUrl(f"malformed database URL {mask(url)}: no host", hint=HINT)
    port = first_port
    if port is None and query.get("port"):
        if not (query["port"].isascii() and query["port"].isdigit() and 0 < int(query["port"]) < 65536):
            raise InvalidDatabaseUrl(f"malformed database URL {mask(url)}: the port is not a number "
                                     "between 1 and 65535", hint=HINT)
        port = int(query["port"])
    dbname = _decode(parts.path, "database name") if parts.path else None
    return DatabaseUrl(url=url, host=host, port=port, user=parts.user or query.get("user"),
                       dbname=query.get("dbname") or dbname or None)


def _mask_loose(url: str) -> str:
    """Mask a URL that does not split cleanly: show only what cannot be part of a password
    (control characters shown as '?', so a message cannot carry terminal escapes)."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", _mask_broken(url))


def _mask_broken(url: str) -> str:
    m = _SCHEME.fullmatch(url)
    if m is None:  # callers check the scheme first; without one nothing is safe to show
        return MASK
    scheme, rest = m.group(1) + "://", m.group(2)
    if "@" in rest:
        head, _, tail = rest.rpartition("@")
        if re.search(r"[?=&\s]", head):
            return scheme + MASK  # a query (or a space) before the last '@': a password may be anywhere
        user, colon, _pw = head.partition(":")
        if not colon and re.fullmatch(r"[\w.~%+-]*", head):
            shown = head + "@"
        elif colon and re.fullmatch(r"[\w.~%+-]*", user):
            shown = f"{user}:{MASK}@"
        else:
            shown = MASK + "@"
        return scheme + shown + _mask_tail(tail)
    host, colon, _port = re.split(r"[/?#\s]", rest, maxsplit=1)[0].partition(":")
    if colon:
        return f"{scheme}{host}:{MASK}"  # 'user:password' without its '@' reads as host:port
    return scheme + _mask_tail(rest)


def _mask_tail(tail: str) -> str:
    """Host, port and path of a broken URL; its query and anything after a space are hidden."""
    cut = re.search(r"[?#\s\x00-\x1f\x7f]", tail)
    return tail if not cut else tail[:cut.start()] + ("?" if cut.group(0) == "?" else "") + MASK


def mask(url: str) -> str:
    """Return the URL with its password replaced by ***, whatever else is wrong with it."""
    if not url or not url.strip():
        return url
    text = url.strip()
    try:
        return _split(text).rebuild(password_mask=True)
    except _Malformed:
        pass
    if _SCHEME.fullmatch(text):
        return _mask_loose(text)
    if _KEYWORD_DSN.match(text):
        return _KW_PASSWORD.sub(lambda k: k[1] + MASK, text)
    return MASK  # not a URL at all: nothing in it can be shown safely


def _secrets(url: str) -> list[str]:
    """Every text that may be the password of a configured URL (or keyword DSN)."""
    text = (url or "").strip()
    try:
        return _split(text).secrets()
    except _Malformed:
        pass
    found = []
    m = _SCHEME.fullmatch(text)
    if m:
        # A broken URL: the password is somewhere between the first ':' after the user name and
        # the last '@'; take the widest reading.
        rest = m.group(2)
        head = rest.rpartition("@")[0] if "@" in rest else rest  # 'user:password' with no '@host'
        if ":" in head:
            found.append(head.partition(":")[2])
        found += [v.split("&", 1)[0] for v in re.findall(r"(?i)password=(\S+)", m.group(2))]
    found += [k[2].strip("'") for k in _KW_PASSWORD.finditer(text)]
    return [f for f in found if f]


def mask_text(text: str, *urls: str) -> str:
    """Remove every password of the given URLs (and any URL-shaped password) from free text."""
    for url in urls:
        for secret in sorted(set(_secrets(url)), key=len, reverse=True):
            for form in sorted({secret, quote(secret, safe=""), secret.replace("\\", "")}, key=len, reverse=True):
                if form:
                    text = text.replace(form, MASK)

    return _IN_TEXT.sub(_mask_match, text)


def _mask_match(m: re.Match) -> str:
    if m["kw"]:
        return m["kw"] + MASK
    url = m["url"]
    if url.split("://", 1)[0].lower() in SCHEMES:
        return mask(url)
    # Another scheme (an http:// target, say): hide only its user:password@ and ?password=.
    return _KW_PASSWORD.sub(lambda k: k[1] + MASK, _OTHER_USERINFO.sub(lambda u: f"{u[1]}:{MASK}@", url))
