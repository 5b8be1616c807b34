"""Scenario files: what a simulated user does (setup steps, weighted requests, feeders, captures).

`model` is the YAML format (pydantic), `load` validates a file into a `Compiled` scenario (templates
parsed once, CSV rows read, every name checked) that the generator's user class runs; nothing here
imports Locust or gevent.
"""
