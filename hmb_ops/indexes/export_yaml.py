"""An exported schema as spec YAML: the spec itself, with what was left out as comments above it.

The YAML part is exactly what `indexes plan --file` reads; left-out indexes (constraints, forms the
spec cannot hold) are comments, so the file stays a valid spec and a reviewer still sees them.
"""

from __future__ import annotations

from hmb_ops.indexes.export import SchemaExport, shorthand


def _comment(text: str) -> str:
    return " ".join(text.split())  # one line: a newline would end the comment


def render(sx: SchemaExport, *, header: str) -> str:
    import yaml

    lines = [f"# {_comment(header)}"]
    if sx.constraints:
        lines.append("# Backing constraints (part of the tables' definitions; never declared, so apply never "
                     "creates them):")
        lines += [f"#   {c.index} on {c.table}: {_comment(c.reason)}" for c in sx.constraints]
    if sx.skipped:
        lines.append("# Skipped: forms this spec format cannot hold exactly (not declared, never mangled):")
        for s in sx.skipped:
            lines.append(f"#   {s.index} on {s.table}: {_comment(s.reason)}")
            if s.definition:
                lines.append(f"#     {_comment(s.definition)}")
    if any(q.unsampled for ix in sx.declared for q in ix.queries):
        lines.append("# queries: params listed in `unsampled:` were not found in the statistics: their values are "
                     "placeholders to review before `indexes verify`.")
    declared = []
    for ix in sx.declared:
        entry = ix.model_dump(exclude_defaults=True)
        entry["name"], entry["table"] = ix.name, ix.table  # first, and never dropped as a default
        order = ["name", "table", "method", "unique", "columns", "include", "where", "storage", "nulls_distinct",
                 "reason", "queries"]
        entry = {k: entry[k] for k in order if k in entry}
        entry["columns"] = [shorthand(p.model_dump(exclude_none=True)) for p in ix.columns]
        if "queries" in entry:
            entry["queries"] = [{k: v for k, v in q.items() if v is not None and v != [] and v != {}}
                                for q in entry["queries"]]
        declared.append(entry)
    body: dict = {"schema": sx.schema}
    if sx.extensions:
        body["extensions"] = list(sx.extensions)
    body["declared"] = declared
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 200 entries in ms
    text = yaml.dump({"indexes": body}, Dumper=dumper, sort_keys=False, allow_unicode=True, width=110,
                     default_flow_style=None)
    return "\n".join(lines) + "\n" + text


def write(path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path``; an existing file is replaced only with ``force`` (else exit 2, nothing written)."""
    import os
    from pathlib import Path

    from hmb_ops.errors import UsageError

    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a folder; --out takes a file name", hint="give a file such as indexes.yaml")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; nothing was written", hint="add --force to replace it, or choose "
                                                                       "another --out")
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
