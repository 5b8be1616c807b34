"""search.json: `hmb-ops tune --search` — candidate worker configurations measured under short
stepped load, the pick at the SLO next to the formula's choice, and the noise between rounds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import SCHEMA_VERSION
from .base import DocumentModel


class SearchMeasurement(DocumentModel):
    round: int = Field(description="1-based round; each round measures its candidates in a new order")
    sustainable_rps: float = Field(description="throughput where the SLO breaks (capacity's knee reading)")
    peak_rps: float = Field(0.0, description="the highest step throughput with errors under the limit")
    knee_users: float | None = Field(None, description="users at the highest step that met the SLO")
    p95_ms: float | None = Field(None, description="p95 at the knee step")
    error_rate: float | None = Field(None, description="error rate at the knee step")
    slo_held_throughout: bool = False
    reason: str = Field("", description="the knee's one-line explanation")
    valid: bool = True
    results: str | None = Field(None, description="the load run's results.json")


class SearchCandidate(DocumentModel):
    label: str = Field(description="'4x4' (workers × threads) or '3w' (workers, one event loop each)")
    worker_class: str
    workers: int
    threads: int
    db_pool_max: int | None = None
    formula: bool = Field(False, description="the formula's own choice (tune without --search)")
    skipped: str | None = Field(None, description="why it was not measured (memory or connection budget)")
    measurements: list[SearchMeasurement] = Field(default_factory=list)
    mean_rps: float | None = None
    spread: float | None = Field(None, description="(max − min) ÷ mean of its rounds; None with one round")


class SearchDocument(DocumentModel):
    """search.json."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["tune-search"] = "tune-search"
    app: str
    worker_class: str
    slo: list[str]
    steps: list[list[float]] = Field(description="[users, seconds] of each load step")
    rounds: int
    candidates: list[SearchCandidate]
    pick: str | None = Field(None, description="label of the chosen candidate")
    ranked_by: Literal["sustainable_rps", "peak_rps"] = Field(
        "sustainable_rps", description="peak_rps when some measured candidate never met the SLO at any step")
    formula: str = Field(description="label of the formula's choice")
    noise: float | None = Field(None, description="relative difference between rounds of one candidate")
    gap: float | None = Field(None, description="(pick − formula) ÷ formula, measured")
    within_noise: bool | None = None
    explanation: list[str] = Field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    conditions: dict[str, Any] = Field(default_factory=dict)
    out_dir: str | None = None
    written: list[str] = Field(default_factory=list, description="the plan's files written with --out")
