"""What one reference-app worker and its master take at rest, measured once per process: a memory
limit below it would have every worker killed as it starts, so it is refused before any load."""

from __future__ import annotations

_measured: dict[str, tuple[int, int, str]] = {}


def reference_worker_memory(app: str | None = None) -> tuple[int, int, str]:
    """(worker RSS, master RSS, source) from hmb_ops.tune.measure (a real Gunicorn, ~2 s; cached)."""
    from hmb_ops.tune.measure import worker_memory
    from hmb_ops.tune.plan import REFAPP

    key = app or REFAPP
    if key not in _measured:
        _measured[key] = worker_memory(app=key)
    return _measured[key]
