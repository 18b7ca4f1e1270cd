# depthpipe: `make repro` runs the pipeline, `make test` the test suite; both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Telemetry is off in the package itself (src/depthpipe/env.py) and for DVC in .dvc/config.
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# the stage commands in dvc.yaml run `python`: the venv's
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv repro params lint test test-fast lock ui clean-venv

venv: $(STAMP)

# requirements.lock pins every package (torch 2.14.1 + torchvision 0.29.2 from PyPI: the pair that imports
# together on CPU-only machines too); the package itself is installed editable without re-resolving.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-input -r requirements.lock
	$(BIN)/pip install --quiet --no-input --no-deps -e .
	$(BIN)/python -c "import torch, torchvision, mlflow, great_expectations, dvc; print('venv ok: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@touch $(STAMP)

# `depthpipe repro` = `dvc repro` with one MLflow pipeline-run id shared by all stages.
repro: venv
	$(BIN)/depthpipe repro

# Recompose params.yaml from conf/ (RECIPE=paper|tiny|cpu; default: conf/config.yaml's) for `dvc repro`.
params: venv
	$(BIN)/depthpipe params $(if $(RECIPE),--recipe $(RECIPE))

# style and types (configured in pyproject.toml); `make test`, and so CI, runs it first
lint: venv
	$(BIN)/ruff check src tests pipeline benchmarks
	$(BIN)/ruff format --check src tests pipeline benchmarks
	$(BIN)/mypy

# two workers, one core and one torch thread each (a third only adds contention: docs/measurements.md); the groups are
# handed out in the order of tests/conftest.py's LONGEST_FIRST; the 25 slowest tests are listed at the end
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=25

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

# Re-resolve requirements.in into requirements.lock in a throw-away venv.
lock:
	rm -rf /tmp/depthpipe-lock && $(PYTHON) -m venv /tmp/depthpipe-lock
	/tmp/depthpipe-lock/bin/pip install --quiet -r requirements.in
	/tmp/depthpipe-lock/bin/pip freeze --exclude-editable > requirements.lock

ui: venv
	$(BIN)/depthpipe ui

clean-venv:
	rm -rf $(VENV)
