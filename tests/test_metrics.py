"""Tests of psbook.metrics on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

from psbook.metrics import (binned_alignment, correlation, cosine_matrix, order_triplet_fraction,
                            pair_values, r_cos, r_order)


def arc(n, span=np.pi * 0.9, d=2, seed=None):
    """n points on an arc of a circle: cosine falls strictly with the index distance."""
    th = np.linspace(0, span, n)
    W = np.zeros((n, d))
    W[:, 0], W[:, 1] = np.cos(th), np.sin(th)
    return W


def brute_cos(A):
    A = np.asarray(A, dtype=float)
    n = len(A)
    C = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ni, nj = np.sqrt(A[i] @ A[i]), np.sqrt(A[j] @ A[j])
            C[i, j] = 0.0 if ni == 0 or nj == 0 else (A[i] @ A[j]) / (ni * nj)
    return C


# --------------------------------------------------------------------------------------
# cosine_matrix
# --------------------------------------------------------------------------------------


def test_cosine_matrix_known_angles_and_zero_rows():
    A = np.array([[1.0, 0], [0, 2], [3, 3], [0, 0], [-1, 0]])
    C = cosine_matrix(A)
    s = 1 / np.sqrt(2)
    expected = np.array([[1, 0, s, 0, -1],
                         [0, 1, s, 0, 0],
                         [s, s, 1, 0, -s],
                         [0, 0, 0, 0, 0],           # a zero row: cosine 0, even with itself
                         [-1, 0, -s, 0, 1]])
    np.testing.assert_allclose(C, expected, atol=1e-12)
    assert not np.any(np.isnan(C))


def test_cosine_matrix_sparse_subset_and_torch():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(12, 7)) * (rng.random((12, 7)) < 0.4)
    A[3] = 0
    ref = brute_cos(A)
    np.testing.assert_allclose(cosine_matrix(A), ref, atol=1e-12)
    np.testing.assert_allclose(cosine_matrix(sp.csr_matrix(A)), ref, atol=1e-12)
    np.testing.assert_allclose(cosine_matrix(A, tokens=[5, 3, 0]), ref[np.ix_([5, 3, 0], [5, 3, 0])],
                               atol=1e-12)
    np.testing.assert_allclose(cosine_matrix(sp.csr_matrix(A), tokens=[5, 3, 0]),
                               ref[np.ix_([5, 3, 0], [5, 3, 0])], atol=1e-12)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(cosine_matrix(torch.as_tensor(A)), ref, atol=1e-6)
    C = cosine_matrix(sp.csr_matrix(A * 1e3))
    assert C.max() <= 1.0 and C.min() >= -1.0


def test_cosine_matrix_bad_input():
    with pytest.raises(ValueError, match=r"^A must be 2-D"):
        cosine_matrix(np.ones(3))
    with pytest.raises(ValueError, match=r"^A contains NaN"):
        cosine_matrix(np.array([[1.0, np.nan], [0, 1]]))
    with pytest.raises(TypeError, match=r"^A must be a numeric matrix"):
        cosine_matrix(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"^tokens must hold ids"):
        cosine_matrix(np.eye(3), tokens=[0, 3])


def test_pair_values_order():
    S = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(pair_values(S), [1, 2, 3, 6, 7, 11])
    with pytest.raises(ValueError, match=r"^S must be a square"):
        pair_values(np.ones((2, 3)))


# --------------------------------------------------------------------------------------
# correlation and r_cos
# --------------------------------------------------------------------------------------


def test_correlation_pearson_vs_spearman():
    u = np.array([1.0, 2, 3, 4, 100])
    v = np.array([1.0, 2, 3, 4, 5])
    assert correlation(u, v, "spearman") == pytest.approx(1.0)
    assert correlation(u, v, "pearson") < 0.8
    assert correlation(u, -v, "spearman") == pytest.approx(-1.0)
    assert np.isnan(correlation(np.ones(4), v[:4]))
    with pytest.raises(ValueError, match=r"^method must be one of"):
        correlation(u, v, "kendall")
    with pytest.raises(ValueError, match=r"same shape"):
        correlation(u, v[:3])
    with pytest.raises(ValueError, match=r"at least 2 values"):
        correlation([1.0], [2.0])


def test_r_cos_is_one_for_identical_geometry_and_scale_invariant():
    rng = np.random.default_rng(1)
    Phi = rng.random((20, 9))
    assert r_cos(Phi, Phi) == pytest.approx(1.0)
    assert r_cos(Phi, Phi, method="spearman") == pytest.approx(1.0)
    scales = rng.uniform(0.01, 100, size=(20, 1))
    assert r_cos(Phi * scales, Phi) == pytest.approx(1.0)
    # an embedding with the same cosines in another basis and dimension: still 1
    Q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    W = np.hstack([Phi @ Q, np.zeros((20, 3))]) * scales
    assert r_cos(W, sp.csr_matrix(Phi)) == pytest.approx(1.0)


def test_r_cos_matches_independent_computation():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(15, 6))
    Phi = W @ rng.normal(size=(6, 10)) + 2.0 * rng.normal(size=(15, 10))
    iu = np.triu_indices(15, 1)
    cw, cp = brute_cos(W)[iu], brute_cos(Phi)[iu]
    p, s = r_cos(W, Phi), r_cos(W, Phi, method="spearman")
    assert p == pytest.approx(np.corrcoef(cw, cp)[0, 1], abs=1e-10)
    assert s == pytest.approx(spearmanr(cw, cp).statistic, abs=1e-10)
    assert abs(p - s) > 1e-4 and 0 < p < 1
    t = [0, 4, 2, 9, 11, 7]
    assert r_cos(W, Phi, tokens=t) == pytest.approx(r_cos(W[t], Phi[t]), abs=1e-12)
    # unrelated geometry: small correlation
    assert abs(r_cos(rng.normal(size=(40, 8)), rng.normal(size=(40, 8)))) < 0.2


def test_r_cos_bad_input():
    W, Phi = np.ones((5, 3)), np.eye(5)
    with pytest.raises(ValueError, match=r"same number of rows.*W_E\.T"):
        r_cos(W.T, Phi)
    with pytest.raises(ValueError, match=r"^method must be one of"):
        r_cos(W, Phi, method="cosine")
    with pytest.raises(ValueError, match=r"^tokens must name at least 3"):
        r_cos(W, Phi, tokens=[0, 1])
    with pytest.raises(ValueError, match=r"^W contains NaN"):
        r_cos(np.full((5, 3), np.nan), Phi)
    with pytest.raises(ValueError, match=r"^Phi must be 2-D"):
        r_cos(W, np.ones(5))


# --------------------------------------------------------------------------------------
# r_order and order_triplet_fraction
# --------------------------------------------------------------------------------------


def test_r_order_ordered_random_and_shuffled():
    W = arc(30)
    # exactly -1 up to ties among equal-distance pairs broken by rounding (about 1e-3)
    assert r_order(W) == pytest.approx(-1.0, abs=3e-3)
    assert r_order(W, tokens=np.arange(30)[::-1]) == pytest.approx(-1.0, abs=3e-3)
    # ordered in a higher dimension, with row scales that cosines ignore
    H = np.hstack([arc(30), np.zeros((30, 5))]) * np.linspace(1, 5, 30)[:, None]
    assert r_order(H) == pytest.approx(-1.0, abs=3e-3)
    rng = np.random.default_rng(0)
    assert abs(r_order(rng.normal(size=(50, 32)))) < 0.15
    perm = rng.permutation(30)
    assert r_order(W, tokens=perm) > -0.5        # listed out of their natural order
    assert order_triplet_fraction(W) == 1.0
    frac = order_triplet_fraction(rng.normal(size=(50, 32)))
    assert 0.4 < frac < 0.6
    assert order_triplet_fraction(W, tokens=perm) < 0.8


def test_r_order_bad_input():
    with pytest.raises(ValueError, match=r"^tokens must name at least 3"):
        r_order(arc(5), tokens=[1, 2])
    with pytest.raises(ValueError, match=r"^tokens must hold ids"):
        r_order(arc(5), tokens=[1, 2, 9])
    with pytest.raises(ValueError, match=r"^W must be 2-D"):
        order_triplet_fraction(np.ones(4))


# --------------------------------------------------------------------------------------
# binned_alignment
# --------------------------------------------------------------------------------------


def _top_bin_case(n=3000, seed=0):
    """Pairs whose signature cosine tracks embedding cosine only where it exceeds 0.5."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(-1, 1, size=n)
    s = rng.uniform(-1, 1, size=n)
    top = e > 0.5
    s[top] = e[top] + 0.01 * rng.normal(size=top.sum())
    return e, s


