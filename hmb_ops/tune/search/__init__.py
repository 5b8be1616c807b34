"""`tune --search`: measure a small grid of worker configurations and pick the best sustainable
throughput at the SLO, next to the formula's choice (docs/tune-search.md).

    grid.candidates(...)   → the configurations to try, and those skipped (memory, connections) with why
    measure.measure_all(…) → short stepped load runs, interleaved over rounds (loadtest + capacity.knee)
    pick.choose(...)       → the pick, the formula's own, and whether the gap is more than the noise

Importing this package is light: the load machinery is imported where a measurement runs.
"""

# The default load: steps from below saturation (4 users meet a 100 ms p95 on every candidate here, so
# all are ranked at the SLO rather than by peak) to past it (16), 5 s each: a 4-s window varied as
# much as the gaps being measured (bench/tune_search.py), and 3 × 5 s keeps two rounds within 3 minutes.
DEFAULT_STEP_USERS = (4, 8, 16)
DEFAULT_STEP_SECONDS = 5.0
