"""Checks of chapter 09's coding exercises (signatures of real text)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise, function_compare


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
          hint=["the chapter's table of set similarities already computes this for one "
                "signature; you need it for each name in corpus.SIGNATURE_NAMES",
                "corpus.set_similarity takes the signatures, a dict of sets and the signature's "
                "name, and returns a dict keyed by the sets' names"])
def months(ns):
    from psbook import corpus
    s, m = ns["sigs"]["wikipedia"], ns["sets"]["months"]
    return {"months_cos": {name: float(corpus.set_similarity(s, {"months": m}, name)["months"])
                           for name in corpus.SIGNATURE_NAMES}}


def _matched_ref(sig, group, seed):
    """The baseline the exercise asks for: the mean over 100 frequency-matched draws."""
    from psbook import corpus
    return float(corpus.matched_baseline(sig, group, draws=100, seed=seed).mean())


def _one_draw(sig, group, seed):
    """The TA table's "one draw of the baseline presented as the baseline"."""
    from psbook import corpus
    return float(corpus.matched_baseline(sig, group, draws=1, seed=seed).mean())


def _ten_draws(sig, group, seed):
    from psbook import corpus
    return float(corpus.matched_baseline(sig, group, draws=10, seed=seed).mean())


def _matched_cases(ns):
    """The check's own inputs: another seed, and another group in another corpus."""
    sigs, sets = ns["sigs"], ns["sets"]
    cases = {"the code corpus's digits with seed 7": (sigs["code"], sets["digits"], 7)}
    if "wikipedia" in sigs and "months" in sets:
        cases["Wikipedia's months with seed 11"] = (sigs["wikipedia"], sets["months"], 11)
    return cases


_MATCHED_MISTAKES = {
    "one draw of the baseline, not the mean of 100: one draw varies about ten times more than "
    "the mean of 100 (ask matched_baseline for draws=100)": _one_draw,
    "the mean of 10 draws, not 100 (ask matched_baseline for draws=100)": _ten_draws}


def _matched_value_compare(given, ref, ns):
    """``digits_matched_code`` must be the function's value for the code corpus's digits at
    seed 0 (a typed number near it does not pass: the tolerance is float rounding)."""
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-9, 1e-12)
    if not problem:
        return None
    args = (ns["sigs"]["code"], ns["sets"]["digits"], 0)
    for words, fn in _MATCHED_MISTAKES.items():
        if not default_compare(given, fn(*args), 1e-9, 1e-12):
            return words
    return ("not the mean of 100 frequency-matched draws for the code corpus's digits at "
            f"seed 0: {problem}")


@exercise("ex-09-matched",
          answers={"my_matched_baseline": "your function (sig, group, seed) -> the baseline",
                   "digits_matched_code": "your function's baseline for the code corpus's "
                                          "digits, seed 0",
                   "digits_cos_code": "the digits' own mean pairwise cosine in the code corpus"},
          rtol=1e-6, atol=1e-9,
          compare={"my_matched_baseline": function_compare(
              _matched_cases, _matched_ref, "my_matched_baseline", rtol=1e-9, atol=1e-12,
              variants=_MATCHED_MISTAKES),
              "digits_matched_code": _matched_value_compare},
          hint=["a baseline is a group of random tokens as frequent as the group; one such "
                "group is noisy, so the baseline is an average over many draws",
                "corpus.matched_baseline returns one value per draw (ask for 100); average "
                "them. The digits' own value comes from corpus.set_similarity"])