def test_binned_alignment_agreement_only_in_top_bin():
    e, s = _top_bin_case()
    edges = np.array([-1.0, 0.0, 0.5, 1.0])
    res = binned_alignment(e, s, bins=edges)
    np.testing.assert_array_equal(res.edges, edges)
    assert res.count.sum() == e.size
    assert res.count.tolist() == [(e < 0).sum(), ((e >= 0) & (e < 0.5)).sum(), (e >= 0.5).sum()]
    assert res.corr[2] > 0.95
    assert abs(res.corr[0]) < 0.2 and abs(res.corr[1]) < 0.2
    assert res.mean_emb[0] < 0 < res.mean_emb[1] < 0.5 < res.mean_emb[2]
    top = e >= 0.5
    assert res.mean_sig[2] == pytest.approx(s[top].mean())
    sp_res = binned_alignment(e, s, bins=edges, method="spearman")
    assert sp_res.corr[2] > 0.95
    assert len(res.table().splitlines()) == 4


def test_binned_alignment_quantile_bins_and_matrices():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(30, 5))
    Se = cosine_matrix(W)
    Ss = cosine_matrix(W + 0.3 * rng.normal(size=W.shape))
    res = binned_alignment(Se, Ss, bins=5)
    n_pairs = 30 * 29 // 2
    assert res.count.sum() == n_pairs and res.count.size == 5
    assert res.count.min() >= n_pairs // 5 - 1                 # equal-count bins
    same = binned_alignment(pair_values(Se), pair_values(Ss), bins=5)
    np.testing.assert_allclose(res.corr, same.corr)
    # explicit edges that leave pairs outside: only pairs inside are counted
    part = binned_alignment(Se, Ss, bins=[0.0, 0.5, 1.0])
    assert part.count.sum() == (pair_values(Se) >= 0).sum()
    # a bin with fewer than min_pairs pairs gets NaN, not a noisy number
    sparse_bin = binned_alignment(Se, Ss, bins=[-1.0, 0.95, 1.0], min_pairs=10)
    assert sparse_bin.count[1] < 10 and np.isnan(sparse_bin.corr[1])


