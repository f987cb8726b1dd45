"""Checks of chapter 02's coding exercises (probability signatures)."""

from __future__ import annotations

import itertools

import numpy as np

from ...metrics import cosine_matrix, r_order, shuffled_rows
from ._base import Spread, exercise, need

__all__ = ["neighbours", "anchor_order"]



def _same_list(given, ref):
    given = list(given) if isinstance(given, (tuple, np.ndarray)) else given
    if not isinstance(given, list) or not all(isinstance(w, str) for w in given):
        return f"expected a list of {len(ref)} words (strings), got {type(given).__name__}"
    if len(given) != len(ref):
        return f"expected {len(ref)} words, got {len(given)}"
    if given == ref:
        return None
    if sorted(given) == sorted(ref):
        return "the right words, in the wrong order (closest first)"
    n = len(set(given) & set(ref))
    return (f"wrong token set: {n} of your {len(ref)} words are among the nearest (the query "
            f"itself, or candidates outside the 1,000 most frequent words?)")


@exercise("ex-neighbours", answers={"january_neighbours": "the 8 words closest to January"},
          compare={"january_neighbours": _same_list},
          hint="candidates: the 1,000 most frequent words without January, then January last")
def neighbours(ns):
    need(ns, "nt", "tok", "freq")
    tok, freq = ns["tok"], ns["freq"]
    top = np.argsort(-freq)[:1000]
    q = tok.token_to_id["January"]
    cand = np.append(top[top != q], q)
    S = cosine_matrix(ns["nt"].phi_next, cand)
    return {"january_neighbours": [tok.id_to_token[cand[b]] for b in np.argsort(-S[-1, :-1])[:8]]}


@exercise("ex-anchor-order", answers={
    "order_anchors": "R_order of the anchors' phi^y",
    "order_anchors_shuffled": "the same with rows shuffled among the anchors (seed 0)"},
    rtol=1e-9, atol=1e-9, hint="tokens=task.groups['anchors'] for both shuffled_rows and r_order "
                                "(any shuffle seed is fine)")
def anchor_order(ns):
    need(ns, "sig", "task")
    a = ns["task"].groups["anchors"]
    phi = ns["sig"].phi_y
    # the control passes with any shuffle seed: every order of the anchors' rows
    return {"order_anchors": r_order(phi, a),
            "order_anchors_shuffled": Spread(tuple(r_order(phi[list(p)], None) for p in
                                                   itertools.permutations(a)))}
