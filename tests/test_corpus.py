"""Tests of psbook.corpus: sources (offline), the online decision, tokenizers, sharded counts."""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from psbook import corpus as C
from psbook.corpus import _network
from psbook.signatures import next_token_signatures



def _data_root() -> Path:
    """Where the Makefile finds corpora: $PSBOOK_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("PSBOOK_DATA", "").strip()
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "shared" / "data"


WIKITEXT = _data_root() / "wikitext-2"
NEEDS_WIKITEXT = pytest.mark.skipif(
    not WIKITEXT.is_dir(), reason=f"WikiText-2 not found at {WIKITEXT} (set PSBOOK_DATA, or "
                                  f"`make data` fetches it)")
TEXT_A = ("The cat sat on the mat . The dog sat on the log . On Monday the cat ate 3 fish .\n"
          * 40)
TEXT_B = "In January and in March the dog slept . The 7 cats ran 12 miles on Friday .\n" * 40


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every test runs offline, with a private cache folder and a fresh network decision."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PSBOOK_ONLINE", raising=False)
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    _network.reset_network_cache()
    yield
    _network.reset_network_cache()


@pytest.fixture
def data(monkeypatch, tmp_path):
    """A data folder with one corpus 'toy' of two .txt files (one in a subfolder)."""
    root = tmp_path / "data"
    (root / "toy" / "sub").mkdir(parents=True)
    (root / "toy" / "a.txt").write_text(TEXT_A)
    (root / "toy" / "sub" / "b.txt").write_text(TEXT_B)
    monkeypatch.setenv("PSBOOK_DATA", str(root))
    return root


# ---------------------------------------------------------------- sources


def test_local_folder_of_txt_files(data):
    docs = list(C.documents("local:toy"))
    assert docs == [TEXT_A, TEXT_B]                      # sorted paths: a.txt < sub/b.txt
    assert "toy" in C.list_local_corpora()
    d = C.describe_source("local:toy")
    # the page shows the setting, never the machine's path; the cache key keeps the path
    assert "$PSBOOK_DATA/toy" in d and str(data) not in d and "offline" in d
    assert str(data / "toy") in C.source_key("local:toy")


def test_max_chars_cuts_exactly(data):
    docs = list(C.documents("local:toy", max_chars=len(TEXT_A) + 10))
    assert sum(map(len, docs)) == len(TEXT_A) + 10
    assert docs[1] == TEXT_B[:10]


@NEEDS_WIKITEXT
def test_wikitext_is_the_offline_wikipedia(monkeypatch):
    monkeypatch.setenv("PSBOOK_DATA", str(WIKITEXT.parent))
    assert "wikitext-2" in C.describe_source("wikipedia")
    docs = list(C.documents("wikipedia", max_chars=300_000))
    assert len(docs) > 3                                  # split into articles
    assert all(re.match(r"\s*\n? = [^=]", d) or d.startswith(" = ") for d in docs[1:])
    assert sum(map(len, docs)) == 300_000


def test_offline_fallbacks_for_math_and_code():
    assert "arithmetic" in C.describe_source("math")
    assert "standard-library" in C.describe_source("code")
    code = next(iter(C.documents("code", max_chars=50_000)))
    assert "def " in code or "import " in code or '"""' in code


def test_arithmetic_answers_are_right():
    doc = next(C.arithmetic_documents(seed=3))
    lines = doc.strip().split("\n")
    checked = 0
    for q, a in zip(lines[::2], lines[1::2]):
        m = re.fullmatch(r"What is (\d+) \+ (\d+)\?", q)
        if m:
            assert int(a) == int(m[1]) + int(m[2])
            checked += 1
        m = re.fullmatch(r"Calculate (\d+) - (\d+)\.", q)
        if m:
            assert int(a) == int(m[1]) - int(m[2])
            checked += 1
    docs = list(C.arithmetic_documents(seed=3, n_docs=50))
    assert docs[0] == doc and docs[1] != doc              # reproducible, not constant
    assert checked > 0 or len(lines) >= 20


def test_unknown_source_lists_valid_ones(data):
    with pytest.raises(ValueError, match="wikipedia.*math.*code.*local:toy"):
        C.describe_source("shakespeare")
    with pytest.raises(ValueError, match="no folder"):
        list(C.documents("local:nope"))
    with pytest.raises(TypeError, match="source"):
        C.documents(3)
    with pytest.raises(ValueError, match="max_chars"):
        C.documents("math", max_chars=0)