def test_binned_alignment_constant_embedding_cosines():
    # collapsed embeddings: every pair has the same cosine -> one bin holding all pairs
    e = np.full(45, 0.3)
    s = np.linspace(0, 1, 45)
    res = binned_alignment(e, s, bins=4)
    assert res.count.sum() == 45
    assert np.all(np.isnan(res.corr))                   # no spread in e: no correlation


def test_binned_alignment_bad_input():
    e, s = _top_bin_case(100)
    with pytest.raises(ValueError, match=r"^S_emb and S_sig must cover the same pairs"):
        binned_alignment(e, s[:50])
    with pytest.raises(ValueError, match=r"^S_emb is empty"):
        binned_alignment([], [])
    with pytest.raises(ValueError, match=r"^bins must be a positive number"):
        binned_alignment(e, s, bins=0)
    with pytest.raises(ValueError, match=r"^bins as edges must be a strictly increasing"):
        binned_alignment(e, s, bins=[0.5, 0.2, 1.0])
    with pytest.raises(ValueError, match=r"^bins as edges"):
        binned_alignment(e, s, bins=[0.5])
    with pytest.raises(ValueError, match=r"^method must be one of"):
        binned_alignment(e, s, method="tau")
    with pytest.raises(ValueError, match=r"^S_emb .*NaN|^S_emb must be finite"):
        binned_alignment(np.full(10, np.nan), np.ones(10))


# --- negative controls (shuffled signature) ---------------------------------------------

