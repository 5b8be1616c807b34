"""The Gunicorn target: `gunicorn hmb_ops.refapp.wsgi:app`.

Importable without a database: the pool opens its first connection on the first request, in the
worker, after fork.
"""

from hmb_ops.refapp import create_app

app = create_app()
