"""The load-run side of the target: a --target URL checked and probed before the load starts.

Bringing up the reference environment itself (database, seed, indexes, tier config, Gunicorn) is
hmb_ops.stack.environment's; `Stack` is that `Environment`, under the name the load runner uses.
"""

from __future__ import annotations

import http.client
import ipaddress
from urllib.parse import urlsplit

from hmb_ops.errors import EnvironmentUnusable, UsageError
from hmb_ops.stack.environment import Environment as Stack

__all__ = ["Stack", "check_target", "probe", "shown_url"]

PROBE_TIMEOUT_S = 3.0


def check_target(target: str, allow_remote: bool) -> str:
    """A usable http(s) base URL; anything outside loopback needs allow_remote (exit 2 otherwise)."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--target must be an http:// or https:// URL, got {shown_url(target)!r}")
    try:
        port_ok = parts.port != 0
    except ValueError:
        port_ok = False
    if not port_ok:
        raise UsageError(f"--target {shown_url(target)}: the port is not a number from 1 to 65535")
    host = parts.hostname
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback and not allow_remote:
        raise UsageError(f"refusing to load-test {host}: only loopback targets by default",
                         hint="add --allow-remote if you own that server and mean it")
    return target.rstrip("/")


def shown_url(url: str, limit: int = 200) -> str:
    """A URL fit for a message: userinfo masked, query and fragment dropped, control characters %-escaped.

    Locations come from the server and targets from the user; either can carry credentials
    (`user:password@`) or a token in the query. Userinfo is cut up to the LAST '@' without parsing,
    because a malformed URL (a '/', '?' or '#' inside the password) splits the authority too early."""
    text = "".join(c if c.isprintable() else "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
                   for c in url)
    sep = text.find("//")
    if sep >= 0 and text.rfind("@") > sep:
        text = text[:sep + 2] + "***" + text[text.rfind("@"):]
    for mark in ("?", "#"):
        if mark in text:
            text = text[:text.index(mark)] + mark + "…"
            break
    return text if len(text) <= limit else text[:limit] + "…"


def probe(target: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Any HTTP answer but a redirect will do; silence or a refused connection is exit 3, fast.

    One request with http.client, never urllib: urlopen follows redirects (a 302 on loopback
    would send the probe to any host the server names) and honours *_proxy variables (the probe
    would leave loopback through the proxy). A 3xx is refused, exit 3: the load generator does not
    follow redirects either, so every request of the run would be a redirect, not the app."""
    parts = urlsplit(target)
    shown = shown_url(target)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = None
    try:
        conn = conn_class(parts.hostname or "", parts.port, timeout=timeout)
        conn.request("GET", (parts.path or "") + "/", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        status, location = resp.status, resp.getheader("Location")
    except (http.client.HTTPException, TimeoutError, ConnectionError, OSError, ValueError) as exc:
        raise EnvironmentUnusable(f"the target {shown} does not answer: {str(exc) or exc.__class__.__name__}",
                                  hint="start it, or check --target") from None
    finally:
        if conn is not None:
            conn.close()
    if 300 <= status < 400:
        where = f"to {shown_url(location)}" if location else "without a Location"
        raise EnvironmentUnusable(f"the target {shown} answered with a redirect (HTTP {status}) {where};"
                                  " hmb-ops never follows redirects",
                                  hint="give --target the URL the app itself answers on")