def test_shuffled_rows_permutes_rows_and_never_identity():
    from psbook.metrics import shuffled_rows
    Phi = np.arange(12.0).reshape(4, 3)
    for s in range(20):
        P = shuffled_rows(Phi, s)
        assert not np.array_equal(P, Phi)
        assert sorted(map(tuple, P)) == sorted(map(tuple, Phi))
    assert np.array_equal(shuffled_rows(Phi, 3), shuffled_rows(Phi, 3))
    P = shuffled_rows(Phi, 0, tokens=[1, 2])
    assert np.array_equal(P[[0, 3]], Phi[[0, 3]]) and np.array_equal(P[[1, 2]], Phi[[2, 1]])
    import scipy.sparse as sp
    assert np.array_equal(shuffled_rows(sp.csr_matrix(Phi), 1).toarray(), shuffled_rows(Phi, 1))
    with pytest.raises(ValueError, match="seed"):
        shuffled_rows(Phi, -1)
    with pytest.raises(ValueError, match="2 distinct rows"):
        shuffled_rows(Phi, 0, tokens=[1])


def test_shuffled_r_cos_is_a_control_that_fails():
    from psbook.metrics import r_cos, shuffled_r_cos
    rng = np.random.default_rng(0)
    Phi = rng.random((30, 8))
    W = Phi @ rng.normal(size=(8, 8)) * 0 + Phi  # W follows Phi exactly
    assert r_cos(W, Phi) > 0.99
    ctrl = shuffled_r_cos(W, Phi, n_shuffles=10)
    assert ctrl.shape == (10,) and abs(ctrl.mean()) < 0.2
    with pytest.raises(ValueError, match="n_shuffles"):
        shuffled_r_cos(W, Phi, n_shuffles=0)

# --------------------------------------------------------------------------------------
# issue 10: no silent wrong results, errors that name the argument
# --------------------------------------------------------------------------------------


def test_r_cos_sparse_with_nan_is_refused_like_dense():
    Phi = sp.csr_matrix(np.array([[1.0, 0, 2], [0, np.nan, 1], [1, 1, 0], [0, 2, 1]]))
    W = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"^Phi contains NaN or inf"):
        r_cos(W, Phi)
    with pytest.raises(ValueError, match=r"^Phi contains NaN or inf"):
        r_cos(W, Phi.toarray())


@pytest.mark.parametrize("bins, exc, pattern", [
    (2.7, TypeError, r"^bins must be an integer number of bins"),
    ("a", TypeError, r"^bins must be an integer number of bins"),
    (None, TypeError, r"^bins must be an integer number of bins"),
    (float("nan"), TypeError, r"^bins must be an integer"),
    (float("inf"), TypeError, r"^bins must be an integer"),
    (0, ValueError, r"^bins must be a positive number"),
    (10**8, ValueError, r"^bins must be at most the number of pairs"),
    ([0.0, np.nan, 1.0], ValueError, r"^bins as edges must be finite"),
    ([0.5, 0.2], ValueError, r"^bins as edges must be a strictly increasing"),
    ([["a"]], TypeError, r"^bins as edges must be a 1-D array of numbers"),
])
def test_binned_alignment_bins_are_checked(bins, exc, pattern):
    e = np.linspace(-1, 1, 50)
    with pytest.raises(exc, match=pattern):
        binned_alignment(e, e ** 2, bins)


def test_binned_alignment_refuses_3d_and_non_square():
    with pytest.raises(ValueError, match=r"^S_emb must be a square matrix or a 1-D array"):
        binned_alignment(np.zeros((3, 3, 3)), np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match=r"^S_sig must be a square matrix"):
        binned_alignment(np.eye(3), np.zeros((3, 4)))


def test_order_triplet_fraction_checks_max_triplets():
    W = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match=r"^max_triplets must be an integer >= 1"):
        order_triplet_fraction(W, max_triplets=-1)
    with pytest.raises(TypeError, match=r"^seed must be a non-negative integer"):
        order_triplet_fraction(W, seed="a")


def test_cosine_matrix_size_guard(monkeypatch):
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "1M")
    with pytest.raises(ValueError, match=r"^A with 1,000 rows would need .* cosine matrix"):
        cosine_matrix(np.ones((1000, 2)))


def test_structure_agreement_refuses_two_vocabularies():
    from psbook.corpus.compare import structure_agreement
    from psbook.signatures import next_token_signatures
    rng = np.random.default_rng(0)
    a = next_token_signatures(rng.integers(0, 4, 200), 4)
    b = next_token_signatures(rng.integers(0, 50, 2000), 50)
    with pytest.raises(ValueError, match=r"^sigs_a and sigs_b must share one vocabulary"):
        structure_agreement(a, b, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"^tokens must hold ids in \[0, vocab_size=50\)"):
        structure_agreement(b, b, [0, 1, 99])


