r"""Probability signatures: conditional distributions counted from training data.

Two families, exactly as DESIGN §3 defines them:

* :func:`task_signatures` -- labelled data ``(X_n, y_n)`` (the synthetic tasks):
  ``phi_y``, ``phi_X``, ``phi_X_given_y(x)``, ``varphi_X`` and ``r_in``.
* :func:`next_token_signatures` -- token streams (language modelling): the bigram count
  matrix ``B`` and its normalisations ``phi_next``, ``varphi_pre``, ``tied``.

All signatures are *occurrence-weighted*: each occurrence ``(n, i)`` of a token counts once.
Counts are kept sparse (``scipy.sparse``), so a 150k-token vocabulary never produces a dense
``V x V`` array; dense views are taken only for a chosen subset of tokens. Rows of tokens
that never occur are all zero, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from ._validate import TooLarge, as_token_array, check_positive_int, check_size, check_weights

__all__ = [
    "TaskSignatures",
    "task_signatures",
    "NextTokenSignatures",
    "next_token_signatures",
    "word_groups",
    "next_word_table",
    "count_bigrams",
    "row_normalize",
]

# Largest number of entries a dense view may have before we refuse (a 20k x 20k float64).
_DENSE_LIMIT = 400_000_000
# Bigram keys are counted with a dense np.bincount while V*V stays below this (V <= 8192):
# 2^26 int64 counters = 512 MiB at most, transient. Above it, a COO -> CSR build is used.
_BINCOUNT_LIMIT = 1 << 26
# ... and only when there are at least V*V / _BINCOUNT_MIN_FILL pairs to count: scanning the
# V*V counters costs about as much as counting 1/16 as many pairs through COO -> CSR.
_BINCOUNT_MIN_FILL = 16


def row_normalize(counts: sp.spmatrix) -> sp.csr_matrix:
    """Divide each row of a sparse count matrix by its sum; all-zero rows stay zero."""
    counts = sp.csr_matrix(counts, dtype=np.float64)
    sums = np.asarray(counts.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(inv) @ counts)


def _dense(name: str, m: sp.spmatrix) -> np.ndarray:
    n = m.shape[0] * m.shape[1]
    if n > _DENSE_LIMIT or 8.0 * n > _max_bytes():
        raise TooLarge(
            f"{name} would be a dense {m.shape[0]} x {m.shape[1]} array ({n:,} entries, "
            f"{8.0 * n / 2**30:.3g} GiB; limit {min(8 * _DENSE_LIMIT, _max_bytes()) / 2**30:.3g} "
            f"GiB); take a dense view of a token subset instead, e.g. .dense('{name}', tokens)")
    return m.toarray()


def _max_bytes() -> int:
    from ._validate import max_bytes
    return max_bytes()


# Bytes per vocabulary entry of a V x V sparse count matrix and what is derived from it (row
# pointers of the counts, of a transient copy, of the normalised matrices; dense r_in/r_out).
# Memory grows with V only through these O(V) arrays, never as V x V.
_BYTES_PER_TOKEN = 64


def guard_vocab(name: str, V: int, extra_bytes: float = 0.0) -> None:
    check_size(f"{name}={V}", _BYTES_PER_TOKEN * float(V) + extra_bytes,
               f"the per-token arrays of a {V:,}-token vocabulary (sparse counts keep one row "
               f"pointer per token)")


# --------------------------------------------------------------------------------------
# Labelled tasks
# --------------------------------------------------------------------------------------


@dataclass
class TaskSignatures:
    r"""Signatures of a labelled dataset. Build with :func:`task_signatures`.

    Attributes are numpy arrays (dense views of sparse counts):

    ``phi_y[x, nu]``   = P(y = nu | x occurs in X)                      (V x V_out)
    ``phi_X[x, b]``    = P(x_J = b | x occurs at i), J uniform over the other L-1 positions (V x V)
    ``varphi_X[nu, b]``= P(x_J = b | y = nu), J uniform over all L positions    (V_out x V)
    ``r_in[x]``        = occurrences of x / N                                (V)

    and ``phi_X_given_y(x)[b, nu]`` = P(x_J = b, y = nu | x occurs at i)  (V x V_out).
    """

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    vocab_size: int
    label_size: int
    occ: np.ndarray = field(repr=False)          # weighted occurrences of each input token
    label_mass: np.ndarray = field(repr=False)   # weighted count of each label
    _xy: sp.csr_matrix = field(repr=False)       # occurrence-weighted (x, y) counts
    _xx: sp.csr_matrix = field(repr=False)       # (x, x_J) counts, 1/(L-1) per other position
    _yx: sp.csr_matrix = field(repr=False)       # (y, x_J) counts, 1/L per position

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.X.shape[1])

    @cached_property
    def r_in(self) -> np.ndarray:
        return self.occ / self.weights.sum()

    @cached_property
    def phi_y_sparse(self) -> sp.csr_matrix:
        return row_normalize(self._xy)

    @cached_property
    def phi_X_sparse(self) -> sp.csr_matrix:
        return row_normalize(self._xx)

    @cached_property
    def varphi_X_sparse(self) -> sp.csr_matrix:
        return row_normalize(self._yx)

    @cached_property
    def phi_y(self) -> np.ndarray:
        return _dense("phi_y", self.phi_y_sparse)

    @cached_property
    def phi_X(self) -> np.ndarray:
        return _dense("phi_X", self.phi_X_sparse)

    @cached_property
    def varphi_X(self) -> np.ndarray:
        return _dense("varphi_X", self.varphi_X_sparse)

    @property
    def label_prior(self) -> np.ndarray:
        """P(y = nu): the label distribution."""
        return self.label_mass / self.label_mass.sum()

    def phi_X_given_y(self, x: int, *, sparse: bool = False):
        r"""The matrix signature :math:`\phi^{X|y}_x[\beta, \nu] = P(x_J=\beta, y=\nu \mid x \text{ at } i)`.

        Its row sums are ``phi_X[x]`` and its column sums ``phi_y[x]``. Returns a dense
        ``V x V_out`` array, or a CSR matrix with ``sparse=True``.
        """
        x = int(as_token_array("x", np.asarray([x]), self.vocab_size)[0])
        L = self.seq_len
        shape = (self.vocab_size, self.label_size)
        if L < 2 or self.occ[x] == 0:
            m = sp.csr_matrix(shape)
            return m if sparse else _dense("phi_X_given_y", m)
        n_idx, pos = np.nonzero(self.X == x)          # every occurrence (n, i) of x
        rows, cols, vals = [], [], []
        for j in range(L):
            keep = pos != j                           # J ranges over the other positions
            rows.append(self.X[n_idx[keep], j])
            cols.append(self.y[n_idx[keep]])
            vals.append(self.weights[n_idx[keep]])
        m = sp.coo_matrix((np.concatenate(vals) / ((L - 1) * self.occ[x]),
                           (np.concatenate(rows), np.concatenate(cols))), shape=shape).tocsr()
        return m if sparse else _dense("phi_X_given_y", m)

    def dense(self, name: str, tokens=None) -> np.ndarray:
        """Dense rows ``tokens`` of the signature ``name`` ('phi_y', 'phi_X', 'varphi_X')."""
        if name not in ("phi_y", "phi_X", "varphi_X"):
            raise ValueError(f"name must be 'phi_y', 'phi_X' or 'varphi_X'; got {name!r}")
        m = getattr(self, name + "_sparse")
        if tokens is None:
            return _dense(name, m)
        t = as_token_array("tokens", tokens, m.shape[0], ndim=1)
        return _dense(name, m[t])


def task_signatures(X, y, vocab_size: int, label_size: int | None = None,
                    weights=None) -> TaskSignatures:
    """Count the probability signatures of a labelled dataset.

    Parameters
    ----------
    X : int array (N, L)
        Input sequences of token ids in ``[0, vocab_size)``. Tokens may repeat.
    y : int array (N,)
        Labels in ``[0, label_size)``.
    vocab_size, label_size : int
        Sizes of the input and label vocabularies (``label_size`` defaults to ``vocab_size``).
    weights : float array (N,), optional
        Non-negative sample weights (e.g. the probability of each row of an exhaustive table),
        so that signatures of a *distribution* can be computed exactly. Default: all ones.
    """
    V = check_positive_int("vocab_size", vocab_size)
    Vout = V if label_size is None else check_positive_int("label_size", label_size)
    if label_size is not None:
        guard_vocab("label_size", Vout)
    guard_vocab("vocab_size", V, _BYTES_PER_TOKEN * float(Vout))   # both together
    X = as_token_array("X", X, V)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, seq_len); got shape {X.shape}")
    y = as_token_array("y", y, Vout, ndim=1)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of samples; got X with "
                         f"{X.shape[0]} rows and y with {y.shape[0]} entries")
    N, L = X.shape
    if N == 0:
        raise ValueError("X has no rows; expected at least one sample")
    check_size(f"X with shape {X.shape}", 8.0 * 4 * N * L * max(L, 2),
               "the (x, x_J) pairs of every sample (N * L * (L - 1) entries)")
    with np.errstate(over="ignore"):
        w = np.ones(N) if weights is None else check_weights("weights", weights, N)
        if not np.isfinite(w.sum()):   # huge weights: only their ratios matter; avoid inf/inf
            w = w / w.max()

    flat_w = np.repeat(w, L)
    occ = np.bincount(X.ravel(), weights=flat_w, minlength=V)
    label_mass = np.bincount(y, weights=w, minlength=Vout)
    xy = sp.coo_matrix((flat_w, (X.ravel(), np.repeat(y, L))), shape=(V, Vout)).tocsr()
    yx = sp.coo_matrix((flat_w / L, (np.repeat(y, L), X.ravel())), shape=(Vout, V)).tocsr()
    if L >= 2:
        ii, jj = np.nonzero(~np.eye(L, dtype=bool))     # all ordered pairs of positions i != j
        xx = sp.coo_matrix((np.repeat(w, len(ii)) / (L - 1),
                            (X[:, ii].ravel(), X[:, jj].ravel())), shape=(V, V)).tocsr()
    else:
        xx = sp.csr_matrix((V, V))
    return TaskSignatures(X=X, y=y, weights=w, vocab_size=V, label_size=Vout, occ=occ,
                          label_mass=label_mass, _xy=xy, _xx=xx, _yx=yx)


# --------------------------------------------------------------------------------------
# Token streams
# --------------------------------------------------------------------------------------


def _count_keys(a: np.ndarray, b: np.ndarray, V: int, method: str | None = None) -> sp.csr_matrix:
    """CSR matrix of bigram counts for the pairs ``(a[s], b[s])``.

    ``method`` forces 'bincount', 'sort' or 'coo' (all give identical matrices); by default
    the dense bincount is used when V*V is small and the pairs are many enough to fill it,
    else the sort of the pair keys (see :func:`count_pairs`).
    """
    return count_pairs([(a, b)], V, method)


# A pair (a, b) is counted as the int64 key a * V + b: V*V must stay below 2^63. Larger
# vocabularies (beyond any PSBOOK_MAX_BYTES in practice) are counted by the COO build.
_MAX_KEY_VOCAB = 3_037_000_499


def count_pairs(parts, V: int, method: str | None = None) -> sp.csr_matrix:
    """CSR matrix of the counts of the pairs ``(a[s], b[s])`` of every ``(a, b)`` in ``parts``
    (1-D int arrays, ``a`` and ``b`` of equal length; views, never modified).

    The pairs are written once as int64 keys ``a * V + b`` (8 bytes a pair, no concatenated
    copies of ``a`` and ``b``) and counted by ``method``:

    * 'bincount': a dense ``np.bincount`` of the keys (V*V counters; small V only);
    * 'sort': a numpy sort of the keys in place and a run-length count; the runs come out in
      row-major order, so the CSR arrays are built directly, canonical. Besides the keys: 1
      byte a pair and about 40 a distinct pair. Several times faster than the COO build at
      V = 400 000, which spends its time sorting the columns of every row;
    * 'coo': scipy's ``coo_matrix(...).tocsr()`` + ``sum_duplicates`` (the reference).

    None chooses 'bincount' when V*V <= _BINCOUNT_LIMIT and there are at least
    V*V / _BINCOUNT_MIN_FILL pairs, else 'sort' ('coo' above _MAX_KEY_VOCAB).
    """
    if method not in (None, "bincount", "sort", "coo"):
        raise ValueError(f"method must be 'bincount', 'sort', 'coo' or None; got {method!r}")
    n = sum(a.size for a, _ in parts)
    if n == 0:
        return sp.csr_matrix((V, V), dtype=np.int64)
    if method == "coo" or V > _MAX_KEY_VOCAB:
        a = parts[0][0] if len(parts) == 1 else np.concatenate([a for a, _ in parts])
        b = parts[0][1] if len(parts) == 1 else np.concatenate([b for _, b in parts])
        m = sp.coo_matrix((np.ones(n, dtype=np.int64), (a, b)), shape=(V, V)).tocsr()
        m.sum_duplicates()
        return m
    keys = np.empty(n, dtype=np.int64)
    s = 0
    for a, b in parts:
        k = keys[s:s + a.size]               # int64 arithmetic whatever the ids' dtype
        np.multiply(a, V, out=k, dtype=np.int64, casting="unsafe")
        np.add(k, b, out=k, dtype=np.int64, casting="unsafe")
        s += a.size
    del k
    if method is None:
        small = V * V <= _BINCOUNT_LIMIT and V * V <= _BINCOUNT_MIN_FILL * n
        method = "bincount" if small else "sort"
    if method == "bincount":
        # Small vocabularies: one dense bincount over the pair keys is the fastest count
        # there is; only its non-zero entries are kept.
        dense = np.bincount(keys, minlength=V * V)
        del keys
        mask = dense != 0
        # flatnonzero is faster on a bool mask than on the counts; V*V <= 2^26 fits int32,
        # the index dtype scipy would convert to anyway.
        nz = np.flatnonzero(mask).astype(np.int32)
        data = dense[nz]
        indptr = np.zeros(V + 1, dtype=np.int32)
        np.cumsum(np.count_nonzero(mask.reshape(V, V), axis=1), out=indptr[1:])
        del dense, mask
        cols = nz - (nz // V) * V
        return sp.csr_matrix((data, cols, indptr), shape=(V, V))
    # Sort, then one entry per run of equal keys.
    keys.sort()
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    start = np.flatnonzero(first)
    del first
    uniq = keys[start]
    del keys
    data = np.empty(start.size, dtype=np.int64)
    np.subtract(start[1:], start[:-1], out=data[:-1])
    data[-1] = n - start[-1]
    del start
    rows = uniq // V
    uniq -= rows * V                                   # now the column of each entry
    # int32 indices wherever they fit, as scipy's own COO -> CSR build uses them
    idx = np.int32 if max(V, uniq.size) <= np.iinfo(np.int32).max else np.int64
    indptr = np.empty(V + 1, dtype=idx)
    indptr[0] = 0
    np.cumsum(np.bincount(rows, minlength=V), out=indptr[1:], dtype=idx)
    del rows
    m = sp.csr_matrix((data, uniq.astype(idx), indptr), shape=(V, V))
    m.has_canonical_format = True
    return m


def _flush(buf_a, buf_b, V: int) -> sp.csr_matrix:
    if len(buf_a) == 1:                       # one document: count the views, no copy
        return _count_keys(buf_a[0], buf_b[0], V)
    return _count_keys(np.concatenate(buf_a), np.concatenate(buf_b), V)


def count_bigrams(ids, vocab_size: int, *, chunk_pairs: int = 1 << 24) -> sp.csr_matrix:
    """Sparse bigram counts ``B[a, b] = #{s: x_s = a, x_{s+1} = b}``.

    ``ids`` is one 1-D integer array, or an iterable of them (one per document: no bigram is
    counted across a document boundary). A 2-D array -- numpy or torch alike -- is a batch of
    documents, one per row. Documents are buffered into chunks of about ``chunk_pairs``
    pairs, so memory stays bounded for a corpus of any length; memory grows with
    ``vocab_size`` only through O(V) row pointers (about 64 bytes per token, refused above
    ``PSBOOK_MAX_BYTES``), never as V x V.
    """
    V = check_positive_int("vocab_size", vocab_size)
    chunk_pairs = check_positive_int("chunk_pairs", chunk_pairs)
    guard_vocab("vocab_size", V)
    nd = _ndim(ids)
    if nd == 0:
        raise TypeError(f"ids must be a 1-D array of token ids or an iterable of them; got a "
                        f"single value {ids!r}")
    if nd is not None and nd > 2:
        raise ValueError(f"ids must be 1-D (one document) or 2-D (one document per row); got "
                         f"{nd} dimensions")
    if nd == 2:          # one rule for numpy and torch: each row is a document
        ids = list(ids)
    single = is_single_doc(ids)
    if not single and not hasattr(ids, "__iter__"):
        raise TypeError(f"ids must be a 1-D array of token ids or an iterable of them; "
                        f"got {type(ids).__name__}")
    docs = [ids] if single else ids
    total = sp.csr_matrix((V, V), dtype=np.int64)
    buf_a, buf_b, n_buf, n_tokens = [], [], 0, 0
    for k, doc in enumerate(docs):
        d = as_token_array("ids" if single else f"ids[{k}]", doc, V, ndim=1, allow_empty=True)
        n_tokens += d.size
        if d.size < 2:
            continue
        buf_a.append(d[:-1])
        buf_b.append(d[1:])
        n_buf += d.size - 1
        if n_buf >= chunk_pairs:
            total = total + _flush(buf_a, buf_b, V)
            buf_a, buf_b, n_buf = [], [], 0
    if n_tokens == 0:
        raise ValueError("ids is empty; expected a 1-D array of token ids or an iterable of "
                         "non-empty ones")
    if buf_a:
        part = _flush(buf_a, buf_b, V)
        total = part if total.nnz == 0 else total + part
    return sp.csr_matrix(total)


def _ndim(ids) -> int | None:
    """Number of dimensions of an array-like (numpy, torch, scalar), None for other iterables."""
    if isinstance(ids, np.ndarray):
        return None if ids.dtype == object else ids.ndim
    if hasattr(ids, "detach") and hasattr(ids, "dim"):
        return int(ids.dim())
    if np.isscalar(ids) or isinstance(ids, np.generic):
        return 0
    return None


def is_single_doc(ids) -> bool:
    if isinstance(ids, np.ndarray):
        return ids.ndim == 1 and ids.dtype != object
    if hasattr(ids, "detach"):
        return ids.dim() == 1
    if isinstance(ids, (list, tuple)):
        return len(ids) == 0 or np.isscalar(ids[0]) or isinstance(ids[0], np.integer)
    return False


@dataclass
class NextTokenSignatures:
    r"""Bigram counts of a token stream and the signatures derived from them.

    ``counts``      B[a, nu] = #{s : x_s = a, x_{s+1} = nu}          (sparse V x V, int)
    ``phi_next``    B[a] / sum B[a]      = P(x_{s+1} | x_s = a)        (sparse)
    ``varphi_pre``  row nu = B[:, nu] / sum B[:, nu] = P(x_s | x_{s+1} = nu)  (sparse)
    ``tied``        phi_next + varphi_pre: the estimate for tied embeddings (sparse)
    ``r_in``        P(x_s = a) over counted pairs;  ``r_out`` P(x_{s+1} = a)

    Objects built from shards of a corpus combine exactly with :meth:`merge` (or ``+``).
    """

    counts: sp.csr_matrix

    @property
    def vocab_size(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_pairs(self) -> int:
        return int(self.counts.sum())

    @cached_property
    def phi_next(self) -> sp.csr_matrix:
        return row_normalize(self.counts)

    @cached_property
    def varphi_pre(self) -> sp.csr_matrix:
        return row_normalize(self.counts.T.tocsr())

    @cached_property
    def tied(self) -> sp.csr_matrix:
        return sp.csr_matrix(self.phi_next + self.varphi_pre)

    @cached_property
    def r_in(self) -> np.ndarray:
        s = np.asarray(self.counts.sum(axis=1), dtype=np.float64).ravel()
        return s / max(s.sum(), 1.0)

    @cached_property
    def r_out(self) -> np.ndarray:
        s = np.asarray(self.counts.sum(axis=0), dtype=np.float64).ravel()
        return s / max(s.sum(), 1.0)

    def merge(self, other: "NextTokenSignatures") -> "NextTokenSignatures":
        """Signatures of the union of the two token streams (counts add exactly)."""
        if not isinstance(other, NextTokenSignatures):
            raise TypeError(f"other must be NextTokenSignatures; got {type(other).__name__}")
        if other.vocab_size != self.vocab_size:
            raise ValueError(f"cannot merge signatures over different vocabularies: "
                             f"vocab_size {self.vocab_size} vs {other.vocab_size}")
        return NextTokenSignatures(sp.csr_matrix(self.counts + other.counts))

    __add__ = merge

    def dense(self, name: str, tokens, columns=None) -> np.ndarray:
        """Dense rows ``tokens`` (and optionally only ``columns``) of signature ``name``."""
        if name not in ("counts", "phi_next", "varphi_pre", "tied"):
            raise ValueError(f"name must be one of 'counts', 'phi_next', 'varphi_pre', 'tied'; "
                             f"got {name!r}")
        m = getattr(self, name)
        t = as_token_array("tokens", tokens, self.vocab_size, ndim=1)
        m = m[t]
        if columns is not None:
            m = m[:, as_token_array("columns", columns, self.vocab_size, ndim=1)]
        return _dense(name, m)

    def save(self, path) -> None:
        """Write the counts to ``path`` (``.npz``); derived signatures are recomputed on load."""
        sp.save_npz(path, self.counts)

    @classmethod
    def load(cls, path) -> "NextTokenSignatures":
        return cls(sp.csr_matrix(sp.load_npz(path)))


def next_token_signatures(ids, vocab_size: int) -> NextTokenSignatures:
    """Next-token signatures of a token stream (see :class:`NextTokenSignatures`).

    ``ids`` is one 1-D integer array, or an iterable of 1-D arrays (documents: no bigram is
    counted across a document boundary). For a large corpus, count shards separately and
    combine them with :meth:`NextTokenSignatures.merge` -- the result is identical.
    """
    return NextTokenSignatures(count_bigrams(ids, vocab_size))


def word_groups(candidates: dict, token_to_id, freq, *, min_count: int = 10,
                min_size: int = 3) -> tuple[dict, dict]:
    """``(groups, dropped)``: each candidate group's words as token ids, keeping the words
    the vocabulary has and that occur at least ``min_count`` times.

    Book: chapter 02 (signatures of real text). ``candidates`` maps a group name to words,
    ``token_to_id`` maps a word to its id, ``freq[id]`` counts its occurrences. A group
    with fewer than ``min_size`` such words is left out: ``dropped`` maps its name to the
    number of words it kept.
    """
    groups, dropped = {}, {}
    for name, words in candidates.items():
        keep = [token_to_id[w] for w in words
                if w in token_to_id and freq[token_to_id[w]] >= min_count]
        if len(keep) >= min_size:
            groups[name] = keep
        else:
            dropped[name] = len(keep)
    return groups, dropped


def next_word_table(sigs: NextTokenSignatures, tokenizer, words, k: int = 8):
    """A :class:`~psbook.display.Table` of the ``k`` most likely next tokens of each word
    (one column per word, one row per rank: ``token probability``).

    Book: chapter 02 (what a month's signature looks like). Words the tokenizer does not
    know are left out.
    """
    from .display import Table

    k = check_positive_int("k", k)
    known = [w for w in words if w in tokenizer.token_to_id]
    columns = {}
    for w in known:
        row = sigs.dense("phi_next", [tokenizer.token_to_id[w]])[0]
        best = np.argsort(-row, kind="stable")[:k]
        columns[w] = [f"{tokenizer.id_to_token[b]} {row[b]:.2f}" for b in best]
    rows = [[r + 1] + [columns[w][r] for w in known] for r in range(k)]
    return Table(rows, columns=["rank"] + [repr(w) for w in known],
                 caption="The most likely next words, with their probability "
                         "phi^next(next word).")


# ----------------------------------------------------------------------------------------
# Fourier view of phi^{X|y} for modular addition (chapter 07; moved here from experiments)
# ----------------------------------------------------------------------------------------

def _modular_sig(sig, what: str) -> "TaskSignatures":
    """The TaskSignatures of a task or signatures object, checked to be modular (V == V_out)."""
    if hasattr(sig, "signatures") and callable(sig.signatures):
        sig = sig.signatures()
    if not isinstance(sig, TaskSignatures):
        raise TypeError(f"task must be a psbook Task or TaskSignatures (for {what}); got "
                        f"{type(sig).__name__}")
    if sig.label_size != sig.vocab_size:
        raise ValueError(f"{what} needs a task with as many labels as input tokens (modular "
                         f"addition); got V={sig.vocab_size}, V_out={sig.label_size}")
    return sig


def fourier_eigenvalues(task) -> np.ndarray:
    r""":math:`\lambda_k(x)=\sum_{\beta,\nu}\phi^{X|y}_x(\beta,\nu)\,e^{2\pi i k(\nu-\beta)/p}`
    for every token ``x`` and every frequency ``k = 0 .. p-1``: complex array ``(p, p)``
    ``[x, k]``, computed from the *measured* joint signature of ``task`` (a Task or its
    TaskSignatures; rows of tokens that never occur are 0).

    For clean modular addition every training pair has :math:`\nu-\beta\equiv x`, so
    :math:`\lambda_k(x)=e^{2\pi ikx/p}` exactly, whatever the split or the operand
    distribution: the modulus is 1 at every frequency and the data prefer none. When labels
    carry noise :math:`\nu = x+\beta+\delta`, :math:`\delta\sim q`, the modulus becomes
    :math:`|\hat q(k)|` and the data *do* rank the frequencies (see
    :func:`fourier_spectrum`).
    """
    sig = _modular_sig(task, "fourier_eigenvalues")
    p = sig.vocab_size
    L = sig.seq_len
    # lambda_k(x) = E[e^{2 pi i k (y - x_J)/p} | x occurs at i]: accumulate over (i, j != i)
    acc = np.zeros((p, p), dtype=complex)
    mass = np.zeros(p)
    ks = np.arange(p)
    for i in range(L):
        for j in range(L):
            if i == j:
                continue
            diff = (sig.y - sig.X[:, j]) % p
            ph = np.exp(2j * np.pi * np.outer(diff, ks) / p) * sig.weights[:, None]
            np.add.at(acc, sig.X[:, i], ph)
            mass += np.bincount(sig.X[:, i], weights=sig.weights, minlength=p)
    return np.divide(acc, mass[:, None], out=np.zeros_like(acc), where=mass[:, None] > 0)


def fourier_signature(task, k: int) -> np.ndarray:
    r"""Per-token coordinates ``(Re, Im)`` of :math:`\lambda_k(x)` (see
    :func:`fourier_eigenvalues`), shape ``(p, 2)``.

    For clean modular addition this is :math:`e^{2\pi ikx/p}` for any split or operand
    distribution (every training pair has :math:`\nu-\beta\equiv x`; a held-out pair changes
    which pairs are averaged, not their phase). Label noise shrinks the points towards 0 by
    :math:`|\hat q(k)|`.
    """
    sig = _modular_sig(task, "fourier_signature")
    k = check_positive_int("k", k, minimum=0)
    if k >= sig.vocab_size:
        raise ValueError(f"k must be a frequency in [0, p={sig.vocab_size}); got {k}")
    lam = fourier_eigenvalues(sig)[:, k]
    return np.stack([lam.real, lam.imag], axis=1)


def fourier_spectrum(task) -> np.ndarray:
    r"""Occurrence-weighted mean modulus :math:`\sum_x r_x|\lambda_k(x)|` for ``k = 1 ..
    p//2``: how strongly the *data* weight each frequency in :math:`\phi^{X|y}`.

    All ones for clean modular addition (no frequency is preferred); :math:`|\hat q(k)|` for
    labels shifted by noise :math:`\delta\sim q` (:func:`psbook.synthetic.tasks.f_mod_noisy`).
    """
    sig = _modular_sig(task, "fourier_spectrum")
    p = sig.vocab_size
    lam = np.abs(fourier_eigenvalues(sig))
    return (sig.r_in[:, None] * lam).sum(axis=0)[1:p // 2 + 1] / max(sig.r_in.sum(), 1e-300)


def fourier_power(W, tokens=None) -> np.ndarray:
    """Fraction of the (centred) embedding's energy on each frequency ``k = 1 .. p//2`` of the
    cyclic group of the listed tokens (rows of ``W`` in the group's order)."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ValueError(f"W must be a 2-D array with one row per token (at least 3); got shape "
                         f"{W.shape}")
    if tokens is not None:      # validated: a negative id would wrap, a float truncate
        W = W[as_token_array("tokens", tokens, W.shape[0], ndim=1)]
    F = np.fft.rfft(W - W.mean(axis=0), axis=0)
    pw = (np.abs(F) ** 2).sum(axis=1)[1:]
    return pw / pw.sum() if pw.sum() > 0 else pw


def dominant_frequencies(W, n: int = 1) -> np.ndarray:
    """The ``n`` frequencies carrying most of ``W``'s energy (largest first)."""
    n = check_positive_int("n", n)
    return np.argsort(fourier_power(W))[::-1][:n] + 1


def fourier_plane(W, k: int) -> np.ndarray:
    """Coordinates ``(p, 2)`` of the centred rows of ``W`` in the plane spanned by the real and
    imaginary parts of their discrete Fourier coefficient at frequency ``k``."""
    W = np.asarray(W, dtype=float)
    k = check_positive_int("k", k)
    p = W.shape[0]
    C = W - W.mean(axis=0)
    F = np.exp(-2j * np.pi * k * np.arange(p) / p) @ C
    Q, _ = np.linalg.qr(np.stack([F.real, F.imag], axis=1))
    return C @ Q


__all__ += ["fourier_eigenvalues", "fourier_signature", "fourier_spectrum", "fourier_power",
            "dominant_frequencies", "fourier_plane"]
