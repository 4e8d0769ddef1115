# The two set-up commands of the README. Both create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

# Colorize the sample images in examples/ with the bundled model.
demo: install
	$(BIN)/huenet colorize examples -o examples-colorized --overwrite
	@echo "colorized images are in examples-colorized/"

test: install-dev
	$(BIN)/python -m pytest -q

# ruff's rule set and why: pyproject.toml, [tool.ruff]. CI runs it before the tests.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python benchmarks/bench_colorize.py

clean:
	rm -rf examples-colorized evaluation
