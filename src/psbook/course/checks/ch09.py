"""Checks of chapter 09's coding exercises (signatures of real text)."""

from __future__ import annotations

import numpy as np

from ._base import Spread, choice, exercise


def _dict_compare(given, ref):
    if not isinstance(given, dict):
        return f"expected a dict keyed by {sorted(ref)}, got {type(given).__name__}"
    if set(given) != set(ref):
        return f"expected the keys {sorted(ref)}, got {sorted(given)}"
    for k in ref:
        try:
            g = float(given[k])
        except (TypeError, ValueError):
            return f"{k}: expected a number, got {given[k]!r}"
        if not np.isfinite(g):
            return f"{k}: not a finite number"
        if abs(g - ref[k]) > 1e-6 + 1e-6 * abs(ref[k]):
            vals = sorted(ref.values())
            if sorted(float(v) for v in given.values()) == vals:
                return "the right numbers under the wrong signature names (swapped?)"
            return f"{k}: {'too large' if g > ref[k] else 'too small'}"
    return None


@exercise("ex-09-months", answers={"months_cos": "mean pairwise cosine of the months per signature"},
          compare={"months_cos": _dict_compare},
          hint="corpus.set_similarity(sigs['wikipedia'], {'months': sets['months']}, name)['months']")
def months(ns):
    from psbook import corpus
    s, m = ns["sigs"]["wikipedia"], ns["sets"]["months"]
    return {"months_cos": {name: float(corpus.set_similarity(s, {"months": m}, name)["months"])
                           for name in corpus.SIGNATURE_NAMES}}


@exercise("ex-09-matched",
          answers={"digits_matched_code": "mean of 100 frequency-matched random groups (any seed)",
                   "digits_cos_code": "the digits' own mean pairwise cosine in the code corpus"},
          rtol=1e-6, atol=1e-9,
          hint="corpus.matched_baseline(sigs['code'], sets['digits'], draws=100, seed=0).mean()")
def matched(ns):
    from psbook import corpus
    s, d = ns["sigs"]["code"], ns["sets"]["digits"]
    # the control passes with any seed: the means of 100 draws over 30 seeds, and a margin
    spread = Spread(tuple(float(corpus.matched_baseline(s, d, draws=100, seed=k).mean())
                          for k in range(30)), continuous=True, margin=0.5)
    return {"digits_matched_code": spread,
            "digits_cos_code": float(corpus.set_similarity(s, {"digits": d})["digits"])}


@choice('ex-09-which', 'which_answer', 'your answer, one letter',
        right='b', wrong={
            'a': 'phi^next is a signature of an *input* token (what follows it): it drives the '
                 'embedding W^E',
            'c': 'frequency sets how fast a vector moves (the rate r), the signature sets where'
                 ' it goes'})
def which(ns):
    r"""(a) \phi^{next}; (b) \varphi^{pre}; (c) the unigram frequency."""


TEXT_SMALL = "the cat sat on the mat . the dog sat on the log . the cat saw the dog ."


def _small():
    from psbook.signatures import next_token_signatures
    words = TEXT_SMALL.split()
    vocab = sorted(set(words))
    ids = np.array([vocab.index(w) for w in words])
    return vocab, next_token_signatures(ids, len(vocab))


def _tokens_compare(given, ref):
    if not isinstance(given, (list, tuple)) or not all(isinstance(w, str) for w in given):
        return f"expected a list of words, got {type(given).__name__}"
    if list(given) == list(ref):
        return None
    if set(given) != set(ref):
        return "wrong token set: one entry per distinct word of the text, each once"
    return "the right words in another order: sort them (vocab_small = sorted(set(words)))"


@exercise("ex-09-next-sig", answers={
    "vocab_small": "the sorted distinct words of the text",
    "B_small": "bigram counts B[a, nu] (V x V)",
    "phi_next_small": "phi^next, one row per token (V x V)",
    "varphi_pre_small": "varphi^pre, one row per token (V x V)"},
    compare={"vocab_small": _tokens_compare}, rtol=1e-9, atol=1e-12,
    hint="B[ids[s], ids[s+1]] += 1 for every s; phi^next normalises the rows of B, "
         "varphi^pre the columns (then one row per token: transpose)")
def next_sig(ns):
    vocab, s = _small()
    return {"vocab_small": vocab, "B_small": s.counts.toarray().astype(float),
            "phi_next_small": s.phi_next.toarray(), "varphi_pre_small": s.varphi_pre.toarray()}
