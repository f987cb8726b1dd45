"""Checks of chapter 10's coding exercises (training a small Qwen2.5-style model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._base import choice, exercise


def _first_eval_compare(runs_of):
    """The TA table's "index 0 (step 0, before training) instead of the first evaluation"."""
    def cmp(given, ref, ns):
        from ._base import default_compare
        problem = default_compare(given, ref, 1e-6, 1e-9)
        if not problem:
            return None
        try:
            at0 = np.array([r.history["E~next/top"][0] for r in runs_of(ns)])
        except (KeyError, IndexError, TypeError):
            return problem
        if not default_compare(given, at0, 1e-6, 1e-9):
            return ("index 0 is the evaluation at step 0, before any training: the first "
                    "evaluation after training started is index 1")
        return problem
    return cmp


@exercise("ex-10-gamma",
          answers={"early_12": "R_cos(W^E, phi_next) at the first evaluation, gamma = 1.2, per seed",
                   "early_08": "the same at gamma = 0.8, per seed"},
          rtol=1e-6, atol=1e-9,
          compare={"early_12": _first_eval_compare(lambda ns: ns["gam"][1.2]),
                   "early_08": _first_eval_compare(lambda ns: ns["runs"]["untied"])},
          hint=["the history starts with the evaluation before any training: which entry is "
                "the first one after training started?",
                "each run's history holds one value of E~next/top per evaluation; collect the "
                "first one after training started, over the runs of each gamma"])
def early_alignment(ns):
    return {"early_12": np.array([r.history["E~next/top"][1] for r in ns["gam"][1.2]]),
            "early_08": np.array([r.history["E~next/top"][1] for r in ns["runs"]["untied"]])}


@exercise("ex-10-tied-flow",
          answers={"cos_both": "median cos_W (both terms vs autograd)",
                   "cos_input": "median cos_E (input term alone vs autograd)"},
          rtol=1e-4, atol=1e-6,
          hint=["a tied model shares one matrix between input and output: build it from the "
                "chapter's model settings with tying switched on, at gamma = 1.2",
                "lm.predicted_gradients takes a model and token ids and returns cos_W and "
                "cos_E, one per batch; report their medians"])
def tied_flow(ns):
    from psbook import lm
    m = lm.QwenLM(replace(ns["mcfg"], tie_embeddings=True, gamma=1.2), seed=ns["preset"].seed)
    res = lm.predicted_gradients(m, ns["ids"])
    return {"cos_both": float(np.median(res["cos_W"])),
            "cos_input": float(np.median(res["cos_E"]))}


@choice('ex-10-tied', 'tied_answer', 'your answer, one letter',
        right='c', wrong={
            'a': 'a tied vector is also an output vector: it also receives the output term, '
                 'from the tokens that precede it',
            'b': 'a tied vector is also an input vector: it also receives the input term, from '
                 'the tokens that follow it'})
def tied(ns):
    r"""(a) \phi^{next} alone; (b) \varphi^{pre} alone; (c) their sum \tilde\phi=\phi^{next}+\varphi^{pre}."""
