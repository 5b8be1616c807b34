"""Gunicorn and worker configuration: tiers, a pure recommendation, rendering, validation, drift checks."""
