"""The one strict reader of documents hmb-ops wrote: anything unusable is a one-line ConfigError (exit 2)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from pydantic import ValidationError

from hmb_ops.errors import ConfigError

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


def _read_regular(p: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Checked on the open descriptor, so a FIFO, /dev/zero or a folder is refused before anything is
    read. (settings.loader has the same check for YAML; documents may import nothing of hmb-ops
    but errors, so the few lines live here too.)
    """
    what = "results file"
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=str(p), hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a {what}", path=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc.__class__.__name__}", path=str(p)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"not a regular file (a device, FIFO or socket); give a {what}", path=str(p))
        if st.st_size > limit:
            raise ConfigError(f"too large ({st.st_size:,} bytes; the limit is {limit:,})", path=str(p))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc.__class__.__name__}", path=str(p)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"too large (more than {limit:,} bytes)", path=str(p))
    return b"".join(chunks)


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
    """A results.json, capacity.json or claims.json (a folder: its results.json), validated."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    data = _read_regular(p, MAX_DOCUMENT_BYTES)
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
