"""Checks of chapter 05's coding exercises (composite addition with a linear model)."""

from __future__ import annotations

import numpy as np

from ...metrics import r_cos, r_order, shuffled_r_cos
from ._base import Alternatives, Spread, choice, exercise, need

__all__ = ["zipf", "anchors", "control", "sign"]



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
        from ...synthetic.experiments import run
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


CONTROLS = {"shuffled": "the keys' signatures dealt to the wrong keys (one random permutation)",
            "random": "a random Gaussian embedding of the same shape, against the true signatures"}


def _control_values(W, phi, kind: str, n: int = 200) -> np.ndarray:
    """R_cos of control ``kind`` for seeds 0..n-1, against phi and against phi - u."""
    out = []
    for p in (phi, phi - 1.0 / phi.shape[1]):
        for s in range(n):
            rng = np.random.default_rng(s)
            if kind == "shuffled":
                out.append(r_cos(W, p[rng.permutation(len(p))]))
            else:
                out.append(r_cos(rng.normal(size=W.shape), p))
    return np.asarray(out)


def _control_compare(given, ref, ns):
    from ._base import default_compare
    claim = ns.get("rcos_claim")
    problem = default_compare(given, ref, 1e-6, 1e-6)
    if problem and claim is not None:
        try:
            if abs(float(given) - float(claim)) < 1e-6:
                return ("that is the claim itself: a control must break the link between each "
                        "key and its own signature, keeping everything else")
        except (TypeError, ValueError):
            pass
    return problem


@exercise("ex-05-control", answers={
    "rcos_claim": "R_cos(W^E, phi^y) over the keys, final embedding of res",
    "control_kind": f"the control you chose: one of {sorted(CONTROLS)}",
    "rcos_control": "R_cos of your control (any seed)"},
    compare={"control_kind": lambda g, r: None if g in CONTROLS else
             f"choose one of {sorted(CONTROLS)} (got {g!r})",
             "rcos_control": _control_compare},
    hint="k = task.ordered_tokens; W = res.W_E[k]; phi = res.signatures.dense('phi_y', k); "
         "a shuffled control permutes the rows of phi, a random one replaces W")
def control(ns):
    need(ns, "res", "task")
    k = ns["task"].ordered_tokens
    W, phi = ns["res"].W_E[k], ns["res"].signatures.dense("phi_y", k)
    kind = ns.get("control_kind")
    kind = kind if kind in CONTROLS else "shuffled"
    claims = (r_cos(W, phi), r_cos(W, phi - 1.0 / phi.shape[1]))
    return {"rcos_claim": Alternatives(claims),   # centred or not: both are right
            "control_kind": kind,
            "rcos_control": Spread(tuple(_control_values(W, phi, kind)), continuous=True,
                                   margin=0.25)}


@choice("ex-05-sign", "sign_answer", "the R_order of an embedding whose neighbouring keys are "
        "the most similar", right="c", wrong={
            "a": "R_order correlates the cosine with the *distance* |i - j|: similar "
                 "neighbours means the cosine falls as the distance grows",
            "b": "0 is what an embedding with no order gives (and the shuffled control)"})
def sign(ns):
    """(a) near +1; (b) near 0; (c) near -1."""
