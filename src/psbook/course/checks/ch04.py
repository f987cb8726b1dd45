"""Checks of chapter 04's coding exercises (nonlinearity brings in phi^{X|y})."""

from __future__ import annotations

import numpy as np

from ... import theory
from ...synthetic.models import FFN
from ._base import choice, exercise, function_compare, need

__all__ = ["relu", "delay", "c2", "where"]



def _ratio_compare(given, ref):
    """A ratio: the wrong way up is its own mistake."""
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-6, 1e-9)
    try:
        if problem and np.isclose(float(given) * float(ref), 1.0, rtol=1e-6):
            return "the ratio is upside down: the first quantity named goes on top"
    except (TypeError, ValueError):
        pass
    return problem


def _relu_norm(ns, gamma, seed):
    task, d = ns["task"], ns["cfg"]["d"]
    m = FFN(task.vocab_size, task.label_size, d=d, hidden=None, activation="relu",
            gamma=gamma, seed=seed)
    return np.linalg.norm(theory.autograd_velocity(m, task.X_train, task.y_train)["W_E"])


def _relu_compare(given, ref, ns):
    """The TA table's "different random draws for the two models" is named: the ratio of
    two models of different seeds (0 and 1, either way round)."""
    problem = _ratio_compare(given, ref)
    if problem and "task" in ns and "cfg" in ns:
        from ._base import default_compare
        for s_big, s_small in ((0, 1), (1, 0)):
            other = _relu_norm(ns, 1.5, s_big) / _relu_norm(ns, 0.9, s_small)
            if not default_compare(given, other, 1e-6, 1e-9):
                return ("the two models come from different random draws: use the same seed "
                        "for both, so that only gamma changes")
    return problem


@exercise("ex-04-relu", answers={
    "relu_ratio": "|v_E| at gamma=1.5 over |v_E| at gamma=0.9 (ReLU, same draw)",
    "sigma_ratio": "d**-1.5 / d**-0.9"}, rtol=1e-6, atol=1e-9,
    compare={"relu_ratio": _relu_compare, "sigma_ratio": _ratio_compare},
    hint=["the two models may differ in gamma only: what else must stay the same between "
          "them?",
          "the same seed for both; the size of the embedding's velocity is the norm of the "
          "'W_E' entry of theory.autograd_velocity"])
def relu(ns):
    need(ns, "task", "cfg")
    d = ns["cfg"]["d"]
    return {"relu_ratio": _relu_norm(ns, 1.5, 0) / _relu_norm(ns, 0.9, 0),
            "sigma_ratio": d ** -1.5 / d ** -0.9}


def _delay_compare(given, ref, ns, task):
    """GELU/tanh instead of tanh/GELU (the mean of the inverted ratios) is named."""
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-9, 1e-9)
    if problem and "onset" in ns:
        o, steps = ns["onset"][task], ns["ocfg"]["steps"]
        inv = float(np.mean(o["GELU"] / np.where(np.isnan(o["tanh"]), steps, o["tanh"])))
        if not default_compare(given, inv, 1e-9, 1e-9):
            return "the ratio is upside down: tanh's onset over GELU's, seed by seed"
    return problem


def _delay_ref(onsets, steps):
    """The reference of ``my_delay``: mean over seeds of tanh/GELU onset, nan censored."""
    t = np.where(np.isnan(onsets["tanh"]), steps, onsets["tanh"])
    return float(np.mean(t / onsets["GELU"]))


def _delay_cases(ns):
    return {"onsets of its own (one tanh run still on the plateau)":
            ({"tanh": np.array([250.0, np.nan, 400.0]), "GELU": np.array([100.0, 90.0, 80.0])},
             500)}


_DELAY_MISTAKES = {
    "the ratio is upside down: tanh's onset over GELU's, seed by seed":
        lambda o, st: float(np.mean(o["GELU"] / np.where(np.isnan(o["tanh"]), st, o["tanh"]))),
    "a run still on the plateau (onset nan) is dropped: count it as the last step (the ratio "
    "is then a lower bound)": lambda o, st: float(np.nanmean(o["tanh"] / o["GELU"])),
    "the ratio of the means instead of the mean of the per-seed ratios": lambda o, st: float(
        np.mean(np.where(np.isnan(o["tanh"]), st, o["tanh"])) / np.mean(o["GELU"])),
}


@exercise("ex-04-delay", answers={
    "my_delay": "your function (onsets of one task, steps) -> mean tanh/GELU onset ratio",
    "delay_mod": "mean tanh/GELU onset ratio on f_mod",
    "delay_add": "mean tanh/GELU onset ratio on f_add (the control)"}, rtol=1e-9, atol=1e-9,
    compare={"my_delay": function_compare(_delay_cases, _delay_ref, "my_delay", rtol=1e-9,
                                          atol=1e-9, variants=_DELAY_MISTAKES),
             "delay_mod": lambda g, r, ns: _delay_compare(g, r, ns, "f_mod"),
             "delay_add": lambda g, r, ns: _delay_compare(g, r, ns, "f_add")},
    hint=["one ratio per seed, then the mean over seeds: which onset goes on top?",
          "the onsets hold one number per seed for each activation; a tanh run still on the "
          "plateau (nan) counts as the last step, so the ratio is a lower bound"])
def delay(ns):
    need(ns, "onset", "ocfg")
    o, steps = ns["onset"], ns["ocfg"]["steps"]

    def ratio(t):  # a tanh run still on the plateau is censored at the last step
        return float(np.mean(np.where(np.isnan(o[t]["tanh"]), steps, o[t]["tanh"])
                             / o[t]["GELU"]))
    return {"my_delay": _delay_ref, "delay_mod": ratio("f_mod"), "delay_add": ratio("f_add")}


def _c2_ref(sigma, h: float = 1e-3) -> float:
    """C_2 = sigma''(0) / 2 by a central second difference (error O(h^2))."""
    return float((sigma(h) - 2 * sigma(0.0) + sigma(-h)) / (2 * h * h))


def _c2_cases(ns):
    from scipy.special import erf
    return {"tanh (C_2 = 0)": (np.tanh,),
            "z + z^2/2 (C_2 = 1/2)": (lambda z: z + z * z / 2,),
            "GELU (C_2 = 1/sqrt(2 pi))": (lambda z: z * 0.5 * (1 + erf(z / np.sqrt(2))),)}


def _c2_one_sided(sigma, h: float = 1e-3) -> float:
    return float((sigma(2 * h) - 2 * sigma(h) + sigma(0.0)) / (2 * h * h))


@exercise("ex-04-c2", answers={
    "my_c2": "your function sigma -> C_2 = sigma''(0) / 2",
    "c2_silu": "C_2 of SiLU, sigma''(0) / 2"}, rtol=1e-3, atol=1e-6,
    compare={"my_c2": function_compare(
        _c2_cases, _c2_ref, "my_c2", rtol=0, atol=1e-5,   # a central difference, h ~ 1e-3
        variants={"a one-sided difference: its error is O(h) (tanh's C_2 = 0 comes out "
                  "nonzero); use sigma(h) - 2 sigma(0) + sigma(-h)": _c2_one_sided,
                  "sigma''(0) itself: C_2 is half the second derivative":
                  lambda sg: 2 * _c2_ref(sg)})},
    hint=["C_2 is the coefficient of z^2 in the Taylor expansion of sigma at 0",
          "a central second difference approximates sigma''(0) from three values of sigma, "
          "at -h, 0 and +h (h about 1e-3); C_2 is half of it"])
def c2(ns):
    return {"my_c2": _c2_ref, "c2_silu": theory.TAYLOR["silu"][1]}


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
