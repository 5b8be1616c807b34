"""Operational endpoints: /health (no database), /ready (SELECT 1), /metrics (all workers)."""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify

from hmb_ops.refapp import metrics

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    return jsonify({"status": "ok", "pid": os.getpid()})


@bp.get("/ready")
def ready():
    state = current_app.extensions["hmb"]
    state.db.ping()  # database trouble becomes a 503 through the app's error handlers
    return jsonify({"status": "ready"})


@bp.get("/metrics")
def prometheus():
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
