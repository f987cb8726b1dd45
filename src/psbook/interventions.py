r"""Interventions on the data: change a signature on purpose and (almost) nothing else (ch. 13).

Every transform takes a corpus as one 1-D array of token ids or a list of them (documents;
no bigram crosses a document boundary, as in :func:`psbook.signatures.next_token_signatures`)
and returns the same form: new arrays of the same lengths, the input untouched.

* :func:`share_successors` -- a fraction ``p`` of the successors of ``a`` and of ``b`` are
  pooled and dealt back at random, so :math:`\phi^{next}_a` and :math:`\phi^{next}_b` move
  toward each other by a known amount. It only *permutes* tokens, so every token's count is
  exactly preserved.
* :func:`shuffle_successors` -- every token that has a predecessor is permuted over all such
  positions: each successor becomes a draw (without replacement) from the unigram
  distribution. Token counts exact, :math:`\phi^{next}` destroyed (the frequency-preserving
  ablation).
* :func:`swap_tokens` -- tokens ``a`` and ``b`` exchange identities (an involution).
* :func:`shared_signature_cosine` -- the cosine of the two next-token signatures of a pair.
* :func:`sham_share_successors` -- the placebo of :func:`share_successors`: the *same* number
  of successors of ``a`` and of ``b`` are pooled, but ``a``'s with a partner token ``c`` and
  ``b``'s with a partner ``d``, so each signature moves by the same mass without ``a`` and
  ``b`` coming to share successors.
* :func:`predicted_share_cosine` -- Proposition 13.1's prediction of a pair's signature cosine
  after sharing, from the pair's own counts.

Precedents for retraining on counterfactual corpora: Misra & Mahowald 2024, Kallini et al.
2024, Brunet et al. 2019, Dubossarsky et al. 2019 (see chapter 13).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import as_token_array, check_positive_int, check_token_id
from .signatures import NextTokenSignatures

__all__ = ["share_successors", "shuffle_successors", "swap_tokens", "successor_positions",
           "shared_signature_cosine", "expected_share", "frequency_matched_pairs",
           "share_many", "dose_response", "swap_exchange", "period_contrast",
           "designed_vs_plain", "sham_share_successors", "sham_many", "sham_partners",
           "predicted_share_cosine", "predicted_sham_cosine", "word_initial", "pair_name",
           "pairs_table", "moved_tokens", "dose_slopes", "signature_move_table",
           "slope_table", "dose_summary_table", "row_permutation_null", "alignment_at_stop",
           "stops_table", "designed_table", "designed_gap_table", "model_size_table",
           "stop_reading_table", "dose_arms", "sham_draw_null", "early_direction_runs",
           "early_direction_reading", "early_direction_table"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _as_docs(docs, vocab_size):
    """``(list of int64 arrays, single, V)``; ``single`` when ``docs`` was one 1-D array."""
    single = isinstance(docs, np.ndarray) and docs.ndim == 1 and docs.dtype != object
    if single:
        parts = [docs]
    elif isinstance(docs, (list, tuple)):
        if not docs:
            raise ValueError("docs is an empty list; expected 1-D arrays of token ids "
                             "(documents)")
        parts = list(docs)
    else:
        raise TypeError(f"docs must be a 1-D array of token ids or a list of them; got "
                        f"{type(docs).__name__}")
    if vocab_size is None:
        hi = max((int(np.max(d)) for d in parts if np.size(d)), default=-1)
        vocab_size = hi + 1
        if vocab_size <= 0:
            raise ValueError("docs holds no token at all")
    else:
        vocab_size = check_positive_int("vocab_size", vocab_size)
    arrs = [as_token_array("docs" if single else f"docs[{i}]", d, vocab_size, ndim=1,
                           allow_empty=not single) for i, d in enumerate(parts)]
    return arrs, single, vocab_size


def _flat(arrs):
    """Concatenated stream and a mask of the positions that have a predecessor in their doc."""
    lens = np.array([a.size for a in arrs], dtype=np.int64)
    stream = np.concatenate(arrs) if arrs else np.zeros(0, np.int64)
    has_pred = np.ones(stream.size, dtype=bool)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    has_pred[starts[lens > 0]] = False
    return stream, has_pred, lens


def _unflat(stream, lens, single):
    parts = np.split(stream, np.cumsum(lens)[:-1])
    return parts[0].copy() if single else [p.copy() for p in parts]


def _check_token(name, t, V, stream, need_successor=False, has_pred=None):
    if isinstance(t, bool) or not isinstance(t, numbers.Integral):
        raise TypeError(f"{name} must be an integer token id; got {type(t).__name__} {t!r}")
    t = int(t)
    if not 0 <= t < V:
        raise ValueError(f"{name} must be a token id in the vocabulary [0, {V}); got {t}")
    if need_successor:
        # occurrences of t followed by a token of the same document
        n = int(np.count_nonzero(stream[:-1][has_pred[1:]] == t)) if stream.size > 1 else 0
        if n == 0:
            raise ValueError(f"{name}={t} never occurs followed by another token in docs, so it "
                             f"has no next-token signature to change; pick a token seen in "
                             f"the corpus")
    elif not np.any(stream == t):
        raise ValueError(f"{name}={t} never occurs in docs; pick a token seen in the corpus")
    return t


def _check_seed(seed):
    return check_positive_int("seed", seed, minimum=0)


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a number in [0, 1]; got {type(p).__name__} {p!r}")
    p = float(p)
    if not (np.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"p must be a fraction in [0, 1]; got {p}")
    return p


# --------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------

def successor_positions(docs, a, b, *, vocab_size: int | None = None, keep=()) -> dict:
    """Positions (in the concatenated stream) of the *movable* successors of ``a`` and ``b``:
    tokens that follow ``a`` (resp. ``b``) in the same document and are neither ``a``, ``b``
    nor in ``keep``. Returns ``{"a": int array, "b": int array}``."""
    _, V, stream, has_pred, _, a, b = _pair_input(docs, a, b, vocab_size)
    return _movable(stream, has_pred, a, b, keep, V)


def _pair_input(docs, a, b, vocab_size):
    """Validated ``(single, V, stream, has_pred, lens, a, b)`` for the pair transforms."""
    arrs, single, V = _as_docs(docs, vocab_size)
    stream, has_pred, lens = _flat(arrs)
    a = _check_token("a", a, V, stream, True, has_pred)
    b = _check_token("b", b, V, stream, True, has_pred)
    if a == b:
        raise ValueError(f"a and b must be different tokens; got a = b = {a}")
    return single, V, stream, has_pred, lens, a, b


def _movable(stream, has_pred, a, b, keep, V):
    keep_ids = as_token_array("keep", list(keep), V, ndim=1, allow_empty=True)
    protect = np.zeros(V, dtype=bool)
    protect[[a, b]] = True
    protect[keep_ids] = True
    succ = np.flatnonzero(has_pred)                       # positions with a predecessor
    prev = stream[succ - 1]
    ok = ~protect[stream[succ]]
    return {"a": succ[(prev == a) & ok], "b": succ[(prev == b) & ok]}


def expected_share(p: float, n_a: int, n_b: int) -> float:
    r"""The expected weight ``w`` in :math:`E[\phi'_a] = (1-w)\phi_a + w\phi_b` (on the
    movable successors) after :func:`share_successors` with ``n_a``/``n_b`` movable
    successors: ``w = p * k_b / (k_a + k_b)`` with ``k = round(p n)``; 0 when nothing moves."""
    p = _check_p(p)
    ka, kb = int(round(p * n_a)), int(round(p * n_b))
    return p * kb / (ka + kb) if ka + kb > 0 else 0.0


def share_successors(docs, a: int, b: int, p: float, seed: int = 0, *,
                     vocab_size: int | None = None, keep=()):
    r"""Pool a fraction ``p`` of the successors of ``a`` and of ``b`` and deal them back at
    random: :math:`\phi^{next}_a` and :math:`\phi^{next}_b` move toward each other.

    Exactly: among the *movable* successor positions (the token after an ``a`` or a ``b`` in
    the same document, unless that token is ``a``, ``b`` or listed in ``keep`` -- moving those
    would change the occurrences the intervention is about), ``round(p n_a)`` positions after
    ``a`` and ``round(p n_b)`` after ``b`` are chosen uniformly; the tokens at these positions
    are randomly permuted among them. Consequences:

    * every token's count is **exactly** preserved (a permutation of tokens). Bigram counts
      change only at the moved positions: the bigram (``a`` or ``b``, moved token) -- the
      intended change -- and (moved token, the token after it) -- a side effect, which changes
      :math:`\phi^{next}` of each moved token (and :math:`\varphi^{pre}` of the next token)
      in at most as many occurrences as were moved;
    * on the movable successors, :math:`E[\phi'_a] = (1-w)\phi_a + w\phi_b` with
      ``w = expected_share(p, n_a, n_b)`` (``p / 2`` for pairs of equal frequency), and the
      same for ``b`` with the roles exchanged;
    * at ``p = 1`` the movable successors of ``a`` and ``b`` are two random splits of one
      pool: their signatures agree up to hypergeometric sampling; ``p = 0`` returns a copy.

    ``vocab_size`` (default: largest id + 1) bounds the ids. Deterministic given ``seed``.
    """
    single, V, stream, has_pred, lens, a, b = _pair_input(docs, a, b, vocab_size)
    p = _check_p(p)
    rng = np.random.default_rng([_check_seed(seed), a, b])
    pos = _movable(stream, has_pred, a, b, keep, V)
    out = stream.copy()
    chosen = []
    for key in ("a", "b"):
        P = pos[key]
        k = int(round(p * P.size))
        chosen.append(np.sort(rng.choice(P, size=k, replace=False)) if k else P[:0])
    sel = np.concatenate(chosen)
    out[sel] = stream[sel][rng.permutation(sel.size)]
    return _unflat(out, lens, single)


def shuffle_successors(docs, seed: int = 0, *, vocab_size: int | None = None):
    r"""The frequency-preserving ablation: permute the tokens at every position that has a
    predecessor (all but each document's first token) over all such positions.

    Every token's count is exactly preserved (so are document lengths and first tokens);
    each successor becomes a draw without replacement from the unigram distribution of the
    successor positions, so every :math:`\phi^{next}_a` tends to that unigram distribution
    and the next-token structure is gone. Deterministic given ``seed``.
    """
    arrs, single, V = _as_docs(docs, vocab_size)
    stream, has_pred, lens = _flat(arrs)
    rng = np.random.default_rng(_check_seed(seed))
    pos = np.flatnonzero(has_pred)
    out = stream.copy()
    out[pos] = stream[pos][rng.permutation(pos.size)]
    return _unflat(out, lens, single)


def swap_tokens(docs, a: int, b: int, *, vocab_size: int | None = None):
    """Exchange the identities of tokens ``a`` and ``b`` everywhere (an involution: applying
    it twice gives the corpus back). Both must occur in ``docs``."""
    arrs, single, V = _as_docs(docs, vocab_size)
    stream, _, lens = _flat(arrs)
    a = _check_token("a", a, V, stream)
    b = _check_token("b", b, V, stream)
    if a == b:
        raise ValueError(f"a and b must be different tokens; got a = b = {a}")
    out = stream.copy()
    out[stream == a] = b
    out[stream == b] = a
    return _unflat(out, lens, single)


def shared_signature_cosine(sig, a: int, b: int, name: str = "phi_next") -> float:
    """cos(φ_a, φ_b) of two rows of :class:`NextTokenSignatures` ``sig`` (count a transformed
    corpus with :func:`psbook.signatures.next_token_signatures`). ``name``: ``"phi_next"``,
    ``"varphi_pre"`` or ``"tied"``."""
    if not isinstance(sig, NextTokenSignatures):
        raise TypeError(f"sig must be NextTokenSignatures; got {type(sig).__name__}")
    a = check_token_id("a", a, sig.vocab_size)      # no wrap-around, no truncation of 2.7
    b = check_token_id("b", b, sig.vocab_size)
    rows = sig.dense(name, np.array([a, b], dtype=np.int64))
    na, nb = np.linalg.norm(rows, axis=1)
    return float(rows[0] @ rows[1] / (na * nb)) if na * nb > 0 else 0.0



def sham_share_successors(docs, a: int, b: int, p: float, seed: int = 0, *, partners,
                          vocab_size: int | None = None, keep=()):
    r"""The placebo of :func:`share_successors`: the same tokens lose the same successors,
    but ``a`` and ``b`` do not come to share them.

    With ``partners = (c, d)``: ``k_a = round(p n_a)`` movable successors of ``a`` are pooled
    with ``k_b`` movable successors of ``c`` and dealt back at random, and ``k_b`` of ``b``'s
    with ``k_a`` of ``d``'s (``n``, ``k`` as in :func:`share_successors`; ``a``, ``b``, ``c``,
    ``d`` and ``keep`` are never moved). So ``a`` and ``b`` have exactly as many successor
    positions moved, and receive the same expected fraction of foreign successors
    (``w = p k_b / (k_a + k_b)``), as under :func:`share_successors` -- but from ``c`` and
    ``d``, not from each other. Token counts are exactly preserved. A partner with fewer
    movable successors than it must give gives all it has (choose partners as frequent as
    the token they stand in for: :func:`sham_partners`); ValueError below half.
    """
    single, V, stream, has_pred, lens, a, b = _pair_input(docs, a, b, vocab_size)
    p = _check_p(p)
    try:
        c, d = partners
    except (TypeError, ValueError):
        raise ValueError(f"partners must be a pair of token ids (c, d); got {partners!r}") from None
    c = _check_token("partners[0]", c, V, stream, True, has_pred)
    d = _check_token("partners[1]", d, V, stream, True, has_pred)
    if len({a, b, c, d}) != 4:
        raise ValueError(f"a, b and the partners must be four different tokens; got a={a}, "
                         f"b={b}, partners=({c}, {d})")
    rng = np.random.default_rng([_check_seed(seed), a, b, c, d])
    keep_all = np.concatenate([np.asarray(list(keep), dtype=np.int64), [c, d]])
    pos = _movable(stream, has_pred, a, b, keep_all, V)
    part = _movable(stream, has_pred, c, d, np.concatenate([keep_all, [a, b]]), V)
    ka, kb = int(round(p * pos["a"].size)), int(round(p * pos["b"].size))
    out = stream.copy()
    for own, k_own, other, k_other, nm in ((pos["a"], ka, part["a"], kb, "partners[0]"),
                                           (pos["b"], kb, part["b"], ka, "partners[1]")):
        if other.size < min(k_other, 1) or other.size < k_other / 2:
            raise ValueError(f"{nm} has {other.size} movable successors, fewer than half the "
                             f"{k_other} it must give at p={p:g}; pick a more frequent partner")
        k_other = min(k_other, other.size)   # a slightly rarer partner gives all it has
        sel = np.concatenate([rng.choice(own, size=k_own, replace=False) if k_own else own[:0],
                              rng.choice(other, size=k_other, replace=False) if k_other
                              else other[:0]])
        out[sel] = stream[sel][rng.permutation(sel.size)]
    return _unflat(out, lens, single)


def predicted_share_cosine(docs, a: int, b: int, p: float, *, vocab_size: int | None = None,
                           keep=()) -> float:
    r"""Proposition 13.1's prediction of cos(:math:`\phi^{next}_a`, :math:`\phi^{next}_b`) after
    :func:`share_successors` ``(docs, a, b, p, keep=keep)``, from the pair's own counts: the
    cosine of the *expected* successor counts, :math:`F_a + (1 - p) M_a + p\,k_a/(k_a + k_b)
    (M_a + M_b)` for ``a`` (``M`` the movable successors' counts, ``F`` the unmovable ones)
    and the same for ``b``. The realised cosine scatters around it (the pool is dealt as a
    finite random sample), most at ``p = 1``."""
    single, V, stream, has_pred, lens, a, b = _pair_input(docs, a, b, vocab_size)
    p = _check_p(p)
    pos = _movable(stream, has_pred, a, b, keep, V)
    succ = np.flatnonzero(has_pred)
    prev = stream[succ - 1]
    rows = {}
    for key, t in (("a", a), ("b", b)):
        allc = np.bincount(stream[succ[prev == t]], minlength=V).astype(np.float64)
        mov = np.bincount(stream[pos[key]], minlength=V).astype(np.float64)
        rows[key] = (allc - mov, mov)
    ka, kb = round(p * pos["a"].size), round(p * pos["b"].size)
    pool = rows["a"][1] + rows["b"][1]
    ea = rows["a"][0] + (1 - p) * rows["a"][1] + (p * ka / (ka + kb) * pool if ka + kb else 0)
    eb = rows["b"][0] + (1 - p) * rows["b"][1] + (p * kb / (ka + kb) * pool if ka + kb else 0)
    den = np.linalg.norm(ea) * np.linalg.norm(eb)
    return float(ea @ eb / den) if den > 0 else 0.0


def predicted_sham_cosine(docs, a: int, b: int, p: float, *, partners,
                          vocab_size: int | None = None, keep=()) -> float:
    r"""The expected cos(:math:`\phi^{next}_a`, :math:`\phi^{next}_b`) after
    :func:`sham_share_successors` with ``partners = (c, d)``, from the counts (the analogue of
    :func:`predicted_share_cosine`): ``a``'s expected successor counts are
    :math:`F_a + (1 - p) M_a + k_a/(k_a + k_b)\,(p M_a + k_b/n_c\,M_c)`, and ``b``'s with ``d``."""
    single, V, stream, has_pred, lens, a, b = _pair_input(docs, a, b, vocab_size)
    p = _check_p(p)
    c, d = (int(x) for x in partners)
    keep_all = np.concatenate([np.asarray(list(keep), dtype=np.int64), [c, d]])
    pos = _movable(stream, has_pred, a, b, keep_all, V)
    part = _movable(stream, has_pred, c, d, np.concatenate([keep_all, [a, b]]), V)
    succ = np.flatnonzero(has_pred)
    prev = stream[succ - 1]
    ka, kb = round(p * pos["a"].size), round(p * pos["b"].size)
    exp = []
    for key, t, k_own, k_oth in (("a", a, ka, kb), ("b", b, kb, ka)):
        allc = np.bincount(stream[succ[prev == t]], minlength=V).astype(np.float64)
        mov = np.bincount(stream[pos[key]], minlength=V).astype(np.float64)
        oth = np.bincount(stream[part[key]], minlength=V).astype(np.float64)
        k_oth = min(k_oth, part[key].size)
        pool = p * mov + (k_oth / max(part[key].size, 1)) * oth
        exp.append(allc - mov + (1 - p) * mov
                   + (k_own / (k_own + k_oth) * pool if k_own + k_oth else 0))
    den = np.linalg.norm(exp[0]) * np.linalg.norm(exp[1])
    return float(exp[0] @ exp[1] / den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------
# choosing pairs, and the language-model experiments of chapter 13
# --------------------------------------------------------------------------------------

def word_initial(tokenizer, ids) -> list:
    """The ids of ``ids`` (in order) whose text is a space and at least two letters: a whole
    word or the first piece of a longer one.

    Book: chapter 13 (the rule for the pairs)."""
    import re

    return [t for t in ids if re.fullmatch(r" [A-Za-z]{2,}", tokenizer.decode([int(t)]))]


def pair_name(tokenizer, pair) -> str:
    """``"a/b"``: the two tokens of ``pair`` as text, without their leading spaces.

    Book: chapter 13."""
    return "/".join(tokenizer.decode([int(t)]).strip() for t in pair)


def pairs_table(tokenizer, counts, treated, control, n_moved: int | None = None,
                n_tokens: int | None = None):
    """A :class:`psbook.display.Table` of the treated and control pairs with the two tokens'
    counts; ``n_moved`` (of ``n_tokens``) says how many tokens the interventions move at
    ``p = 1``.

    Book: chapter 13."""
    from .display import Table

    rows = [{"group": grp, "pair": pair_name(tokenizer, pr), "count a": int(counts[pr[0]]),
             "count b": int(counts[pr[1]])}
            for grp, prs in (("treated", treated), ("control", control)) for pr in prs]
    note = ""
    if n_moved is not None:
        note = f"At p = 1 the interventions move {n_moved:,} tokens"
        note += f" ({100 * n_moved / n_tokens:.2f}% of the corpus)." if n_tokens else "."
    return Table(rows, caption="The pairs, fixed before any training.", note=note)


def moved_tokens(docs, treated, keep, vocab_size: int) -> int:
    """How many successor positions sharing at ``p = 1`` moves for all ``treated`` pairs
    (``keep``: the protected tokens).

    Book: chapter 13."""
    return sum(sum(v.size for v in successor_positions(
        docs, int(x), int(y), keep=keep, vocab_size=vocab_size).values())
        for x, y in treated)


def frequency_matched_pairs(sig: NextTokenSignatures, candidates, n_pairs: int,
                            seed: int = 0) -> np.ndarray:
    """``n_pairs`` disjoint pairs of ``candidates`` matched in frequency, chosen without
    looking at any result: the candidates are sorted by their count as a bigram input,
    neighbours are paired (1st with 2nd, 3rd with 4th, ...), and ``n_pairs`` of these pairs
    are drawn at random (``seed``). Returns an ``(n_pairs, 2)`` int array."""
    if not isinstance(sig, NextTokenSignatures):
        raise TypeError(f"sig must be NextTokenSignatures; got {type(sig).__name__}")
    cand = np.unique(as_token_array("candidates", candidates, sig.vocab_size, ndim=1))
    n_pairs = check_positive_int("n_pairs", n_pairs)
    counts = np.asarray(sig.counts.sum(axis=1)).ravel()[cand]
    cand = cand[counts > 0]
    counts = counts[counts > 0]
    order = cand[np.argsort(-counts, kind="stable")]
    pairs = order[: 2 * (order.size // 2)].reshape(-1, 2)
    if pairs.shape[0] < n_pairs:
        raise ValueError(f"n_pairs={n_pairs} pairs asked for, but the {cand.size} seen "
                         f"candidates make only {pairs.shape[0]}; widen the frequency band")
    rng = np.random.default_rng(_check_seed(seed))
    return pairs[np.sort(rng.choice(pairs.shape[0], size=n_pairs, replace=False))]


def share_many(docs, pairs, p: float, seed: int = 0, *, vocab_size: int | None = None,
               keep=()):
    """:func:`share_successors` applied to each pair of ``pairs`` in turn (pairs must be
    disjoint); every token of every pair, and ``keep``, is protected from being moved."""
    V = _as_docs(docs, vocab_size)[2]
    pairs = as_token_array("pairs", pairs, V).reshape(-1, 2)
    if np.unique(pairs).size != pairs.size:
        raise ValueError(f"pairs must be disjoint (no token in two pairs); got {pairs.tolist()}")
    keep = as_token_array("keep", list(keep), V, ndim=1, allow_empty=True)
    protect = np.unique(np.concatenate([pairs.ravel(), keep]))
    out = docs
    for a, b in pairs:
        out = share_successors(out, int(a), int(b), p, seed, vocab_size=vocab_size,
                               keep=protect)
    return out


def sham_partners(sig: NextTokenSignatures, pairs, candidates, *, docs=None, n_near: int = 6,
                  keep=()) -> np.ndarray:
    """Partners for :func:`sham_many`: for each pair ``(a, b)`` of ``pairs`` a partner ``c``
    for ``a`` as frequent as ``b`` and a partner ``d`` for ``b`` as frequent as ``a`` (the
    unused candidate nearest in count, as a bigram input), so that the sham moves the same
    mass as the real sharing. No partner is a pair token or used twice. ``(n_pairs, 2)``.

    With ``docs`` (the corpus), ``c`` and ``d`` are chosen among the ``n_near`` unused
    candidates nearest in count (and with at least as many movable successors as the pair token
    they stand in for, where there are such) so that the sham at ``p = 1`` is expected to leave the pair's
    signature cosine where it was (:func:`predicted_sham_cosine`; ``keep`` as there): pooling
    with two frequent tokens would otherwise pull both signatures toward common successors and
    make them closer, which is sharing by another route. Uses counts only, no training."""
    if not isinstance(sig, NextTokenSignatures):
        raise TypeError(f"sig must be NextTokenSignatures; got {type(sig).__name__}")
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    cand = np.unique(as_token_array("candidates", candidates, sig.vocab_size, ndim=1))
    counts = np.asarray(sig.counts.sum(axis=1)).ravel()
    free = [int(t) for t in cand if t not in set(pairs.ravel().tolist()) and counts[t] > 0]
    out = np.zeros_like(pairs)
    n_near = check_positive_int("n_near", n_near)
    protect = np.concatenate([pairs.ravel(), np.asarray(list(keep), dtype=np.int64)])
    for i, (a, b) in enumerate(pairs):
        near = {}
        for j, target in ((0, b), (1, a)):
            if len(free) < 2:
                raise ValueError(f"candidates hold too few tokens outside the pairs to give "
                                 f"{len(pairs)} pairs two partners each; widen the band")
            near[j] = sorted(free, key=lambda t: (abs(int(counts[t]) - int(counts[target])), t))
        if docs is None:
            c = near[0][0]
            d = next(t for t in near[1] if t != c)
        else:
            V = sig.vocab_size
            if i == 0:
                arrs, _, _ = _as_docs(docs, V)
                stream, has_pred, _ = _flat(arrs)
                succ = np.flatnonzero(has_pred)
                prev, nxt = stream[succ - 1], stream[succ]
                prot = np.zeros(V, dtype=bool)
                prot[protect] = True
                # movable successors of every token at once: after t, neither t nor protected
                n_mov = np.bincount(prev[~prot[nxt] & (nxt != prev)], minlength=V)

            def n_movable(t):
                return int(n_mov[t])
            # a partner must be able to give what the pair token it stands in for moves at p = 1
            enough = {j: [t for t in near[j] if n_movable(t) >= n_movable(int(target))]
                      for j, target in ((0, b), (1, a))}
            pick = {j: (enough[j] or near[j])[:n_near] for j in (0, 1)}
            cos0 = predicted_share_cosine(docs, int(a), int(b), 0.0, vocab_size=V, keep=protect)
            combos = [(c, d) for c in pick[0] for d in pick[1] if c != d]
            c, d = min(combos, key=lambda cd: (abs(predicted_sham_cosine(
                docs, int(a), int(b), 1.0, partners=cd, vocab_size=V, keep=protect) - cos0), cd))
        out[i] = (c, d)
        free.remove(c)
        free.remove(d)
    return out


def sham_many(docs, pairs, partners, p: float, seed: int = 0, *,
              vocab_size: int | None = None, keep=()):
    """:func:`sham_share_successors` for each pair with its partners (``partners[i]`` for
    ``pairs[i]``); every pair token, every partner and ``keep`` is protected from moving."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    partners = np.asarray(partners, dtype=np.int64).reshape(-1, 2)
    if partners.shape != pairs.shape:
        raise ValueError(f"partners must give two tokens for each of the {len(pairs)} pairs; "
                         f"got shape {partners.shape}")
    every = np.concatenate([pairs.ravel(), partners.ravel()])
    if np.unique(every).size != every.size:
        raise ValueError("pairs and partners must be disjoint (no token used twice)")
    protect = np.unique(np.concatenate([every, np.asarray(list(keep), np.int64)]))
    out = docs
    for (a, b), cd in zip(pairs, partners):
        out = sham_share_successors(out, int(a), int(b), p, seed, partners=cd,
                                    vocab_size=vocab_size, keep=protect)
    return out


def _row_cos(W, pairs):
    W = np.asarray(W, dtype=np.float64)
    A, B = W[pairs[:, 0]], W[pairs[:, 1]]
    den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    return np.divide((A * B).sum(1), den, out=np.zeros(len(pairs)), where=den > 0)


def model_size_table(presets=("tiny", "cpu", "gpu", "full")):
    """A :class:`psbook.display.Table` of chapter 13's language model in each preset (its
    ``interventions["lm_model"]`` / ``["lm_train"]`` over ``lm``): what the Compute note says,
    from the presets, never typed. Reading a GPU preset's sizes on a CPU warns of nothing.

    Book: chapter 13 (the Compute note's sizes)."""
    import warnings

    from .display import Table
    from .presets import get_preset

    rows = []
    for name in presets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            p = get_preset(name, device="cpu")
        m = {**p.lm["model"], **p.interventions["lm_model"]}
        t = {**p.lm["train"], **p.interventions["lm_train"]}
        rows.append({"preset": name, "layers": m["n_layers"], "d": m["d_model"],
                     "BPE vocab": p.lm["train_vocab"], "steps": t["steps"],
                     "batch": f"{t['batch_size']} x {t['seq_len']}",
                     "text tokens": p.lm["train_max_tokens"]})
    return Table(rows, caption="The language model of this chapter in each preset.",
                 formats={"text tokens": ",d"})


def dose_response(docs, treated, control, p_values, seeds, model_cfg, train_cfg, *,
                  device: str = "cpu", progress: bool = False, sham_partners=None,
                  draw: int = 0) -> dict:
    r"""Train the language model on corpora where each ``treated`` pair shares a fraction
    ``p`` of its successors (:func:`share_many`), for every ``p`` and seed; ``control`` pairs
    are left untouched (and protected). The trainings go through
    :func:`psbook.lm.stacked.train_stacked_cached` (cached; same-shape models trained as one
    stack, stacks side by side on several cores); seed ``s`` drives both the intervention and
    training.

    Returns arrays indexed ``[p, seed, pair]``: ``cos_E`` / ``cos_U`` (cosine of the pair's
    embedding / unembedding rows after training), ``cos_E0`` (at initialisation) and
    ``sig_cos`` (cosine of the pair's :math:`\phi^{next}` in the corpus trained on), for
    ``"treated"`` and ``"control"``; plus ``p``, ``seeds`` and ``loss`` ``[p, seed]``, and
    ``sig_pred_treated`` ``[p, pair]``: Proposition 13.1's prediction of the treated pairs'
    signature cosine under sharing (:func:`predicted_share_cosine`).

    ``sham_partners`` (an ``(n_treated, 2)`` array, see :func:`sham_partners`): run the
    placebo instead -- :func:`sham_many` moves the same successor mass of the same tokens
    without making the pairs share successors (partners are protected, like the controls).
    ``draw``: which draw of the intervention's random positions (0: the seed's own; another
    ``draw`` gives another corpus at the same ``p`` and the same training seed).
    :func:`dose_arms` trains several such arms at once.
    """
    return dose_arms(docs, treated, control, p_values, seeds, model_cfg, train_cfg,
                     [(sham_partners, draw)], device=device, progress=progress)[0]


_DRAW_STRIDE = 1_000_003    # draw r of seed s permutes with seed s + r * _DRAW_STRIDE


def dose_arms(docs, treated, control, p_values, seeds, model_cfg, train_cfg, arms, *,
              device: str = "cpu", progress: bool = False) -> list:
    """:func:`dose_response` for each arm of ``arms`` (pairs ``(sham_partners, draw)``:
    ``(None, 0)`` is the sharing itself, ``(partners, r)`` the sham's draw ``r``), all
    trainings in one :func:`psbook.lm.stacked.train_stacked_cached` call (so they stack and
    share the cores; the ``p = 0`` corpus is the untouched corpus in every arm and is
    trained once per seed). Returns one :func:`dose_response` dict per arm, in order.

    Book: chapter 13 (the dose-response, its sham, and the null over sham draws)."""
    from dataclasses import replace

    from .lm.stacked import train_stacked_cached

    treated = as_token_array("treated", treated, model_cfg.vocab_size).reshape(-1, 2)
    control = as_token_array("control", control, model_cfg.vocab_size,
                             allow_empty=True).reshape(-1, 2)
    p_values = [_check_p(p) for p in p_values]
    seeds = [_check_seed(s) for s in seeds]
    if not p_values or not seeds:
        raise ValueError("p_values and seeds must each hold at least one value")
    arms = [(None if pt is None else np.asarray(pt, dtype=np.int64).reshape(-1, 2),
             _check_seed(r)) for pt, r in arms]
    if not arms:
        raise ValueError("arms must hold at least one (sham_partners, draw) pair")
    V = model_cfg.vocab_size
    corpora, jobs = [], []
    for pt, r in arms:
        cor = {}
        for i, p in enumerate(p_values):
            for j, s in enumerate(seeds):
                d = s + r * _DRAW_STRIDE
                if pt is None:
                    cor[i, j] = share_many(docs, treated, p, d, vocab_size=V,
                                           keep=control.ravel())
                else:
                    cor[i, j] = sham_many(docs, treated, pt, p, d, vocab_size=V,
                                          keep=control.ravel())
                jobs.append({"tokens": cor[i, j], "model_cfg": model_cfg,
                             "train_cfg": replace(train_cfg, seed=s), "device": device,
                             "desc": f"p={p:g} seed={s}", "namespace": "lm-intervention"})
        corpora.append(cor)
    results = iter(train_stacked_cached(jobs, progress=progress, desc="dose-response"))
    preds = {}                  # Proposition 13.1 per set of protected partners (draws share)
    for pt, _ in arms:
        k = None if pt is None else tuple(pt.ravel().tolist())
        if k not in preds:
            protect = control.ravel() if pt is None else np.concatenate([control.ravel(),
                                                                         pt.ravel()])
            preds[k] = np.array([[predicted_share_cosine(
                docs, int(a), int(b), p, vocab_size=V,
                keep=np.concatenate([treated.ravel(), protect])) for a, b in treated]
                for p in p_values])
    return [_arm_result(treated, control, p_values, seeds, V, cor, results,
                        preds[None if pt is None else tuple(pt.ravel().tolist())])
            for (pt, _), cor in zip(arms, corpora)]


def _arm_result(treated, control, p_values, seeds, V, corpora, results, pred):
    """One arm's :func:`dose_response` dict from its corpora, the next trained models and
    Proposition 13.1's prediction ``pred`` ``[p, pair]``."""
    from .signatures import next_token_signatures

    shape = (len(p_values), len(seeds))
    out = {"p": np.asarray(p_values), "seeds": np.asarray(seeds), "loss": np.zeros(shape),
           "treated": treated, "control": control}
    for grp, pr in (("treated", treated), ("control", control)):
        for k in ("cos_E", "cos_U", "cos_E0", "sig_cos"):
            out[f"{k}_{grp}"] = np.zeros(shape + (len(pr),))
    out["sig_pred_treated"] = pred.copy()
    for i in range(len(p_values)):
        for j in range(len(seeds)):
            res = next(results)
            sig = next_token_signatures(corpora[i, j], V)
            out["loss"][i, j] = res.history["loss"][-1]
            for grp, pr in (("treated", treated), ("control", control)):
                out[f"cos_E_{grp}"][i, j] = _row_cos(res.W_E, pr)
                out[f"cos_U_{grp}"][i, j] = _row_cos(res.W_U, pr)
                out[f"cos_E0_{grp}"][i, j] = _row_cos(res.W_E0, pr)
                out[f"sig_cos_{grp}"][i, j] = [shared_signature_cosine(sig, a, b) for a, b in pr]
    return out


def sham_draw_null(sham_slopes) -> np.ndarray:
    """The null of the dose-vs-sham statistic from several sham draws: ``sham_slopes``
    ``[draw, seed, pair]`` (slopes of cos(W^E) against ``p``, :func:`dose_slopes` of each
    draw). At every seed two different draws ``a != b`` are taken, and the mean over seeds of
    (pair-mean slope of ``a`` - that of ``b``) is one null value -- the statistic
    slope(shared) - slope(sham) with one sham draw standing in for the sharing, paired by
    training seed as the statistic is. Returns all ``(R (R - 1)) ** n_seeds`` values (``R``
    draws), one per combination.

    Book: chapter 13 (the threshold of dose vs sham)."""
    import itertools

    S = np.asarray(sham_slopes, dtype=float)
    if S.ndim != 3 or S.shape[0] < 2 or S.shape[1] < 1:
        raise ValueError(f"sham_slopes must be [draw, seed, pair] with at least 2 draws; got "
                         f"shape {S.shape}")
    v = S.mean(axis=2)                                          # [draw, seed]
    R, n = v.shape
    diffs = [[v[a, s] - v[b, s] for a in range(R) for b in range(R) if a != b]
             for s in range(n)]
    if (R * (R - 1)) ** n > 200_000:
        raise ValueError(f"{R} draws at {n} seeds make {(R * (R - 1)) ** n} combinations; "
                         f"use fewer draws or seeds")
    return np.array([np.mean(c) for c in itertools.product(*diffs)])


def swap_exchange(W, W_swapped, a: int, b: int) -> dict:
    """Did the embeddings of ``a`` and ``b`` exchange after :func:`swap_tokens`?

    ``W`` and ``W_swapped`` (V x d) come from two runs with the *same initialisation and
    seed*, on the corpus and on its swapped copy; pass the displacements ``W - W0`` to compare
    what training wrote (the initial vectors stay with the ids). The two runs share every other
    token, hence one coordinate system, so rows compare directly. Returns ``exchanged`` =
    mean of cos(W_swapped[a], W[b]) and cos(W_swapped[b], W[a]), and ``same`` = mean of
    cos(W_swapped[a], W[a]) and cos(W_swapped[b], W[b])."""
    W = np.asarray(W, dtype=np.float64)
    Ws = np.asarray(W_swapped, dtype=np.float64)
    if W.shape != Ws.shape or W.ndim != 2:
        raise ValueError(f"W and W_swapped must be V x d matrices of one shape; got {W.shape} "
                         f"and {Ws.shape}")
    for nm, t in (("a", a), ("b", b)):
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < W.shape[0]:
            raise ValueError(f"{nm} must be a token id in [0, {W.shape[0]}); got {t!r}")

    def cos(u, v):
        den = np.linalg.norm(u) * np.linalg.norm(v)
        return float(u @ v / den) if den > 0 else 0.0

    return {"exchanged": (cos(Ws[a], W[b]) + cos(Ws[b], W[a])) / 2,
            "same": (cos(Ws[a], W[a]) + cos(Ws[b], W[b])) / 2}


def dose_slopes(p_values, C) -> np.ndarray:
    """Per seed and pair, the least-squares slope of ``C[p, seed, pair]`` against ``p``:
    an array ``[seed, pair]``.

    Book: chapter 13 (the dose-response)."""
    p = np.asarray(p_values, dtype=float)
    C = np.asarray(C)
    return np.array([[np.polyfit(p, C[:, s, j], 1)[0] for j in range(C.shape[2])]
                     for s in range(C.shape[1])])


def _over_seeds(x) -> str:
    x = np.asarray(x)
    return f"{x.mean():+.2f} [{x.min():+.2f}, {x.max():+.2f}]"


def signature_move_table(dose: dict, sham: dict, names):
    """A :class:`psbook.display.Table`: per treated pair (``names``), its signature cosine at
    ``p = 0`` and ``p = 1`` when shared, as Proposition 13.1 (chapter 13) predicts, and under the sham
    (means over seeds).

    Book: chapter 13."""
    from .display import Table

    pred = dose["sig_pred_treated"]
    rows = [{"pair": n, "p = 0": dose["sig_cos_treated"][0, :, j].mean(),
             "shared p = 1": dose["sig_cos_treated"][-1, :, j].mean(),
             "Prop. 4, p = 0": pred[0, j], "Prop. 4, p = 1": pred[-1, j],
             "sham p = 1": sham["sig_cos_treated"][-1, :, j].mean()}
            for j, n in enumerate(names)]
    return Table(rows, caption="Signature cosine of each treated pair, p = 0 and p = 1.",
                 formats={c: ".2f" for c in rows[0] if c != "pair"} if rows else None)


def slope_table(slopes: dict, names: dict):
    """A :class:`psbook.display.Table` of the per-pair slopes of cos(W^E_a, W^E_b) against
    ``p`` (``slopes``: ``{"treated", "sham", "control"}`` -> ``[seed, pair]``; ``names``:
    ``{"treated", "control"}`` -> pair names): mean over seeds [min, max].

    Book: chapter 13."""
    from .display import Table

    rows = [{"pair": n, "shared": _over_seeds(slopes["treated"][:, j]),
             "sham": _over_seeds(slopes["sham"][:, j])} for j, n in enumerate(names["treated"])]
    rows += [{"pair": f"{n} (control)", "shared": _over_seeds(slopes["control"][:, j]),
              "sham": None} for j, n in enumerate(names["control"])]
    return Table(rows, caption="Slope of cos(W^E_a, W^E_b) against p, per pair.",
                 note="mean over seeds [min, max over seeds]; controls are untouched.")


def dose_summary_table(dose: dict, sham: dict, slopes: dict):
    """A :class:`psbook.display.Table` of the dose-response in one view: for the treated
    pairs, the sham and the untouched controls, the rise of cos(W^E_a, W^E_b) from ``p = 0``
    to 1 (mean over pairs, ± sd over seeds), the mean slope, the pairs with a positive slope
    in every seed, and the signature cosine at ``p = 1``.

    Book: chapter 13."""
    from .display import Table, spread

    def rise(C):
        r = np.asarray(C[-1]) - np.asarray(C[0])
        return spread(r.mean(), r.mean(1).std(), signed=True)

    rows = []
    for label, D, key, sl in (("treated (shared)", dose, "treated", slopes["treated"]),
                              ("sham", sham, "treated", slopes["sham"]),
                              ("control (untouched)", dose, "control", slopes["control"])):
        rows.append({"pairs": label, "cos(W^E) rise": rise(D[f"cos_E_{key}"]),
                     "slope": float(sl.mean()),
                     "all seeds > 0": f"{int(np.all(sl > 0, axis=0).sum())} of {sl.shape[1]}",
                     "sig cos p=1": float(D[f"sig_cos_{key}"][-1].mean())})
    return Table(rows, caption="The dose-response in numbers (p = 0 to 1).",
                 formats={"slope": "+.2f", "sig cos p=1": ".2f"},
                 note="cos(W^E) rise: mean over pairs, ± sd over seeds of the pair mean; "
                      "slope: mean; all seeds > 0: pairs whose slope is positive in every "
                      "seed; sig cos p=1: the pairs' signature cosine at p = 1.")


def row_permutation_null(W, phi, n: int = 30, seed: int = 0) -> np.ndarray:
    """``n`` values of R_cos(W, phi with its rows permuted), one generator seeded with
    ``seed``: the null of an alignment.

    Book: chapter 13 (the ablation)."""
    from .metrics import r_cos

    rng = np.random.default_rng(seed)
    return np.array([r_cos(W, phi[rng.permutation(phi.shape[0])]) for _ in range(n)])


def alignment_at_stop(traj: dict, steps, R, threshold: float, key: str = "E") -> dict:
    """How far alignment and loss have come when the flow prediction of ``traj[key]`` stops
    holding at ``threshold`` (:func:`psbook.trajectory.holds_until`): ``step`` (the probe's
    last step if it holds throughout), ``index``, ``R_0``, ``R_stop``, ``R_end`` (the probe's
    R_cos, ``R`` at ``steps``, interpolated), ``frac_R`` (share of its rise reached),
    ``loss_stop`` and ``frac_loss`` (share of the loss drop reached).

    Book: chapter 13 (the flow along training)."""
    from .trajectory import holds_until

    s = holds_until(traj, key, threshold)
    steps, R = np.asarray(steps, dtype=float), np.asarray(R, dtype=float)
    L = traj["loss"]
    step = s["step"] if not s["holds_throughout"] else float(steps[-1])
    i = s["index"] if s["index"] is not None else len(L) - 1
    R_stop, R_0, R_end = float(np.interp(step, steps, R)), float(R[0]), float(R[-1])
    return dict(step=step, index=i, R_0=R_0, R_stop=R_stop, R_end=R_end,
                frac_R=(R_stop - R_0) / (R_end - R_0), loss_stop=float(L[i]),
                frac_loss=(L[0] - L[i]) / (L[0] - L[-1]))


def stop_reading_table(reading: dict, threshold: float, n_steps: int):
    """A :class:`psbook.display.Table` of one :func:`alignment_at_stop` reading: where the
    prediction stops (of ``n_steps``), R_cos at the start, the stop and the end, the loss
    there, and the shares of the rise and of the loss drop reached.

    Book: chapter 13."""
    from .display import Table

    r = reading
    return Table([{"stop step": f"{r['step']:.0f} of {n_steps}", "R_cos start": r["R_0"],
                   "R_cos stop": r["R_stop"], "R_cos end": r["R_end"],
                   "loss stop": r["loss_stop"], "rise": r["frac_R"],
                   "loss drop": r["frac_loss"]}],
                 caption=f"The language model when its prediction stops holding "
                         f"(threshold {threshold:g}).",
                 formats={"R_cos start": "+.2f", "R_cos stop": "+.2f", "R_cos end": "+.2f",
                          "loss stop": ".2f", "rise": ".0%", "loss drop": ".0%"},
                 note="rise / loss drop: the share of the R_cos rise and of the loss drop "
                      "reached at the stop.")


def early_direction_runs(tokens, model_cfg, train_cfg, *, stop_step: int, rows,
                         draws: int = 1, perms=None, seed: int = 0, real: bool = False,
                         device: str = "cpu") -> dict:
    r"""The language model continued from its own state at ``stop_step`` with the early
    displacement of the tokens ``rows`` permuted among them: the causal test of whether the
    direction written early shapes the final geometry.

    The run of ``train_cfg`` is trained to ``stop_step`` (:func:`psbook.lm.train_lm` with a
    checkpoint). In that state the displacement :math:`D = W^E(\text{stop}) - W^E(0)` of the
    rows ``rows`` is replaced by ``D[rows[perm]]`` (same rows, same norms, token identities
    scrambled), and the optimiser's moments of those rows are permuted the same way; every
    other weight, the data order and the schedule are the run's own. The checkpoint is then
    resumed to ``train_cfg.steps`` (exact resume: with the identity permutation the result is
    the uninterrupted run). ``perms``: ``[draw, len(rows)]`` permutations; else ``draws`` of
    them from ``seed``. ``real``: also continue the state unchanged (the uninterrupted run,
    ``W_E_real``; for a seed whose run was not trained already). Cached. Returns ``W_E0``,
    ``W_E_stop`` (V x d), ``perms``, ``W_E`` (the final embeddings, ``[draw, V, d]``),
    ``loss`` (the final training loss per draw) and ``W_E_real`` (None unless ``real``).

    Book: chapter 13 (does the early direction shape the final geometry?)."""
    import tempfile
    from pathlib import Path

    import torch

    from .atomic import write_file
    from .cache import load_or_compute
    from .cache_format import dumps
    from .lm import fingerprint
    from .lm.model import LMConfig, QwenLM
    from .lm.train import CHECKPOINT, TrainConfig, read_checkpoint, train_lm

    if not isinstance(model_cfg, LMConfig) or not isinstance(train_cfg, TrainConfig):
        raise TypeError("model_cfg must be an LMConfig and train_cfg a TrainConfig (see "
                        "psbook.lm.configs_from_preset)")
    stop_step = check_positive_int("stop_step", stop_step)
    if stop_step >= train_cfg.steps:
        raise ValueError(f"stop_step must lie before the end of training "
                         f"({train_cfg.steps} steps); got {stop_step}")
    rows = as_token_array("rows", rows, model_cfg.vocab_size, ndim=1)
    if rows.size < 3 or np.unique(rows).size != rows.size:
        raise ValueError(f"rows must hold at least 3 distinct token ids; got {rows.size} "
                         f"({np.unique(rows).size} distinct)")
    if perms is None:
        draws = check_positive_int("draws", draws)
        rng = np.random.default_rng(_check_seed(seed))
        perms = np.array([rng.permutation(rows.size) for _ in range(draws)])
    perms = np.asarray(perms)
    if perms.ndim != 2 or perms.shape[1] != rows.size or not all(
            np.array_equal(np.sort(p), np.arange(rows.size)) for p in perms):
        raise ValueError(f"perms must be [draw, {rows.size}] permutations of "
                         f"range({rows.size}); got shape {perms.shape}")
    config = {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
              "tokens": fingerprint(tokens), "stop": stop_step, "rows": rows.tolist(),
              "perms": perms.tolist(), "real": bool(real)}

    def compute():
        decay = [n for n, p in QwenLM(model_cfg, seed=0).named_parameters() if p.dim() >= 2]
        i_emb = decay.index("embed_tokens.weight")   # its index in the optimiser's state
        W_E, loss = [], []
        with tempfile.TemporaryDirectory() as tmp:
            train_lm(tokens, model_cfg, train_cfg, checkpoint_dir=tmp, stop_after=stop_step,
                     device=device, progress=False)
            state = read_checkpoint(Path(tmp) / CHECKPOINT)
            W0 = np.asarray(state["W_E0"], dtype=np.float32)
            W_stop = state["model"]["embed_tokens.weight"].numpy().copy()
            ident = np.arange(rows.size)
            for k, perm in enumerate(([ident] if real else []) + list(perms)):
                st = read_checkpoint(Path(tmp) / CHECKPOINT)
                W = st["model"]["embed_tokens.weight"]
                W[rows] = torch.from_numpy(W0[rows] + (W_stop - W0)[rows[perm]])
                for m in ("exp_avg", "exp_avg_sq"):
                    M = st["opt"]["state"][i_emb][m]
                    M[rows] = M[rows[perm]].clone()
                run_dir = Path(tmp) / f"draw{k}"
                run_dir.mkdir()
                write_file(run_dir / CHECKPOINT, dumps(st), on_error="raise")
                r = train_lm(tokens, model_cfg, train_cfg, checkpoint_dir=run_dir,
                             device=device, progress=False)
                W_E.append(r.W_E)
                loss.append(float(r.history["loss"][-1]))
        W_real = W_E.pop(0) if real else None
        return {"W_E0": W0, "W_E_stop": W_stop, "perms": perms, "W_E": np.stack(W_E),
                "loss": np.asarray(loss[1:] if real else loss), "W_E_real": W_real}

    return load_or_compute("lm-early-direction", config, compute, verbose=False)


def early_direction_reading(runs, W_E_real, phi, rows, *, n_perm: int = 200,
                            seed: int = 0, q: float = 0.95) -> dict:
    r"""What the continuations of :func:`early_direction_runs` say: ``runs`` and ``W_E_real``
    (the uninterrupted run's final embedding) are lists over training seeds; over the tokens
    ``rows``, per seed ``s`` and draw ``r`` (arrays ``[seed, draw]``):

    * ``trace`` -- R_cos(final :math:`W^E` of the draw, the displacement it was given,
      :math:`D[\pi_r]`): how much of the direction planted early the final geometry keeps;
      ``null`` ``[seed, draw, n_perm]`` its Mantel null (the planted displacement's tokens
      relabelled, rows and columns together, :func:`psbook.metrics.mantel_r_cos`), and
      ``thr`` the ``q`` quantile of the null of the mean over seeds and draws (the nulls
      averaged relabelling by relabelling);
    * ``trace_real`` / ``thr_real`` -- the same for the real run, which never had
      :math:`D[\pi_r]`;
    * ``memory`` -- ``trace - trace_real``: how much more of the planted direction the draw
      keeps than the run that never had it; ``thr_memory`` the ``q`` quantile of its Mantel
      null (the same relabellings for both runs), mean over seeds and draws; ``memory_sham``
      the same difference for a fresh scramble that neither run was given (the placebo);
    * ``R_next`` / ``R_next_real`` -- R_cos(final :math:`W^E`, ``phi``) of the draws and of
      the real run (``[seed]``); ``geometry`` -- R_cos(final :math:`W^E` of the draw, the real
      run's);
    * ``keeps_real`` / ``keeps_real_real`` -- R_cos with the real early displacement
      :math:`D` of the draws (which were not given it) and of the real run;
    * ``geometry_seeds`` -- R_cos of the real runs' final geometries, for every two seeds
      (empty for one seed): how far apart two independent runs end.

    Book: chapter 13."""
    from .metrics import mantel_r_cos, r_cos

    runs, W_E_real = list(runs), list(W_E_real)
    if not runs or len(runs) != len(W_E_real):
        raise ValueError(f"runs and W_E_real must be equally long lists over seeds (not "
                         f"empty); got {len(runs)} and {len(W_E_real)}")
    if not 0 < q < 1:
        raise ValueError(f"q must lie in (0, 1); got {q}")
    rows = as_token_array("rows", rows, np.asarray(W_E_real[0]).shape[0], ndim=1)
    ph = phi[rows]
    ph = ph.toarray() if hasattr(ph, "toarray") else np.asarray(ph)
    keys = ("trace", "null", "trace_real", "null_real", "R_next", "geometry", "keeps_real",
            "memory_sham")
    out = {k: [] for k in keys}
    R_real, keeps_rr = [], []
    for i, (run, Wr) in enumerate(zip(runs, W_E_real)):
        D = run["W_E_stop"][rows] - run["W_E0"][rows]
        Wr = np.asarray(Wr)[rows]
        R_real.append(r_cos(Wr, ph))
        keeps_rr.append(r_cos(Wr, D))
        per = {k: [] for k in keys}
        for k, (Wk, perm) in enumerate(zip(run["W_E"], run["perms"])):
            Wk, Dp = Wk[rows], D[perm]
            kw = dict(n_perm=n_perm, seed=seed + 1000 * i + k)
            t, null, _ = mantel_r_cos(Wk, Dp, **kw)
            t0, null0, _ = mantel_r_cos(Wr, Dp, **kw)
            sham = Dp[np.random.default_rng([seed, 7919, i, k]).permutation(rows.size)]
            for key, v in zip(keys, (t, null, t0, null0, r_cos(Wk, ph), r_cos(Wk, Wr),
                                     r_cos(Wk, D), r_cos(Wk, sham) - r_cos(Wr, sham))):
                per[key].append(v)
        for key in keys:
            out[key].append(per[key])
    try:
        out = {k: np.asarray(v, dtype=float) for k, v in out.items()}
    except ValueError:
        raise ValueError("every seed's runs must hold the same number of draws") from None
    pairs = [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    W_r = [np.asarray(W)[rows] for W in W_E_real]
    out["memory"] = out["trace"] - out["trace_real"]
    memory_null = (out["null"] - out["null_real"]).mean(axis=(0, 1))
    out.update(geometry_seeds=np.asarray([r_cos(W_r[i], W_r[j]) for i, j in pairs]),
               thr_memory=float(np.quantile(memory_null, q)),
               thr=float(np.quantile(out["null"].mean(axis=(0, 1)), q)),
               thr_real=float(np.quantile(out["null_real"].mean(axis=(0, 1)), q)),
               R_next_real=np.asarray(R_real), keeps_real_real=np.asarray(keeps_rr),
               q=q, n_perm=n_perm)
    return out


def early_direction_table(reading: dict, seeds):
    """A :class:`psbook.display.Table` of :func:`early_direction_reading`, one row per seed
    (``seeds``; means over draws): the trace of the planted early direction in the final
    geometry, the same for the real run (which never had it), R_cos with phi^next of both,
    and R_cos of the two final geometries.

    Book: chapter 13."""
    from .display import Table

    r = reading
    rows = [{"seed": int(s), "trace": r["trace"][i].mean(),
             "trace, real run": r["trace_real"][i].mean(),
             "R_cos, scr.": r["R_next"][i].mean(), "R_cos, real": r["R_next_real"][i],
             "geometry": r["geometry"][i].mean()} for i, s in enumerate(seeds)]
    f = "+.3f"
    return Table(rows, caption="The final geometry after the early direction was scrambled.",
                 formats={"trace": f, "trace, real run": f, "R_cos, scr.": "+.2f",
                          "R_cos, real": "+.2f", "geometry": "+.2f"},
                 note=f"trace: R_cos(final W^E, the scrambled early displacement); R_cos: "
                      f"with phi^next (scr.: the run given the scrambled direction); "
                      f"geometry: R_cos(scrambled run's final W^E, the real run's). Trace "
                      f"minus the real run's, mean over seeds and draws, must "
                      f"beat {r['thr_memory']:+.3f}, the {r['q']:.0%} quantile of its Mantel "
                      f"null ({r['n_perm']} relabellings).")


def stops_table(stops: dict):
    """A :class:`psbook.display.Table`: for each prediction (``{label: holds_until(...)}``),
    where it stops holding (step and loss) or that it holds throughout.

    Book: chapter 13."""
    from .display import Table

    rows = [{"prediction": k,
             "stops at step": None if s["holds_throughout"] else float(s["step"]),
             "loss there": None if s["holds_throughout"] else float(s["loss"])}
            for k, s in stops.items()]
    return Table(rows, caption="Where each flow prediction stops holding.",
                 formats={"stops at step": ".0f", "loss there": ".2f"},
                 note="—: holds over the whole run.")


# --------------------------------------------------------------------------------------
# designed geometry (synthetic tasks)
# --------------------------------------------------------------------------------------

def period_contrast(W, m: int) -> float:
    """Mean cosine of rows ``z`` and ``z + m`` minus mean cosine of rows ``z`` and ``z + 1``
    (rows in their natural order): > 0 for a period-``m`` geometry, < 0 for an ordered one."""
    from .metrics import cosine_matrix

    C = cosine_matrix(W)
    n = C.shape[0]
    m = check_positive_int("m", m, minimum=2)
    if m >= n:
        raise ValueError(f"m must be smaller than the number of rows {n}; got {m}")
    return float(np.mean(np.diagonal(C, m)) - np.mean(np.diagonal(C, 1)))


def designed_vs_plain(preset, anchor_values, model: str = "linear", seeds=None,
                      n_snapshots: int = 12) -> dict:
    r"""Train ``model`` (sizes and training of ``preset.synthetic``: ``f_add`` and its
    ``train["f_add"][model]``) on :func:`psbook.synthetic.tasks.f_add_designed` with ``anchor_values``
    and on plain :func:`psbook.synthetic.tasks.f_add` (full tables, no test split), for each seed, with
    ``n_snapshots`` log-spaced snapshots of the embedding.

    Per seed and snapshot (arrays ``[seed, snapshot]``, snapshot steps in ``steps``):
    ``R_designed`` = :math:`R_{cos}(W^E, \phi^y_{designed})` and ``R_plain`` =
    :math:`R_{cos}(W^E, \phi^y_{plain})` of the *designed-trained* keys (the control
    signature); ``contrast`` = :func:`period_contrast` with ``m = anchor_values[1] -
    anchor_values[0]`` of the designed-trained and ``contrast_plain`` of the plain-trained keys
    (the control task); ``R_order``; ``R_designed_ctl`` and ``R_plain_ctl``, the two
    :math:`R_{cos}` of the *plain-trained* keys (the control task's gap). Also ``train_acc`` per seed and the last seed's final key
    embeddings ``W_last``. Trainings are cached.
    """
    from .synthetic import tasks
    from .metrics import r_cos, r_order
    from .synthetic.ensemble import fit_many
    from .trajectory import snapshot_steps

    syn = preset.synthetic
    base = dict(syn["f_add"])
    seeds = preset.seeds() if seeds is None else list(seeds)
    vals = sorted(int(v) for v in anchor_values)
    m = vals[1] - vals[0]
    plain = tasks.f_add(**base, test_frac=0.0)
    des = tasks.f_add_designed(n_keys=base["n_keys"], anchor_values=vals,
                               n_slots=base.get("n_slots", 2), test_frac=0.0)
    keys = des.ordered_tokens
    phi_d = des.signatures().dense("phi_y", keys)
    phi_p = plain.signatures().dense("phi_y", keys)
    kw = dict(syn["model"])
    kw.update(syn["train"]["f_add"][model], device=preset.device)
    snaps = snapshot_steps(kw["steps"], n_snapshots)
    names = ("R_designed", "R_plain", "contrast", "contrast_plain", "R_order", "R_designed_ctl",
             "R_plain_ctl")
    rows = {k: [] for k in names}
    acc = []
    # the seeds train together: first the designed task's runs, then the plain task's
    fits = list(zip(*[fit_many([dict(task=t, model=model, seed=s, snapshot_steps=snaps, **kw)
                                for s in seeds]) for t in (des, plain)]))
    for rd, rp in fits:
        cur = {k: [] for k in names}
        for t in snaps:
            W = rd.history.snapshots[int(t)]["W_E"][keys]
            cur["R_designed"].append(r_cos(W, phi_d))
            cur["R_plain"].append(r_cos(W, phi_p))
            cur["contrast"].append(period_contrast(W, m))
            Wp = rp.history.snapshots[int(t)]["W_E"][keys]
            cur["contrast_plain"].append(period_contrast(Wp, m))
            cur["R_designed_ctl"].append(r_cos(Wp, phi_d))
            cur["R_plain_ctl"].append(r_cos(Wp, phi_p))
            cur["R_order"].append(r_order(W))
        for k in names:
            rows[k].append(cur[k])
        acc.append(float(rd.history.train_acc[-1]))
    out = {k: np.asarray(v) for k, v in rows.items()}
    out.update(steps=snaps, seeds=np.asarray(seeds), m=m, train_acc=np.asarray(acc),
               W_last=rd.W_E[keys], W_plain_last=rp.W_E[keys])
    return out


def designed_table(geo: dict):
    """A :class:`psbook.display.Table` of ``{model: designed_vs_plain(...)}`` at the end of
    training, one column per model: R_cos with the designed and the plain signature, the
    period contrast (on the designed and on the plain task) and R_order, mean ± sd over seeds.

    Book: chapter 13 (a designed geometry)."""
    from .display import Table, spread

    rows_ = {"R_designed": "R_cos, designed signature", "R_plain": "R_cos, plain signature",
             "contrast": "period contrast", "contrast_plain": "contrast, plain task",
             "R_order": "R_order"}
    rows = [{"end of training": label,
             **{model: spread(g[k][:, -1].mean(), g[k][:, -1].std(), signed=True)
                for model, g in geo.items()}} for k, label in rows_.items()]
    return Table(rows, caption="End of training, mean ± sd over seeds.")


def designed_gap_table(geo: dict):
    """A :class:`psbook.display.Table`: at every snapshot step, R_cos(designed) - R_cos(plain)
    of keys trained on the designed task and on plain f_add (means over seeds), per model.

    Book: chapter 13."""
    from .display import Table

    gaps = {model: ((g["R_designed"] - g["R_plain"]).mean(0),
                    (g["R_designed_ctl"] - g["R_plain_ctl"]).mean(0)) for model, g in geo.items()}
    steps = [np.asarray(g["steps"]) for g in geo.values()]
    rows = []
    if all(s_.shape == steps[0].shape and np.all(s_ == steps[0]) for s_ in steps):
        for i, t in enumerate(steps[0]):   # one row per step, two columns per model
            row = {"step": int(t)}
            for model, (gap, ctl) in gaps.items():
                row[f"{model}: designed"] = float(gap[i])
                row[f"{model}: plain"] = float(ctl[i])
            rows.append(row)
    else:
        for (model, (gap, ctl)), st in zip(gaps.items(), steps):
            rows += [{"model": model, "step": int(t), "designed": float(a), "plain": float(b)}
                     for t, a, b in zip(st, gap, ctl)]
    return Table(rows, caption="R_cos(designed) - R_cos(plain) along training.",
                 formats={c: "+.2f" for c in rows[0] if c not in ("step", "model")},
                 note="designed / plain: keys trained on the designed task / on plain f_add; "
                      "means over seeds.")
