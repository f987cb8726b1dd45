# make book  -- create .venv if needed, install, execute every chapter, build _build/html
# make test  -- same setup, then the whole test suite CI runs (unit tests, pairing, notebooks, book)
# make pair  -- regenerate the output-free .ipynb of every chapter from its .md
SHELL := /bin/bash
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
# CI: 2 cores. Notebooks run two at a time with one BLAS thread each (DESIGN §6).
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
# Executed notebooks have no reader: no progress bars (they flood the kernel's output channel).
export PSBOOK_PROGRESS ?= off
export PSBOOK_DATA ?= $(abspath ../shared/data)
export PSBOOK_CACHE ?= $(abspath _build/psbook-cache)

.PHONY: setup book test unit notebooks pairing build pair bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.txt
	# CPU build of torch first: a bare `torch` requirement can pull a multi-GB CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q --index-url https://download.pytorch.org/whl/cpu "torch>=2.1"
	$(BIN)/pip install -q -r requirements.txt -e .
	touch $@

setup: $(VENV)/.installed

unit: setup
	$(BIN)/python -m pytest -q -n 2 tests

notebooks: setup
	$(BIN)/python -m pytest -q -n 2 --nbmake --nbmake-timeout=600 book

build: setup
	$(BIN)/jupyter-book build . -W -n --keep-going

book: setup build
	@echo "Open _build/html/index.html"

test: setup
	@bash .ci/test-all.sh

pair: setup
	$(BIN)/jupytext --update --to ipynb book/[0-9]*.md

bench: setup
	$(BIN)/python benchmarks/bench_signatures.py

clean:
	rm -rf _build
