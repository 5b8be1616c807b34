"""Capacity analysis: thresholds, baselines, knee, Universal Scalability Law fit, users model, runs."""
