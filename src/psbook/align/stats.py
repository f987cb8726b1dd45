"""The statistics of the alignment: which tokens are compared (:func:`select_tokens`), the
frequency controls (:func:`frequency_matched_permutation`, :func:`frequency_controlled_r_cos`),
the restriction-of-range null of a binned alignment (:func:`copula_null`) and a signature
thinned to another corpus's counts (:func:`matched_count_signature`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validate import as_token_array, check_choice, check_positive_int
from ..cooccurrence import WEIGHTINGS, ppmi
from ..metrics import correlation, pair_values
from .counting import CorpusCounts

__all__ = ["select_tokens", "frequency_matched_permutation", "frequency_matched_groups",
           "frequency_controlled_r_cos",
           "copula_null", "matched_count_signature", "frequency_only_signature",
           "window_ppmi_rows"]


def select_tokens(unigram, top: int = 1000, skip: int = 100, min_count: int = 5,
                  exclude=None) -> np.ndarray:
    """Ids of the tokens ranked ``skip .. skip+top-1`` by count (ties broken by id).

    Only tokens with at least ``min_count`` occurrences (and not in ``exclude``) are ranked.
    When fewer than ``skip + top`` qualify, ``skip`` shrinks first, then ``top``. Raises
    ValueError when fewer than 3 tokens qualify (a corpus the tokenizer maps to almost
    nothing).
    """
    u = np.asarray(unigram)
    top = check_positive_int("top", top)
    skip = check_positive_int("skip", skip, minimum=0)
    min_count = check_positive_int("min_count", min_count)
    ok = u >= min_count
    if exclude is not None:
        ok[as_token_array("exclude", list(exclude), u.size, ndim=1, allow_empty=True)] = False
    cand = np.flatnonzero(ok)
    if cand.size < 3:
        raise ValueError(f"only {cand.size} token(s) occur at least min_count={min_count} times "
                         f"in the corpus ({int(u.sum())} tokens counted); the tokenizer maps "
                         f"this text to almost nothing -- use a larger corpus or one in the "
                         f"model's language")
    order = cand[np.lexsort((cand, -u[cand]))]
    s = min(skip, max(0, order.size - top))
    return np.sort(order[s: s + top])


def frequency_only_signature(unigram, ids, n_rows: int, *, width: float = 0.3,
                             n_grid: int = 40) -> np.ndarray:
    """A placebo signature that knows nothing but each word's corpus count: for the tokens
    ``ids``, row = a Gaussian bump (``width`` in log count) at the token's log count on a grid
    of ``n_grid`` points; every other of the ``n_rows`` rows is 0.

    Book: chapter 12 (the frequency-only placebo of the word groups)."""
    log_f = np.log(np.maximum(np.asarray(unigram)[ids], 1).astype(float))
    grid = np.linspace(log_f.min() - 1, log_f.max() + 1, n_grid)
    Phi = np.zeros((n_rows, grid.size))
    Phi[ids] = np.exp(-0.5 * ((log_f[:, None] - grid[None, :]) / width) ** 2)
    return Phi


def frequency_matched_permutation(freq, n_bins: int = 10, seed: int = 0) -> np.ndarray:
    """A permutation of ``range(len(freq))`` that moves each item only within its bin of
    similar frequency (``n_bins`` equal-count bins of log-frequency)."""
    f = np.asarray(freq, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"freq must be a 1-D array of at least 2 frequencies; got shape {f.shape}")
    n_bins = check_positive_int("n_bins", n_bins)
    rng = np.random.default_rng(seed)
    order = np.argsort(np.log(np.maximum(f, 1e-300)), kind="stable")
    perm = np.arange(f.size)
    for chunk in np.array_split(order, min(n_bins, f.size)):
        perm[chunk] = rng.permutation(chunk)
    return perm


def frequency_matched_groups(unigram, groups: dict, *, draws: int = 200, seed: int = 0,
                             near: int = 20, min_count: int = 5) -> list[dict]:
    """``draws`` random stand-ins for ``groups`` (``{name: token ids}``): each draw gives every
    group as many tokens, each token drawn among the ``near`` tokens closest to one group
    word's count (log scale; tokens seen at least ``min_count`` times, never a group word, no
    token twice in a draw). A null for a statistic of the groups: random groups of tokens as
    frequent as the real ones.

    Book: chapter 12 (the word groups against random frequency-matched groups)."""
    u = np.asarray(unigram)
    draws = check_positive_int("draws", draws)
    near = check_positive_int("near", near)
    if not isinstance(groups, dict) or not groups or any(len(v) == 0 for v in groups.values()):
        raise ValueError(f"groups must be a non-empty dict of name -> token ids; got {groups!r}")
    words = np.concatenate([as_token_array(f"groups[{k!r}]", v, u.size, ndim=1)
                            for k, v in groups.items()])
    pool = np.flatnonzero(u >= check_positive_int("min_count", min_count))
    pool = pool[~np.isin(pool, words)]
    if pool.size < words.size + near:
        raise ValueError(f"only {pool.size} other tokens occur min_count={min_count} times: too "
                         f"few to draw {words.size} frequency-matched stand-ins")
    lf = np.log(u[pool].astype(np.float64))
    order = np.argsort(lf, kind="stable")
    pool, lf = pool[order], lf[order]
    # for each group word: the positions (in pool) of the `near` tokens nearest its log count
    cands = []
    for w in words:
        c = int(np.searchsorted(lf, np.log(max(u[w], 1))))
        lo = min(max(0, c - near // 2), pool.size - near)
        cands.append(np.arange(lo, lo + near))
    rng = np.random.default_rng(seed)
    sizes = [len(v) for v in groups.values()]
    out = []
    for _ in range(draws):
        taken, ids = set(), []
        for c in cands:
            free = [i for i in rng.permutation(c) if i not in taken]
            j = free[0] if free else next(i for i in rng.permutation(pool.size) if i not in taken)
            taken.add(j)
            ids.append(int(pool[j]))
        parts = np.split(np.asarray(ids), np.cumsum(sizes)[:-1])
        out.append({k: list(p) for k, p in zip(groups, parts)})
    return out


def _pair_covariates(freq) -> np.ndarray:
    lf = np.log(np.maximum(np.asarray(freq, dtype=np.float64), 1e-300))
    iu = np.triu_indices(lf.size, k=1)
    a, b = lf[iu[0]], lf[iu[1]]
    return np.column_stack([np.ones(a.size), a + b, np.abs(a - b)])


def _residual(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ coef


def frequency_controlled_r_cos(S_emb, S_sig, freq, method: str = "pearson") -> float:
    """R_cos with frequency partialled out.

    ``S_emb``, ``S_sig``: cosine matrices over the same tokens (or their pair values);
    ``freq``: the tokens' corpus frequencies. Both pair-cosine vectors are regressed on the
    pair covariates ``(1, log f_a + log f_b, |log f_a - log f_b|)``; the correlation of the
    residuals (ranks first for ``spearman``) is returned. Frequency alone can make pairs of
    frequent tokens similar in both geometries; this value is what is left without it.
    """
    check_choice("method", method, {"pearson", "spearman"})
    e, s = np.asarray(S_emb, dtype=np.float64), np.asarray(S_sig, dtype=np.float64)
    e = pair_values(e) if e.ndim == 2 else e
    s = pair_values(s) if s.ndim == 2 else s
    f = np.asarray(freq, dtype=np.float64)
    if e.shape != s.shape or e.size != f.size * (f.size - 1) // 2:
        raise ValueError(f"S_emb, S_sig and freq must describe the same tokens; got {e.size} and "
                         f"{s.size} pairs for {f.size} frequencies")
    if method == "spearman":
        from scipy.stats import rankdata
        e, s = rankdata(e), rankdata(s)
    X = _pair_covariates(f)
    return correlation(_residual(e, X), _residual(s, X), "pearson")



def copula_null(S_emb, S_sig, draws: int = 20, seed: int = 0) -> np.ndarray:
    """Restriction-of-range null for a binned alignment: pair values with the *same marginals*
    as the data and the same overall dependence, but nothing else -- a Gaussian copula.

    The embedding cosines are kept as they are; each draw gives every pair a signature cosine
    taken from the observed ones (the same multiset) by the rank of ``rho z + sqrt(1 - rho^2)
    eps``, with ``z`` the normal scores of the embedding cosines and ``rho`` the correlation of
    the two normal scores (the copula's parameter; the Pearson correlation of the draws matches
    the data's up to the shape of the marginals). Binned like the data
    (:func:`psbook.metrics.binned_alignment` on ``(S_emb, draw)``), it shows what grouping
    pairs by embedding cosine produces from the marginals alone. ``S_emb``, ``S_sig``: square
    cosine matrices or 1-D pair vectors. Returns ``(draws, n_pairs)``.
    """
    from scipy.stats import norm, rankdata

    e, s = pair_values(S_emb) if np.ndim(S_emb) == 2 else np.asarray(S_emb, dtype=np.float64), \
        pair_values(S_sig) if np.ndim(S_sig) == 2 else np.asarray(S_sig, dtype=np.float64)
    if e.shape != s.shape or e.ndim != 1 or e.size < 3:
        raise ValueError(f"S_emb and S_sig must cover the same pairs (at least 3); got "
                         f"{e.shape} and {s.shape}")
    draws = check_positive_int("draws", draws)
    n = e.size
    z_e = norm.ppf(rankdata(e) / (n + 1))
    z_s = norm.ppf(rankdata(s) / (n + 1))
    rho = float(np.corrcoef(z_e, z_s)[0, 1])
    s_sorted = np.sort(s)
    rng = np.random.default_rng(seed)
    out = np.empty((draws, n))
    for k in range(draws):
        z2 = rho * z_e + np.sqrt(max(0.0, 1 - rho ** 2)) * rng.standard_normal(n)
        out[k] = s_sorted[np.argsort(np.argsort(z2, kind="stable"), kind="stable")]
    return out


def window_ppmi_rows(window, rows, alpha: float | None = 0.75) -> sp.csr_matrix:
    """The rows ``rows`` of the window-PPMI signature of ``window`` (a
    :class:`~psbook.cooccurrence.WindowSignatures`): equal to
    ``weighted_signature(window, "window", "ppmi", alpha)[rows]`` (the marginals are those of
    the whole matrix), at the cost of those rows only.

    Book: chapter 12 (the sensitivity table weights many countings)."""
    if alpha is not None and (isinstance(alpha, bool) or not 0 < float(alpha) <= 1):
        raise ValueError(f"alpha must be a number in (0, 1] or None; got {alpha!r}")
    return ppmi(window.counts, None if alpha is None else float(alpha), rows=rows)


def matched_count_signature(counts: CorpusCounts, other: CorpusCounts, tokens,
                            signature: str = "window", weighting: str = "ppmi", *,
                            alpha: float | None = 0.75, seed: int = 0):
    """``counts``' weighted ``signature`` with the rows of ``tokens`` thinned to the counts the
    ``other`` corpus has for them: each row of the count matrix is subsampled without
    replacement to ``other``'s row total (rows where ``other`` has more are kept whole).

    It separates the two costs of a proxy: a signature from a corpus with fewer occurrences is
    noisier (count sparsity) *and* may describe another usage (domain). The matched-count
    signature has the first cost and not the second. Returns the weighted matrix (sparse, rows
    = tokens), like :func:`psbook.cooccurrence.weighted_signature`.
    """
    from ..cooccurrence import row_normalize, signature_counts

    check_choice("signature", signature, {"next", "pre", "window"})
    check_choice("weighting", weighting, set(WEIGHTINGS))
    C = sp.csr_matrix(signature_counts(counts.signatures_for(signature), signature), copy=True)
    C_o = signature_counts(other.signatures_for(signature), signature)
    t = np.asarray(tokens, dtype=np.int64)
    if C.shape != C_o.shape:
        raise ValueError(f"counts and other must be counted in one tokenizer; got count matrices "
                         f"{C.shape} and {C_o.shape}")
    want = np.asarray(C_o[t].sum(axis=1)).ravel().astype(np.int64)
    rng = np.random.default_rng(seed)
    C.sort_indices()
    for tok, n in zip(t, want):
        lo, hi = C.indptr[tok], C.indptr[tok + 1]
        vals = np.asarray(C.data[lo:hi], dtype=np.int64)
        if vals.sum() > n:
            C.data[lo:hi] = rng.multivariate_hypergeometric(vals, int(n))
    C.eliminate_zeros()
    return row_normalize(C) if weighting == "raw" else ppmi(C, alpha)

