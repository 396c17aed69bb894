# The two commands a new user needs: `make run` and `make test`. Both set up `.venv` first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pyscard compiles against libpcsclite: take the `pcsc` extra only when it is there
# (scripts/system-deps.sh installs it, with pcscd and vpcd, when it can).
EXTRAS ?= dev,distributed$(shell pkg-config --exists libpcsclite 2>/dev/null && echo ,pcsc)
# Benchmarks and the national-scale hot path run faster when glibc keeps large blocks in the heap
# instead of mmap-ing and faulting fresh pages for every temporary array (PERF_BASELINES.md §1).
BENCH_ENV := MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(MAKE) --no-print-directory venv-install

# A separate target so EXTRAS is re-evaluated after system-deps.sh ran.
.PHONY: venv-install
venv-install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

## The main job: the national baseline scenario; open results/baseline/report.html afterwards.
run: $(STAMP)
	$(BIN)/kks sim run scenarios/baseline.toml --out results/baseline

## Every test (unit, property, tearing, fuzz, PC/SC, Dask); benchmarks are deselected.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

## The benchmark suites (pytest-benchmark); ratios are printed in one run.
bench: $(STAMP)
	$(BENCH_ENV) $(BIN)/python -m pytest benchmarks -m benchmark -p no:cacheprovider \
		--benchmark-only --benchmark-group-by=group --benchmark-columns=min,median,mean,ops,rounds

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .benchmarks
