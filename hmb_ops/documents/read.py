"""The one strict reader of documents hmb-ops wrote: anything unusable is a one-line ConfigError (exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from hmb_ops.errors import ConfigError
from hmb_ops.files import read_limited

from . import SCHEMA_VERSION
from .capacity import CapacityDocument
from .claims import ClaimsDocument
from .results import Results

Document = Results | CapacityDocument | ClaimsDocument

# A results document is tens of KB (a day-long run with per-second series stays in the low MB);
# the limit keeps `report /dev/zero` or a stray multi-GB file from filling memory.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

_MODELS: dict[str, type[Document]] = {"loadtest": Results, "capacity": CapacityDocument, "claims": ClaimsDocument}
_HINT = "give a results.json from hmb-ops loadtest, or a capacity.json or claims.json from hmb-ops capacity"


def parse_document(raw: object, *, path: str = "<document>") -> Document:
    """A decoded JSON value as the document its `kind` names (no kind: a load results document)."""
    if not isinstance(raw, dict):
        raise ConfigError("expected a JSON object", path=path, hint=_HINT)
    kind = raw.get("kind", "loadtest")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ConfigError(f"unknown document kind {kind!r}; expected one of {', '.join(_MODELS)}", path=path,
                          hint=_HINT)
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"unsupported schema_version {raw.get('schema_version')!r}; expected {SCHEMA_VERSION}",
                          path=path, hint=_HINT)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(err["msg"], path=path, field=where,
                          hint=f"the file is not a {kind} document from hmb-ops") from None


def read_document(path: str | os.PathLike) -> Document:
    """A results.json, capacity.json or claims.json (a folder: the one it holds, results.json first), validated."""
    p = Path(path)
    if p.is_dir():
        # A capacity or claims --out folder holds capacity.json / claims.json, not results.json.
        p = next((p / n for n in ("results.json", "capacity.json", "claims.json") if (p / n).is_file()),
                 p / "results.json")
    data = read_limited(p, limit=MAX_DOCUMENT_BYTES, what="results file")
    try:
        raw = json.loads(data.decode("utf-8"))
    except RecursionError:  # JSON nested thousands of levels deep: not a document hmb-ops wrote
        raise ConfigError("not a results document (nested too deep)", path=str(p), hint=_HINT) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"not a readable JSON document ({exc.__class__.__name__})", path=str(p)) from None
    try:
        return parse_document(raw, path=str(p))
    except RecursionError:
        raise ConfigError("not a results document (nested too deep)", path=str(p), hint=_HINT) from None


def read_results(path: str | os.PathLike) -> Results:
    """Like read_document, for callers that need load results (gates, baselines, capacity analyse)."""
    doc = read_document(path)
    if not isinstance(doc, Results):
        raise ConfigError(f"a {doc.kind} document, not load test results", path=str(path),
                          hint="give a results.json from hmb-ops loadtest")
    return doc
