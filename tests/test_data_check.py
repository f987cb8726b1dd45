"""`make book` / `make test` fail in seconds, saying what to do, when there is no corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **env):
    e = {**os.environ, **env}
    # "fast" means: no network wait when PSBOOK_ONLINE=0 (timings: benchmarks/bench_offline.py);
    # the timeout only stops a hang, it is not the property tested
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "data.py"), *args],
                         capture_output=True, text=True, env=e, timeout=600)
    return out


def test_no_corpus_and_no_network_fails_fast_with_what_to_do(tmp_path):
    out = _run(["check"], PSBOOK_DATA=str(tmp_path / "none"), PSBOOK_ONLINE="0")
    assert out.returncode == 1
    assert "make data" in out.stderr and "PSBOOK_DATA" in out.stderr, out.stderr


def test_a_local_corpus_passes_the_check(tmp_path):
    (tmp_path / "wikitext-2").mkdir()
    (tmp_path / "wikitext-2" / "valid.txt").write_text(" = A = \n text \n")
    out = _run(["check"], PSBOOK_DATA=str(tmp_path), PSBOOK_ONLINE="0")
    assert out.returncode == 0, out.stderr
    (tmp_path / "wikitext-2" / "valid.txt").write_text("")  # an empty file is no corpus
    out = _run(["check"], PSBOOK_DATA=str(tmp_path), PSBOOK_ONLINE="0")
    assert out.returncode == 1


def test_network_counts_as_a_corpus(tmp_path):
    out = _run(["check"], PSBOOK_DATA=str(tmp_path), PSBOOK_ONLINE="1")
    assert out.returncode == 0 and "network" in out.stdout


def test_make_data_offline_fails_fast_and_says_why(tmp_path):
    out = _run(["fetch"], PSBOOK_DATA=str(tmp_path), PSBOOK_ONLINE="0")
    assert out.returncode == 1 and "no network" in out.stderr, out.stderr
    assert not (tmp_path / "wikitext-2").exists()
