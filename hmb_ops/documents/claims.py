"""claims.json: the seed's claims measured on the reference app (hmb-ops capacity claims)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import SCHEMA_VERSION
from .base import DocumentModel


class Claim(DocumentModel):
    name: str
    claim: str = Field(description="the seed's words")
    claimed: str = Field(description="the claimed factor as text ('2x', '10–50x')")
    claimed_low: float = Field(description="the lowest factor the claim promises")
    measured: float | None = Field(None, description="the measured factor (None: not measured)")
    holds: bool | None = Field(None, description="measured ≥ 0.9 × claimed_low (None: not measured)")
    detail: str = Field(description="what was compared, with the raw numbers")
    conditions: dict[str, Any] = Field(default_factory=dict)
    runs: list[str] = Field(default_factory=list, description="results files behind the figure")


class ClaimsDocument(DocumentModel):
    """claims.json."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["claims"] = "claims"
    conditions: dict[str, Any] = Field(default_factory=dict)
    out_dir: str | None = None
    claims: list[Claim]
    notes: list[str] = Field(default_factory=list)
