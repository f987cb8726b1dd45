"""Window co-occurrence counts and PPMI weighting, against brute force."""

import numpy as np
import pytest
import scipy.sparse as sp

from psbook.cooccurrence import (PairCounter, count_offset_pairs, ppmi, weighted_signature,
                                 window_signatures)
from psbook.signatures import next_token_signatures, row_normalize


def _brute_window(docs, V, k):
    C = np.zeros((V, V))
    for d in docs:
        for i in range(len(d)):
            for j in range(len(d)):
                if i != j and abs(i - j) <= k:
                    C[d[i], d[j]] += 1
    return C


def _brute_ppmi(C, alpha):
    C = np.asarray(C, float)
    tot = C.sum()
    row = C.sum(1)
    col = C.sum(0)
    if alpha is not None:
        col = col ** alpha
        col = col / col.sum() * tot
    out = np.zeros_like(C)
    for a in range(C.shape[0]):
        for b in range(C.shape[1]):
            if C[a, b] > 0:
                out[a, b] = max(0.0, np.log(C[a, b] * tot / (row[a] * col[b])))
    return out


@pytest.mark.parametrize("k", [1, 2, 5])
def test_window_counts_match_brute_force(k):
    rng = np.random.default_rng(k)
    V = 9
    docs = [rng.integers(0, V, size=n) for n in (1, 3, 17, 40, 6)]
    ws = window_signatures(iter(docs), V, window=k, chunk_pairs=7)   # many flushes
    np.testing.assert_array_equal(ws.counts.toarray(), _brute_window(docs, V, k))
    assert (ws.counts != ws.counts.T).nnz == 0
    np.testing.assert_array_equal(ws.unigram, np.bincount(np.concatenate(docs), minlength=V))
    np.testing.assert_allclose(ws.phi_window.toarray(), row_normalize(ws.counts).toarray())


def test_window_shards_merge_exactly():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 7, size=30) for _ in range(6)]
    whole = window_signatures(docs, 7, window=3)
    merged = window_signatures(docs[:2], 7, window=3) + window_signatures(docs[2:], 7, window=3)
    np.testing.assert_array_equal(whole.counts.toarray(), merged.counts.toarray())
    np.testing.assert_array_equal(whole.unigram, merged.unigram)
    with pytest.raises(ValueError, match="window"):
        whole.merge(window_signatures(docs, 7, window=2))


def test_offset_one_is_the_bigram_count():
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 11, size=50) for _ in range(4)]
    S, n = count_offset_pairs(docs, 11, (1,))
    assert n == 200
    np.testing.assert_array_equal(S.toarray(), next_token_signatures(docs, 11).counts.toarray())
    c = PairCounter(11, (1, 2))
    for d in docs:
        c.add(d)
    brute = np.zeros((11, 11))
    for d in docs:
        for o in (1, 2):
            np.add.at(brute, (d[:-o], d[o:]), 1)
    np.testing.assert_array_equal(c.counts().toarray(), brute)


def _coo_reference(docs, V, offsets):
    """The counts as PairCounter built them before the sort path: all pairs, COO -> CSR."""
    a = np.concatenate([d[:-o] for d in docs for o in offsets if d.size > o])
    b = np.concatenate([d[o:] for d in docs for o in offsets if d.size > o])
    m = sp.coo_matrix((np.ones(a.size, dtype=np.int64), (a, b)), shape=(V, V)).tocsr()
    m.sum_duplicates()
    return m


@pytest.mark.parametrize("V, chunk", [(13, 1 << 23), (13, 50), (3000, 1 << 23), (3000, 97),
                                      (400_000, 1 << 23), (400_000, 1000)])
def test_pair_counter_equals_the_coo_count(V, chunk):
    # small V (dense bincount or sort, by the number of pairs) and GloVe's V (sort), one flush
    # or many; Zipf-like ids so that pairs repeat
    rng = np.random.default_rng(V + chunk)
    docs = [np.minimum(rng.zipf(1.3, size=n) - 1, V - 1) for n in (0, 1, 6, 700, 3000, 40, 5000)]
    offsets = range(1, 6)
    c = PairCounter(V, offsets, chunk_pairs=chunk)
    for d in docs:
        c.add(d)
    got, ref = c.counts(), _coo_reference(docs, V, offsets)
    assert got.shape == ref.shape and got.dtype == ref.dtype == np.int64
    assert (got != ref).nnz == 0 and got.sum() == ref.sum() == sum(
        max(d.size - o, 0) for d in docs for o in offsets)
    assert got.has_canonical_format and ref.has_canonical_format
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)


