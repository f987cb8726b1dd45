# make book     -- create .venv if needed, install, check the corpus, execute the chapters in
#                  parallel (JOBS at once, default: one per core, longest first), then build
#                  _build/html from those executions (times: benchmarks/chapter-times.md)
# make test     -- same setup, then the whole test suite CI runs (unit tests, pairing, notebooks,
#                  book, every page in a headless browser)
# make course   -- regenerate the course's student and solution notebooks from the chapters
# make pair     -- pin every setup cell to the last commit that changed src/ or pyproject.toml
#                  (commit those first), regenerate the Colab and course notebooks
# make data     -- download WikiText-2 into $PSBOOK_DATA (needs network) for offline builds
# make release VERSION=x.y.z -- commit the version, pin the setup cells to that commit (no
#                  reader needs the tag), regenerate the notebooks, commit, tag vx.y.z for the
#                  publish workflow (then: git push origin HEAD vx.y.z)
SHELL := /bin/bash

# ---- Inputs ---------------------------------------------------------------------------------
# Every variable a user may set (command line or environment) that make pastes into a shell
# line, evaluates, or exports is checked on its raw text -- $(value ...), never expanded --
# before anything uses it: make would run a `$(shell ...)` inside it, the shell a `;` or `|`.
_empty :=
_space := $(_empty) $(_empty)
_ALNUM := a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z 0 1 2 3 4 5 6 7 8 9
_PATHCH := . / _ - + ~ @ :
_del = $(if $(2),$(call _del,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
_user = $(filter environment% command%,$(origin $(1)))
# what is wrong with $(1)'s raw text (empty when fine); $(2): characters allowed besides
# letters and digits; $(3): "spaces" when spaces are allowed
_bad = $(if $(findstring $$,$(value $(1)))$(findstring `,$(value $(1))),a '$$' or a backquote,$(if \
         $(if $(filter spaces,$(3)),,$(findstring $(_space),$(value $(1)))),a space,$(if \
         $(strip $(call _del,$(value $(1)),$(_ALNUM) $(2))),the characters '$(strip $(call \
         _del,$(value $(1)),$(_ALNUM) $(2)))')))
_check = $(if $(call _user,$(1)),$(if $(call _bad,$(1),$(2),$(4)),$(error make: $(1) must be \
           $(3); its value '$(value $(1))' holds $(call _bad,$(1),$(2),$(4)), which make or \
           the shell would act on. Nothing was run)))
$(call _check,VERSION,. +,a version number such as 0.2.0 or 0.2.0rc1)
$(call _check,JOBS,,a whole number of chapters to run at once (e.g. JOBS=2))
$(call _check,PY,$(_PATHCH),a Python command or path (e.g. PY=python3.11))
$(call _check,VENV,$(_PATHCH),a folder path without spaces or shell characters)
$(call _check,BIN,$(_PATHCH),a folder path without spaces or shell characters)
$(call _check,PSBOOK_DATA,$(_PATHCH),a folder path without spaces or shell characters)
$(call _check,PSBOOK_CACHE,$(_PATHCH),a folder path without spaces or shell characters (or off))
$(call _check,OMP_NUM_THREADS,,a whole number of threads)
$(call _check,MKL_NUM_THREADS,,a whole number of threads)
$(call _check,PSBOOK_PROGRESS,,on or off)
$(call _check,TIMES_ARGS,. _ - /,options of benchmarks/time_chapters.py (e.g. TIMES_ARGS="--presets tiny"),spaces)
# any other variable set on the command line is exported to every recipe, expanded: no '$'
$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(if $(findstring \
  $$,$(value $(v))),$(error make: $(v) holds a '$$', which make would run as a function; \
  nothing was run))))
ifneq ($(origin JOBS),undefined)
  ifeq ($(strip $(JOBS)),0)
    $(error make: JOBS must be at least 1; got 0)
  endif
endif
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
# CI: 2 cores. Notebooks run two at a time with one BLAS thread each (DESIGN §6).
# (`make book` sets the threads of each chapter itself: cores // JOBS.)
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
# Executed notebooks have no reader: no progress bars (they flood the kernel's output channel).
export PSBOOK_PROGRESS ?= off
# Corpora for offline runs: ../shared/data when it exists, else data/ here (make data fills it).
export PSBOOK_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
export PSBOOK_CACHE ?= $(abspath _build/psbook-cache)

.PHONY: setup book test unit notebooks pairing build pair bench clean vendor data check-data \
        browser release release-version course course-instructor book-student times

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.txt
	# CPU build of torch first: a bare `torch` requirement can pull a multi-GB CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q --index-url https://download.pytorch.org/whl/cpu "torch>=2.1"
	$(BIN)/pip install -q -r requirements.txt -e ".[pretrained]"
	touch $@

setup: $(VENV)/.installed

# Fails in seconds, saying what to do, when there is neither a corpus nor the network.
check-data: setup
	@$(BIN)/python tools/data.py check

data: setup
	$(BIN)/python tools/data.py fetch

# MathJax 3 and the widget manager, from the npm registry into _vendor/ (pages render offline).
vendor:
	@$(PY) tools/vendor_js.py

unit: setup
	$(BIN)/python -m pytest -q -n 2 tests --ignore=tests/test_browser.py --ignore=tests/test_course_notebooks.py

notebooks: setup check-data
	$(BIN)/python -m pytest -q -n 2 --nbmake --nbmake-timeout=600 book

# What CI runs: every chapter executed by myst-nb, one after another (execute_notebooks: force).
build: setup check-data vendor
	$(BIN)/jupyter-book build . -W -n --keep-going

# Chapters at once for `make book` (default: the cores this process may use).
JOBS ?= $(shell $(PY) -c "import os; print(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)")

# The same book, the chapters executed JOBS at a time first (tools/execute_chapters.py: a fresh
# kernel each, longest first, wall and CPU seconds printed) into a jupyter-cache that the build
# then reads (_build/_config-book.yml: execute_notebooks: cache). Every `make book` re-executes.
book: setup check-data vendor
	$(BIN)/python tools/execute_chapters.py --jobs $(JOBS) --jupyter-cache _build/.jupyter_cache \
	    --write-config _build/_config-book.yml
	$(BIN)/jupyter-book build . --config _build/_config-book.yml -W -n --keep-going
	@echo "Open _build/html/index.html"

browser: setup
	PSBOOK_BROWSER_REQUIRED=1 $(BIN)/python -m pytest -q tests/test_browser.py

test: setup check-data vendor
	@bash .ci/test-all.sh

pair: setup
	$(BIN)/python tools/release.py --sync

# VERSION is read from the environment as "$$VERSION" (make exports command-line variables),
# never pasted into the shell line by make, and must be a version number: nothing in it runs.
release-version:
	@[[ "$${VERSION-}" =~ ^[0-9]+\.[0-9]+\.[0-9]+((a|b|rc|\.post|\.dev)[0-9]+)?$$ ]] || \
	  { echo "make release: VERSION must be a version number x.y.z (e.g. 0.2.0, 0.2.0rc1); got '$${VERSION-}'" >&2; exit 2; }

release: release-version setup
	$(BIN)/python tools/release.py "$$VERSION"

# Course module: student + solution notebooks generated from the chapters (course/notebooks/).
course: setup
	$(BIN)/python -m psbook.course build
	$(BIN)/python -m psbook.course budget

# The problem sets' answer key, for instructors: written to _build/ (never committed).
course-instructor: setup
	$(BIN)/python -m psbook.course instructor

# The book without solutions (sphinx-exercise hide_solutions + solution code cells removed).
book-student: setup check-data vendor
	$(BIN)/python -m psbook.course student-config -o _build/_config-student.yml
	$(BIN)/jupyter-book build . --config _build/_config-student.yml --path-output _build/student -W -n --keep-going

bench: setup
	$(BIN)/python benchmarks/bench_signatures.py

# Chapter timings (on demand, minutes to hours): rewrites benchmarks/chapter-times.{json,md}
# and README.md's table. E.g. `make times TIMES_ARGS="--presets cpu --chapters 10 11 --jobs 2"`.
TIMES_ARGS ?= --presets tiny
times: setup check-data
	$(BIN)/python benchmarks/time_chapters.py $(TIMES_ARGS)

clean:
	rm -rf _build
