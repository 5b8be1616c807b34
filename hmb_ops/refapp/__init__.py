"""The bundled reference app: a Flask model of the HireMeBahamas backend, served by Gunicorn.

`create_app()` is the factory; `hmb_ops.refapp.wsgi:app` is the Gunicorn target. Importing this
package stays light (no flask, no psycopg2) so `hmb_ops.refapp.runner` can be used from anywhere.
"""

from __future__ import annotations


def create_app(settings=None):
    """Build the Flask app (imports flask lazily). `settings` defaults to the environment."""
    from hmb_ops.refapp.app import create_app as _create

    return _create(settings)
