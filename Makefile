# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nqg-installed
# Two test processes on the 2-core CI machine: much of each test is single-threaded XLA compilation.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install demo test test-slow lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency pins or the package metadata change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/nqg reproduce --quick --jobs 2 --out results

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# The documentation site into site/ (the test suite builds it too, with --strict, into a temporary folder).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf results site .pytest_cache
