r"""Comparing embedding geometry with signature geometry (DESIGN §3, "Metrics").

* :func:`cosine_matrix` -- pairwise cosine similarity of the rows of a matrix.
* :func:`r_cos` -- correlation, over token pairs, of embedding cosines and signature cosines.
* :func:`r_order` -- how "ordered" a set of embeddings is (-1: perfectly ordered).
* :func:`binned_alignment` -- agreement per bin of embedding similarity.

Matrices may be numpy arrays, torch tensors or (for signatures) ``scipy.sparse`` matrices.
Token vectors are **rows**: for an embedding stored ``d x V`` (``W^E``) pass ``W_E.T``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from ._validate import (as_float_array, as_token_array, check_choice, check_positive_int,
                        check_seed, check_size)

__all__ = [
    "cosine_matrix",
    "pair_values",
    "correlation",
    "r_cos",
    "r_order",
    "order_triplet_fraction",
    "BinnedAlignment",
    "binned_alignment",
    "group_similarity",
]


def as_matrix(name: str, A):
    if sp.issparse(A):
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (one row per token); got shape {A.shape}")
        A = sp.csr_matrix(A, dtype=np.float64)
        if not np.all(np.isfinite(A.data)):
            raise ValueError(f"{name} contains NaN or inf (in its stored entries); signatures "
                             f"and embeddings must be finite")
        return A
    if hasattr(A, "detach"):
        A = A.detach().float().cpu().numpy()
    A = np.asarray(A)
    if A.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric matrix; got dtype {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (one row per token); got shape {A.shape}")
    A = A.astype(np.float64)
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or inf; the model probably diverged")
    return A


def cosine_matrix(A, tokens=None) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``A`` (optionally only rows ``tokens``).

    Rows that are all zero have cosine 0 with everything (including themselves).
    """
    A = as_matrix("A", A)
    if tokens is not None:
        A = A[as_token_array("tokens", tokens, A.shape[0], ndim=1)]
    n = A.shape[0]
    check_size("tokens" if tokens is not None else f"A with {n:,} rows", 8.0 * 3 * n * n,
               f"a {n:,} x {n:,} cosine matrix")
    if sp.issparse(A):
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        An = sp.diags(inv) @ A
        return np.clip(np.asarray((An @ An.T).todense()), -1.0, 1.0)
    norms = np.linalg.norm(A, axis=1)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    An = A * inv[:, None]
    return np.clip(An @ An.T, -1.0, 1.0)


def pair_values(S) -> np.ndarray:
    """The entries ``S[a, b]`` with ``a < b`` of a square matrix, in row-major order."""
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix; got shape {S.shape}")
    iu = np.triu_indices(S.shape[0], k=1)
    return S[iu]


def correlation(u, v, method: str = "pearson") -> float:
    """Pearson or Spearman correlation of two equally long vectors (NaN if one is constant)."""
    check_choice("method", method, {"pearson", "spearman"})
    u, v = as_float_array("u", u).ravel(), as_float_array("v", v).ravel()
    if np.shape(u) != np.shape(v):
        raise ValueError(f"u and v must have the same shape; got {u.shape} and {v.shape}")
    if u.size < 2:
        raise ValueError(f"u and v need at least 2 values to correlate; got {u.size}")
    if np.all(u == u[0]) or np.all(v == v[0]):
        return float("nan")  # a constant vector has no correlation (not a rounding residue)
    if method == "spearman":
        u, v = rankdata(u), rankdata(v)
    u, v = u - u.mean(), v - v.mean()
    den = np.sqrt((u * u).sum() * (v * v).sum())
    return float((u * v).sum() / den) if den > 0 else float("nan")


def _tokens_or_all(tokens, n: int) -> np.ndarray:
    if tokens is None:
        if n < 3:
            raise ValueError(f"W must have at least 3 rows (tokens): pairs a < b are "
                             f"correlated; got {n}")
        return np.arange(n)
    t = as_token_array("tokens", tokens, n, ndim=1)
    if t.size < 3:
        raise ValueError(f"tokens must name at least 3 tokens (pairs a < b are correlated); "
                         f"got {t.size}")
    return t


