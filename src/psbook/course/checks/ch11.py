"""Checks of chapter 11's coding exercises (data domain)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise


@exercise("ex-11-mixture",
          answers={"pre_mid_A": "R_cos(W^E, varphi_pre of A) of the alpha=0.5 models, per seed",
                   "pre_mid_B": "R_cos(W^E, varphi_pre of B) of the alpha=0.5 models, per seed"},
          rtol=1e-6, atol=1e-9,
          hint=["the alpha = 0.5 models were trained on a mixture: measure each against the "
                "previous-token signature of each corpus, over the shared tokens",
                "metrics.r_cos(W, Phi, tokens) for each model in mix[0.5]; the signatures of a "
                "corpus are sigs[name]"])
def mixture_pre(ns):
    from psbook.metrics import r_cos
    sigs, shared = ns["sigs"], ns["shared_ab"]
    return {"pre_mid_A": np.array([r_cos(r.W_E, sigs[ns["A_"]].varphi_pre, shared)
                                   for r in ns["mix"][0.5]]),
            "pre_mid_B": np.array([r_cos(r.W_E, sigs[ns["B_"]].varphi_pre, shared)
                                   for r in ns["mix"][0.5]])}


@exercise("ex-11-costs", answers={"costs_by_seed": "mismatch costs, seeds x pairs"},
          rtol=1e-6, atol=1e-9,
          hint=["the chapter computes the mismatch costs for the mean over seeds; do it seed "
                "by seed, one row per seed",
                "lm.mismatch_costs takes one seed's matrix and the domains and returns more "
                "than one thing: which part are the costs?"])
def costs(ns):
    from psbook import lm
    ME, domains = ns["ME"], ns["domains"]
    return {"costs_by_seed": np.array([lm.mismatch_costs(ME[i], domains)[1]
                                       for i in range(ME.shape[0])])}


@choice('ex-11-domain', 'domain_answer', 'your answer, one letter',
        right='a', wrong={
            'b': "the flow is driven by the signatures of the *training* data; Wikipedia's are "
                 "another corpus's statistics",
            'c': "a larger corpus gives more precise counts, not the statistics that drive this"
                 " model's flow"})
def domain(ns):
    r"""(a) \phi^{next} counted on code; (b) \phi^{next} counted on Wikipedia; (c) whichever corpus is larger."""
