"""Checks of chapter 03's coding exercises (gradient flow of the embedding)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise, need

__all__ = ["collapse", "width", "flow_step", "shrink"]


def _unit(v):
    return v / np.linalg.norm(v)


@exercise("ex-predict-collapse", answers={
    "cos_star": "cos(phi^y_7*, phi^y_z) for z = 0..9",
    "cos_star_centred": "the same for the centred signatures (u over labels 0..12)"},
    rtol=1e-6, atol=1e-9,
    hint="phi^y_z is uniform on {z, .., z+3}; phi^y_7* uniform on {7, 8}; labels are 0..12")
def collapse(ns):
    labels = np.arange(13)
    phi = [np.isin(labels, z + np.arange(4)) / 4 for z in range(10)]
    star = np.isin(labels, [7, 8]) / 2
    return {"cos_star": np.array([_unit(star) @ _unit(p) for p in phi]),
            "cos_star_centred": np.array([_unit(star - 1 / 13) @ _unit(p - 1 / 13) for p in phi])}


@exercise("ex-03-width", answers={
    "jl8": "mean R_cos(W_U^T M, phi^y - u) at d = 8 over preset.seeds()",
    "jl8_shuffled": "mean shuffled-signature control at d = 8"}, rtol=1e-6, atol=1e-9,
    hint="experiments.run_seeds(lambda s: jl_alignment(s, 8), preset=preset)")
def width(ns):
    need(ns, "jl_alignment", "preset")
    from ...synthetic.experiments import run_seeds
    r = run_seeds(lambda s: ns["jl_alignment"](s, 8), preset=ns["preset"])
    return {"jl8": r.mean("R_cos"), "jl8_shuffled": r.mean("shuffled")}


@exercise("ex-03-flow-step", answers={
    "v_pred": "predicted velocity W_U^T M of W^E at initialisation (d x V)",
    "cos_step": "cosine of the predicted and the autograd velocity (all entries)"},
    rtol=1e-6, atol=1e-9,
    hint="M[nu, x] = r_x (phi^y_x(nu) - 1/V_out): sig.r_in and sig.phi_y; the flow is "
         "minus the gradient, theory.autograd_velocity(m0, X, y)['W_E']")
def flow_step(ns):
    need(ns, "m0", "sig", "task")
    from ... import theory
    m0, sig, task = ns["m0"], ns["sig"], ns["task"]
    W_E0 = m0.W_E.detach().double().numpy()
    W_U0 = m0.W_U.detach().double().numpy()
    v = theory.linear_velocity(W_E0, W_U0, sig, order=1)["W_E"]
    va = theory.autograd_velocity(m0, task.X_train, task.y_train)["W_E"]
    return {"v_pred": v,
            "cos_step": float(np.vdot(v, va) / (np.linalg.norm(v) * np.linalg.norm(va)))}


@choice("ex-03-shrink", "shrink_answer", "how much the order-1 residual shrinks when sigma "
        "is halved", right="c", wrong={
            "a": "that would be a residual proportional to sigma; Corollary 1's neglected "
                 "terms are two orders higher than the kept ones",
            "b": "a factor 2 per halving is a slope of 1 on the log-log plot; read the "
                 "fitted slopes printed above",
            "d": "that is the order-3 prediction's residual (sigma^4), not order 1's"})
def shrink(ns):
    """(a) it does not change; (b) by a factor 2; (c) by a factor 4; (d) by a factor 16."""
