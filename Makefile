# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install demo demo-script test lint bench bench-widget clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

demo: $(STAMP)  # the quickstart notebook in JupyterLab: live widget, approvals, DataFrames
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb

demo-script: $(STAMP)  # the same kind of mission in a terminal, with live progress
	$(PY) -m polpo_nb.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/engine.py --repeat 5

bench-widget: $(STAMP)  # 500-task DAG render time in Chromium, comm messages under a 2,000-event burst
	$(PY) benchmarks/widget.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
