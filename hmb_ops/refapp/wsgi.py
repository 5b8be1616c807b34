"""The Gunicorn target: `gunicorn hmb_ops.refapp.wsgi:app`.

Importable without a database: the pool opens its first connection on the first request, in the
worker, after fork. Not importable without the settings it needs (a token secret above all).
"""

from hmb_ops.refapp import create_app
from hmb_ops.refapp.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    try:
        from gunicorn.errors import AppImportError
    except ImportError:  # another WSGI server: the settings error itself, with its message
        raise exc from None
    # Gunicorn prints an AppImportError as its message alone and stops with "App failed to load."
    # (exit 4) instead of a traceback per worker boot: the one line says what to set.
    raise AppImportError(str(exc)) from None
