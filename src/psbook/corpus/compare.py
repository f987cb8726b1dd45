"""Small measurements on corpus signatures used by chapter 09 (and reusable on any corpus).

* :func:`set_similarity` -- that mean for named token sets against a random-pair baseline.
* :func:`structure_agreement` -- Pearson correlation, over the pairs of one token set, of the
  cosine matrices computed from two signature matrices (e.g. two corpora).
"""

from __future__ import annotations

import numpy as np

from .._validate import as_token_array, check_choice, check_positive_int
from ..metrics import correlation, cosine_matrix, group_similarity, pair_values
from ..signatures import NextTokenSignatures
from .streams import frequent_tokens

__all__ = ["set_similarity", "structure_agreement", "SIGNATURE_NAMES", "MIN_COUNT",
           "testable_sets", "matched_baseline", "matched_similarity", "matched_table",
           "agreement_matrix"]

SIGNATURE_NAMES = ("phi_next", "varphi_pre", "tied")
# a token needs at least this many occurrences for its signature to be more than noise
# (a next-token distribution estimated from fewer than 50 draws is dominated by sampling error)
MIN_COUNT = 50


def _matrix(sigs: NextTokenSignatures, name: str):
    if not isinstance(sigs, NextTokenSignatures):
        raise TypeError(f"sigs must be NextTokenSignatures; got {type(sigs).__name__}")
    check_choice("name", name, set(SIGNATURE_NAMES))
    return getattr(sigs, name)


def set_similarity(sigs: NextTokenSignatures, sets: dict, name: str = "phi_next",
                   baseline_k: int = 300) -> dict[str, float]:
    """Mean pair cosine within each named token set, plus ``"random pairs"``: the mean over
    all pairs of the ``baseline_k`` most frequent tokens (the baseline a set must beat).
    A thin corpus-level wrapper of :func:`psbook.metrics.group_similarity`."""
    baseline_k = check_positive_int("baseline_k", baseline_k, minimum=2)
    out = group_similarity(_matrix(sigs, name), sets,
                           baseline_tokens=frequent_tokens(sigs, baseline_k))
    out.pop("between groups", None)
    return out


def structure_agreement(sigs_a: NextTokenSignatures, sigs_b: NextTokenSignatures, tokens,
                        name: str = "phi_next") -> float:
    """Pearson correlation, over pairs of ``tokens``, of the cosine similarities computed from
    ``sigs_a`` and from ``sigs_b``: 1 when the two corpora arrange the tokens alike."""
    Ma, Mb = _matrix(sigs_a, name), _matrix(sigs_b, name)
    if sigs_a.vocab_size != sigs_b.vocab_size:
        raise ValueError(f"sigs_a and sigs_b must share one vocabulary (token ids mean the same "
                         f"token in both); got vocab_size {sigs_a.vocab_size} and "
                         f"{sigs_b.vocab_size} -- count both with the same tokenizer")
    tokens = as_token_array("tokens", tokens, sigs_a.vocab_size, ndim=1)
    if tokens.size < 3:
        raise ValueError(f"tokens must hold at least 3 token ids; got {tokens.size}")
    del Ma, Mb
    Sa = pair_values(cosine_matrix(_matrix(sigs_a, name), tokens))
    Sb = pair_values(cosine_matrix(_matrix(sigs_b, name), tokens))
    return float(correlation(Sa, Sb))


def agreement_matrix(sources, tokenizer, sigs_by_source: dict, tokens, max_tokens: int,
                     name: str = "phi_next") -> np.ndarray:
    """The sources x sources matrix of :func:`structure_agreement` over ``tokens``: across
    corpora off the diagonal, and on the diagonal each corpus's split-half agreement (its
    documents dealt alternately into two halves by :func:`split_signatures`, the control).

    Book: chapter 09 (the same tokens in different corpora)."""
    from .streams import split_signatures
    sources = list(sources)
    A = np.full((len(sources), len(sources)), np.nan)
    for i, a in enumerate(sources):
        for j, b in enumerate(sources):
            if i == j:
                halves = split_signatures(a, tokenizer, max_tokens)
                A[i, j] = structure_agreement(*halves, tokens, name)
            else:
                A[i, j] = structure_agreement(sigs_by_source[a], sigs_by_source[b], tokens, name)
    return A


def _occurrences(sigs: NextTokenSignatures) -> np.ndarray:
    c = sigs.counts
    return np.asarray(c.sum(axis=1)).ravel()


def testable_sets(sigs: NextTokenSignatures, sets: dict, min_count: int = MIN_COUNT,
                  min_tokens: int = 3) -> tuple[dict, dict]:
    """Split named token sets into those whose signatures can be estimated in this corpus
    and those that cannot.

    A token is kept when it occurs at least ``min_count`` times (as the first token of a
    bigram); a set is *testable* when at least ``min_tokens`` of its tokens are kept. Returns
    ``(testable, untestable)``: ``testable`` maps a name to its kept tokens (natural order
    preserved), ``untestable`` maps a name to a reason in words ("2 of 12 tokens occur >= 50
    times").
    """
    if not isinstance(sigs, NextTokenSignatures):
        raise TypeError(f"sigs must be NextTokenSignatures; got {type(sigs).__name__}")
    if not isinstance(sets, dict):
        raise TypeError(f"sets must be a dict name -> token ids; got {type(sets).__name__}")
    min_count = check_positive_int("min_count", min_count)
    min_tokens = check_positive_int("min_tokens", min_tokens, minimum=2)
    n = _occurrences(sigs)
    ok, bad = {}, {}
    for name, toks in sets.items():
        t = [int(x) for x in toks]
        keep = [x for x in t if 0 <= x < n.size and n[x] >= min_count]
        if len(keep) >= min_tokens:
            ok[name] = keep
        else:
            bad[name] = (f"{len(keep)} of {len(t)} tokens occur >= {min_count} times "
                         f"(need {min_tokens})")
    return ok, bad


