"""Checks of chapter 02's coding exercises (probability signatures)."""

from __future__ import annotations

import numpy as np

from ...metrics import cosine_matrix, r_order, shuffled_rows
from ._base import exercise, need

__all__ = ["neighbours", "anchor_order"]



def _same_list(given, ref):
    given = list(given) if isinstance(given, (list, tuple, np.ndarray)) else given
    if not isinstance(given, list):
        return f"expected a list of 8 words, got {type(given).__name__}"
    if given == ref:
        return None
    if sorted(given) == sorted(ref):
        return "the right words, in the wrong order (closest first)"
    return f"expected {ref}, got {given}"


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
    rtol=1e-9, atol=1e-9, hint="tokens=task.groups['anchors'] for both shuffled_rows and r_order")
def anchor_order(ns):
    need(ns, "sig", "task")
    a = ns["task"].groups["anchors"]
    phi = ns["sig"].phi_y
    return {"order_anchors": r_order(phi, a),
            "order_anchors_shuffled": r_order(shuffled_rows(phi, 0, tokens=a), a)}