def r_cos(W, Phi, tokens=None, method: str = "pearson") -> float:
    r"""Correlation over pairs ``a < b`` in ``tokens`` of cos(W_a, W_b) and cos(Phi_a, Phi_b).

    ``W`` has one row per token (pass ``W_E.T`` for an embedding stored ``d x V``); ``Phi``
    has one row per token (a signature, dense or sparse). ``tokens=None`` uses every row.
    """
    check_choice("method", method, {"pearson", "spearman"})
    W, Phi = as_matrix("W", W), as_matrix("Phi", Phi)
    if W.shape[0] != Phi.shape[0]:
        raise ValueError(f"W and Phi must have one row per token and the same number of rows; "
                         f"got W {W.shape} and Phi {Phi.shape} (pass W_E.T for a d x V "
                         f"embedding)")
    t = _tokens_or_all(tokens, W.shape[0])
    return correlation(pair_values(cosine_matrix(W[t])), pair_values(cosine_matrix(Phi[t])),
                       method)


def r_order(W, tokens=None) -> float:
    r"""Spearman correlation, over pairs i < j, of cos(W_{t_i}, W_{t_j}) and |i - j|.

    ``tokens`` lists the tokens in their natural order (e.g. the numbers 0, 1, 2, ...). An
    embedding in which neighbours in that order are more similar gives a value near -1;
    an unstructured one gives about 0.
    """
    W = as_matrix("W", W)
    t = _tokens_or_all(tokens, W.shape[0])
    S = cosine_matrix(W[t])
    idx = np.arange(t.size)
    dist = np.abs(idx[:, None] - idx[None, :])
    # Round away floating-point noise so that pairs at equal true cosine tie in the ranking.
    return correlation(np.round(pair_values(S), 12), pair_values(dist), "spearman")


def order_triplet_fraction(W, tokens=None, *, max_triplets: int = 200_000, seed: int = 0) -> float:
    """Fraction of triplets (i, j, k) with |i-j| < |i-k| and cos(W_i, W_j) > cos(W_i, W_k).

    A second, assumption-light measure of order (0.5 for random embeddings, 1 for ordered).
    Triplets are sampled when there are more than ``max_triplets``.
    """
    max_triplets = check_positive_int("max_triplets", max_triplets)
    seed = check_seed("seed", seed)
    W = as_matrix("W", W)
    t = _tokens_or_all(tokens, W.shape[0])
    S = cosine_matrix(W[t])
    n = t.size
    rng = np.random.default_rng(seed)
    m = min(max_triplets, n * n * n)
    check_size(f"max_triplets={max_triplets}", 8.0 * 6 * m, f"{m:,} sampled triplets")
    i, j, k = rng.integers(0, n, size=(3, m))
    keep = np.abs(i - j) < np.abs(i - k)
    i, j, k = i[keep], j[keep], k[keep]
    if i.size == 0:
        raise ValueError(f"max_triplets={max_triplets} sampled no triplet with |i-j| < |i-k| "
                         f"among {n} tokens; allow more triplets")
    return float(np.mean(S[i, j] > S[i, k]))


def _pair_vector(name: str, S) -> np.ndarray:
    """Pair values of a square matrix (upper triangle) or a 1-D array of them, as float64."""
    if sp.issparse(S):
        S = S.toarray()
    if hasattr(S, "detach"):
        S = S.detach().cpu().numpy()
    a = np.asarray(S)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric square matrix or a 1-D array of pair "
                        f"values; got dtype {a.dtype}")
    if a.ndim == 2:
        if a.shape[0] != a.shape[1]:
            raise ValueError(f"{name} must be a square matrix (or 1-D pair values); got shape "
                             f"{a.shape}")
        return pair_values(a.astype(np.float64))
    if a.ndim != 1:
        raise ValueError(f"{name} must be a square matrix or a 1-D array of pair values; got "
                         f"shape {a.shape}")
    return a.astype(np.float64)


