"""The reference app's API as an ASGI app: FastAPI over SQLAlchemy async + asyncpg (the seed's second
backend), served by Gunicorn with Uvicorn workers.

Same schema, endpoints, JSON shapes, bearer tokens, background fan-out and /metrics names as the
Flask app (hmb_ops.refapp), so the shipped scenario and every load run measure both the same way.
Importing this package stays light (no fastapi, no sqlalchemy): hmb_ops.stack asks it which app a
worker class serves and whether the `asgi` extra is installed without loading either.
"""

from __future__ import annotations

import importlib.util

ASGI_APP = "hmb_ops.refapp_asgi.asgi:app"
# uvicorn.workers is the older copy of the same class (deprecated upstream since uvicorn 0.30).
ASGI_WORKER_CLASSES = ("uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker",
                       "uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker")
EXTRA_MODULES = ("fastapi", "sqlalchemy", "asyncpg", "uvicorn", "uvicorn_worker")
INSTALL_HINT = "pip install 'hmb-ops[asgi]'"


def is_asgi_worker(worker_class: str | None) -> bool:
    """True for a Gunicorn worker class that serves ASGI apps (the Uvicorn workers, Gunicorn's own asgi)."""
    return bool(worker_class) and (worker_class in ASGI_WORKER_CLASSES or worker_class == "asgi"
                                   or "uvicornworker" in str(worker_class).lower().replace("h11", ""))


def missing_modules() -> list[str]:
    """The modules of the `asgi` extra that are not installed here."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def require_extra() -> None:
    """Exit 3 in one line when the ASGI variant cannot run here."""
    missing = missing_modules()
    if missing:
        from hmb_ops.errors import EnvironmentUnusable

        raise EnvironmentUnusable(f"the ASGI reference app needs {', '.join(missing)}, which "
                                  f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}")


def create_app(settings=None):
    """Build the FastAPI app (imports fastapi lazily). `settings` defaults to the environment."""
    from hmb_ops.refapp_asgi.app import create_app as _create

    return _create(settings)
