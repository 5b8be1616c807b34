"""The typed documents hmb-ops writes: load results, capacity and claims (public pydantic models).

    from hmb_ops.documents import read_document, Results
    doc = read_document("results.json")        # Results | CapacityDocument | ClaimsDocument
    doc.summary.latency_ms.p95

SCHEMA_VERSION lives here, once. The models are loaded on first use (module __getattr__) so that
importing the version number does not import pydantic at CLI start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

SCHEMA_VERSION = 1

_EXPORTS = {
    "Results": "results", "Summary": "results", "Latency": "results", "Endpoint": "results",
    "EndpointPoint": "results", "Step": "results", "StepServer": "results", "TimePoint": "results",
    "Stage": "results", "PercentilePoint": "results", "Server": "results", "ServerSample": "results",
    "WorkerSample": "results", "ServerSummary": "results", "Generator": "results", "OpenModel": "results",
    "CapacityDocument": "capacity", "CapacityTier": "capacity", "KneeSummary": "capacity",
    "StepJudgement": "capacity", "UslSummary": "capacity", "UsersAssumptions": "capacity",
    "ClaimsDocument": "claims", "Claim": "claims",
    "SearchDocument": "search", "SearchCandidate": "search", "SearchMeasurement": "search",
    "Document": "read", "read_document": "read", "read_results": "read", "parse_document": "read",
    "MAX_DOCUMENT_BYTES": "read",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    # The F401 suppressions below: names for type checkers only; at run time __getattr__ imports them on first use.
    from .capacity import CapacityDocument, CapacityTier, KneeSummary, StepJudgement, UsersAssumptions, UslSummary  # noqa: F401
    from .claims import Claim, ClaimsDocument  # noqa: F401
    from .read import MAX_DOCUMENT_BYTES, Document, parse_document, read_document, read_results  # noqa: F401
    from .results import (  # noqa: F401
        Endpoint,
        EndpointPoint,
        Generator,
        Latency,
        OpenModel,
        PercentilePoint,
        Results,
        Server,
        ServerSample,
        ServerSummary,
        Stage,
        Step,
        StepServer,
        Summary,
        TimePoint,
        WorkerSample,
    )
    from .search import SearchCandidate, SearchDocument, SearchMeasurement  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hmb_ops.documents' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)

