"""`tune --search`: measure a small grid of worker configurations and pick the best sustainable
throughput at the SLO, next to the formula's choice (docs/tune-search.md).

    grid.candidates(...)   → the configurations to try, and those skipped (memory, connections) with why
    measure.measure_all(…) → short stepped load runs, interleaved over rounds (loadtest + capacity.knee)
    pick.choose(...)       → the pick, the formula's own, and whether the gap is more than the noise

Importing this package is light: the load machinery is imported where a measurement runs.
"""
