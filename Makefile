# Every target does its own set-up: a fresh machine with Python 3.11 needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo lint typecheck test test-fast test-slow bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded default: a smoke load test against the reference app.
demo: $(STAMP)
	$(BIN)/hmb-ops loadtest --profile smoke

# Lint (ruff) and types (mypy): configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check hmb_ops tests bench

typecheck: $(STAMP)
	$(BIN)/mypy hmb_ops

# The whole suite (what CI runs): lint and types first, then the fast tests, then the slow ones
# (load runs, large data), each listing its 15 slowest tests; test-fast and test-slow run the tests alone.
# The fast tests mostly wait on servers (the machine sits at load ~1), so two pytest-xdist workers run
# them, a test file per worker (its module fixtures set up once), each with its own embedded PostgreSQL;
# the slow ones load the machine on purpose (load runs, confined capacity) and run one at a time.
FAST_WORKERS ?= -n 2 --dist loadfile
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -m "not slow" $(FAST_WORKERS) --durations=15
	$(BIN)/python -m pytest -q -m slow --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(FAST_WORKERS) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --durations=15

# The command reference in docs/commands/ from the click commands (tests/unit/docs fails when it is stale).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m hmb_ops.cli.docs

# One benchmark at a time (they measure each other otherwise); each prints its own side-by-side figures.
bench: $(STAMP)
	$(BIN)/python bench/cli_startup.py --runs 20
	$(BIN)/python bench/seed_vs_pgbench.py --repeat 5
	$(BIN)/python bench/loadtest_vs_wrk.py
	$(BIN)/python bench/tune_vs_defaults.py --rounds 3 --users 8,16,32 --stage-seconds 15
	$(BIN)/python bench/capacity_accuracy.py --out .hmb-ops/bench/capacity-accuracy

clean:
	rm -rf $(VENV) .hmb-ops .pytest_cache .mypy_cache .ruff_cache
