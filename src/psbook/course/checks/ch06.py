"""Checks of chapter 06's coding exercises (co-occurrence)."""

from __future__ import annotations

import numpy as np

from ...synthetic.experiments import partial_r_cos
from ...metrics import cosine_matrix
from ._base import choice, exercise

__all__ = ["partial", "direction", "order"]


@exercise("ex-06-partial", answers={"pc_tilde": "R_cos(W^E, phi^X | phi^y) of the tilde run"},
          rtol=1e-6, atol=1e-8,
          hint="regress the phi^y pair cosines (with an intercept) out of both the embedding "
               "and the phi^X pair cosines, then correlate the residuals")
def partial(ns):
    t = ns["tilde"]
    k = t.task.ordered_tokens
    return {"pc_tilde": partial_r_cos(t.W_E, t.signatures.dense("phi_X", k),
                                      t.signatures.dense("phi_y", k), tokens=k)}


@exercise("ex-06-direction",
          answers={"C_ka": "keys x anchors block of the embedding cosines",
                   "small_key_prefers_small": "key 0 closer to the smallest than the largest anchor"},
          rtol=1e-6, atol=1e-8, hint="rows are keys (groups['keys']), columns anchors")
def direction(ns):
    t = ns["tilde"]
    C = cosine_matrix(t.W_E)[np.ix_(t.task.groups["keys"], t.task.groups["anchors"])]
    return {"C_ka": C, "small_key_prefers_small": bool(C[0, 0] > C[0, -1])}


@choice('ex-06-order', 'order_answer', 'your answer, one letter',
        right='c', wrong={
            'a': 'at order 1 only phi^y drives W^E: r_x W_U^T (phi^y_x - u)',
            'b': 'the linear model has no order-2 term: that needs an activation with C_2 != 0'})
def order(ns):
    r"""(a) at order 1, together with \phi^y; (b) at order 2; (c) at order 3, through the linearised softmax."""
