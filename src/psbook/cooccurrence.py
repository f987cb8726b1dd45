r"""Window co-occurrence signatures and frequency weighting (PPMI) for every signature.

The next-token signatures of :mod:`psbook.signatures` match a model trained to predict the
next token. Models trained with another objective need another signature:

* a **symmetric window** (GloVe, word2vec): ``C[a, b]`` = the number of times ``b`` occurs
  within ``k`` positions of an occurrence of ``a`` (either side, same document), counted by
  :func:`window_signatures`. ``C`` is symmetric and ``C = S + S^T`` with
  ``S[a, b] = #{(s, d): 1 <= d <= k, x_s = a, x_{s+d} = b}``, so only the forward pairs are
  counted.

and a **weighting** applied to the counts of any signature (:func:`weighted_signature`):

* ``raw``: row-normalised counts (the conditional distribution, as in the paper);
* ``ppmi``: positive pointwise mutual information
  ``max(0, log P(a, b) / (P(a) P_alpha(b)))`` (Levy & Goldberg 2014), where ``P_alpha`` is the
  context distribution raised to ``alpha`` and renormalised (``alpha = 0.75`` is the usual
  smoothing; ``alpha=None`` or ``1`` means none). PMI divides out how frequent the context is,
  so a row is no longer dominated by the few most frequent tokens.

Everything is exact and sparse (``scipy.sparse``), streams over documents in bounded memory,
and merges across shards (counts add).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from ._validate import as_token_array, check_choice, check_positive_int
from .signatures import NextTokenSignatures, count_pairs, is_single_doc, row_normalize

__all__ = [
    "PairCounter",
    "count_offset_pairs",
    "WindowSignatures",
    "window_signatures",
    "ppmi",
    "weighted_signature",
    "signature_counts",
    "SIGNATURES",
    "WEIGHTINGS",
]

SIGNATURES = ("next", "pre", "tied", "window")
_MAX_OFFSETS = 1 << 16          # the widest window counted (one pass per offset and document)
WEIGHTINGS = ("raw", "ppmi")


def _iter_docs(ids, V: int):
    """Validated 1-D documents of ``ids`` (one array, or an iterable of arrays)."""
    single = is_single_doc(ids)
    if not single and not hasattr(ids, "__iter__"):
        raise TypeError(f"ids must be a 1-D array of token ids or an iterable of them; "
                        f"got {type(ids).__name__}")
    for k, doc in enumerate([ids] if single else ids):
        yield as_token_array("ids" if single else f"ids[{k}]", doc, V, ndim=1, allow_empty=True)


def add_unigram(unigram: np.ndarray, d: np.ndarray) -> None:
    """unigram[t] += occurrences of t in d (a dense bincount only when d is long enough)."""
    if d.size * 8 >= unigram.size:
        unigram += np.bincount(d, minlength=unigram.size)
    elif d.size:
        np.add.at(unigram, d, 1)


_add_unigram = add_unigram          # the name used inside this module


class PairCounter:
    """Streaming, exact counts ``S[a, b] = #{(s, d): d in offsets, x_s = a, x_{s+d} = b}``.

    Feed documents with :meth:`add` (no pair crosses a document boundary); pairs are buffered
    up to about ``chunk_pairs`` and then counted into a sparse matrix, so memory stays bounded
    (the buffer plus the distinct pairs seen). :meth:`counts` returns the CSR matrix.
    """

    def __init__(self, vocab_size: int, offsets=(1,), *, chunk_pairs: int = 1 << 23):
        self.V = check_positive_int("vocab_size", vocab_size)
        if isinstance(offsets, range) and len(offsets) > _MAX_OFFSETS:
            raise ValueError(f"window must be at most {_MAX_OFFSETS:,} (got offsets up to "
                             f"{offsets[-1]:,}): a wider window pairs every token of a document "
                             f"with every other; use a smaller window")
        offs = np.asarray(list(offsets) if not np.isscalar(offsets) else [offsets])
        if offs.size == 0 or offs.dtype.kind not in "iu" or np.any(offs < 1):
            raise ValueError(f"offsets must be a non-empty list of positive ints; got {offsets!r}")
        self.offsets = [int(o) for o in offs]
        self.chunk_pairs = check_positive_int("chunk_pairs", chunk_pairs)
        # before allocating: the per-token arrays of the counts and the pair buffer
        from .signatures import guard_vocab
        guard_vocab("vocab_size", self.V, 16.0 * self.chunk_pairs)
        self._total = None
        self._a, self._b, self._n = [], [], 0
        self.n_tokens = 0

    def add(self, d: np.ndarray) -> None:
        """Add one document (a validated 1-D int array of ids < vocab_size)."""
        self.n_tokens += d.size
        for o in self.offsets:
            if d.size > o:
                self._a.append(d[:-o])
                self._b.append(d[o:])
                self._n += d.size - o
                if self._n >= self.chunk_pairs:   # inside the loop: a long document with a
                    self.flush()                  # wide window never buffers n * window pairs

    def flush(self) -> None:
        if not self._a:
            return
        parts = list(zip(self._a, self._b))
        self._a, self._b, self._n = [], [], 0
        part = count_pairs(parts, self.V)
        del parts
        self._total = part if self._total is None else sp.csr_matrix(self._total + part)

    def counts(self) -> sp.csr_matrix:
        self.flush()
        if self._total is None:
            return sp.csr_matrix((self.V, self.V), dtype=np.int64)
        return self._total


def count_offset_pairs(ids, vocab_size: int, offsets=(1,), *,
                       chunk_pairs: int = 1 << 23) -> tuple[sp.csr_matrix, int]:
    """Sparse counts ``S[a, b] = #{(s, d): d in offsets, x_s = a, x_{s+d} = b}`` and the
    number of tokens read.

    ``ids`` is one 1-D integer array or an iterable of them (documents: no pair crosses a
    document boundary). Pairs are buffered up to about ``chunk_pairs`` and counted, so memory
    stays bounded whatever the corpus length. ``offsets=(1,)`` gives the bigram counts.
    """
    counter = PairCounter(vocab_size, offsets, chunk_pairs=chunk_pairs)
    for d in _iter_docs(ids, counter.V):
        counter.add(d)
    if counter.n_tokens == 0:
        raise ValueError("ids is empty; expected a 1-D array of token ids or an iterable of "
                         "non-empty ones")
    return counter.counts(), counter.n_tokens


@dataclass
class WindowSignatures:
    r"""Symmetric ±``window`` co-occurrence counts of a token stream.

    ``forward``  S[a, b] = #{(s, d): 1 <= d <= window, x_s = a, x_{s+d} = b}  (sparse, int)
    ``counts``   C = S + S^T: how often b occurs within ``window`` of a, either side
    ``phi_window`` C[a] / sum C[a]: the raw window signature (sparse)
    ``unigram``  occurrences of each token

    Shards combine exactly with :meth:`merge` (or ``+``).
    """

    forward: sp.csr_matrix
    unigram: np.ndarray
    window: int

    @property
    def vocab_size(self) -> int:
        return int(self.forward.shape[0])

    @property
    def n_tokens(self) -> int:
        return int(self.unigram.sum())

    @cached_property
    def counts(self) -> sp.csr_matrix:
        return sp.csr_matrix(self.forward + self.forward.T)

    @cached_property
    def phi_window(self) -> sp.csr_matrix:
        return row_normalize(self.counts)

    def merge(self, other: "WindowSignatures") -> "WindowSignatures":
        if not isinstance(other, WindowSignatures):
            raise TypeError(f"other must be WindowSignatures; got {type(other).__name__}")
        if other.vocab_size != self.vocab_size or other.window != self.window:
            raise ValueError(f"cannot merge window signatures with different vocab_size/window: "
                             f"({self.vocab_size}, {self.window}) vs "
                             f"({other.vocab_size}, {other.window})")
        return WindowSignatures(sp.csr_matrix(self.forward + other.forward),
                                self.unigram + other.unigram, self.window)

    __add__ = merge


def window_signatures(ids, vocab_size: int, window: int = 5, *,
                      chunk_pairs: int = 1 << 23) -> WindowSignatures:
    """Count the symmetric ±``window`` co-occurrence signature (see :class:`WindowSignatures`).

    ``ids`` is one 1-D array or an iterable of documents (iterated once: a generator works).
    Every pair of positions at distance 1..``window`` inside a document counts once in each
    direction; an occurrence is never paired with itself.
    """
    V = check_positive_int("vocab_size", vocab_size)
    k = check_positive_int("window", window)
    unigram = np.zeros(V, dtype=np.int64)

    def docs():
        for d in _iter_docs(ids, V):
            add_unigram(unigram, d)
            yield d

    S, _ = count_offset_pairs(docs(), V, range(1, k + 1), chunk_pairs=chunk_pairs)
    return WindowSignatures(S, unigram, k)


def ppmi(counts, alpha: float | None = 0.75, rows=None) -> sp.csr_matrix:
    r"""Positive PMI of a (sparse, non-negative) count matrix, rows = tokens, columns = contexts.

    ``PPMI[a, b] = max(0, log(C[a,b] * sum(C) / (C[a,:].sum() * c_alpha(b))))`` with the
    smoothed context counts ``c_alpha(b) = C[:,b].sum()**alpha * sum(C) / sum_b' C[:,b'].sum()**alpha``
    (``alpha=None`` or 1: no smoothing). Zero counts stay zero (never -inf or NaN).
    ``rows`` (token ids): only those rows, equal to ``ppmi(counts, alpha)[rows]`` (the
    marginals are the whole matrix's) at the cost of those rows.
    """
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
                or not (0 < float(alpha) <= 1):
            raise ValueError(f"alpha must be a number in (0, 1] or None; got {alpha!r}")
    if not sp.issparse(counts):
        arr = np.asarray(counts)
        if arr.ndim != 2:
            raise ValueError(f"counts must be a 2-D count matrix; got shape {arr.shape}")
        counts = sp.csr_matrix(arr)
    if rows is None:
        C = sp.csr_matrix(counts, dtype=np.float64)
        C.eliminate_zeros()
    else:   # only the selected rows are copied; the marginals come from the whole matrix
        t = as_token_array("rows", rows, counts.shape[0], ndim=1)
        C = sp.csr_matrix(sp.csr_matrix(counts)[t], dtype=np.float64)
        C.eliminate_zeros()
    if C.nnz and C.data.min() < 0:
        raise ValueError("counts must be non-negative; found negative entries")
    total = float(C.sum() if rows is None else counts.sum())
    if total <= 0 or C.nnz == 0:
        return sp.csr_matrix(C.shape, dtype=np.float64)
    row = np.asarray(C.sum(axis=1)).ravel()
    col = np.asarray((C if rows is None else counts).sum(axis=0), dtype=np.float64).ravel()
    if alpha is not None and float(alpha) != 1.0:
        ca = np.power(col, float(alpha))
        col = ca * (total / ca.sum())
    C.sum_duplicates()
    r = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    vals = np.log(C.data) + np.log(total) - np.log(row[r]) - np.log(col[C.indices])
    out = sp.csr_matrix((np.maximum(vals, 0.0), C.indices.copy(), C.indptr.copy()),
                        shape=C.shape)
    out.eliminate_zeros()
    return out


def signature_counts(sigs, signature: str) -> sp.csr_matrix:
    """The count matrix (rows = tokens) behind ``signature`` of counted signatures ``sigs``.

    ``next``: bigram counts B; ``pre``: B^T (row nu counts the tokens before nu); ``window``:
    the symmetric window counts. ``tied`` has no single count matrix (see
    :func:`weighted_signature`).
    """
    check_choice("signature", signature, set(SIGNATURES))
    if signature == "window":
        if not isinstance(sigs, WindowSignatures):
            raise TypeError(f"the 'window' signature needs WindowSignatures (window_signatures()); "
                            f"got {type(sigs).__name__}")
        return sigs.counts
    if not isinstance(sigs, NextTokenSignatures):
        raise TypeError(f"the {signature!r} signature needs NextTokenSignatures "
                        f"(next_token_signatures()); got {type(sigs).__name__}")
    if signature == "next":
        return sigs.counts
    if signature == "pre":
        return sigs.counts.T.tocsr()
    raise ValueError("signature 'tied' is the sum of 'next' and 'pre'; it has no count matrix")


def weighted_signature(sigs, signature: str, weighting: str = "raw",
                       alpha: float | None = 0.75) -> sp.csr_matrix:
    r"""A signature (rows = tokens, sparse) under a weighting.

    ``signature`` is ``next`` (:math:`\phi^{next}`), ``pre`` (:math:`\varphi^{pre}`), ``tied``
    (their sum, for tied embeddings) or ``window``; ``weighting`` is ``raw`` (row-normalised
    counts, DESIGN §3) or ``ppmi`` (:func:`ppmi` of the same counts, context smoothing
    ``alpha``). For ``tied`` the two weighted parts are added.
    """
    check_choice("signature", signature, set(SIGNATURES))
    check_choice("weighting", weighting, set(WEIGHTINGS))
    if signature == "tied":
        return sp.csr_matrix(weighted_signature(sigs, "next", weighting, alpha)
                             + weighted_signature(sigs, "pre", weighting, alpha))
    C = signature_counts(sigs, signature)
    return row_normalize(C) if weighting == "raw" else ppmi(C, alpha)


def svd_embedding(M, d: int, *, seed: int = 0) -> np.ndarray:
    r"""The count-factorisation baseline: a ``d``-dimensional embedding of the rows of ``M``
    (a weighted count matrix, e.g. :func:`ppmi` of the bigram or window counts) by truncated
    SVD, ``U_d \sqrt{S_d}`` (the symmetric split of Levy & Goldberg). It is what a model of
    width ``d`` could reach by factorising the counts directly, with no training dynamics: the
    baseline a learned geometry is compared with. Rows of ``M`` that are all zero get zero rows.
    """
    from scipy.sparse.linalg import svds
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be a positive int (the embedding width); got {d!r}")
    A = sp.csr_matrix(M, dtype=np.float64) if sp.issparse(M) else np.asarray(M, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"M must be a 2-D matrix; got shape {A.shape}")
    if d >= min(A.shape):
        raise ValueError(f"d must be below min(M.shape) = {min(A.shape)}; got {d}")
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(min(A.shape))
    U, S, _ = svds(A, k=int(d), v0=v0)
    order = np.argsort(-S)
    return U[:, order] * np.sqrt(S[order])[None, :]


__all__ += ["svd_embedding"]
