"""Checks for chapter 12 (pretrained models): ``checks.ch12.<name>(globals())``."""

from __future__ import annotations

import numpy as np

from ...cooccurrence import ppmi, weighted_signature
from ...metrics import r_cos
from ._base import choice, exercise, function_compare

__all__ = ["ppmi_by_hand", "pre_ppmi", "zero"]


def _ppmi_ref(C):
    return ppmi(np.asarray(C, dtype=float), alpha=None).toarray()


def _pmi_kept_negative(C):
    C = np.asarray(C, dtype=float)
    with np.errstate(divide="ignore"):
        pmi = np.log(C * C.sum() / np.outer(C.sum(1), C.sum(0)))
    return np.where(C > 0, pmi, 0.0)


_PPMI_MISTAKES = {
    "negative PMI kept: the P of PPMI keeps only max(PMI, 0)": _pmi_kept_negative,
    "smoothed context counts (alpha = 0.75): the exercise asks for none (alpha = 1)":
        lambda C: ppmi(np.asarray(C, dtype=float), alpha=0.75).toarray(),
}


def _ppmi_cases(ns):
    C = np.array([[0, 7, 2, 0, 1], [3, 0, 0, 4, 2], [1, 1, 6, 0, 0], [5, 0, 1, 1, 9],
                  [0, 2, 0, 3, 0]], dtype=float)
    return {"the check's own 5 x 5 count matrix": (C,)}


@exercise("ex-12-ppmi", answers={
    "my_ppmi": "your function C -> dense PPMI of a count matrix (no smoothing)",
    "ppmi_small": "PPMI of the 4 x 4 count matrix C_small (no smoothing)"},
    rtol=1e-6, atol=1e-9,
    compare={"my_ppmi": function_compare(_ppmi_cases, _ppmi_ref, "my_ppmi",
                                         variants=_PPMI_MISTAKES),
             "ppmi_small": lambda g, r, ns: _ppmi_small_compare(g, r, ns)},
    hint=["PMI compares each count with the count expected if rows and columns were "
          "independent; PPMI keeps the positive part",
          "the expected count of (a, b) is row total x column total / N; zero counts give "
          "log 0 and stay at 0"])
def ppmi_by_hand(ns):
    return {"my_ppmi": _ppmi_ref, "ppmi_small": _ppmi_ref(ns["C_small"])}


def _ppmi_small_compare(given, ref, ns):
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-6, 1e-9)
    if problem and "C_small" in ns:
        for words, fn in _PPMI_MISTAKES.items():
            if not default_compare(given, fn(ns["C_small"]), 1e-6, 1e-9):
                return words
    return problem


@exercise("ex-12-pre", answers={"rcos_pre_ppmi": "R_cos of GloVe against the PPMI previous-token "
                                                 "signature on `tokens`"},
          rtol=1e-6, atol=1e-9,
          hint=["the previous-token signature comes from the same bigram counts as phi^next, "
                "normalised the other way; weight it by PPMI as the chapter does for phi^next",
                "cooccurrence.weighted_signature takes the next-token counts, the kind ('pre') "
                "and the weighting ('ppmi', with the chapter's smoothing); then metrics.r_cos "
                "on `tokens`"])
def pre_ppmi(ns):
    sigs = ns["wiki_glove"].next
    Phi = weighted_signature(sigs, "pre", "ppmi", 0.75)
    return {"rcos_pre_ppmi": r_cos(ns["glove"].W_E, Phi, ns["tokens"])}


@choice('ex-12-zero', 'zero_answer', 'your answer, one letter',
        right='a', wrong={
            'b': 'PMI is log 0 = -inf there, but PPMI keeps only the positive part, max(PMI, 0)',
            'c': 'PPMI is a clipped log-ratio, not a probability or a cosine'})
def zero(ns):
    r"""(a) 0; (b) -\infty; (c) 1."""
