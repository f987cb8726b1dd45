"""Checks of chapter 07's coding exercises (modular addition)."""

from __future__ import annotations

import numpy as np

from ...synthetic import tasks
from ...signatures import fourier_power, fourier_spectrum
from ._base import choice, exercise, function_compare

__all__ = ["spectrum", "energy", "silent"]


_INDEX_K = "frequency k at index k: frequency 1 is entry 0, so frequency k is entry k - 1"


def _k_first_compare(given, ref):
    from ._base import default_compare
    problem = default_compare(given, ref, 0, 0)
    if problem and not default_compare(given, ref - 1, 0, 0):
        return _INDEX_K + " (the index of the largest entry is one less than its frequency)"
    return problem


@exercise("ex-07-spectrum",
          answers={"spec_c": "measured spectrum of the clean task",
                   "spec_n": "measured spectrum of the noisy task",
                   "k_first": "frequency the noisy data rank first"},
          rtol=1e-6, atol=1e-9, compare={"k_first": _k_first_compare},
          hint=["the spectrum is a property of the data, not of a model: build the two tasks "
                "with the parameters the exercise gives",
                "signatures.fourier_spectrum takes a Task and returns one value per frequency; "
                "frequency k is entry k - 1"])
def spectrum(ns):
    sc = fourier_spectrum(tasks.f_mod(p=13, test_frac=0.3, seed=1))
    sn = fourier_spectrum(tasks.f_mod_noisy(p=13, freq=4, seed=1))
    return {"spec_c": sc, "spec_n": sn, "k_first": int(np.argmax(sn)) + 1}


def _energy_compare(given, ref, ns):
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-6, 1e-9)
    if problem and "ex" in ns and "k1" in ns:
        pw, k = fourier_power(ns["ex"]["ffn_n"].W_E), int(ns["k1"])
        if k < len(pw) and not default_compare(given, float(pw[k]), 1e-6, 1e-9):
            return "frequency k at index k: frequency 1 is entry 0, so frequency k is entry k - 1"
    return problem


def _energy_ref(W_E, k):
    pw = fourier_power(W_E)
    return float(pw[k - 1]), float(np.delete(pw, k - 1).max())


def _energy_cases(ns):
    """A planted embedding of its own: p = 13 tokens on a circle at frequency 3, plus noise."""
    rng = np.random.default_rng(3)
    t = 2 * np.pi * 3 * np.arange(13) / 13
    W = np.stack([np.cos(t), np.sin(t)] + [0.3 * rng.normal(size=13) for _ in range(4)],
                 axis=1)                                  # one row per token, as W_E
    return {"a planted embedding (p = 13, frequency 3)": (W, 3)}


@exercise("ex-07-energy",
          answers={"my_energy": "your function (W_E, k) -> (energy at k, largest other)",
                   "energy_k": "energy fraction at the data's frequency k1",
                   "energy_max_other": "largest energy fraction at any other frequency"},
          rtol=1e-6, atol=1e-9,
          compare={"energy_k": _energy_compare, "my_energy": function_compare(
              _energy_cases, _energy_ref, "my_energy", outputs=("energy at k", "largest other"),
              variants={"frequency k at index k: frequency 1 is entry 0, so frequency k is "
                        "entry k - 1": lambda W, k: _energy_ref(W, k + 1)})},
          hint=["fourier_power gives one energy fraction per frequency; which entry is "
                "frequency k?",
                "frequency k is entry k - 1; drop that entry (np.delete) for the others"])
def energy(ns):
    e, other = _energy_ref(ns["ex"]["ffn_n"].W_E, int(ns["k1"]))
    return {"my_energy": _energy_ref, "energy_k": e, "energy_max_other": other}


@choice('ex-07-silent', 'silent_answer', 'your answer, one letter',
        right='a', wrong={
            'b': 'the sum wraps around mod p: given x, y = x + b mod p takes every label once '
                 'as b runs over its p values',
            'c': 'the label depends on the other token too, which is uniform'})
def silent(ns):
    """(a) uniform over the p labels, for every x; (b) a shifted copy of a triangle, as for
    f_{add}; (c) concentrated on the label x."""
