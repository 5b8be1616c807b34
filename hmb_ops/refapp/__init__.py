"""The bundled reference app: a Flask model of the HireMeBahamas backend, served by Gunicorn.

`create_app()` is the factory; `hmb_ops.refapp.wsgi:app` is the Gunicorn target. Importing this
package stays light (no flask, no psycopg2): hmb_ops.stack reads the token key from
`hmb_ops.refapp.secret` without loading the app. Serving it is hmb_ops.stack's.
"""

from __future__ import annotations


def create_app(settings=None):
    """Build the Flask app (imports flask lazily). `settings` defaults to the environment."""
    from hmb_ops.refapp.app import create_app as _create

    return _create(settings)
