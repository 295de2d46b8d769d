# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
# `make test` runs the suite's files on this many worker processes (pytest-xdist; a file's tests stay
# together, so its module fixtures start once): `auto` is one per core, 0 runs everything in this process.
TEST_WORKERS ?= auto
# Extra options for `make demo`, e.g. JUPYTER_ARGS="--no-browser --port=8890 --ip=127.0.0.1".
JUPYTER_ARGS ?=
# Containers and cloud notebooks often run as root, which JupyterLab refuses without --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install test-deps demo demo-script test lint typecheck bench bench-widget clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(CHROMIUM):
	@if [ "$$(id -u)" -eq 0 ]; then apt-get update && apt-get install -y --no-install-recommends chromium; \
	elif command -v sudo >/dev/null 2>&1; then sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium; \
	else echo "The browser tests need Debian's chromium at $(CHROMIUM): run 'apt-get install chromium' as root." >&2; exit 1; fi

install: $(STAMP)

# Everything the suite needs, in one place: the virtualenv with .[dev], and Chromium for the browser tests.
test-deps: $(STAMP) $(CHROMIUM)

demo: $(STAMP)  # the quickstart notebook in JupyterLab: live widget, approvals, DataFrames
	@echo "polpo-nb: starting JupyterLab on notebooks/quickstart.ipynb; open the http://... URL it prints below (Ctrl-C stops it)"
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb $(ALLOW_ROOT) $(JUPYTER_ARGS)

demo-script: $(STAMP)  # the same kind of mission in a terminal, with live progress
	$(PY) -m polpo_nb.demo

test: test-deps
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP) typecheck
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)  # mypy as configured in pyproject.toml ([tool.mypy]: strict on spec, events, store)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/engine.py --repeat 5

bench-widget: $(STAMP)  # 500-task DAG render time in Chromium, comm messages under a 2,000-event burst
	$(PY) benchmarks/widget.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
