"""Tests of psbook.signatures against brute-force loops written from DESIGN §3."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from psbook import signatures as S
from psbook.signatures import (NextTokenSignatures, count_bigrams, next_token_signatures,
                               task_signatures)

# --------------------------------------------------------------------------------------
# Brute force, straight from the definitions (occurrence-weighted)
# --------------------------------------------------------------------------------------


def brute_task(X, y, V, Vout, w=None):
    """Loops over every occurrence (n, i) exactly as DESIGN §3 words each signature."""
    N, L = len(X), len(X[0])
    w = [1.0] * N if w is None else list(w)
    occ = np.zeros(V)
    xy = np.zeros((V, Vout))
    xx = np.zeros((V, V))
    xxy = np.zeros((V, V, Vout))
    yx = np.zeros((Vout, V))
    ymass = np.zeros(Vout)
    for n in range(N):
        ymass[y[n]] += w[n]
        for j in range(L):
            yx[y[n], X[n][j]] += w[n] / L              # J uniform over all L positions
        for i in range(L):
            x = X[n][i]
            occ[x] += w[n]
            xy[x, y[n]] += w[n]
            for j in range(L):
                if j != i:                              # J uniform over the other L - 1
                    xx[x, X[n][j]] += w[n] / (L - 1)
                    xxy[x, X[n][j], y[n]] += w[n] / (L - 1)

    def norm(m, d):
        out = np.zeros_like(m)
        for r in range(m.shape[0]):
            if d[r] > 0:
                out[r] = m[r] / d[r]
        return out

    return dict(phi_y=norm(xy, occ), phi_X=norm(xx, occ), varphi_X=norm(yx, ymass),
                phi_X_given_y=[xxy[x] / occ[x] if occ[x] > 0 else xxy[x] for x in range(V)],
                r_in=occ / sum(w))


def brute_bigrams(docs, V):
    B = np.zeros((V, V), dtype=np.int64)
    for d in docs:
        d = list(d)
        for s in range(len(d) - 1):
            B[d[s], d[s + 1]] += 1
    return B


def random_task(seed, N=40, L=5, V=9, Vout=4, seen=6):
    """Tokens drawn from the first `seen` ids only (the rest never occur), so rows repeat."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, seen, size=(N, L))
    y = rng.integers(0, Vout - 1, size=N)          # label Vout - 1 never occurs
    return X, y


# --------------------------------------------------------------------------------------
# Task signatures
# --------------------------------------------------------------------------------------