@dataclass
class BinnedAlignment:
    """Result of :func:`binned_alignment`; one entry per bin of embedding cosine."""

    edges: np.ndarray      # bin edges in embedding cosine (len = n_bins + 1)
    count: np.ndarray      # number of pairs in the bin
    corr: np.ndarray       # within-bin correlation of embedding and signature cosines
    mean_emb: np.ndarray   # mean embedding cosine in the bin
    mean_sig: np.ndarray   # mean signature cosine in the bin

    def table(self) -> str:
        lines = ["  emb-cos bin        pairs   corr   mean emb   mean sig"]
        for a, b, n, c, me, ms in zip(self.edges[:-1], self.edges[1:], self.count, self.corr,
                                      self.mean_emb, self.mean_sig):
            lines.append(f"  [{a:+.2f}, {b:+.2f})  {n:8d}  {c:+.3f}   {me:+.3f}     {ms:+.3f}")
        return "\n".join(lines)


def binned_alignment(S_emb, S_sig, bins=10, method: str = "pearson",
                     min_pairs: int = 10) -> BinnedAlignment:
    """Group token pairs by embedding cosine and measure agreement within each group.

    ``S_emb``, ``S_sig`` are square cosine matrices over the same tokens (their upper
    triangles are used) or 1-D arrays of pair values. ``bins`` is a number of equal-count
    (quantile) bins or an array of bin edges in embedding cosine. Bins with fewer than
    ``min_pairs`` pairs get correlation NaN.
    """
    check_choice("method", method, {"pearson", "spearman"})
    min_pairs = check_positive_int("min_pairs", min_pairs, minimum=0)
    e = _pair_vector("S_emb", S_emb)
    s = _pair_vector("S_sig", S_sig)
    if e.shape != s.shape:
        raise ValueError(f"S_emb and S_sig must cover the same pairs; got {e.shape} and {s.shape}")
    if e.size == 0:
        raise ValueError("S_emb is empty; need at least one pair of tokens")
    for name, v in (("S_emb", e), ("S_sig", s)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite; found {int(np.sum(~np.isfinite(v)))} "
                             f"NaN/inf values (did a model diverge?)")
    if bins is None or isinstance(bins, (str, bytes, bool, np.bool_)):
        raise TypeError(f"bins must be an integer number of bins or an array of bin edges; got "
                        f"{type(bins).__name__} {bins!r}")
    if np.ndim(bins) == 0:
        if not isinstance(bins, numbers.Integral):
            raise TypeError(f"bins must be an integer number of bins (or an array of edges); "
                            f"got {type(bins).__name__} {bins!r}")
        nb = int(bins)
        if nb < 1:
            raise ValueError(f"bins must be a positive number of bins or an array of edges; "
                             f"got {bins}")
        if nb > e.size:
            raise ValueError(f"bins must be at most the number of pairs ({e.size:,}): each "
                             f"equal-count bin needs a pair; got bins={nb:,}")
        edges = np.quantile(e, np.linspace(0, 1, nb + 1))
        edges = np.unique(edges)
        if edges.size < 2:  # every pair has the same embedding cosine: one bin holds them all
            edges = np.array([edges[0], edges[0]])
    else:
        try:
            edges = np.asarray(bins, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"bins as edges must be a 1-D array of numbers; got {bins!r}"[:200]) \
                from None
        if edges.ndim == 1 and edges.size and not np.all(np.isfinite(edges)):
            raise ValueError(f"bins as edges must be finite; got {bins!r}"[:200])
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins as edges must be a strictly increasing 1-D array of at least "
                             f"2 values; got {bins!r}")
    which = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, edges.size - 2)
    inside = (e >= edges[0]) & (e <= edges[-1])
    nb = edges.size - 1
    count = np.zeros(nb, dtype=np.int64)
    corr = np.full(nb, np.nan)
    mean_emb = np.full(nb, np.nan)
    mean_sig = np.full(nb, np.nan)
    for b in range(nb):
        sel = inside & (which == b)
        count[b] = sel.sum()
        if count[b]:
            mean_emb[b], mean_sig[b] = e[sel].mean(), s[sel].mean()
        if count[b] >= max(min_pairs, 2):
            corr[b] = correlation(e[sel], s[sel], method)
    return BinnedAlignment(edges=edges, count=count, corr=corr, mean_emb=mean_emb,
                           mean_sig=mean_sig)


