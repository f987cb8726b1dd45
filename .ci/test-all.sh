#!/usr/bin/env bash
# The whole test suite (what `make test` runs and CI runs): unit tests + pairing check,
# every chapter through nbmake (tiny preset under CI), the course's student and solution
# notebooks, the book with warnings as errors, then
# every built page in headless Chromium (tests/test_browser.py) and the Colab numbering against
# the built HTML. Prints the time each part took; fails on the first failing part.
set -euo pipefail
BIN=.venv/bin
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"     # part NAME CMD...: run, log, and report a failure
t_all=$SECONDS
part data      $BIN/python tools/data.py check
part unit      $BIN/python -m pytest -n 2 --tb=short -rfE tests --ignore=tests/test_browser.py \
                 --ignore=tests/test_course_notebooks.py
part notebooks $BIN/python -m pytest -n 2 --tb=short -rfE --nbmake --nbmake-timeout=600 book
# the course's generated notebooks, after the chapters: psbook's cache is warm, so they redraw
part course    $BIN/python -m pytest -n 2 --tb=short -rfE tests/test_course_notebooks.py
part vendor    $BIN/python tools/vendor_js.py
rm -rf _build/html/reports          # only this build's execution reports are shown on failure
part book      $BIN/jupyter-book build . -W -n --keep-going
part browser   env PSBOOK_BROWSER_REQUIRED=1 $BIN/python -m pytest -n 2 --tb=short -rfE tests/test_browser.py \
                 tests/test_colab.py::test_numbers_match_the_built_html \
                 tests/test_page_metrics.py::test_built_pages_hold_the_html_limits \
                 tests/test_figures.py::test_every_figure_a_chapter_shows_is_legible_at_the_column \
                 tests/test_figures.py::test_every_figure_a_chapter_shows_has_alt_text \
                 tests/test_figures.py::test_every_img_in_the_built_html_has_alt_text \
                 tests/test_colab.py::test_every_notebook_link_resolves_against_the_built_html
echo "=== all parts passed in $((SECONDS - t_all)) s"