def matched(ns):
    from psbook import corpus
    s, d = ns["sigs"]["code"], ns["sets"]["digits"]
    return {"my_matched_baseline": _matched_ref,
            "digits_matched_code": _matched_ref(s, d, 0),
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


def _next_ref(words):
    from psbook.signatures import next_token_signatures
    vocab = sorted(set(words))
    ids = np.array([vocab.index(w) for w in words])
    s = next_token_signatures(ids, len(vocab))
    return (vocab, s.counts.toarray().astype(float), s.phi_next.toarray(),
            s.varphi_pre.toarray())


def _small():
    from psbook.signatures import next_token_signatures
    words = TEXT_SMALL.split()
    vocab = sorted(set(words))
    ids = np.array([vocab.index(w) for w in words])
    return vocab, next_token_signatures(ids, len(vocab))


OTHER_TEXT = ("a b a c b a . c a b b . a c c a")


def _next_cases(ns):
    return {"another text (16 words over 4 distinct ones)": (OTHER_TEXT.split(),)}


def _pre_column_normalised(words):
    vocab, B, phi, pre = _next_ref(words)
    return vocab, B, phi, pre.T


def _across_the_end(words):
    """One more bigram, from the text's last word back to its first (wrapping around)."""
    vocab = sorted(set(words))
    ids = [vocab.index(w) for w in words]
    B = np.zeros((len(vocab), len(vocab)))
    for a, b in zip(ids, ids[1:] + ids[:1]):
        B[a, b] += 1
    rows, cols = B.sum(axis=1, keepdims=True), B.sum(axis=0, keepdims=True)
    return (vocab, B, np.divide(B, rows, out=np.zeros_like(B), where=rows > 0),
            np.divide(B, cols, out=np.zeros_like(B), where=cols > 0).T)


_NEXT_MISTAKES = {
    "varphi^pre left column-normalised, one column per token: transpose it (one row per "
    "token)": _pre_column_normalised,
    "a bigram across the text's end (last word -> first): the text does not wrap around":
        _across_the_end,
}


def _tokens_compare(given, ref):
    if not isinstance(given, (list, tuple)) or not all(isinstance(w, str) for w in given):
        return f"expected a list of words, got {type(given).__name__}"
    if list(given) == list(ref):
        return None
    if set(given) != set(ref):
        return "wrong token set: one entry per distinct word of the text, each once"
    return "the right words in another order: sort them (vocab_small = sorted(set(words)))"


def _vocab_fn_compare(given, ref, ns):
    """vocab is compared as a list of words, the arrays as arrays."""
    from ._base import Problem, call
    for where, (words,) in _next_cases(ns).items():
        try:
            out = call(given, words, what="my_next_signatures")
        except Problem as e:
            return f"{e} (on {where})"
        if not isinstance(out, (tuple, list)) or len(out) != 4:
            return "expected it to return 4 things (vocab, B, phi_next, varphi_pre)"
        problem = _tokens_compare(out[0], _next_ref(words)[0])
        if problem:
            return f"on {where}, its vocab: {problem}"
    return _arrays_compare(lambda words: tuple(given(words))[1:], ref, ns)


_arrays_compare = function_compare(
    _next_cases, lambda w: _next_ref(w)[1:], "my_next_signatures", rtol=1e-9, atol=1e-12,
    variants={k: (lambda f: lambda w: f(w)[1:])(f) for k, f in _NEXT_MISTAKES.items()},
    outputs=("B", "phi_next", "varphi_pre"))


@exercise("ex-09-next-sig", answers={
    "my_next_signatures": "your function words -> (vocab, B, phi_next, varphi_pre)",
    "vocab_small": "the sorted distinct words of the text",
    "B_small": "bigram counts B[a, nu] (V x V)",
    "phi_next_small": "phi^next, one row per token (V x V)",
    "varphi_pre_small": "varphi^pre, one row per token (V x V)"},
    compare={"vocab_small": _tokens_compare, "my_next_signatures": _vocab_fn_compare},
    rtol=1e-9, atol=1e-12,
    hint=["count first: one matrix entry per pair of neighbouring words, then normalise",
          "B[a, nu] counts nu right after a; phi^next normalises the rows of B, varphi^pre "
          "the columns (then one row per token: transpose)"])
def next_sig(ns):
    vocab, B, phi, pre = _next_ref(TEXT_SMALL.split())
    return {"my_next_signatures": _next_ref, "vocab_small": vocab, "B_small": B,
            "phi_next_small": phi, "varphi_pre_small": pre}
