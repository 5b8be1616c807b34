"""What other areas call: load the spec, make the declared indexes exist, drop them, time the queries."""

from __future__ import annotations

from hmb_ops.indexes.spec import IndexSpec, load as _load


def load_spec(path: str | None = None) -> IndexSpec:
    """The declared indexes (None = the shipped hmb_ops/configs/indexes.yaml). Bad YAML → ConfigError (exit 2)."""
    return _load(path)


def ensure_indexes(url: str, spec_path: str | None = None, *, create_extensions: bool | None = None,
                   wait: bool = True) -> dict:
    """Plan and apply the declared indexes (idempotent: a second call changes nothing).

    Invalid leftovers are rebuilt; definition changes are replaced online. Waits for a concurrent
    apply instead of failing. `create_extensions` None: a missing extension is created only in a
    database hmb-ops has to itself (db.seed.may_create_extensions; exit 2 in a shared one).
    Returns {"changed", "seconds", "executed": [...], "summary": {...}}.
    """
    from hmb_ops.indexes.plan import PlanOptions
    from hmb_ops.indexes.service import apply

    spec = load_spec(spec_path)
    if create_extensions is None:
        from hmb_ops.db.seed import may_create_extensions

        create_extensions = may_create_extensions(url, spec.extensions)
    result = apply(url, spec, PlanOptions(create_extensions=create_extensions, allow_replace=True), wait=wait)
    doc = result.to_dict()
    return {"changed": doc["changed"], "seconds": doc["seconds"], "executed": doc["executed"],
            "summary": doc["plan"]["summary"]}


def drop_declared_indexes(url: str, spec_path: str | None = None) -> list[str]:
    """DROP INDEX CONCURRENTLY every declared index that exists and is hmb-ops's; the names dropped.

    Indexes hmb-ops did not build are kept: use drop_declared_report to learn which.
    """
    return drop_declared_report(url, spec_path)["dropped"]


def drop_declared_report(url: str, spec_path: str | None = None) -> dict:
    """Like drop_declared_indexes: {"dropped": [...], "skipped": [...]} (skipped: declared names held
    by indexes hmb-ops did not build, left in place, so the database is NOT without its indexes)."""
    from hmb_ops.indexes.drop import drop_declared

    return drop_declared(url, load_spec(spec_path)).to_dict()


def bench_queries(url: str, spec_path: str | None = None, *, runs: int = 50) -> list[dict]:
    """Each declared query without vs with its index (indexes are applied first).

    Per query: {"name", "index", "table", "without_ms": {"p50","p95"}, "with_ms": {"p50","p95"}, "speedup"}.
    """
    from hmb_ops.indexes.bench import bench

    return [row.to_dict() for row in bench(url, load_spec(spec_path), runs=runs).rows]
