#!/usr/bin/env bash
# The whole test suite (what `make test` runs and CI runs): unit tests + pairing check,
# every chapter through nbmake (tiny preset under CI), the course's student and solution
# notebooks, the book with warnings as errors, then
# every built page in headless Chromium (tests/test_browser.py) and the Colab numbering against
# the built HTML. Prints the time each part took; fails on the first failing part.
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
part data      $BIN/python tools/data.py check
part unit      $BIN/python -m pytest -n 2 tests --ignore=tests/test_browser.py \
                 --ignore=tests/test_course_notebooks.py
part notebooks $BIN/python -m pytest -n 2 --nbmake --nbmake-timeout=600 book
# the course's generated notebooks, after the chapters: psbook's cache is warm, so they redraw
part course    $BIN/python -m pytest -n 2 tests/test_course_notebooks.py
part vendor    $BIN/python tools/vendor_js.py
part book      $BIN/jupyter-book build . -W -n --keep-going
part browser   env PSBOOK_BROWSER_REQUIRED=1 $BIN/python -m pytest -n 2 tests/test_browser.py \
                 tests/test_colab.py::test_numbers_match_the_built_html
echo "=== all parts passed in $((SECONDS - t_all)) s"
