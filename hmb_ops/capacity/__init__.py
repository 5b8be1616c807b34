"""Capacity analysis: knee, Universal Scalability Law fit, users model, runs."""