def test_hand_computed_example():
    # one sequence (0, 1, 1) with label 2: phi_X[1] mixes its two occurrences
    sig = task_signatures(np.array([[0, 1, 1]]), np.array([2]), vocab_size=3)
    np.testing.assert_allclose(sig.phi_X[0], [0, 1, 0])
    np.testing.assert_allclose(sig.phi_X[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(sig.phi_X[2], [0, 0, 0])
    np.testing.assert_allclose(sig.phi_y[1], [0, 0, 1])
    np.testing.assert_allclose(sig.varphi_X[2], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(sig.r_in, [1, 2, 0])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_task_signatures_match_brute_force(seed, weighted):
    V, Vout = 9, 4
    X, y = random_task(seed, V=V, Vout=Vout)
    assert any(len(set(row)) < len(row) for row in X.tolist())   # repeats inside sequences
    w = np.random.default_rng(seed + 10).uniform(0.1, 3.0, size=len(y)) if weighted else None
    sig = task_signatures(X, y, vocab_size=V, label_size=Vout, weights=w)
    ref = brute_task(X.tolist(), y.tolist(), V, Vout, w)
    assert sig.phi_y.shape == (V, Vout) and sig.phi_X.shape == (V, V)
    assert sig.varphi_X.shape == (Vout, V) and sig.r_in.shape == (V,)
    for name in ("phi_y", "phi_X", "varphi_X", "r_in"):
        np.testing.assert_allclose(getattr(sig, name), ref[name], atol=1e-12, err_msg=name)
    for x in range(V):
        np.testing.assert_allclose(sig.phi_X_given_y(x), ref["phi_X_given_y"][x], atol=1e-12)
        np.testing.assert_allclose(sig.phi_X_given_y(x, sparse=True).toarray(),
                                   ref["phi_X_given_y"][x], atol=1e-12)


def test_weights_matter_and_integer_weights_equal_repetition():
    X, y = random_task(3)
    w = np.random.default_rng(0).integers(1, 4, size=len(y))
    weighted = task_signatures(X, y, 9, 4, weights=w)
    repeated = task_signatures(np.repeat(X, w, axis=0), np.repeat(y, w), 9, 4)
    unweighted = task_signatures(X, y, 9, 4)
    for name in ("phi_y", "phi_X", "varphi_X"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), atol=1e-12)
    assert not np.allclose(weighted.phi_X, unweighted.phi_X)


def test_unseen_tokens_and_labels_are_zero_not_nan():
    X, y = random_task(4)
    sig = task_signatures(X, y, vocab_size=9, label_size=4)
    for name in ("phi_y", "phi_X", "varphi_X", "r_in"):
        assert np.all(np.isfinite(getattr(sig, name))), name
    assert np.all(sig.phi_y[6:] == 0) and np.all(sig.phi_X[6:] == 0)
    assert np.all(sig.phi_X[:, 6:] == 0)
    assert np.all(sig.varphi_X[3] == 0)                     # label 3 never occurs
    assert np.all(sig.phi_X_given_y(7) == 0)
    # seen rows are distributions
    np.testing.assert_allclose(sig.phi_y[:6].sum(1), 1)
    np.testing.assert_allclose(sig.phi_X[:6].sum(1), 1)
    np.testing.assert_allclose(sig.varphi_X[:3].sum(1), 1)


@pytest.mark.parametrize("weighted", [False, True])
def test_phi_X_given_y_marginals(weighted):
    X, y = random_task(5, N=60, L=4, V=8, Vout=5, seen=8)
    w = np.random.default_rng(1).uniform(0, 2, size=len(y)) if weighted else None
    sig = task_signatures(X, y, vocab_size=8, label_size=5, weights=w)
    for x in range(8):
        M = sig.phi_X_given_y(x)
        assert M.shape == (8, 5)
        np.testing.assert_allclose(M.sum(axis=0), sig.phi_y[x], atol=1e-12)   # sum over beta
        np.testing.assert_allclose(M.sum(axis=1), sig.phi_X[x], atol=1e-12)   # sum over nu


def test_seq_len_one_and_dense_views():
    sig = task_signatures(np.array([[1], [2], [1]]), np.array([0, 1, 1]), 4, 2)
    assert np.all(sig.phi_X == 0) and np.all(sig.phi_X_given_y(1) == 0)
    np.testing.assert_allclose(sig.phi_y[1], [0.5, 0.5])
    np.testing.assert_allclose(sig.dense("phi_y", [2, 1]), sig.phi_y[[2, 1]])
    np.testing.assert_allclose(sig.dense("varphi_X", [1]), sig.varphi_X[[1]])
    assert sig.n_samples == 3 and sig.seq_len == 1
    np.testing.assert_allclose(sig.label_prior, [1 / 3, 2 / 3])


def test_torch_and_list_inputs():
    torch = pytest.importorskip("torch")
    X, y = random_task(6)
    a = task_signatures(X, y, 9, 4)
    b = task_signatures(torch.as_tensor(X), torch.as_tensor(y), 9, 4)
    c = task_signatures(X.tolist(), y.tolist(), 9, 4)
    np.testing.assert_array_equal(a.phi_X, b.phi_X)
    np.testing.assert_array_equal(a.phi_y, c.phi_y)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(X=[[0, -1]]), ValueError, r"^X must hold ids in \[0, 5\); found -1"),
    (dict(X=[[0, 5]]), ValueError, r"^X must hold ids .*vocab_size=5.*found 5"),
    (dict(X=[[0.0, 1.0]]), TypeError, r"^X must hold integer token ids"),
    (dict(X=np.zeros((0, 3), dtype=int), y=np.zeros(0, dtype=int)), ValueError, r"^X is empty"),
    (dict(X=[0, 1]), ValueError, r"^X must be 2-D"),
    (dict(y=[0, 4]), ValueError, r"^y must hold ids .*label_size|^y must hold ids .*found 4"),
    (dict(y=[0]), ValueError, r"X and y must have the same number of samples"),
    (dict(weights=[1.0, np.nan]), ValueError, r"^weights must be finite"),
    (dict(weights=[1.0, -1.0]), ValueError, r"^weights must be >= 0"),
    (dict(weights=[1.0]), ValueError, r"^weights must have shape \(2,\)"),
    (dict(weights=[0.0, 0.0]), ValueError, r"^weights must not be all zero"),
    (dict(vocab_size=0), ValueError, r"^vocab_size must be an integer >= 1; got 0"),
    (dict(vocab_size=5.0), TypeError, r"^vocab_size must be an integer"),
    (dict(label_size=0), ValueError, r"^label_size must be"),
])
def test_task_signatures_bad_input(kwargs, exc, pattern):
    args = dict(X=[[0, 1], [2, 3]], y=[0, 1], vocab_size=5, label_size=4, weights=None)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        task_signatures(**args)


