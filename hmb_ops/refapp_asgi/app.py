"""The FastAPI app factory: JSON errors, bearer auth on /api/*, request metrics, per-worker state.

Auth and metrics are one plain ASGI middleware (no BaseHTTPMiddleware: it costs a task per
request); the routes take the Request and answer JSONResponse so bodies and status codes are the
Flask app's own, not FastAPI's validation shapes.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hmb_ops.refapp import auth, metrics
from hmb_ops.refapp.secret import app_secret_message, token_secret_problem
from hmb_ops.refapp.settings import Settings, SettingsError
from hmb_ops.refapp_asgi.background import AsyncJobs
from hmb_ops.refapp_asgi.db import AsyncDatabase, BadValue, Conflict, DatabaseDown, PoolTimeout, QueryTimeout
from hmb_ops.refapp_asgi.parse import ApiError

log = logging.getLogger("hmb_ops.refapp_asgi")

PUBLIC_API = {"/api/auth/login"}
RETRY_AFTER_S = "1"
# The Flask app's route rules: /metrics labels are the same for both variants.
FLASK_RULES = {"/api/posts/{post_id}": "/api/posts/<int:post_id>",
               "/api/posts/{post_id}/like": "/api/posts/<int:post_id>/like",
               "/api/messages/conversations/{conversation_id}/messages":
                   "/api/messages/conversations/<int:conversation_id>/messages"}


class AppState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = AsyncDatabase(settings)
        self.jobs = AsyncJobs(workers=settings.background_workers, queue_size=settings.background_queue_size,
                              mode=settings.background_mode)
        self.dummy_cost: int | None = None


def _json(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _canonical(name: bytes) -> bytes:
    """Header names as Flask/Werkzeug send them (Location, WWW-Authenticate): Starlette lowercases
    them, and a client that compares names case-sensitively would see the two variants differ."""
    known = _CANONICAL.get(name)
    if known is None:
        known = b"-".join(p[:1].upper() + p[1:] for p in name.split(b"-"))
        if len(_CANONICAL) < 256:
            _CANONICAL[name] = known
    return known


_CANONICAL: dict[bytes, bytes] = {b"www-authenticate": b"WWW-Authenticate"}


class AuthAndMetrics:
    """Bearer auth before routing (an /api path without a valid token is 401 even when unknown, as
    in Flask), then the request counter, the duration histogram and Server-Timing."""

    def __init__(self, app, secret: bytes):
        self.app = app
        self.secret = secret

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path = scope["path"]
        if path.startswith("/api/") and path not in PUBLIC_API:
            header = None
            for k, v in scope["headers"]:
                if k == b"authorization":
                    header = v.decode("latin-1")
                    break
            try:
                scope.setdefault("state", {})["user_id"] = auth.verify(auth.bearer(header), self.secret)
            except auth.InvalidToken as exc:
                response = _json(401, {"error": "unauthorized", "message": str(exc)}, {"WWW-Authenticate": "Bearer"})
                await self._send_measured(scope, receive, send, t0, response)
                return
        await self._send_measured(scope, receive, send, t0, self.app)

    async def _send_measured(self, scope, receive, send, t0, app):
        status = {"code": 500}

        async def measured_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                elapsed = time.perf_counter() - t0
                message["headers"] = [*((_canonical(k), v) for k, v in message.get("headers", ())),
                                      (b"Server-Timing", f"app;dur={elapsed * 1000:.3f}".encode())]
            await send(message)

        try:
            await app(scope, receive, measured_send)
        finally:
            route = scope.get("route")
            rule = getattr(route, "path", None)
            rule = FLASK_RULES.get(rule, rule) if rule else "unmatched"
            method = scope["method"]
            metrics.REQUESTS.labels(route=rule, method=method, status=str(status["code"])).inc()
            metrics.REQUEST_DURATION.labels(route=rule, method=method).observe(time.perf_counter() - t0)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    problem = token_secret_problem(settings.token_secret.decode("utf-8", "surrogateescape"))
    if problem:
        raise SettingsError(app_secret_message(problem))
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        # Graceful stop or max_requests recycle: finish queued fan-out, then close the pool.
        await state.jobs.shutdown(settings.background_drain_timeout)
        await state.db.close()
        metrics.mark_dead(os.getpid())

    app = FastAPI(title="hmb-ops reference app (ASGI)", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.hmb = state

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return _json(exc.status, exc.body(), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            return _json(404, {"error": "not_found", "message": "The requested URL was not found on the server."})
        if exc.status_code == 405:
            return _json(405, {"error": "method_not_allowed",
                               "message": "The method is not allowed for the requested URL."}, headers)
        return _json(exc.status_code, {"error": "error", "message": str(exc.detail)}, headers)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(_request: Request, exc: PoolTimeout):
        metrics.DB_ERRORS.labels(kind="pool_timeout").inc()
        return _json(503, {"error": "unavailable", "message": f"database busy: {exc}"}, {"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(DatabaseDown)
    async def _db_down(_request: Request, _exc: DatabaseDown):
        metrics.DB_ERRORS.labels(kind="unavailable").inc()
        return _json(503, {"error": "unavailable", "message": "database unavailable"}, {"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(QueryTimeout)
    async def _db_timeout(_request: Request, _exc: QueryTimeout):
        metrics.DB_ERRORS.labels(kind="statement_timeout").inc()
        return _json(503, {"error": "unavailable", "message": "database query timed out"},
                     {"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(Conflict)
    async def _db_integrity(_request: Request, _exc: Conflict):
        return _json(409, {"error": "conflict", "message": "the change conflicts with existing data"})

    @app.exception_handler(BadValue)
    async def _db_data(_request: Request, _exc: BadValue):
        return _json(400, {"error": "bad_request", "message": "a value is out of range or malformed"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # A bug, not bad input: logged with its traceback, answered as JSON without internals.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _json(500, {"error": "internal", "message": "internal error"})

    from hmb_ops.refapp_asgi.routes_api import router as api_router
    from hmb_ops.refapp_asgi.routes_ops import router as ops_router

    app.include_router(ops_router)
    app.include_router(api_router)
    app.add_middleware(AuthAndMetrics, secret=settings.token_secret)
    return app
