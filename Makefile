# scansim: `make demo` runs the default study, `make test` runs the test suite.
# Both create .venv on first use; nothing but Python >= 3.11, pip and make is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/scansim demo -o out/demo

# one pytest worker per core, a test file per worker at a time (its kernels compile once):
# a clean clone compiles its Numba kernels in parallel
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# the inner loop: everything but the tests marked slow (process pools, the Dask cluster, the demo)
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
