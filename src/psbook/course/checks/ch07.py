"""Checks of chapter 07's coding exercises (modular addition)."""

from __future__ import annotations

import numpy as np

from ...synthetic import tasks
from ...signatures import fourier_power, fourier_spectrum
from ._base import choice, exercise

__all__ = ["spectrum", "energy", "silent"]


@exercise("ex-07-spectrum",
          answers={"spec_c": "measured spectrum of the clean task",
                   "spec_n": "measured spectrum of the noisy task",
                   "k_first": "frequency the noisy data rank first"},
          rtol=1e-6, atol=1e-9,
          hint="fourier_spectrum(task) takes the Task; frequency k is entry k - 1.")
def spectrum(ns):
    sc = fourier_spectrum(tasks.f_mod(p=13, test_frac=0.3, seed=1))
    sn = fourier_spectrum(tasks.f_mod_noisy(p=13, freq=4, seed=1))
    return {"spec_c": sc, "spec_n": sn, "k_first": int(np.argmax(sn)) + 1}


@exercise("ex-07-energy",
          answers={"energy_k": "energy fraction at the data's frequency k1",
                   "energy_max_other": "largest energy fraction at any other frequency"},
          rtol=1e-6, atol=1e-9,
          hint="fourier_power(W_E)[k - 1] is frequency k; drop that entry for the others.")
def energy(ns):
    pw = fourier_power(ns["ex"]["ffn_n"].W_E)
    k = int(ns["k1"])
    return {"energy_k": float(pw[k - 1]), "energy_max_other": float(np.delete(pw, k - 1).max())}


@choice('ex-07-silent', 'silent_answer', 'your answer, one letter',
        right='a', wrong={
            'b': 'the sum wraps around mod p: given x, y = x + b mod p takes every label once '
                 'as b runs over its p values',
            'c': 'the label depends on the other token too, which is uniform'})
def silent(ns):
    """(a) uniform over the p labels, for every x; (b) a shifted copy of a triangle, as for
    f_{add}; (c) concentrated on the label x."""
