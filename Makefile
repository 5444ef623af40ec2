# optbench — `make bench` and `make test` each work alone on a fresh machine:
# they create .venv and install the project (editable) when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: bench test test-all test-gpu report perf perf-gpu clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	@touch $(STAMP)

## The embedded default: every optimizer x lr grid on the digits MLP (CPU), then a table and a PNG.
## Cells run side by side, one reused joblib (loky) worker process per core.
bench: $(STAMP)
	$(BIN)/python -m bench experiment=quickstart hydra/launcher=joblib
	$(BIN)/python -m results quickstart

## Fast test suite (slow-marked tests excluded). pytest exit code 5 (no tests) is not a failure.
test: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow and not gpu" -q $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "not gpu" -q $(PYTEST_ARGS)

## GPU-only tests (needs CUDA; they fail, not skip, without it).
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu -q $(PYTEST_ARGS)

## Tables, curves and LR sensitivity for every experiment with records (reads records only).
report: $(STAMP)
	$(BIN)/python -m results report

## Step-time and throughput benchmarks (ratios measured in one process).
perf: $(STAMP)
	$(BIN)/python -m bench.perf runner
	$(BIN)/python -m bench.perf optimizers
	$(BIN)/python -m bench.perf data

## On a CUDA machine (< 8 min): make test-gpu, optimizer steps vs Adam(fused), a ResNet-18 CIFAR epoch
## vs a plain loop; one markdown report (runs/perf_gpu.md). Without CUDA it says so and exits 1.
perf-gpu: $(STAMP)
	$(BIN)/python -m bench.perf gpu

clean:
	rm -rf $(VENV) runs report outputs multirun .pytest_cache
