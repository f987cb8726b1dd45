"""Checks for chapter 12 (pretrained models): ``checks.ch12.<name>(globals())``."""

from __future__ import annotations

import numpy as np

from ...cooccurrence import ppmi, weighted_signature
from ...metrics import r_cos
from ._base import choice, exercise

__all__ = ["ppmi_by_hand", "pre_ppmi", "zero"]


@exercise("ex-12-ppmi", answers={"ppmi_small": "PPMI of the 4 x 4 count matrix C_small "
                                               "(no smoothing)"},
          rtol=1e-6, atol=1e-9,
          hint="PMI[a, b] = log(C[a,b] * N / (row_a * col_b)) with N = C.sum(); keep only "
               "positive values, and leave zero counts at 0.")
def ppmi_by_hand(ns):
    return {"ppmi_small": ppmi(np.asarray(ns["C_small"]), alpha=None).toarray()}


@exercise("ex-12-pre", answers={"rcos_pre_ppmi": "R_cos of GloVe against the PPMI previous-token "
                                                 "signature on `tokens`"},
          rtol=1e-6, atol=1e-9,
          hint="weighted_signature(counts['wikipedia'].next, 'pre', 'ppmi') gives the signature; "
               "r_cos(glove.W_E, Phi, tokens) the correlation.")
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