def test_task_accessors_bad_input():
    sig = task_signatures([[0, 1], [2, 3]], [0, 1], vocab_size=5, label_size=4)
    with pytest.raises(ValueError, match=r"^x must hold ids"):
        sig.phi_X_given_y(5)
    with pytest.raises(TypeError, match=r"^x must hold integer"):
        sig.phi_X_given_y(1.5)
    with pytest.raises(ValueError, match=r"^name must be"):
        sig.dense("phi_next")
    with pytest.raises(ValueError, match=r"^tokens must hold ids"):
        sig.dense("varphi_X", [4])                  # varphi_X has label_size = 4 rows


# --------------------------------------------------------------------------------------
# Next-token signatures
# --------------------------------------------------------------------------------------


def zipf_stream(n, V, seen=None, seed=0):
    rng = np.random.default_rng(seed)
    k = seen or V
    p = 1 / (np.arange(k) + 1.0)
    return rng.choice(k, size=n, p=p / p.sum())


def test_counts_match_brute_force_single_stream():
    V = 12
    ids = zipf_stream(500, V, seen=9)                 # ids 9..11 never occur
    sig = next_token_signatures(ids, V)
    assert sp.issparse(sig.counts) and sig.counts.shape == (V, V)
    B = brute_bigrams([ids], V)
    np.testing.assert_array_equal(sig.dense("counts", np.arange(V)), B)
    assert sig.n_pairs == len(ids) - 1
    assert np.issubdtype(sig.counts.dtype, np.integer)


def test_documents_have_no_bigram_across_a_boundary():
    V = 10
    docs = [zipf_stream(n, V, seed=s) for s, n in enumerate([30, 1, 0, 17, 2, 40])]
    sig = next_token_signatures(docs, V)
    B = brute_bigrams(docs, V)
    np.testing.assert_array_equal(sig.counts.toarray(), B)
    joined = next_token_signatures(np.concatenate(docs), V).counts.toarray()
    assert (joined - B).sum() == 4      # the four boundaries between the 5 non-empty documents
    assert sig.n_pairs == sum(max(len(d) - 1, 0) for d in docs)
    # generators, tuples and 2-D arrays (rows = documents) are iterables of documents
    np.testing.assert_array_equal(next_token_signatures((d for d in docs), V).counts.toarray(), B)
    rows = np.stack([zipf_stream(20, V, seed=s) for s in range(3)])
    np.testing.assert_array_equal(next_token_signatures(rows, V).counts.toarray(),
                                  brute_bigrams(list(rows), V))


