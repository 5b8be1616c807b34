"""Suggestions as index spec entries (docs/index-spec.md), ready for review, `plan`, `apply` and `verify`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.indexes.suggest.model import Suggestion, SuggestResult

HEADER = ("# Suggested by `hmb-ops indexes suggest` from {source} ({method}).\n"
          "# Review each entry, then: hmb-ops indexes plan --file {name} / apply / verify.\n")


def check_target(path: str | Path, *, force: bool) -> Path:
    """Refuse an existing file unless --force (checked before any work is done)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--spec-out {p} is a folder", hint="give a file name")
    if p.exists() and not force:
        raise UsageError(f"--spec-out {p} exists", hint="give another file, or --force to replace it")
    if not p.parent.exists():
        raise UsageError(f"--spec-out {p}: folder {p.parent} does not exist")
    return p


def entry(s: Suggestion) -> dict:
    cols: list = ([{"column": s.keys[0], "opclass": s.opclass}] if s.method == "gin" and s.opclass else list(s.keys))
    out: dict = {"name": s.name, "table": s.table, "columns": cols}
    if s.method != "btree":
        out["method"] = s.method
    reason = (f"suggested by hmb-ops indexes suggest ({s.kind}): estimated cost {s.cost_before:g} -> "
              f"{s.cost_after:g} over {len(s.statements)} statement(s)")
    if s.size_bytes:
        reason += f"; about {s.size_bytes / 1e6:.1f} MB"
    for rel in s.existing:
        reason += f"; {rel.detail}"
    out["reason"] = reason
    if s.queries:
        out["queries"] = [{"name": q["name"], "sql": q["sql"], **({"params": q["params"]} if q["params"] else {})}
                          for q in s.queries]
    return out


def document(result: SuggestResult) -> tuple[dict, list[str]]:
    """The spec document and the suggestions left out (another schema than the spec's one)."""
    schemas: dict[str, int] = {}
    for s in result.suggestions:
        schemas[s.schema] = schemas.get(s.schema, 0) + 1
    schema = max(schemas, key=lambda k: schemas[k]) if schemas else "public"
    kept = [s for s in result.suggestions if s.schema == schema]
    left = [f"{s.name} ({s.schema}.{s.table}): the spec holds one schema" for s in result.suggestions
            if s.schema != schema]
    doc: dict = {"indexes": {"schema": schema}}
    if any(s.method == "gin" and s.opclass == "gin_trgm_ops" for s in kept):
        doc["indexes"]["extensions"] = ["pg_trgm"]
    doc["indexes"]["declared"] = [entry(s) for s in kept]
    return doc, left


def write(result: SuggestResult, path: str | Path, *, force: bool) -> list[str]:
    p = check_target(path, force=force)
    doc, left = document(result)
    text = HEADER.format(source=result.source, method=result.method, name=p.name) + \
        yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
    fd, tmp = tempfile.mkstemp(prefix=".suggest-", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        if p.exists() and not force:  # created meanwhile: still refuse
            raise UsageError(f"--spec-out {p} exists", hint="give another file, or --force to replace it")
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write --spec-out {p}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return left
