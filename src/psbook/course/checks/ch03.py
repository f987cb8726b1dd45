"""Checks of chapter 03's coding exercises (gradient flow of the embedding)."""

from __future__ import annotations

import numpy as np

from ._base import exercise, need

__all__ = ["collapse", "width"]


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
    from ...experiments import run_seeds
    r = run_seeds(lambda s: ns["jl_alignment"](s, 8), preset=ns["preset"])
    return {"jl8": r.mean("R_cos"), "jl8_shuffled": r.mean("shuffled")}
