"""Checks of chapter 05's coding exercises (composite addition with a linear model)."""

from __future__ import annotations

import numpy as np

from ...metrics import r_cos, r_order, shuffled_r_cos
from ._base import Spread, exercise, need

__all__ = ["zipf", "anchors"]



@exercise("ex-05-zipf", answers={
    "rorder_uniform": "final R_order over the keys, uniform keys (res)",
    "rorder_zipf": "final R_order over the keys, Zipf keys (zipf_res)",
    "rorder_frequent": "R_order of zipf_res over its 5 most frequent keys",
    "rorder_rare": "R_order of zipf_res over its 5 rarest keys"},
    rtol=1e-6, atol=1e-6, hint="keys = task.ordered_tokens; rank them by zipf_res.signatures.r_in "
                               "and sort each group of 5 back into key order")
def zipf(ns):
    need(ns, "res", "task")
    if ns.get("zipf_res") is None:
        from ...experiments import run
        ns["zipf_res"] = run("f_add", preset=ns.get("preset"), key_dist="zipf", key_zipf=1.5,
                             n_samples=4000)
    z = ns["zipf_res"]
    keys = np.asarray(ns["task"].ordered_tokens)
    rate = z.signatures.r_in[keys]
    frequent = np.sort(keys[np.argsort(-rate)[:5]])
    rare = np.sort(keys[np.argsort(rate)[:5]])
    return {"rorder_uniform": r_order(ns["res"].W_E, keys),
            "rorder_zipf": r_order(z.W_E, keys),
            "rorder_frequent": r_order(z.W_E, frequent),
            "rorder_rare": r_order(z.W_E, rare)}


@exercise("ex-05-anchors", answers={
    "rorder_anchors": "R_order of the anchors",
    "rcos_anchors": "R_cos(W^E, phi^y) over the anchors",
    "rcos_anchors_shuffled": "mean shuffled-signature R_cos over the anchors (20 shuffles, any seed)"},
    rtol=1e-6, atol=1e-6, hint="a = task.groups['anchors']; res.W_E[a] and "
                               "res.signatures.dense('phi_y', a)")
def anchors(ns):
    need(ns, "res", "task")
    a = ns["task"].groups["anchors"]
    W, phi = ns["res"].W_E[a], ns["res"].signatures.dense("phi_y", a)
    return {"rorder_anchors": r_order(ns["res"].W_E, a),
            "rcos_anchors": r_cos(W, phi),
            # the control passes with any seed: the mean of 20 shuffles, over 30 seeds
            "rcos_anchors_shuffled": Spread(tuple(
                float(shuffled_r_cos(W, phi, n_shuffles=20, seed=k).mean()) for k in range(30)),
                continuous=True, margin=0.5)}
