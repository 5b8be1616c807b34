"""Operational endpoints: /health (no database), /ready (SELECT 1), /metrics (all workers)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hmb_ops.refapp import metrics

router = APIRouter()


@router.get("/health")
async def health():
    return JSONResponse({"status": "ok", "pid": os.getpid()})


@router.get("/ready")
async def ready(request: Request):
    await request.app.state.hmb.db.ping()  # database trouble becomes a 503 through the handlers
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def prometheus():
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