def matched_baseline(sigs: NextTokenSignatures, tokens, name: str = "phi_next", *,
                     draws: int = 200, seed: int = 0, exclude=(), tolerance: float = 0.5,
                     min_candidates: int = 5) -> np.ndarray:
    """Frequency-matched random groups: the mean pair cosine of ``draws`` random token groups,
    each token of ``tokens`` replaced by a random token of similar frequency.

    Cosine similarity depends on frequency (Zhou et al. 2022), so a group of frequent tokens
    must be compared with other tokens *as frequent*. A candidate for token t has a count
    within ``tolerance`` (in log2, i.e. a factor 2**tolerance) of t's; the window widens until
    at least ``min_candidates`` candidates exist. Tokens in ``tokens`` and ``exclude`` are
    never candidates. Returns the array of ``draws`` mean pair cosines (compare the group's
    own mean cosine with its distribution).
    """
    M = _matrix(sigs, name)
    tokens = np.asarray(tokens, dtype=np.int64).ravel()
    if tokens.size < 2:
        raise ValueError(f"tokens must hold at least 2 token ids; got {tokens.size}")
    draws = check_positive_int("draws", draws)
    n = _occurrences(sigs)
    seen = np.flatnonzero(n > 0)
    banned = set(tokens.tolist()) | {int(x) for x in exclude}
    cand_all = np.array([t for t in seen if t not in banned], dtype=np.int64)
    if cand_all.size < min_candidates:
        raise ValueError(f"the corpus has only {cand_all.size} other tokens; need at least "
                         f"{min_candidates} to draw a frequency-matched baseline")
    lc = np.log2(n[cand_all])
    pools = []
    for t in tokens:
        lt = np.log2(max(n[t], 1.0))
        tol = float(tolerance)
        while True:
            pool = cand_all[np.abs(lc - lt) <= tol]
            if pool.size >= min_candidates or tol > 64:
                break
            tol *= 2
        pools.append(pool)
    rng = np.random.default_rng(seed)
    pick = np.stack([rng.choice(p, size=draws) for p in pools], axis=1)  # draws x |tokens|
    uniq = np.unique(pick)
    C = cosine_matrix(M, uniq)
    pos = np.searchsorted(uniq, pick)
    iu = np.triu_indices(tokens.size, 1)
    out = np.empty(draws)
    for k in range(draws):
        sub = C[np.ix_(pos[k], pos[k])]
        out[k] = float(np.mean(sub[iu]))
    return out


def matched_similarity(sigs: NextTokenSignatures, sets: dict, seeds, *, baseline_k: int = 300,
                       exclude=(), name: str = "phi_next") -> tuple[dict, dict, dict]:
    """Each named set's mean pair cosine against frequency-matched random groups
    (:func:`matched_baseline`, 200 draws per seed of ``seeds``), in one corpus.

    Returns ``(values, draws, untestable)``: ``values`` maps a set to its mean cosine and
    ``"<set>: matched random"`` to the draws' mean (NaN for both when the set is not testable
    here), ``draws`` maps a testable set to all its draws, ``untestable`` a set to the reason
    (:func:`testable_sets`).

    Book: chapter 09 (digits, months and weekdays)."""
    ok, bad = testable_sets(sigs, sets)
    sim = set_similarity(sigs, ok, name, baseline_k=baseline_k) if ok else {}
    values, draws = {}, {}
    for k in sets:
        if k in ok:
            d = np.concatenate([matched_baseline(sigs, ok[k], name, seed=s, exclude=exclude)
                                for s in seeds])
            values[k], draws[k] = sim[k], d
            values[f"{k}: matched random"] = float(d.mean())
        else:
            values[k] = values[f"{k}: matched random"] = np.nan
    return values, draws, bad


def matched_table(values: dict, draws: dict, untestable: dict):
    """A :class:`psbook.display.Table` of :func:`matched_similarity` over corpora (each
    argument keyed by corpus): one row per corpus and set, the set's mean cosine against the
    matched random groups (mean ± sd of the draws), or why it is not testable.

    Book: chapter 09 (digits, months and weekdays)."""
    from ..display import Table, spread
    rows = []
    for src in values:
        for k, d in draws[src].items():
            rows.append({"corpus": src, "group": k, "group cosine": float(values[src][k]),
                         "matched random groups": spread(float(d.mean()), float(d.std()))})
        for k, why in untestable[src].items():
            rows.append({"corpus": src, "group": k, "group cosine": "not testable",
                         "matched random groups": why})
    return Table(rows, caption="Mean pairwise cosine of φ^next within each group, against "
                 "frequency-matched random groups", formats={"group cosine": ".2f"},
                 note="matched random groups: mean ± sd over the draws")
