"""hmb-ops: operations and capacity planning for Gunicorn + PostgreSQL web apps."""

__version__ = "0.1.0"
