"""Load tests: profiles, Locust behaviour (child processes only), measurement, orchestration."""