# ---- nulls and interpolated onsets (issue 28) ---------------------------------------------

def test_crossing_step_interpolates_and_varies():
    from psbook.metrics import crossing_step
    steps = [0, 10, 20, 30]
    assert crossing_step(steps, [0.0, -0.5, -0.9, -1.0], -0.7) == pytest.approx(15.0)
    assert crossing_step(steps, [0.0, -0.5, -0.8, -1.0], -0.7) == pytest.approx(10 + 10 * 2 / 3)
    assert crossing_step(steps, [-0.9, -1.0, -1.0, -1.0], -0.7) == 0.0
    assert np.isnan(crossing_step(steps, [0.0, -0.1, -0.2, -0.3], -0.7))
    assert crossing_step(steps, [0.0, 0.5, 0.95, 1.0], 0.9, below=False) == pytest.approx(10 + 10 * 0.4 / 0.45)
    with pytest.raises(ValueError, match="same non-zero length"):
        crossing_step([0, 1], [0.0], 0.5)
    with pytest.raises(ValueError, match="threshold"):
        crossing_step([0, 1], [0.0, 1.0], float("nan"))



def test_onset_ratio_null_every_ordered_pair():
    from psbook.metrics import onset_ratio_null
    null = onset_ratio_null([10.0, 20.0, 0.0])
    assert sorted(null.tolist()) == sorted([2.0, 0.0, 0.5, 0.0, 10.0, 20.0])
    assert onset_ratio_null([5.0]).size == 0

def test_slope_permutation_null_separates_a_trend_from_noise():
    from psbook.metrics import slope_permutation_null, slopes
    x = np.linspace(0, 1, 5)
    rng = np.random.default_rng(0)
    trend = 0.3 * x + 0.02 * rng.standard_normal((4, 5))
    noise = 0.02 * rng.standard_normal((4, 5))
    assert slopes(x, trend).mean() == pytest.approx(0.3, abs=0.05)
    null = slope_permutation_null(x, trend, n_perm=500, seed=1)
    assert null.shape == (500,) and abs(null.mean()) < 0.05 and null.std() > 0
    assert slopes(x, trend).mean() > np.quantile(null, 0.95)
    # calibration: on pure noise the mean slope leaves its own null's 95 % band rarely
    out = []
    for s in range(60):
        Yn = 0.02 * np.random.default_rng(100 + s).standard_normal((4, 5))
        nl = slope_permutation_null(x, Yn, n_perm=300, seed=s)
        out.append(abs(slopes(x, Yn).mean()) > np.quantile(np.abs(nl), 0.95))
    assert np.mean(out) < 0.15
    assert abs(slopes(x, noise).mean()) < 0.05
    # same seed, same null
    np.testing.assert_array_equal(null, slope_permutation_null(x, trend, n_perm=500, seed=1))
    with pytest.raises(ValueError, match="one column per x"):
        slopes(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="two distinct"):
        slopes([1.0, 1.0], np.zeros((2, 2)))
    with pytest.raises(TypeError, match="n_perm"):
        slope_permutation_null(x, trend, n_perm=1.5)


def test_mantel_r_cos_null_keeps_tokens_together():
    from psbook.metrics import mantel_r_cos, r_cos
    rng = np.random.default_rng(0)
    Phi = rng.random((30, 12))
    W = Phi @ rng.standard_normal((12, 6)) + 0.05 * rng.standard_normal((30, 6))
    r, null, p = mantel_r_cos(W, Phi, n_perm=200, seed=0)
    assert r == pytest.approx(r_cos(W, Phi))
    assert null.shape == (200,) and p == pytest.approx(1 / 201)
    assert abs(null.mean()) < 0.2
    # unrelated matrices: the p-value is not small
    r2, _, p2 = mantel_r_cos(rng.standard_normal((30, 6)), Phi, n_perm=200, seed=0)
    assert p2 > 0.01
    with pytest.raises(ValueError, match="at least 3 tokens"):
        mantel_r_cos(W, Phi, tokens=[0, 1], n_perm=10)
