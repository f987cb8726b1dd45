"""Checks of chapter 03's coding exercises (gradient flow of the embedding)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise, function_compare, need

__all__ = ["collapse", "width", "flow_step", "shrink"]


def _unit(v):
    return v / np.linalg.norm(v)


def _collapse_ref(n_keys, n_anchors, star_anchors):
    """The reference of ``my_star_cosines``: cos(phi^y_*, phi^y_z) for every key z of
    composite addition (keys 0..n_keys-1, anchors 0..n_anchors-1, labels z + a), uncentred and
    centred (u uniform over the n_keys + n_anchors - 1 labels); the new token * takes the
    anchors ``star_anchors`` with a key of value 7."""
    labels = np.arange(n_keys + n_anchors - 1)
    u = 1.0 / len(labels)
    phi = [np.isin(labels, z + np.arange(n_anchors)) / n_anchors for z in range(n_keys)]
    star = np.isin(labels, 7 + np.asarray(star_anchors)) / len(star_anchors)
    return (np.array([_unit(star) @ _unit(p) for p in phi]),
            np.array([_unit(star - u) @ _unit(p - u) for p in phi]))


def _collapse_cases(ns):
    return {"another design (9 keys, 3 anchors, * with anchor 1 only)": (9, 3, [1])}


_NOT_CENTRED = ("the second list is not centred: subtract u, the uniform distribution over "
                "every label (1/13 here), from both signatures before the cosine")


def _not_centred(n_keys, n_anchors, star_anchors):
    cos = _collapse_ref(n_keys, n_anchors, star_anchors)[0]
    return cos, cos


def _centred_compare(given, ref):
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-6, 1e-9)
    if problem and not default_compare(given, _collapse_ref(10, 4, [0, 1])[0], 1e-6, 1e-9):
        return _NOT_CENTRED
    return problem


@exercise("ex-predict-collapse", answers={
    "my_star_cosines": "your function (n_keys, n_anchors, star_anchors) -> (cosines, centred)",
    "cos_star": "cos(phi^y_7*, phi^y_z) for z = 0..9",
    "cos_star_centred": "the same for the centred signatures (u over labels 0..12)"},
    rtol=1e-6, atol=1e-9,
    compare={"my_star_cosines": function_compare(
        _collapse_cases, _collapse_ref, "my_star_cosines", rtol=1e-6, atol=1e-9,
        outputs=("cosines", "centred cosines"), variants={_NOT_CENTRED: _not_centred}),
        "cos_star_centred": _centred_compare},
    hint=["phi^y_z is uniform on the labels z + a for the anchors a",
          "phi^y_7* is uniform on 7 + its anchors; centre both by the uniform distribution "
          "over every label"])
def collapse(ns):
    cos, centred = _collapse_ref(10, 4, [0, 1])
    return {"my_star_cosines": _collapse_ref, "cos_star": cos, "cos_star_centred": centred}


def _seeds_compare(metric):
    """The TA table's "averaging over the wrong seeds": one seed's value, or the mean over
    seeds 0.. that ignore PSBOOK_SEED, each named."""
    def cmp(given, ref, ns):
        from ._base import default_compare
        problem = default_compare(given, ref, 1e-6, 1e-9)
        if not problem or "jl_alignment" not in ns or "preset" not in ns:
            return problem
        preset, fn = ns["preset"], ns["jl_alignment"]
        seeds = preset.seeds()
        one = {s: float(fn(s, 8)[metric]) for s in seeds}
        if any(not default_compare(given, v, 1e-6, 1e-9) for v in one.values()):
            return (f"one seed's value, not the mean over preset.seeds() (the {len(seeds)} "
                    f"seeds the chapter reports)")
        zero = list(range(len(seeds)))
        if zero != seeds and not default_compare(
                given, float(np.mean([fn(s, 8)[metric] for s in zero])), 1e-6, 1e-9):
            return ("the mean over seeds 0, 1, ...: preset.seeds() starts at the preset's seed "
                    "(PSBOOK_SEED moves it)")
        return problem
    return cmp


@exercise("ex-03-width", answers={
    "jl8": "mean R_cos(W_U^T M, phi^y - u) at d = 8 over preset.seeds()",
    "jl8_shuffled": "mean shuffled-signature control at d = 8"}, rtol=1e-6, atol=1e-9,
    compare={"jl8": _seeds_compare("R_cos"), "jl8_shuffled": _seeds_compare("shuffled")},
    hint=["the chapter's width sweep already calls jl_alignment(seed, d) for every seed; "
          "run it at d = 8",
          "experiments.run_seeds runs a function of the seed over preset.seeds(); its result "
          "averages each metric over the seeds (look at its methods)"])
def width(ns):
    need(ns, "jl_alignment", "preset")
    from ...synthetic.experiments import run_seeds
    r = run_seeds(lambda s: ns["jl_alignment"](s, 8), preset=ns["preset"])
    return {"jl8": r.mean("R_cos"), "jl8_shuffled": r.mean("shuffled")}


def _velocity(W_U, r_in, phi_y):
    """The reference of ``my_flow_velocity``: W_U^T M with M[nu, x] = r_x (phi^y_x(nu) - u)."""
    W_U, phi_y = np.asarray(W_U, dtype=float), np.asarray(phi_y, dtype=float)
    M = (np.asarray(r_in, dtype=float)[:, None] * (phi_y - 1.0 / phi_y.shape[1])).T
    return W_U.T @ M


# the TA table's mistakes for the flow step, each with its own words
_FLOW_MISTAKES = {
    "r_x is missing: every column must be scaled by the token's occurrence rate r_x "
    "(sig.r_in)": lambda W_U, r, phi: np.asarray(W_U).T @ (phi - 1.0 / phi.shape[1]).T,
    "not centred: subtract u = 1/V_out from phi^y before multiplying (the softmax's "
    "uniform prediction at initialisation)": lambda W_U, r, phi: np.asarray(W_U).T @ (
        r[:, None] * phi).T,
    "neither r_x nor the centring: M[nu, x] = r_x (phi^y_x(nu) - 1/V_out)":
        lambda W_U, r, phi: np.asarray(W_U).T @ phi.T,
    "this is the gradient, not the flow: the velocity is minus the gradient, and here the "
    "sign of r_x (phi^y - u) is flipped": lambda W_U, r, phi: -_velocity(W_U, r, phi),
}


def _flow_inputs(seed=5, d=6, V=7, V_out=9):
    """The check's own inputs: another vocabulary, width and random draw."""
    rng = np.random.default_rng(seed)
    phi = rng.random((V, V_out)) ** 3
    phi /= phi.sum(axis=1, keepdims=True)
    r = rng.random(V)
    return rng.normal(size=(V_out, d)), r / r.sum(), phi


