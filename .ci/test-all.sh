#!/usr/bin/env bash
# The whole test suite (what `make test` runs and CI runs): unit tests + pairing check,
# every chapter through nbmake (tiny preset under CI), then the book with warnings as errors.
# Prints the time each part took; fails on the first failing part.
set -euo pipefail
BIN=.venv/bin
part() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== [$name] $*"
  "$@"
  echo "=== [$name] done in $((SECONDS - t0)) s"
}
t_all=$SECONDS
part unit      $BIN/python -m pytest -n 2 tests
part notebooks $BIN/python -m pytest -n 2 --nbmake --nbmake-timeout=600 book
part book      $BIN/jupyter-book build . -W -n --keep-going
echo "=== all parts passed in $((SECONDS - t_all)) s"
