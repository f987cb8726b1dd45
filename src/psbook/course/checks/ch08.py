"""Checks of chapter 08's coding exercises (initialisation scale)."""

from __future__ import annotations

from ...synthetic import experiments
from ._base import choice, exercise

__all__ = ["adam", "matched", "gamma"]


@exercise("ex-08-adam", answers={"rcos_adam": "final R_cos with Adam at (g_big, 0.8)"},
          rtol=1e-5, atol=1e-6,
          hint="merge the optimiser settings into one dict: {**syn['init_train'], 'optimizer': "
               "'adam', 'lr': 1e-2, 'steps': fixed}")
def adam(ns):
    syn, preset = ns["preset"].synthetic, ns["preset"]
    kw = {**syn["init_train"], "optimizer": "adam", "lr": 1e-2, "steps": ns["fixed"]}
    return {"rcos_adam": [experiments.run("f_add", model="ffn", preset=preset, gamma=g,
                                          seed=preset.seed, init_seed=preset.seed,
                                          **syn["init_task"], **kw).metrics["R_cos_phi_y"]
                          for g in (ns["g_big"], 0.8)]}


@exercise("ex-08-matched", answers={"step_m": "first logged step below the matched loss",
                                    "rcos_m": "R_cos(W^E, phi^y) at that step"},
          rtol=1e-6, atol=1e-9, hint="np.flatnonzero(h0.loss < L_match)[0] is the index")
def matched(ns):
    step, val = experiments.at_matched_loss(ns["h0"], ns["L_match"])
    return {"step_m": step, "rcos_m": val}


@choice('ex-08-gamma', 'gamma_answer', 'your answer, one letter',
        right='b', wrong={
            'a': 'the scale is sigma = d^(-gamma): a larger exponent gives a smaller sigma when'
                 ' d > 1',
            'c': 'gamma sets the initial scale only; the learning rate is a separate knob'})
def gamma(ns):
    """(a) makes the initial weights larger; (b) makes the initial weights smaller; (c) lowers
    the learning rate."""