def group_similarity(Phi, groups: dict, baseline_tokens=None) -> dict:
    """Mean cosine of signature rows within each named token group, against a baseline.

    ``groups`` maps a name to a list of token ids (e.g. ``{"months": [...], "digits": [...]}``).
    Returns ``{name: mean cosine over pairs inside the group}`` plus ``"between groups"`` (pairs
    from two different groups) and, when ``baseline_tokens`` is given, ``"random pairs"``: the
    mean cosine over all pairs of those tokens (e.g. the most frequent words) -- the baseline a
    group must beat. A group with fewer than 2 tokens gets NaN.
    """
    Phi = as_matrix("Phi", Phi)
    if not isinstance(groups, dict) or not groups:
        raise ValueError(f"groups must be a non-empty dict of name -> token ids; got {groups!r}")
    out = {}
    members, labels = [], []
    for name, toks in groups.items():
        t = as_token_array(f"groups[{name!r}]", toks, Phi.shape[0], ndim=1, allow_empty=True)
        if t.size < 2:
            out[name] = float("nan")
            continue
        out[name] = float(pair_values(cosine_matrix(Phi[t])).mean())
        members.append(t)
        labels += [name] * t.size
    if len(members) > 1:
        allt = np.concatenate(members)
        S = cosine_matrix(Phi[allt])
        lab = np.asarray(labels)
        diff = lab[:, None] != lab[None, :]
        out["between groups"] = float(S[diff].mean())
    if baseline_tokens is not None:
        b = as_token_array("baseline_tokens", baseline_tokens, Phi.shape[0], ndim=1)
        if b.size < 2:
            raise ValueError(f"baseline_tokens must hold at least 2 tokens; got {b.size}")
        out["random pairs"] = float(pair_values(cosine_matrix(Phi[b])).mean())
    return out


# ----------------------------------------------------------------------------------------
# Negative controls (DESIGN §4): the same check against a signature shuffled across tokens
# ----------------------------------------------------------------------------------------

