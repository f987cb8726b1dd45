"""Checks of chapter 04's coding exercises (nonlinearity brings in phi^{X|y})."""

from __future__ import annotations

import numpy as np

from ... import theory
from ...synthetic.models import FFN
from ._base import choice, exercise, need

__all__ = ["relu", "delay", "c2", "where"]



@exercise("ex-04-relu", answers={
    "relu_ratio": "|v_E| at gamma=1.5 over |v_E| at gamma=0.9 (ReLU, same draw)",
    "sigma_ratio": "d**-1.5 / d**-0.9"}, rtol=1e-6, atol=1e-9,
    hint="use hidden=None, seed=0 for both models and np.linalg.norm of the 'W_E' velocity")
def relu(ns):
    need(ns, "task", "cfg")
    task, d = ns["task"], ns["cfg"]["d"]

    def v(g):
        m = FFN(task.vocab_size, task.label_size, d=d, hidden=None, activation="relu",
                gamma=g, seed=0)
        return np.linalg.norm(theory.autograd_velocity(m, task.X_train, task.y_train)["W_E"])
    return {"relu_ratio": v(1.5) / v(0.9), "sigma_ratio": d ** -1.5 / d ** -0.9}


@exercise("ex-04-delay", answers={
    "delay_mod": "mean tanh/GELU onset ratio on f_mod",
    "delay_add": "mean tanh/GELU onset ratio on f_add (the control)"}, rtol=1e-9, atol=1e-9,
    hint="onset['f_mod']['tanh'] / onset['f_mod']['GELU'] is one ratio per seed; average it")
def delay(ns):
    need(ns, "onset", "ocfg")
    o, steps = ns["onset"], ns["ocfg"]["steps"]

    def ratio(t):  # a tanh run still on the plateau is censored at the last step
        return float(np.mean(np.where(np.isnan(o[t]["tanh"]), steps, o[t]["tanh"])
                             / o[t]["GELU"]))
    return {"delay_mod": ratio("f_mod"), "delay_add": ratio("f_add")}


@exercise("ex-04-c2", answers={"c2_silu": "C_2 of SiLU, sigma''(0) / 2"}, rtol=1e-3,
          atol=1e-6, hint="a central second difference: (s(h) - 2 s(0) + s(-h)) / (2 h^2) with "
                          "h = 1e-3, or differentiate z * sigmoid(z) twice by hand")
def c2(ns):
    return {"c2_silu": theory.TAYLOR["silu"][1]}


@choice("ex-04-where", "where_answer", "where phi^{X|y} first enters the embedding's flow",
        right="b", wrong={
            "a": "at order 1 every activation (and the linear model) sees only phi^y: "
                 "C_1 r_x W_U^T (phi^y_x - u)",
            "c": "a linear model never sees the joint statistics at these orders: it needs "
                 "the activation's curvature C_2",
            "d": "tanh is odd, so its C_2 = 0: the order-2 term vanishes"})
def where(ns):
    """(a) at order 1, for every activation; (b) at order 2, for an activation with
    C_2 != 0 such as GELU; (c) at order 2 in the linear model; (d) at order 2 for tanh."""
