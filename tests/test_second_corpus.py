"""Chapters 09-13 on a second corpus, at a seed they were not written at.

``PSBOOK_CORPUS=pydoc`` makes the book's English corpus ("wikipedia") the English prose that
ships with Python (its language reference and the standard library's docstrings; see
:mod:`psbook.corpus.sources`), and ``PSBOOK_SEED=3`` moves every seed. Each chapter is executed
in the tiny preset; its hidden cells assert the claims that must hold on any corpus and record
the corpus-dependent ones in the claims ledger without asserting them. The ledger of each run is
written to ``$PSBOOK_CACHE/second-corpus/<chapter>.json`` for a reader to compare.

Slow (several minutes on a 2-core CPU with an empty cache: every language model is trained
anew on the second corpus), so it is opt-in: ``PSBOOK_SECOND_CORPUS=1 pytest -m slow
tests/test_second_corpus.py``. Other corpora: ``PSBOOK_SECOND_CORPUS=local:<name>`` (a folder of
``.txt`` files under ``$PSBOOK_DATA``), ``PSBOOK_SECOND_CORPUS_SEED=<n>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["09-signatures-of-real-text", "10-training-a-small-qwen", "11-data-domain",
            "12-pretrained-models", "13-interventions"]
OPT_IN = os.environ.get("PSBOOK_SECOND_CORPUS", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OPT_IN, reason="opt-in: set PSBOOK_SECOND_CORPUS=1 (or a corpus "
                                          "name) to run chapters 09-13 on a second corpus"),
]

LEDGER_CELL = """
import json as _json
from dataclasses import asdict as _asdict
from psbook import claims as _claims
print("PSBOOK-LEDGER" + _json.dumps({k: _asdict(v) for k, v in _claims.LEDGER.items()}))
"""


def _corpus() -> str:
    return "pydoc" if OPT_IN in ("1", "true", "yes") else OPT_IN


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_on_a_second_corpus(chapter, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("PSBOOK_CORPUS", _corpus())
    monkeypatch.setenv("PSBOOK_SEED", os.environ.get("PSBOOK_SECOND_CORPUS_SEED", "3"))
    monkeypatch.setenv("PSBOOK_PRESET", "tiny")
    monkeypatch.setenv("PSBOOK_PROGRESS", "off")
    nb = jupytext.read(ROOT / "book" / f"{chapter}.md")
    nb.cells.append(nbformat.v4.new_code_cell(LEDGER_CELL))
    # a failing hidden assertion raises CellExecutionError naming the claim
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    assert "PSBOOK-LEDGER" in out, out
    ledger = json.loads(out.split("PSBOOK-LEDGER", 1)[1])
    assert ledger, f"{chapter} recorded no claim"
    prefix = f"c{chapter[:2]}_"
    assert all(k.startswith(prefix) for k in ledger), sorted(ledger)
    cache = Path(os.environ.get("PSBOOK_CACHE", ROOT / "_build" / "psbook-cache"))
    (cache / "second-corpus").mkdir(parents=True, exist_ok=True)
    (cache / "second-corpus" / f"{chapter}.json").write_text(json.dumps(ledger, indent=1))
