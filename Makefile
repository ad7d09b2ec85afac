# Two commands do everything on a fresh machine:
#   make lab    create the learner's environment if needed, then open the course in JupyterLab
#   make test   create the full environment if needed, then run every test and notebook check
# The test environment (offline, smoke profile, strict checks, a private cache) is set in
# conftest.py, so a plain `pytest` behaves the same as `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Exact versions of everything installed: the ranges are in pyproject.toml, the pins here.
INSTALL := $(BIN)/python -m pip install --constraint constraints.txt
LAB_STAMP := $(VENV)/.lab-stamp
DEV_STAMP := $(VENV)/.dev-stamp
PORT   ?= 8888
# LAB_EXTRA lets a test start exactly this server headless: make lab LAB_EXTRA="--no-browser ..."
LAB_EXTRA ?=
# Test processes (pytest-xdist): the suite's files and notebooks in parallel, one core each.
# TEST_JOBS=1 runs everything in one process, as a plain `pytest` does.
TEST_JOBS ?= 2
PYTEST := $(BIN)/python -m pytest $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)
# What `make test-fast` leaves out: claim tests, notebooks, grader runs, JupyterLab, slow tests.
FAST := not (slow or claims or notebooks or grader or lab)

.PHONY: setup setup-dev lab test test-fast sync doctor lock clean-env grading-sandbox site site-clean
setup: $(LAB_STAMP)
setup-dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# A learner's environment: the package and JupyterLab, no test tools.
$(LAB_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[lab]'
	touch $@

# A contributor's: everything the tests need as well.
$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[dev]'
	touch $@ $(LAB_STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.allow_root=True --ServerApp.port=$(PORT) --ServerApp.root_dir=. $(LAB_EXTRA) notebooks/00_welcome.ipynb

test: setup-dev grading-sandbox
	$(PYTEST)

# `tlcourse grade` isolates each submission with bubblewrap (Debian package `bubblewrap`); the
# tests attack that sandbox, so `make test` installs it when missing, if it runs as root with
# apt-get. Elsewhere it says how; `make lab` never needs it.
grading-sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; }; }; } || \
	  echo "bwrap is missing: install bubblewrap (sudo apt-get install bubblewrap) for the sandbox tests"

test-fast: setup-dev
	$(PYTEST) -m "$(FAST)" tests

# After editing a notebook (its .py source or the .ipynb in JupyterLab): bring each pair in step
# (the newer file wins; a new .py gets its .ipynb), then regenerate exercises/ from solutions/.
sync: setup-dev
	$(BIN)/jupytext --sync notebooks/*.ipynb notebooks/*.py solutions/*.ipynb solutions/*.py
	$(BIN)/tlcourse make-exercises

doctor: setup
	$(BIN)/tlcourse doctor

# The course site (Jupyter Book 1, offline): every notebook executed in the cpu profile, the
# exercises shown without running, never solutions/; open site/_build/html/index.html.
# jupyter-cache keeps the outputs outside the notebooks and runs a notebook again only when its
# code changes: the first build takes about as long as running the nine notebooks (half an hour
# on 2 cores), a rebuild after a prose edit seconds. TLCOURSE_PROFILE=smoke make site builds a
# quick check of the same path into site/_build/smoke/html. After a change to tlcourse/ itself,
# `make site-clean` first: the cache only sees the notebooks' code.
site: setup-dev
	$(BIN)/python site/build.py

site-clean:
	rm -rf site/_build

# Re-pin constraints.txt: resolve the ranges in pyproject.toml afresh in a throw-away venv.
lock:
	rm -rf /tmp/tlcourse-lock && $(PYTHON) -m venv /tmp/tlcourse-lock
	/tmp/tlcourse-lock/bin/python -m pip install -q '.[dev]'
	head -n 2 constraints.txt > /tmp/tlcourse-lock/header
	(cat /tmp/tlcourse-lock/header; /tmp/tlcourse-lock/bin/python -m pip freeze --exclude tlcourse) > constraints.txt

clean-env:
	rm -rf $(VENV)