def test_empty_corpus_names_the_folder(data):
    (data / "empty").mkdir()
    (data / "empty" / "x.txt").write_text("")
    with pytest.raises(ValueError, match=re.escape(str(data / "empty"))):
        list(C.documents("local:empty"))
    (data / "blank").mkdir()
    (data / "blank" / "x.txt").write_text("   \n\n  ")
    with pytest.raises(ValueError, match="blank.*no text"):
        list(C.documents("local:blank"))


def test_pile_name_needs_network():
    with pytest.raises(ValueError, match="network"):
        C.describe_source("pile:ArXiv")


# ---------------------------------------------------------------- online decision


def test_offline_decision_is_fast_with_hf_hub_offline(monkeypatch):
    """Fast because nothing is probed (timings: benchmarks/bench_offline.py)."""
    calls = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: calls.append(a))
    assert C.is_online() is False
    assert "HF_HUB_OFFLINE" in C.network_reason()
    assert calls == []


def test_offline_decision_is_fast_when_network_hangs(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    calls, release = [], threading.Event()

    def hang(*args, **kwargs):                            # a connection that never answers
        calls.append(kwargs.get("timeout"))
        release.wait()
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert C.is_online() is False                     # decided while the probe still hangs
        assert C.is_online() is False                     # cached: no second probe
        assert not release.is_set() and calls == [1.5]
        assert "did not answer within 1.5 s" in C.network_reason()
    finally:
        release.set()                                     # let the probe thread end


def test_online_without_datasets_falls_back(monkeypatch):
    monkeypatch.setenv("PSBOOK_ONLINE", "1")
    monkeypatch.setitem(sys.modules, "datasets", None)   # import datasets -> ImportError
    assert C.is_online() is True
    assert "arithmetic" in C.describe_source("math")


# ---------------------------------------------------------------- tokenizers


def test_word_tokenizer():
    tok = C.WordTokenizer.fit([TEXT_A, TEXT_B], vocab_size=6)
    assert tok.vocab_size == 6 and tok.id_to_token[0] == "<unk>"
    assert tok.id_to_token[1] == "the" or tok.id_to_token[1] == "."
    ids = tok.encode("the zebra")
    assert ids.dtype == np.int64 and ids[1] == 0 and ids[0] == tok.token_to_id["the"]
    assert tok.id_to_token(int(ids[0])) == "the"
    sets = C.named_token_sets(C.WordTokenizer.fit([TEXT_A, TEXT_B], vocab_size=100))
    assert len(sets["months"]) == 2 and len(sets["weekdays"]) == 2   # January, March; Mon, Fri
    with pytest.raises(ValueError, match="vocab_size"):
        C.WordTokenizer.fit([TEXT_A], vocab_size=1)


def test_bpe_tokenizer_is_cached_and_readable(data, capsys, monkeypatch):
    monkeypatch.setenv("PSBOOK_PROGRESS", "on")  # the cache-hit line is a progress report
    t1 = C.get_tokenizer("bpe", source="local:toy", vocab_size=320)
    assert not t1.from_cache
    t2 = C.get_tokenizer("bpe", source="local:toy", vocab_size=320)
    assert t2.from_cache and t2.name == t1.name and "loaded BPE" in capsys.readouterr().out
    text = "On Monday the dog ate 12 fish ."
    ids = t1.encode(text)
    assert np.array_equal(ids, t2.encode(text)) and ids.dtype == np.int64
    assert t1.decode(ids) == text
    assert "".join(t1.id_to_token(i) for i in ids) == text   # readable: 'Ġ' shown as ' '
    digits = C.named_token_sets(t1)["digits"]
    assert [t1.id_to_token(i) for i in digits] == [str(d) for d in range(10)]
    t3 = C.get_tokenizer("bpe", source="local:toy", vocab_size=330)
    assert t3.name != t1.name
    with pytest.raises(ValueError, match="kind"):
        C.get_tokenizer("sentencepiece")
    if C.load_qwen_tokenizer(verbose=False) is None:       # offline, not in the HF cache
        with pytest.raises(ValueError, match="qwen"):
            C.get_tokenizer("qwen")


# ---------------------------------------------------------------- streams and counts


def test_sharded_count_equals_whole(data):
    tok = C.get_tokenizer("word", source="local:toy", vocab_size=50)
    stream = C.token_stream("local:toy", tok, 10_000)
    assert len(stream) == 2 and all(s.dtype == np.int64 for s in stream)
    whole = next_token_signatures(stream, tok.vocab_size)
    one = C.count_signatures("local:toy", tok, 10_000, shards=1, verbose=False)
    three = C.count_signatures("local:toy", tok, 10_000, shards=3, verbose=False)
    assert (one.counts != whole.counts).nnz == 0
    assert (three.counts != whole.counts).nnz == 0
    assert three.n_tokens == sum(map(len, stream)) and three.n_docs == 2
    again = C.count_signatures("local:toy", tok, 10_000, shards=3, verbose=False)  # from cache
    assert (again.counts != three.counts).nnz == 0


def test_max_tokens_cuts_the_stream(data):
    tok = C.get_tokenizer("word", source="local:toy", vocab_size=50)
    stream = C.token_stream("local:toy", tok, 100)
    assert sum(map(len, stream)) == 100 and len(stream) == 1
    sig = C.count_signatures("local:toy", tok, 100, shards=4, verbose=False)
    assert sig.n_pairs == 99
    with pytest.raises(ValueError, match="max_tokens"):
        C.token_stream("local:toy", tok, 0)
    with pytest.raises(TypeError, match="tokenizer"):
        C.count_signatures("local:toy", object(), 100)


def test_top_next_is_readable(data):
    tok = C.get_tokenizer("word", source="local:toy", vocab_size=50)
    sig = C.count_signatures("local:toy", tok, 10_000, verbose=False)
    top = C.top_next(sig, tok, tok.token_to_id["sat"], k=3)
    assert top[0] == ("on", 1.0)


# ---- testable groups and frequency-matched baselines ------------------------------------

def _group_signatures():
    """Tokens 0-4 share one successor distribution (a real group); 5-59 are random; token 60
    is rare."""
    rng = np.random.default_rng(0)
    xs = []
    for _ in range(4000):
        a = int(rng.integers(0, 60))
        b = int(rng.integers(70, 80)) if a < 5 else int(rng.integers(0, 90))
        xs += [a, b]
    xs += [60, 1] * 3
    ids = np.array(xs, dtype=np.int64)
    return next_token_signatures(ids, 100)


def test_testable_sets_reports_rare_groups():
    sig = _group_signatures()
    ok, bad = C.testable_sets(sig, {"group": [0, 1, 2, 3, 4], "rare": [60, 95, 96]},
                              min_count=20)
    assert ok == {"group": [0, 1, 2, 3, 4]}
    assert "rare" in bad and "1 of 3" in bad["rare"]
    with pytest.raises(TypeError, match="sets"):
        C.testable_sets(sig, [0, 1])


def test_matched_baseline_is_beaten_by_a_real_group_only():
    sig = _group_signatures()
    group = [0, 1, 2, 3, 4]
    draws = C.matched_baseline(sig, group, draws=100, seed=0)
    own = C.set_similarity(sig, {"g": group})["g"]
    assert draws.shape == (100,)
    assert own > draws.mean() + 3 * draws.std()
    random_group = [10, 20, 30, 40, 50]
    own_r = C.set_similarity(sig, {"g": random_group})["g"]
    d_r = C.matched_baseline(sig, random_group, draws=100, seed=0)
    assert own_r < d_r.mean() + 3 * d_r.std()       # control: a random group does not beat it
    with pytest.raises(ValueError, match="at least 2"):
        C.matched_baseline(sig, [1])


@NEEDS_WIKITEXT
def test_psbook_corpus_replaces_the_book_corpus(monkeypatch):
    """$PSBOOK_CORPUS makes 'wikipedia' resolve to another source; other names are untouched."""
    monkeypatch.setenv("PSBOOK_DATA", str(WIKITEXT.parent))
    monkeypatch.delenv("PSBOOK_CORPUS", raising=False)
    assert C.book_corpus() == "wikipedia" and "wikitext-2" in C.describe_source("wikipedia")
    monkeypatch.setenv("PSBOOK_CORPUS", "pydoc")
    assert C.book_corpus() == "pydoc"
    desc = C.describe_source("wikipedia")
    assert "PSBOOK_CORPUS=pydoc" in desc and "wikitext" not in desc
    assert list(C.documents("wikipedia", max_chars=5_000)) == list(C.documents("pydoc", max_chars=5_000))
    assert "standard-library source" in C.describe_source("code")
    monkeypatch.setenv("PSBOOK_CORPUS", "local:wikitext-2")
    assert "wikitext-2" in C.describe_source("wikipedia")
    monkeypatch.setenv("PSBOOK_CORPUS", "no-such-corpus")
    with pytest.raises(ValueError, match="PSBOOK_CORPUS must name a corpus source.*no-such-corpus"):
        C.describe_source("wikipedia")


def test_pydoc_is_english_prose():
    docs = list(C.documents("pydoc", max_chars=200_000))
    text = "".join(docs)
    assert len(text) == 200_000 and len(docs) > 5
    words = text.split()
    assert sum(w in ("the", "of", "is", "a", "to") for w in words) > 0.05 * len(words)
    assert "pydoc" in C.valid_sources()
