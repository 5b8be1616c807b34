"""The reference app's endpoints a profile's traffic mix can name (no Locust import here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    route: str          # the pattern reported in results: "GET /api/posts/<id>"
    needs: str | None   # id kind the path needs ("post", "conversation") or None
    auth: bool = True

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}"


ENDPOINTS: dict[str, Endpoint] = {e.key: e for e in (
    Endpoint("login", "POST", "/api/auth/login", None, auth=False),
    Endpoint("feed", "GET", "/api/feed", None),
    Endpoint("jobs", "GET", "/api/jobs", None),
    Endpoint("jobs_search", "GET", "/api/jobs?q=<text>", None),
    Endpoint("conversations", "GET", "/api/messages/conversations", None),
    Endpoint("conversation_messages", "GET", "/api/messages/conversations/<id>/messages", "conversation"),
    Endpoint("unread_count", "GET", "/api/messages/unread-count", None),
    Endpoint("notifications", "GET", "/api/notifications", None),
    Endpoint("post_detail", "GET", "/api/posts/<id>", "post"),
    Endpoint("like", "POST", "/api/posts/<id>/like", "post"),
    Endpoint("create_post", "POST", "/api/posts", None),
    Endpoint("health", "GET", "/health", None, auth=False),
    Endpoint("ready", "GET", "/ready", None, auth=False),
)}
