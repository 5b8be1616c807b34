"""The Flask app factory: JSON errors, bearer auth on /api/*, request metrics, per-worker state."""

from __future__ import annotations

import logging
import time

import psycopg2
from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from hmb_ops.refapp import auth, metrics
from hmb_ops.refapp.db import DatabaseDown, PoolTimeout
from hmb_ops.refapp.http import ApiError
from hmb_ops.refapp.lifecycle import AppState, register
from hmb_ops.refapp.secret import app_secret_message, token_secret_problem
from hmb_ops.refapp.settings import Settings, SettingsError

log = logging.getLogger("hmb_ops.refapp")

PUBLIC_API = {"/api/auth/login"}
RETRY_AFTER_S = "1"


def _error(status: int, body: dict, headers: dict | None = None):
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    # Settings built by hand (tests, embedding) get the same refusal as the environment's.
    problem = token_secret_problem(settings.token_secret.decode("utf-8", "surrogateescape"))
    if problem:
        raise SettingsError(app_secret_message(problem))
    app = Flask("hmb_ops.refapp")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own provider: keep the keys in our order
        app.json.sort_keys = False
    state = register(AppState(settings))
    app.extensions["hmb"] = state

    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        path = request.path
        if path.startswith("/api/") and path not in PUBLIC_API:
            try:
                token = auth.bearer(request.headers.get("Authorization"))
                g.user_id = auth.verify(token, settings.token_secret)
            except auth.InvalidToken as exc:
                raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    @app.after_request
    def _record(resp):
        elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.REQUESTS.labels(route=rule, method=request.method, status=str(resp.status_code)).inc()
        metrics.REQUEST_DURATION.labels(route=rule, method=request.method).observe(elapsed)
        resp.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.3f}"
        return resp

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _error(exc.status, exc.body(), exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 400
        headers = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        name = (exc.name or "error").lower().replace(" ", "_")
        return _error(status, {"error": name, "message": exc.description or exc.name}, headers)

    @app.errorhandler(PoolTimeout)
    def _pool_timeout(exc):
        metrics.DB_ERRORS.labels(kind="pool_timeout").inc()
        return _error(503, {"error": "unavailable", "message": f"database busy: {exc}"},
                      {"Retry-After": RETRY_AFTER_S})

    @app.errorhandler(DatabaseDown)
    def _db_down(exc):
        metrics.DB_ERRORS.labels(kind="unavailable").inc()
        return _error(503, {"error": "unavailable", "message": "database unavailable"},
                      {"Retry-After": RETRY_AFTER_S})

    @app.errorhandler(psycopg2.extensions.QueryCanceledError)
    def _db_timeout(exc):
        metrics.DB_ERRORS.labels(kind="statement_timeout").inc()
        return _error(503, {"error": "unavailable", "message": "database query timed out"},
                      {"Retry-After": RETRY_AFTER_S})

    @app.errorhandler(psycopg2.OperationalError)
    @app.errorhandler(psycopg2.InterfaceError)
    def _db_operational(exc):
        metrics.DB_ERRORS.labels(kind="operational").inc()
        return _error(503, {"error": "unavailable", "message": "database unavailable"},
                      {"Retry-After": RETRY_AFTER_S})

    @app.errorhandler(psycopg2.IntegrityError)
    def _db_integrity(exc):
        return _error(409, {"error": "conflict", "message": "the change conflicts with existing data"})

    @app.errorhandler(psycopg2.DataError)
    def _db_data(exc):
        return _error(400, {"error": "bad_request", "message": "a value is out of range or malformed"})

    @app.errorhandler(Exception)
    def _unexpected(exc):
        # A bug, not bad input: log it with its traceback, answer JSON without internals.
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return _error(500, {"error": "internal", "message": "internal error"})

    from hmb_ops.refapp.routes_api import bp as api_bp
    from hmb_ops.refapp.routes_ops import bp as ops_bp

    app.register_blueprint(ops_bp)
    app.register_blueprint(api_bp)
    return app
