# Two commands do everything on a fresh machine:
#   make lab    create the environment if needed, then open the course in JupyterLab
#   make test   create the environment if needed, then run every test and notebook check
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8888
# LAB_EXTRA lets a test start exactly this server headless: make lab LAB_EXTRA="--no-browser ..."
LAB_EXTRA ?=

# Tests run offline on purpose: nothing may download at test time. Strict checks make a
# solutions notebook whose own checks fail an nbval failure.
TEST_ENV := TLCOURSE_CACHE=$(CURDIR)/.cache/test TLCOURSE_PROFILE=smoke TLCOURSE_STRICT_CHECKS=1 TLCOURSE_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg

.PHONY: setup lab test sync doctor clean-env
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.allow_root=True --ServerApp.port=$(PORT) --ServerApp.root_dir=. $(LAB_EXTRA) notebooks/00_welcome.ipynb

test: setup
	$(TEST_ENV) $(BIN)/python -m pytest

# After editing a notebook or its .py: bring each pair in step (the newer file wins), then
# regenerate exercises/ from solutions/.
sync: setup
	$(BIN)/jupytext --sync notebooks/*.ipynb notebooks/*.py solutions/*.ipynb solutions/*.py
	$(BIN)/tlcourse make-exercises

doctor: setup
	$(BIN)/tlcourse doctor

clean-env:
	rm -rf $(VENV)
