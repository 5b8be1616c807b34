"""Reading results documents (engineer D's loader when it is installed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hmb_ops.errors import ConfigError


def read_results(path: str | os.PathLike) -> dict:
    """A validated results document; missing or corrupt → ConfigError (exit 2)."""
    try:
        from hmb_ops.loadtest.api import load_results
    except ImportError:
        return _read_plain(path)
    return load_results(path)


def _read_plain(path: str | os.PathLike) -> dict:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("results file not found", path=str(p), hint="pass the results.json of a load run") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read results file: {exc.__class__.__name__}", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", path=str(p), line=exc.lineno,
                          hint="pass the results.json written by hmb-ops loadtest") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("summary"), dict) or "profile" not in doc:
        raise ConfigError("not an hmb-ops results document (no 'profile' or 'summary')", path=str(p),
                          hint="pass the results.json written by hmb-ops loadtest")
    if doc.get("schema_version") != 1:
        raise ConfigError(f"unsupported schema_version {doc.get('schema_version')!r} (expected 1)", path=str(p))
    return doc
