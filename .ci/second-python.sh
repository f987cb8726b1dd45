#!/usr/bin/env bash
# The notebooks on a second Python: the book's language chapters (02, 09-13) in the tiny preset,
# plus the tests that depend on the Python version (the code corpus snapshot, the corpora, the
# install line), in a fresh venv of the interpreter given (default: python3.12, the Python
# Colab ships). Used by the `pythons` job of .github/workflows/ci.yml (3.12 and 3.13).
#
# `.ci/run` does not call it: PyPI's torch for 3.12/3.13 is a CUDA build (about 3 GB to
# download, 5.5 min here) and the chapters take 4-7 min more, past CI's 20-minute budget. Run by
# hand here (2026-12-07, 2-core Intel Xeon, pyenv's CPython 3.12.1 and 3.13.0): the tests below
# passed, and chapters 02, 09, 10, 11, 12, 13 passed in tiny on both. A bare version ("3.12")
# is looked up on PATH, then among pyenv's versions; it exits 1 when the interpreter is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3.12}
if ! command -v "$PY" >/dev/null && command -v pyenv >/dev/null; then
  ver=${PY#python}
  for cand in "$(pyenv root)"/versions/"$ver"*/bin/python"$ver"; do
    [ -x "$cand" ] && PY=$cand && break
  done
fi
if ! command -v "$PY" >/dev/null; then
  echo "=== [second-python] no $PY on this machine: not run (the GitHub workflow runs it)"
  exit 1
fi
export CI=${CI:-true} PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PSBOOK_PROGRESS=off
VENV=_build/venv-$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
t0=$SECONDS
echo "=== [second-python] $("$PY" --version) -> $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "torch>=2.1"
"$VENV/bin/pip" install -q -r requirements.txt -e ".[pretrained]"
echo "=== [second-python] installed in $((SECONDS - t0)) s"
"$VENV/bin/python" -m pytest -q --tb=short -rfE tests/test_corpus.py tests/test_second_corpus.py \
    tests/test_colab.py tests/test_install_ref.py
PSBOOK_CACHE="$PWD/_build/psbook-cache-$(basename "$VENV")" "$VENV/bin/python" -m pytest -q \
    -n 2 --tb=short -rfE --nbmake --nbmake-timeout=900 book/02-*.ipynb book/09-*.ipynb \
    book/10-*.ipynb book/11-*.ipynb book/12-*.ipynb book/13-*.ipynb
echo "=== [second-python] done in $((SECONDS - t0)) s"