def test_pair_counter_above_the_key_limit_counts_through_coo(monkeypatch):
    import psbook.signatures as S
    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 500, size=n) for n in (30, 400, 2)]
    ref = _coo_reference(docs, 500, (1, 2))
    monkeypatch.setattr(S, "_MAX_KEY_VOCAB", 499)
    seen, coo = [], sp.coo_matrix
    monkeypatch.setattr(S.sp, "coo_matrix", lambda *x, **k: seen.append(1) or coo(*x, **k))
    c = PairCounter(500, (1, 2), chunk_pairs=100)
    for d in docs:
        c.add(d)
    assert (c.counts() != ref).nnz == 0 and len(seen) >= 2


@pytest.mark.parametrize("alpha", [None, 0.75, 0.5])
def test_ppmi_matches_brute_force(alpha):
    rng = np.random.default_rng(2)
    C = rng.poisson(1.0, size=(8, 10)) * (rng.random((8, 10)) < 0.6)
    C[3] = 0                                   # an unseen token: its row stays zero
    got = ppmi(sp.csr_matrix(C), alpha).toarray()
    np.testing.assert_allclose(got, _brute_ppmi(C, alpha), atol=1e-12)
    assert np.all(np.isfinite(got)) and np.all(got >= 0) and not got[3].any()


def test_weighted_signatures_and_tied():
    rng = np.random.default_rng(3)
    docs = [rng.integers(0, 6, size=40) for _ in range(3)]
    nts = next_token_signatures(docs, 6)
    np.testing.assert_allclose(weighted_signature(nts, "next", "raw").toarray(),
                               nts.phi_next.toarray())
    np.testing.assert_allclose(weighted_signature(nts, "pre", "raw").toarray(),
                               nts.varphi_pre.toarray())
    np.testing.assert_allclose(weighted_signature(nts, "tied", "raw").toarray(),
                               nts.tied.toarray())
    B = nts.counts.toarray()
    np.testing.assert_allclose(weighted_signature(nts, "pre", "ppmi", None).toarray(),
                               _brute_ppmi(B.T, None), atol=1e-12)
    np.testing.assert_allclose(weighted_signature(nts, "tied", "ppmi", 0.75).toarray(),
                               _brute_ppmi(B, 0.75) + _brute_ppmi(B.T, 0.75), atol=1e-12)
    ws = window_signatures(docs, 6, 2)
    np.testing.assert_allclose(weighted_signature(ws, "window", "ppmi", None).toarray(),
                               _brute_ppmi(_brute_window(docs, 6, 2), None), atol=1e-12)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="alpha"):
        ppmi(np.ones((2, 2)), alpha=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        ppmi(-np.ones((2, 2)))
    with pytest.raises(ValueError, match="weighting"):
        weighted_signature(next_token_signatures([0, 1], 2), "next", "tfidf")
    with pytest.raises(TypeError, match="window"):
        weighted_signature(next_token_signatures([0, 1], 2), "window")
    with pytest.raises(ValueError, match="window"):
        window_signatures([0, 1, 2], 3, window=0)
    with pytest.raises(ValueError, match="offsets"):
        count_offset_pairs([0, 1], 2, offsets=[0])
    with pytest.raises(ValueError, match="empty"):
        window_signatures([np.array([], dtype=int)], 3)
    with pytest.raises(ValueError, match="vocab_size"):
        window_signatures([0, 5], 3)


def test_svd_embedding_recovers_the_geometry_of_a_low_rank_matrix():
    from psbook.cooccurrence import svd_embedding
    from psbook.metrics import r_cos
    rng = np.random.default_rng(0)
    X = rng.random((40, 3)) @ rng.random((3, 30))
    E = svd_embedding(sp.csr_matrix(X), 3)
    assert E.shape == (40, 3)
    # at the matrix's rank the embedding's inner products reproduce X X^T's geometry closely
    assert r_cos(E, X) > 0.95
    assert np.allclose(svd_embedding(X, 3), E)                 # dense input, same result
    with pytest.raises(ValueError, match="d must be below"):
        svd_embedding(X, 30)
    with pytest.raises(ValueError, match="d must be a positive int"):
        svd_embedding(X, 0)
