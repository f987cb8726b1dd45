"""Checks of chapter 06's coding exercises (co-occurrence)."""

from __future__ import annotations

import numpy as np

from ...synthetic.experiments import partial_r_cos
from ...metrics import cosine_matrix
from ._base import choice, exercise, function_compare

__all__ = ["partial", "direction", "order"]


def _partial_ref(W, A, C):
    """R_cos(W, A | C) over the pairs of rows (psbook.synthetic.experiments.partial_r_cos)."""
    return partial_r_cos(W, A, C)


def _partial_no_intercept(W, A, C):
    from ...metrics import pair_values
    e, a, c = (pair_values(cosine_matrix(M)) for M in (W, A, C))
    X = c[:, None]
    re = e - X @ np.linalg.lstsq(X, e, rcond=None)[0]
    ra = a - X @ np.linalg.lstsq(X, a, rcond=None)[0]
    return float(np.corrcoef(re, ra)[0, 1])


def _partial_cases(ns):
    rng = np.random.default_rng(6)
    C = rng.random((9, 7))
    return {"random matrices of its own (9 rows)": (C @ rng.normal(size=(7, 5)) + rng.normal(
        size=(9, 5)), C + 0.5 * rng.random((9, 7)), C)}


@exercise("ex-06-partial", answers={
    "my_partial_r_cos": "your function (W, A, C) -> R_cos(W, A | C)",
    "pc_tilde": "R_cos(W^E, phi^X | phi^y) of the tilde run"},
          rtol=1e-6, atol=1e-8,
          compare={"my_partial_r_cos": function_compare(
              _partial_cases, _partial_ref, "my_partial_r_cos", rtol=1e-6, atol=1e-8,
              variants={"regressed without an intercept: add a column of ones":
                        _partial_no_intercept})},
          hint="regress the phi^y pair cosines (with an intercept) out of both the embedding "
               "and the phi^X pair cosines, then correlate the residuals")
def partial(ns):
    t = ns["tilde"]
    k = t.task.ordered_tokens
    return {"my_partial_r_cos": _partial_ref, "pc_tilde": partial_r_cos(t.W_E, t.signatures.dense("phi_X", k),
                                      t.signatures.dense("phi_y", k), tokens=k)}


def _block_ref(W, keys, anchors):
    """The reference of ``my_key_anchor_block``."""
    return cosine_matrix(W)[np.ix_(keys, anchors)]


def _block_cases(ns):
    rng = np.random.default_rng(8)
    return {"an embedding of its own (10 tokens; keys 1, 4, 6, anchors 0, 7, 8, 9)":
            (rng.normal(size=(10, 4)), [1, 4, 6], [0, 7, 8, 9])}


_BLOCK_TRANSPOSED = ("anchors x keys: the block is transposed; rows are the keys "
                     "(groups['keys']), columns the anchors")


def _block_compare(given, ref):
    from ._base import default_compare, plain
    problem = default_compare(given, ref, 1e-6, 1e-8)
    g = np.asarray(plain(given), dtype=float) if problem else None
    if g is not None and g.shape == ref.T.shape and np.allclose(g, ref.T, rtol=1e-6, atol=1e-8):
        return _BLOCK_TRANSPOSED
    return problem


@exercise("ex-06-direction",
          answers={"my_key_anchor_block": "your function (W, keys, anchors) -> keys x anchors "
                                          "cosines",
                   "C_ka": "keys x anchors block of the embedding cosines",
                   "small_key_prefers_small": "key 0 closer to the smallest than the largest anchor"},
          rtol=1e-6, atol=1e-8,
          compare={"my_key_anchor_block": function_compare(
              _block_cases, _block_ref, "my_key_anchor_block", rtol=1e-6, atol=1e-8,
              variants={_BLOCK_TRANSPOSED: lambda W, k, a: _block_ref(W, k, a).T}),
              "C_ka": _block_compare},
          hint=["rows are keys (groups['keys']), columns anchors",
                "the cosines of every pair of tokens first, then the rows of the keys and the "
                "columns of the anchors (np.ix_)"])
def direction(ns):
    t = ns["tilde"]
    C = cosine_matrix(t.W_E)[np.ix_(t.task.groups["keys"], t.task.groups["anchors"])]
    return {"my_key_anchor_block": _block_ref, "C_ka": C,
            "small_key_prefers_small": bool(C[0, 0] > C[0, -1])}


@choice('ex-06-order', 'order_answer', 'your answer, one letter',
        right='c', wrong={
            'a': 'at order 1 only phi^y drives W^E: r_x W_U^T (phi^y_x - u)',
            'b': 'the linear model has no order-2 term: that needs an activation with C_2 != 0'})
def order(ns):
    r"""(a) at order 1, together with \phi^y; (b) at order 2; (c) at order 3, through the linearised softmax."""
