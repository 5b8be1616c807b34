"""CI gates: threshold expressions, SLO files, baselines, the verdict and the flow that judges a results document."""