def test_normalised_signatures():
    V = 15
    ids = zipf_stream(400, V, seen=11)
    sig = next_token_signatures(ids, V)
    B = brute_bigrams([ids], V).astype(float)
    out, inc = B.sum(1), B.sum(0)
    phi_next = sig.dense("phi_next", np.arange(V))
    varphi_pre = sig.dense("varphi_pre", np.arange(V))
    for a in range(V):
        if out[a] > 0:
            np.testing.assert_allclose(phi_next[a], B[a] / out[a])
            assert phi_next[a].sum() == pytest.approx(1.0)
        else:
            assert np.all(phi_next[a] == 0)
        if inc[a] > 0:
            np.testing.assert_allclose(varphi_pre[a], B[:, a] / inc[a])
            assert varphi_pre[a].sum() == pytest.approx(1.0)
        else:
            assert np.all(varphi_pre[a] == 0)
    assert not np.any(np.isnan(phi_next)) and not np.any(np.isnan(varphi_pre))
    assert (out == 0).sum() >= 4 and (inc == 0).sum() >= 4          # unseen tokens were tested
    np.testing.assert_allclose(sig.dense("tied", np.arange(V)), phi_next + varphi_pre)
    np.testing.assert_allclose(sig.r_in, out / out.sum())
    np.testing.assert_allclose(sig.r_out, inc / inc.sum())
    cols = [3, 0, 7]
    np.testing.assert_allclose(sig.dense("phi_next", [2, 5], columns=cols),
                               phi_next[[2, 5]][:, cols])


def test_shards_merge_to_the_whole():
    V = 20
    docs = [zipf_stream(n, V, seed=s) for s, n in enumerate([50, 80, 3, 61, 25])]
    whole = next_token_signatures(docs, V)
    a, b = next_token_signatures(docs[:2], V), next_token_signatures(docs[2:], V)
    for merged in (a.merge(b), a + b, b + a):
        assert isinstance(merged, NextTokenSignatures)
        assert (merged.counts != whole.counts).nnz == 0
        assert abs(merged.phi_next - whole.phi_next).max() < 1e-12
    # one stream split with one token of overlap: the split bigram is counted exactly once
    ids = np.concatenate(docs)
    k = 123
    parts = next_token_signatures(ids[:k + 1], V) + next_token_signatures(ids[k:], V)
    assert (parts.counts != next_token_signatures(ids, V).counts).nnz == 0
    # without the overlap exactly one bigram is lost
    lost = next_token_signatures(ids[:k], V) + next_token_signatures(ids[k:], V)
    assert next_token_signatures(ids, V).n_pairs - lost.n_pairs == 1


def test_word_groups_keep_known_frequent_words_and_next_word_table():
    class Tok:
        token_to_id = {"<unk>": 0, "a": 1, "b": 2, "c": 3, "d": 4}
        id_to_token = ["<unk>", "a", "b", "c", "d"]
    freq = np.array([0, 20, 20, 20, 5])
    groups, dropped = S.word_groups({"abc": ["a", "b", "c", "z"], "cd": ["c", "d"]},
                                    Tok.token_to_id, freq, min_count=10)
    assert groups == {"abc": [1, 2, 3]} and dropped == {"cd": 1}
    nt = next_token_signatures(np.array([1, 2, 1, 2, 1, 3]), 5)
    t = S.next_word_table(nt, Tok, ["a", "zz"], k=2)
    assert t.columns == ["rank", "'a'"] and len(t) == 2
    assert t["'a'"][0] == "b 0.67" and t["'a'"][1] == "c 0.33"


def test_chunked_buffering_equals_one_chunk():
    V = 30
    docs = [zipf_stream(n, V, seed=s) for s, n in enumerate([13, 2, 40, 9, 70, 1, 33])]
    one = count_bigrams(docs, V)
    for chunk in (1, 5, 37):
        assert (count_bigrams(docs, V, chunk_pairs=chunk) != one).nnz == 0
    np.testing.assert_array_equal(one.toarray(), brute_bigrams(docs, V))


