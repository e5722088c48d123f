# Every target works from a fresh clone with only Python and access to the package index.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dev extra (test tools, Dask, TensorBoard, MLflow: the optional extras' tests run in CI)
# is installed only by the targets that need it, so `make quickstart` stays light.
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install quickstart test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

quickstart: install
	@if [ -f configs/quickstart.yaml ]; then $(BIN)/nnctl train configs/quickstart.yaml; \
	else echo "quickstart will run: nnctl train configs/quickstart.yaml (arrives with the CLI)"; fi

test: $(DEV_STAMP)
	$(BIN)/ruff check nnctl tests benchmarks scripts
	$(BIN)/ruff format --check --quiet nnctl tests benchmarks scripts
	$(BIN)/python -m pytest -q -n auto  # one test process per core (pytest-xdist)

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
