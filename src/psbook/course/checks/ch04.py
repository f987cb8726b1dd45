"""Checks of chapter 04's coding exercises (nonlinearity brings in phi^{X|y})."""

from __future__ import annotations

import numpy as np

from ... import theory
from ...models import FFN
from ._base import exercise, need

__all__ = ["relu", "delay"]



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
