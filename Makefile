# `make fit` and `make test` create the virtual environment on first use.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# Where MNIST/raw lives: ../shared/data when it is there (machines without a network), else ./data (downloaded).
DATA_DIR ?= $(if $(wildcard ../shared/data/MNIST/raw),../shared/data,data)

.PHONY: fit serve lint test test-slow test-long bench

$(VENV)/installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

fit: $(VENV)/installed
	$(PYTHON) -m lit_rnn.fit --data.data_dir $(DATA_DIR) $(ARGS)

# The newest run's best checkpoint, served at http://127.0.0.1:8000/ (ARGS="--port 8080 --api_key ...").
serve: $(VENV)/installed
	$(PYTHON) -m lit_rnn.serve $(ARGS)

# The style and the rooms' import contracts (pyproject.toml), checked before the tests.
lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: lint
	$(PYTHON) -m pytest $(ARGS)

test-slow: $(VENV)/installed
	$(PYTHON) -m pytest -m "slow and not long" $(ARGS)

# The exhaustive tables and the benchmarks: over half an hour on two cores, so not in CI's run.
test-long: $(VENV)/installed
	$(PYTHON) -m pytest -m long $(ARGS)

bench: $(VENV)/installed
	$(PYTHON) benchmarks/epoch_time.py --data-dir $(DATA_DIR) $(ARGS)
