"""The Gunicorn target with Uvicorn workers: `gunicorn -k uvicorn_worker.UvicornWorker hmb_ops.refapp_asgi.asgi:app`.

Importable without a database (the pool opens on the first request, in the worker); not without
the settings it needs (a token secret above all), refused in one line like the WSGI target.
"""

from hmb_ops.refapp.settings import SettingsError
from hmb_ops.refapp_asgi import create_app

try:
    app = create_app()
except SettingsError as exc:
    try:
        from gunicorn.errors import AppImportError
    except ImportError:  # another ASGI server: the settings error itself, with its message
        raise exc from None
    raise AppImportError(str(exc)) from None