@pytest.mark.parametrize("V", [7, 300, 2500, 400_000])
def test_bincount_sort_and_coo_paths_are_identical(V):
    # 'coo' is the reference (scipy's COO -> CSR build); 'sort' the default above small V;
    # 'bincount' only where the dense V*V counters fit
    rng = np.random.default_rng(V)
    ids = rng.integers(0, V, size=20_000)
    if V > 1000:                        # repeated pairs in a large vocabulary, too
        often = rng.random(ids.size) < 0.5
        ids[often] = rng.integers(0, 50, size=often.sum())
    a, b = ids[:-1], ids[1:]
    ref = S._count_keys(a, b, V, "coo")
    methods = ["sort", None] + (["bincount"] if V * V <= S._BINCOUNT_LIMIT else [])
    for method in methods:
        m = S._count_keys(a, b, V, method)
        assert m.has_canonical_format               # and truly: its arrays equal ref's
        assert m.shape == ref.shape == (V, V)
        np.testing.assert_array_equal(m.indptr, ref.indptr)
        np.testing.assert_array_equal(m.indices, ref.indices)
        np.testing.assert_array_equal(m.data, ref.data)
        assert m.data.dtype == ref.data.dtype == np.int64
        assert m.indices.dtype == ref.indices.dtype and m.indptr.dtype == ref.indptr.dtype
    assert ref.has_canonical_format
    B = np.zeros((V, V), dtype=np.int64) if V < 1000 else None
    if B is not None:
        np.add.at(B, (a, b), 1)
        np.testing.assert_array_equal(ref.toarray(), B)
    for method in ("sort", "bincount", "coo", None):          # nothing to count
        e = S._count_keys(a[:0], b[:0], min(V, 300), method)
        assert e.nnz == 0 and e.shape == (min(V, 300),) * 2 and e.dtype == np.int64
    with pytest.raises(ValueError, match="method"):
        S._count_keys(a, b, V, "hash")


def test_pair_keys_fit_int64_and_larger_vocabularies_fall_back_to_coo(monkeypatch):
    # a * V + b <= V*V - 1 must fit an int64 for every V the sort path takes
    assert S._MAX_KEY_VOCAB ** 2 - 1 < 2 ** 63 <= (S._MAX_KEY_VOCAB + 1) ** 2 - 1
    rng = np.random.default_rng(3)
    V = 5000
    a, b = rng.integers(0, V, size=(2, 30_000))
    ref = S._count_keys(a, b, V, "coo")
    monkeypatch.setattr(S, "_MAX_KEY_VOCAB", V - 1)      # as if V were too large for keys
    seen, coo = [], sp.coo_matrix
    monkeypatch.setattr(S.sp, "coo_matrix", lambda *x, **k: seen.append(1) or coo(*x, **k))
    for method in (None, "sort", "bincount"):
        m = S._count_keys(a, b, V, method)
        assert (m != ref).nnz == 0 and m.has_canonical_format
    assert len(seen) == 3                                # every call took the COO build


def test_count_pairs_counts_several_views_like_one_array():
    rng = np.random.default_rng(4)
    docs = [rng.integers(0, 700, size=n) for n in (0, 1, 50, 3000)]
    parts = [(d[:-o], d[o:]) for d in docs for o in (1, 3) if d.size > o]
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    before = [p[0].copy() for p in parts]
    ref = S._count_keys(a, b, 700, "coo")
    for method in ("sort", "coo", None):
        assert (S.count_pairs(parts, 700, method) != ref).nnz == 0
    for p, x in zip(parts, before):                      # the views are not modified
        np.testing.assert_array_equal(p[0], x)


