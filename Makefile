# Two commands do everything on a fresh machine:
#   make lab    create the learner's environment if needed, then open the course in JupyterLab
#   make test   create the full environment if needed, then run every test and notebook check
# and, for a workshop, `make hub`: JupyterHub with one server per learner (deploy/).
# The test environment (offline, smoke profile, strict checks, a private cache) is set in
# conftest.py, so a plain `pytest` behaves the same as `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Exact versions of everything installed: the ranges are in pyproject.toml, the pins here.
# pip would byte-compile the ~20,000 installed modules one at a time (a minute here); COMPILE does
# it on every core (half that). Its status is ignored: a few test files that ship in wheels
# (torch's py312 examples) do not compile on Python 3.11, and nothing imports them.
INSTALL := $(BIN)/python -m pip install --no-compile --constraint constraints.txt
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
LAB_STAMP := $(VENV)/.lab-stamp
HUB_STAMP := $(VENV)/.hub-stamp
DEV_STAMP := $(VENV)/.dev-stamp
PORT   ?= 8888
# LAB_EXTRA lets a test start exactly this server headless: make lab LAB_EXTRA="--no-browser ..."
LAB_EXTRA ?=
# `make hub`: the address and port learners open; HUB_EXTRA passes more JupyterHub options.
HUB_IP   ?= 127.0.0.1
HUB_PORT ?= 8000
HUB_EXTRA ?=
# JupyterHub's proxy, from npm at the version pinned in deploy/package-lock.json.
HUB_PROXY := .hub/node_modules/.bin/configurable-http-proxy
# Test processes (pytest-xdist): the suite's files and notebooks in parallel, one core each.
# TEST_JOBS=1 runs everything in one process, as a plain `pytest` does.
TEST_JOBS ?= 2
PYTEST := $(BIN)/python -m pytest $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)
# What `make test-fast` leaves out: claim tests, notebooks, grader runs, JupyterLab (its server, and
# in a browser), the hub, slow tests.
FAST := not (slow or claims or notebooks or grader or lab or browser or hub)

.PHONY: setup setup-dev setup-hub lab hub hub-proxy test test-fast sync doctor lock clean-env grading-sandbox headless-browser site site-clean test-solutions-cpu
setup: $(LAB_STAMP)
setup-hub: $(HUB_STAMP)
setup-dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# A learner's environment: the package and JupyterLab, no test tools.
$(LAB_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[lab]'
	$(COMPILE)
	touch $@

# A workshop host's: the learner's environment and JupyterHub.
$(HUB_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[lab,hub]'
	$(COMPILE)
	touch $@ $(LAB_STAMP)

# A contributor's: everything the tests need as well.
$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[dev]'
	$(COMPILE)
	touch $@ $(LAB_STAMP) $(HUB_STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.allow_root=True --ServerApp.port=$(PORT) --ServerApp.root_dir=. $(LAB_EXTRA) notebooks/00_welcome.ipynb

# A workshop: JupyterHub (deploy/jupyterhub_config.py) at http://$(HUB_IP):$(HUB_PORT); every learner
# logs in with a name of their choice and the shared password in .hub/password, and gets the
# course's kernel and a copy of exercises/ of their own (state in .hub/). Ctrl-C stops it all.
hub: setup-hub hub-proxy
	@[ -x $(HUB_PROXY) ] || { echo "make hub needs JupyterHub's proxy: install Node.js >= 20 with npm, then run make hub-proxy"; exit 1; }
	$(BIN)/jupyterhub -f deploy/jupyterhub_config.py --JupyterHub.bind_url=http://$(HUB_IP):$(HUB_PORT) $(HUB_EXTRA)

test: setup-dev grading-sandbox headless-browser hub-proxy
	$(PYTEST)

# `tlcourse grade` isolates each submission with bubblewrap (Debian package `bubblewrap`); the
# tests attack that sandbox, so `make test` installs it when missing, if it runs as root with
# apt-get. Elsewhere it says how; `make lab` never needs it.
grading-sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; }; }; } || \
	  echo "bwrap is missing: install bubblewrap (sudo apt-get install bubblewrap) for the sandbox tests"

# JupyterHub's proxy (configurable-http-proxy) is a Node.js program: npm installs the exact versions
# of deploy/package-lock.json into .hub/node_modules, again only when the lock file changes. Without
# npm it says how, and the hub test skips; `make lab` never needs it.
hub-proxy:
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 20 with npm for make hub and the hub test"; exit 0; }; \
	  [ -x $(HUB_PROXY) ] && cmp -s deploy/package-lock.json .hub/package-lock.json || \
	  { mkdir -p .hub && cp deploy/package.json deploy/package-lock.json .hub/ && \
	    npm ci --prefix .hub --no-audit --no-fund --loglevel=error; } || \
	  echo "npm could not install configurable-http-proxy: make hub and the hub test need it"

# tests/test_browser.py drives JupyterLab in headless Chromium through Playwright (the `test`
# extra), with the system's Chromium (Debian package `chromium`): Playwright's own browser
# download is never used. `make test` installs it when missing, if it runs as root with apt-get;
# elsewhere the browser tests are skipped and say how. `make lab` never needs it.
headless-browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; }; } || \
	  echo "chromium is missing: install it (sudo apt-get install chromium) for the browser tests"

test-fast: setup-dev
	$(PYTEST) -m "$(FAST)" tests

# Every solutions notebook in the cpu profile with strict checks (6 minutes in two processes here):
# full marks at the sizes learners run, not only in smoke. Run before a release. Each notebook is a
# test of its own, so they share the processes (no --dist loadfile).
test-solutions-cpu: setup-dev
	TLCOURSE_TEST_SOLUTIONS_CPU=1 $(BIN)/python -m pytest -n $(TEST_JOBS) tests/test_solutions_cpu.py

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
# code changes: the first build takes about as long as running the nine notebooks (17 minutes
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