def shuffled_rows(Phi, seed: int = 0, tokens=None):
    """A copy of ``Phi`` whose rows are permuted across tokens (never the identity).

    The negative control of an alignment claim: a shuffled signature keeps every row's
    content (its sparsity, its mass, the distribution of its cosines) but breaks which token
    it belongs to, so ``r_cos(W, shuffled_rows(Phi, s))`` should be near 0 for an embedding
    that follows ``Phi``. ``tokens`` permutes only those rows among themselves (e.g. only the
    keys); the other rows stay put. Dense in, dense out; sparse in, CSR out.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    P = as_matrix("Phi", Phi)
    n = P.shape[0]
    t = np.arange(n) if tokens is None else as_token_array("tokens", tokens, n, ndim=1)
    if np.unique(t).size < 2:
        raise ValueError(f"need at least 2 distinct rows to shuffle; got {np.unique(t).size}")
    t = np.unique(t)
    rng = np.random.default_rng(int(seed))
    perm = rng.permutation(t.size)
    while np.all(perm == np.arange(t.size)):
        perm = rng.permutation(t.size)
    order = np.arange(n)
    order[t] = t[perm]
    return P[order]


def shuffled_r_cos(W, Phi, tokens=None, *, n_shuffles: int = 20, seed: int = 0,
                   method: str = "pearson") -> np.ndarray:
    """``r_cos(W, shuffled_rows(Phi, seed + i, tokens), tokens)`` for ``i < n_shuffles``.

    The control value printed beside an ``r_cos`` claim: the alignment an embedding reaches
    with a signature whose rows were dealt to the wrong tokens. Returns the ``n_shuffles``
    values (report their mean, or their largest, next to the claim).
    """
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)) \
            or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive int; got {n_shuffles!r}")
    return np.array([r_cos(W, shuffled_rows(Phi, int(seed) + i, tokens), tokens, method)
                     for i in range(int(n_shuffles))])


__all__ += ["shuffled_rows", "shuffled_r_cos"]


def _vec(name: str, a) -> np.ndarray:
    a = as_float_array(name, a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-d; got shape {a.shape}")
    return a


def crossing_step(steps, values, threshold: float, *, below: bool = True) -> float:
    """The step at which the curve ``values`` (logged at ``steps``) first crosses ``threshold``,
    linearly interpolated between the two snapshots around the crossing (NaN if it never does;
    ``steps[0]`` if it starts past it). Unlike the first logged step past the threshold, it
    varies between runs that cross between the same two snapshots, so a ratio of two runs'
    onsets is a statistic that can vary (a null built from it is not constant by construction).
    ``below=False``: the first crossing upwards."""
    s = _vec("steps", steps)
    v = _vec("values", values)
    if s.size != v.size or s.size == 0:
        raise ValueError(f"steps and values must be 1-d of the same non-zero length; got "
                         f"{s.size} and {v.size}")
    if not isinstance(threshold, numbers.Real) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}")
    past = v < threshold if below else v > threshold
    hit = np.flatnonzero(past)
    if hit.size == 0:
        return float("nan")
    i = int(hit[0])
    if i == 0:
        return float(s[0])
    v0, v1, s0, s1 = v[i - 1], v[i], s[i - 1], s[i]
    frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(s0 + frac * (s1 - s0))


def onset_ratio_null(onsets) -> np.ndarray:
    """Every ordered pair ``(a, b)`` of the runs' onsets: ``b / max(a, 1)``, the null of a
    delay factor (one condition against itself at another seed). Book: chapter 06."""
    from itertools import permutations

    onsets = np.asarray(onsets, dtype=float).ravel()
    return np.array([b / max(a, 1) for a, b in permutations(onsets, 2)])


__all__ += ["onset_ratio_null"]


def slopes(x, Y) -> np.ndarray:
    """Least-squares slope of each row of ``Y`` (runs x len(x)) against ``x``."""
    x = _vec("x", x)
    Y = np.atleast_2d(as_float_array("Y", Y))
    if Y.ndim != 2 or Y.shape[1] != x.size:
        raise ValueError(f"Y must be runs x {x.size} (one column per x); got shape {Y.shape}")
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"x must hold at least two distinct values; got {x.tolist()}")
    xc = x - x.mean()
    return (Y - Y.mean(1, keepdims=True)) @ xc / float(xc @ xc)


def slope_permutation_null(x, Y, *, n_perm: int = 2000, seed: int = 0) -> np.ndarray:
    """Null distribution of the mean over runs of :func:`slopes` when the labels ``x`` carry no
    information: each draw permutes ``x`` independently within each run (row). Returns
    ``n_perm`` mean slopes. A dose-response claim is then "the observed mean slope lies beyond
    the null's 95 % quantile" -- a threshold from the null, not typed."""
    x = _vec("x", x)
    Y = np.atleast_2d(as_float_array("Y", Y))
    slopes(x, Y)                                    # validates shapes
    check_positive_int("n_perm", n_perm)
    rng = np.random.default_rng(check_seed("seed", seed))
    xc = x - x.mean()
    Yc = Y - Y.mean(1, keepdims=True)
    perms = np.argsort(rng.random((n_perm, Y.shape[0], x.size)), axis=-1)
    xs = xc[perms]                                  # n_perm x runs x len(x)
    return np.einsum("prj,rj->pr", xs, Yc).mean(1) / float(xc @ xc)


def mantel_r_cos(W, Phi, tokens=None, *, n_perm: int = 1000, seed: int = 0,
                 method: str = "pearson") -> tuple[float, np.ndarray, float]:
    """``R_cos(W, Phi)`` with a Mantel-style token-permutation null: the tokens of ``Phi`` are
    relabelled by one permutation applied to rows and columns of its cosine matrix together,
    which keeps the dependence between pairs that share a token (pairs are not independent).
    Returns ``(r, null, p)`` with ``p`` the one-sided permutation p-value
    ``(1 + #{null >= r}) / (1 + n_perm)``."""
    check_positive_int("n_perm", n_perm)
    rng = np.random.default_rng(check_seed("seed", seed))
    Cw = cosine_matrix(W, tokens)
    Cp = cosine_matrix(Phi, tokens)
    n = Cw.shape[0]
    if n < 3:
        raise ValueError(f"tokens must select at least 3 tokens; got {n}")
    iu = np.triu_indices(n, 1)
    a = Cw[iu]
    r = correlation(a, Cp[iu], method)
    null = np.empty(n_perm)
    for k in range(n_perm):
        pi = rng.permutation(n)
        null[k] = correlation(a, Cp[np.ix_(pi, pi)][iu], method)
    p = (1.0 + np.sum(null >= r)) / (1.0 + n_perm)
    return float(r), null, float(p)


__all__ += ["crossing_step", "slopes", "slope_permutation_null", "mantel_r_cos"]