def test_default_path_choice_gives_the_same_counts():
    # few pairs at small V (COO) and many pairs at small V (bincount) through the public call
    V = 64
    for n in (50, 200_000):
        ids = zipf_stream(n, V, seed=n)
        sig = next_token_signatures(ids, V)
        np.testing.assert_array_equal(sig.counts.toarray(), brute_bigrams([ids], V)
                                      if n < 1000 else _np_counts(ids, V))


def _np_counts(ids, V):
    B = np.zeros((V, V), dtype=np.int64)
    np.add.at(B, (ids[:-1], ids[1:]), 1)
    return B


def test_large_vocabulary_stays_sparse():
    V = 150_000
    rng = np.random.default_rng(0)
    ids = rng.choice(np.array([0, 5, 77_777, 149_999, 123_456, 42]), size=5_000)
    tracemalloc.start()
    sig = next_token_signatures(ids, V)
    tn, tv = sig.phi_next, sig.tied
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.1f} MiB: something dense was allocated"
    assert sp.issparse(sig.counts) and sp.issparse(tn) and sp.issparse(tv)
    assert sig.counts.nnz <= 36 and sig.counts.shape == (V, V)
    # the same stream relabelled into a 6-token vocabulary gives the same counts
    uniq, small = np.unique(ids, return_inverse=True)
    ref = next_token_signatures(small, 6).counts.toarray()
    np.testing.assert_array_equal(sig.dense("counts", uniq, columns=uniq), ref)
    np.testing.assert_array_equal(sig.dense("counts", uniq, columns=uniq), _np_counts(small, 6))
    assert sig.dense("phi_next", [77_777]).shape == (1, V)
    with pytest.raises(MemoryError, match=r"dense view of a token subset"):
        sig.dense("phi_next", np.arange(V))


def test_save_load_round_trip(tmp_path):
    V = 25
    sig = next_token_signatures([zipf_stream(300, V), zipf_stream(50, V, seed=1)], V)
    path = tmp_path / "sig.npz"
    sig.save(path)
    back = NextTokenSignatures.load(path)
    assert back.vocab_size == V and back.n_pairs == sig.n_pairs
    assert (back.counts != sig.counts).nnz == 0 and back.counts.dtype == sig.counts.dtype
    assert abs(back.varphi_pre - sig.varphi_pre).max() == 0


def test_integer_dtypes_and_torch_accepted():
    torch = pytest.importorskip("torch")
    V = 40
    ids = zipf_stream(1000, V)
    ref = next_token_signatures(ids, V).counts
    for alt in (ids.astype(np.int32), ids.astype(np.uint16), ids.tolist(), torch.as_tensor(ids)):
        assert (next_token_signatures(alt, V).counts != ref).nnz == 0


@pytest.mark.parametrize("ids, exc, pattern", [
    (np.array([0, 1, -2]), ValueError, r"^ids must hold ids in \[0, 10\); found -2"),
    (np.array([0, 10, 1]), ValueError, r"^ids must hold ids .*vocab_size=10.*found 10"),
    (np.array([0.0, 1.0]), TypeError, r"^ids must hold integer token ids"),
    (np.array([], dtype=np.int64), ValueError, r"^ids is empty"),
    ([], ValueError, r"^ids is empty"),
    (iter([]), ValueError, r"^ids is empty"),
    ([np.array([], dtype=int), np.array([], dtype=int)], ValueError, r"^ids is empty"),
    ([np.array([1, 2]), np.array([3, 11])], ValueError, r"^ids\[1\] must hold ids"),
    ([np.array([1, 2]), np.array([0.5])], TypeError, r"^ids\[1\] must hold integer"),
    (np.array([[0, 1], [2, 3]])[None], ValueError, r"^ids must be 1-D \(one document\) or 2-D"),
    (5, TypeError, r"^ids must be a 1-D array of token ids or an iterable"),
])
def test_next_token_bad_input(ids, exc, pattern):
    with pytest.raises(exc, match=pattern):
        next_token_signatures(ids, 10)