def _close(g, r):
    """Float32 arithmetic is fine: a few float32 epsilons relative to the largest entry."""
    scale = float(np.max(np.abs(r))) or 1.0
    return np.allclose(g, r, rtol=0, atol=64 * np.finfo(np.float32).eps * scale)


def _velocity_compare(given, ref, ns):
    from ._base import Problem, plain, call
    args = _flow_inputs()
    want = _velocity(*args)
    try:
        g = np.asarray(plain(call(given, *args, what="my_flow_velocity")), dtype=float)
    except Problem as e:
        return str(e)
    except (TypeError, ValueError):
        return "expected it to return an array (d x V)"
    if g.shape != want.shape:
        if g.shape == want.T.shape:
            return (f"on the check's inputs it returns shape {g.shape}, expected {want.shape} "
                    f"(d x V): transposed, or W^U M instead of W^U^T M")
        return f"on the check's inputs it returns shape {g.shape}, expected {want.shape} (d x V)"
    if _close(g, want):
        return None
    for words, fn in _FLOW_MISTAKES.items():
        if _close(g, fn(*args)):
            return words
    from ._base import diagnose
    return diagnose(g, want, 1e-5, 1e-8)


@exercise("ex-03-flow-step", answers={
    "my_flow_velocity": "your function (W_U, r_in, phi_y) -> predicted velocity of W^E (d x V)",
    "v_pred": "my_flow_velocity at initialisation (d x V)",
    "cos_step": "cosine of the predicted and the autograd velocity (all entries)"},
    rtol=1e-6, atol=1e-9, compare={"my_flow_velocity": _velocity_compare},
    hint=["the velocity of W^E is W_U^T times a V_out x V matrix M built from the signatures; "
          "which two statistics of token x enter its column x?",
          "column x of M is the occurrence rate r_x times the centred label signature "
          "phi^y_x - u, u = 1/V_out; the flow is minus the gradient "
          "(theory.autograd_velocity gives the flow)"])
def flow_step(ns):
    need(ns, "m0", "sig", "task")
    from ... import theory
    m0, sig, task = ns["m0"], ns["sig"], ns["task"]
    W_E0 = m0.W_E.detach().double().numpy()
    W_U0 = m0.W_U.detach().double().numpy()
    v = theory.linear_velocity(W_E0, W_U0, sig, order=1)["W_E"]
    va = theory.autograd_velocity(m0, task.X_train, task.y_train)["W_E"]
    return {"my_flow_velocity": _velocity, "v_pred": v,
            "cos_step": float(np.vdot(v, va) / (np.linalg.norm(v) * np.linalg.norm(va)))}


@choice("ex-03-shrink", "shrink_answer", "how much the order-1 residual shrinks when sigma "
        "is halved", right="c", wrong={
            "a": "that would be a residual proportional to sigma; Corollary 3.1's neglected "
                 "terms are two orders higher than the kept ones",
            "b": "a factor 2 per halving is a slope of 1 on the log-log plot; read the "
                 "fitted slopes printed above",
            "d": "that is the order-3 prediction's residual (sigma^4), not order 1's"})
def shrink(ns):
    """(a) it does not change; (b) by a factor 2; (c) by a factor 4; (d) by a factor 16."""
