"""Checks of chapter 08's coding exercises (initialisation scale)."""

from __future__ import annotations

from ...synthetic import experiments
import numpy as np

from ._base import choice, exercise, function_compare

__all__ = ["adam", "matched", "gamma"]


def _adam_runs(ns, train):
    syn, preset = ns["preset"].synthetic, ns["preset"]
    return [experiments.run("f_add", model="ffn", preset=preset, gamma=g, seed=preset.seed,
                            init_seed=preset.seed, **syn["init_task"], **train
                            ).metrics["R_cos_phi_y"] for g in (ns["g_big"], 0.8)]


def _adam_compare(given, ref, ns):
    """The TA table's "forgetting to merge the optimiser settings" is named: the runs of the
    chapter's own settings (gradient descent, lr 0.2; at the fixed step or its full length),
    which is what an unmerged or wrongly ordered merge ({**adam, **init_train}) trains."""
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-5, 1e-6)
    if problem and all(k in ns for k in ("preset", "g_big", "fixed")):
        init = ns["preset"].synthetic["init_train"]
        for train in (dict(init), {**init, "steps": ns["fixed"]}):   # the first: cached
            if not default_compare(given, _adam_runs(ns, train), 1e-5, 1e-6):
                return ("these are the chapter's gradient-descent runs: the Adam settings were "
                        "not merged into the training settings (or merged first: in "
                        "{**a, **b} the later dict wins)")
    return problem


@exercise("ex-08-adam", answers={"rcos_adam": "final R_cos with Adam at (g_big, 0.8)"},
          rtol=1e-5, atol=1e-6, compare={"rcos_adam": _adam_compare},
          hint=["the chapter's runs train with syn['init_train']: change only the optimiser, "
                "its learning rate and the number of steps",
                "one dict that starts from the chapter's training settings and then overrides "
                "the optimiser, the learning rate and the steps (later keys win)"])
def adam(ns):
    kw = {**ns["preset"].synthetic["init_train"], "optimizer": "adam", "lr": 1e-2,
          "steps": ns["fixed"]}
    return {"rcos_adam": _adam_runs(ns, kw)}


def _matched_ref(history, L):
    return experiments.at_matched_loss(history, L)


def _matched_cases(ns):
    h = ns["h0"]
    L = float(np.median(h.loss))              # another threshold on the same run
    return {f"another loss threshold ({L:.3g}, the median logged loss)": (h, L)}


def _matched_index(history, L):
    i = int(np.flatnonzero(np.asarray(history.loss) < L)[0])
    return float(i), float(history["R_cos_phi_y"][i])


_STEP_INDEX = ("the index into the logged arrays, not the step: history.steps at that index "
               "is the step")


def _step_compare(given, ref, ns):
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-6, 1e-9)
    if problem and "h0" in ns and "L_match" in ns:
        if not default_compare(given, _matched_index(ns["h0"], ns["L_match"])[0], 0, 0):
            return _STEP_INDEX
    return problem


@exercise("ex-08-matched", answers={
    "my_at_matched": "your function (history, L) -> (step, R_cos) at the first logged loss < L",
    "step_m": "first logged step below the matched loss",
                                    "rcos_m": "R_cos(W^E, phi^y) at that step"},
          rtol=1e-6, atol=1e-9,
          compare={"my_at_matched": function_compare(
              _matched_cases, _matched_ref, "my_at_matched", outputs=("step", "R_cos"),
              variants={_STEP_INDEX: _matched_index}), "step_m": _step_compare},
          hint=["the history logs the loss at some steps only: find the first *logged* entry "
                "below L_match, then read the step and R_cos at that entry",
                "an index into h0.loss is not a step: h0.steps at that index is"])
def matched(ns):
    step, val = experiments.at_matched_loss(ns["h0"], ns["L_match"])
    return {"my_at_matched": _matched_ref, "step_m": step, "rcos_m": val}


@choice('ex-08-gamma', 'gamma_answer', 'your answer, one letter',
        right='b', wrong={
            'a': 'the scale is sigma = d^(-gamma): a larger exponent gives a smaller sigma when'
                 ' d > 1',
            'c': 'gamma sets the initial scale only; the learning rate is a separate knob'})
def gamma(ns):
    """(a) makes the initial weights larger; (b) makes the initial weights smaller; (c) lowers
    the learning rate."""