def test_next_token_bad_vocab_and_merge():
    with pytest.raises(ValueError, match=r"^vocab_size must be an integer >= 1; got 0"):
        next_token_signatures([1, 2], 0)
    with pytest.raises(TypeError, match=r"^vocab_size"):
        next_token_signatures([1, 2], "10")
    a, b = next_token_signatures([1, 2, 3], 5), next_token_signatures([1, 2, 3], 6)
    with pytest.raises(ValueError, match=r"vocab_size 5 vs 6"):
        a.merge(b)
    with pytest.raises(ValueError, match=r"different vocabularies"):
        a + b
    with pytest.raises(TypeError, match=r"^other must be NextTokenSignatures"):
        a.merge(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"^name must be one of"):
        a.dense("phi_y", [0])
    with pytest.raises(ValueError, match=r"^columns must hold ids"):
        a.dense("counts", [0], columns=[5])


def test_short_stream_at_mid_vocabulary_does_not_allocate_v_squared():
    # 20 tokens at V = 8,000 must not go through a dense V*V bincount (512 MB)
    ids = np.random.default_rng(0).integers(0, 8000, size=20)
    tracemalloc.start()
    sig = next_token_signatures(ids, 8000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20, f"peak {peak / 2**20:.1f} MiB for 19 pairs"
    assert sig.n_pairs == 19


# --------------------------------------------------------------------------------------
# issue 10: size guards, one rule for 2-D ids, 0-d ids, huge weights
# --------------------------------------------------------------------------------------


def _rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_unused_vocabulary_range_is_refused_before_allocating():
    from psbook._validate import TooLarge
    before = _rss_mib()
    with pytest.raises(ValueError, match=r"^vocab_size=1000000000 would need about .* GiB .*"
                                         r"above the limit of 4 GiB"):
        next_token_signatures(np.arange(6), 10**9)
    with pytest.raises(ValueError, match=r"^vocab_size=1000000000 would need"):
        task_signatures(np.array([[0, 1], [2, 3], [4, 5]]), [0, 1, 2], 10**9)
    with pytest.raises(TooLarge):                     # also a MemoryError, for old callers
        next_token_signatures(np.arange(6), 10**9)
    assert _rss_mib() - before < 200


def test_memory_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "1M")
    with pytest.raises(ValueError, match=r"above the limit of 1 MiB"):
        next_token_signatures(np.arange(6), 10**5)
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match=r"^PSBOOK_MAX_BYTES must be a whole number of bytes"):
        next_token_signatures(np.arange(6), 10)
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "64G")
    assert next_token_signatures(np.arange(6), 10**6).n_pairs == 5   # sparse: O(V) only


def test_2d_ids_are_documents_for_numpy_and_torch_alike():
    torch = pytest.importorskip("torch")
    rows = np.array([[0, 1, 2], [2, 1, 0]])
    per_doc = next_token_signatures([rows[0], rows[1]], 5).counts
    for ids in (rows, torch.from_numpy(rows)):
        got = next_token_signatures(ids, 5).counts
        assert (got != per_doc).nnz == 0
    assert per_doc[2, 2] == 0 and per_doc.sum() == 4     # no bigram across the row boundary
    assert next_token_signatures(torch.tensor([0, 1, 2]), 5).n_pairs == 2


@pytest.mark.parametrize("ids", [3, np.int64(3), np.array(3)])
def test_0d_ids_name_the_argument(ids):
    with pytest.raises(TypeError, match=r"^ids must be a 1-D array of token ids"):
        next_token_signatures(ids, 5)


def test_huge_weights_give_finite_signatures():
    X = np.array([[0, 1], [1, 2], [2, 0]])
    sig = task_signatures(X, [0, 1, 2], 3, weights=[1e308, 1e308, 1])
    ref = task_signatures(X, [0, 1, 2], 3, weights=[1.0, 1.0, 1e-308])
    assert np.all(np.isfinite(sig.r_in))
    np.testing.assert_allclose(sig.r_in, ref.r_in)
    np.testing.assert_allclose(sig.phi_y, ref.phi_y)
