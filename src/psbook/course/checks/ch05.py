"""Checks of chapter 05's coding exercises (composite addition with a linear model)."""

from __future__ import annotations

import numpy as np

from ...metrics import r_cos, r_order, shuffled_r_cos
from ._base import Alternatives, Spread, choice, exercise, need

__all__ = ["zipf", "anchors", "control", "sign"]



def _zipf_groups(keys, rate):
    keys = np.asarray(keys)
    rate = np.asarray(rate)
    return np.sort(keys[np.argsort(-rate)[:5]]), np.sort(keys[np.argsort(rate)[:5]])


def _groups_compare(given, ref, ns):
    """``my_rate_groups(keys, rate)`` called on the check's own keys and rates."""
    from ._base import Problem, call
    rng = np.random.default_rng(7)
    cases = [(np.arange(3, 15), rng.random(12)), (np.arange(20, 29), rng.pareto(1.5, 9))]
    for keys, rate in cases:
        try:
            out = call(given, keys, rate, what="my_rate_groups")
        except Problem as e:
            return str(e)
        want = _zipf_groups(keys, rate)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            return "expected a pair (frequent, rare) of arrays of 5 tokens"
        f, r = (np.asarray(x) for x in out)
        if f.shape != (5,) or r.shape != (5,):
            return f"expected 5 tokens in each group, got {f.shape} and {r.shape}"
        if set(f.tolist()) == set(want[1].tolist()) and set(r.tolist()) == set(want[0].tolist()):
            return "frequent and rare are swapped (the largest rates are the frequent keys)"
        by_value = np.sort(keys)
        if {*f.tolist(), *r.tolist()} == {*by_value[:5].tolist(), *by_value[-5:].tolist()} and (
                set(f.tolist()) != set(want[0].tolist())):
            return ("ranked by the keys' values, not by their occurrence rate (rate[i] is the "
                    "rate of keys[i])")
        if set(f.tolist()) != set(want[0].tolist()) or set(r.tolist()) != set(want[1].tolist()):
            return ("on the check's own keys and rates the groups hold the wrong tokens "
                    "(ranked positions instead of the keys themselves?)")
        if not (np.array_equal(f, want[0]) and np.array_equal(r, want[1])):
            return "the right tokens, not sorted back into key order"
    return None


def _value_of(fn_name, args_of, what, pick=None):
    """A compare that accepts a stored number only if it is what the student's function
    ``fn_name`` returns on the chapter's inputs (so a typed number cannot pass)."""
    def cmp(given, ref, ns):
        from ._base import Problem, default_compare, call
        problem = default_compare(given, ref, 1e-6, 1e-6)
        if problem:
            return problem
        fn = ns.get(fn_name)
        if fn is None:
            return f"computed without {fn_name}: define it and store what it returns ({what})"
        try:
            mine = call(fn, *args_of(ns), what=fn_name)
            mine = mine if pick is None else mine[pick]
        except Problem as e:
            return str(e)
        except (TypeError, IndexError, KeyError):
            mine = None
        mine = mine if mine is not None and np.ndim(mine) == 0 else None
        if mine is None or not np.isclose(float(mine), float(given), rtol=1e-9, atol=1e-12):
            return f"not what your {fn_name} returns ({what}): store its result, not a number"
        return None
    return cmp


@exercise("ex-05-zipf", answers={
    "my_rate_groups": "your function (keys, rate) -> (5 most frequent, 5 rarest), key order",
    "rorder_uniform": "final R_order over the keys, uniform keys (res)",
    "rorder_zipf": "final R_order over the keys, Zipf keys (zipf_res)",
    "rorder_frequent": "R_order of zipf_res over its 5 most frequent keys",
    "rorder_rare": "R_order of zipf_res over its 5 rarest keys"},
    rtol=1e-6, atol=1e-6, compare={"my_rate_groups": _groups_compare},
    hint=["the occurrence rate of each key is in zipf_res.signatures.r_in; which keys does a "
          "Zipf law make frequent?",
          "np.argsort of the rates ranks positions in `keys`: index `keys` with it, keep 5, "
          "then sort the 5 tokens"])
def zipf(ns):
    need(ns, "res", "task")
    z = ns.get("zipf_res")
    if z is None:
        from ...synthetic.experiments import run
        z = run("f_add", preset=ns.get("preset"), key_dist="zipf", key_zipf=1.5, n_samples=4000)
    keys = np.asarray(ns["task"].ordered_tokens)
    frequent, rare = _zipf_groups(keys, z.signatures.r_in[keys])
    return {"my_rate_groups": _zipf_groups,
            "rorder_uniform": r_order(ns["res"].W_E, keys),
            "rorder_zipf": r_order(z.W_E, keys),
            "rorder_frequent": r_order(z.W_E, frequent),
            "rorder_rare": r_order(z.W_E, rare)}


def _fresh_aligned(seed: int = 11, n: int = 12, d: int = 16):
    """The check's own inputs for a control: label signatures of another task (its keys) and an
    embedding aligned with them by construction (so the claim is high, a control near 0)."""
    from ...synthetic import tasks
    t = tasks.f_add(n_keys=n, test_frac=0.0, seed=seed)
    k = t.ordered_tokens
    phi = t.signatures().dense("phi_y", k)
    rng = np.random.default_rng(seed)
    W = phi @ rng.normal(size=(phi.shape[1], d)) + 0.05 * rng.normal(size=(len(k), d))
    return W, phi


def _ref_shuffled_mean(W, phi, seed):
    return float(shuffled_r_cos(W, phi, n_shuffles=20, seed=seed).mean())


# seeds far apart: shuffled_r_cos's shuffles for seeds s and s + 1 overlap, so neighbouring
# seeds do not give independent draws
_SEEDS = tuple(range(1, 12001, 1000))


def _anchor_stats(res, tokens, seed=0):
    """The reference of ``my_anchor_stats``."""
    W, phi = res.W_E[tokens], res.signatures.dense("phi_y", tokens)
    return (r_order(res.W_E, tokens), r_cos(W, phi), _ref_shuffled_mean(W, phi, seed))


def _anchor_stats_compare(given, ref, ns):
    """Call ``my_anchor_stats`` on another slice (the keys) and several seeds."""
    from ._base import Problem, call, same_control
    res, task = ns["res"], ns["task"]
    keys = list(task.ordered_tokens)
    want = _anchor_stats(res, keys, 0)
    try:
        got = [call(given, res, keys, seed=s, what="my_anchor_stats") for s in _SEEDS]
    except Problem as e:
        return str(e)
    if not all(isinstance(g, (tuple, list)) and len(g) == 3 for g in got):
        return "expected it to return three numbers (R_order, R_cos, shuffled control)"
    g0 = [float(x) for x in got[0]]
    if not np.isclose(g0[0], want[0], rtol=1e-6, atol=1e-9):
        return "on the keys (the check's own tokens) its R_order is off"
    if not np.isclose(g0[1], want[1], rtol=1e-6, atol=1e-9):
        return "on the keys (the check's own tokens) its R_cos is off"
    W, phi = res.W_E[keys], res.signatures.dense("phi_y", keys)
    return same_control([float(g[2]) for g in got],
                        [_ref_shuffled_mean(W, phi, s + 500) for s in _SEEDS])


@exercise("ex-05-anchors", answers={
    "my_anchor_stats": "your function (res, tokens, seed) -> (R_order, R_cos, shuffled control)",
    "rorder_anchors": "R_order of the anchors",
    "rcos_anchors": "R_cos(W^E, phi^y) over the anchors",
    "rcos_anchors_shuffled": "my_anchor_stats(res, anchors, seed=0)'s control: mean "
                             "shuffled-signature R_cos (20 shuffles)"},
    rtol=1e-6, atol=1e-6,
    compare={"my_anchor_stats": _anchor_stats_compare,
             "rcos_anchors_shuffled": _value_of(
                 "my_anchor_stats",
                 lambda ns: (ns["res"], ns["task"].groups["anchors"], 0), "its third number "
                 "at seed=0", pick=2)},
    hint=["the same three numbers as the chapter reports for the keys, on other tokens",
          "the rows of the embedding and the dense phi^y rows of the same tokens (the "
          "signatures are in res); the control is metrics.shuffled_r_cos with n_shuffles=20 "
          "and the given seed"])
def anchors(ns):
    need(ns, "res", "task")
    a = ns["task"].groups["anchors"]
    ro, rc, _ = _anchor_stats(ns["res"], a, 0)
    W, phi = ns["res"].W_E[a], ns["res"].signatures.dense("phi_y", a)
    return {"my_anchor_stats": _anchor_stats,
            "rorder_anchors": ro, "rcos_anchors": rc,
            # the value of the student's own function is required (see compare); the reference
            # is the control's spread over seeds, for the stored number's first test
            "rcos_anchors_shuffled": Spread(tuple(_ref_shuffled_mean(W, phi, s)
                                                  for s in range(30)), continuous=True,
                                            margin=0.5)}


CONTROLS = {"shuffled": "the keys' signatures dealt to the wrong keys (one random permutation)",
            "random": "a random Gaussian embedding of the same shape, against the true signatures"}


def shuffled_control(W, phi, seed):
    """R_cos with the signatures dealt to the wrong tokens (one random permutation)."""
    perm = np.random.default_rng(seed).permutation(len(phi))
    return r_cos(W, phi[perm])


def random_control(W, phi, seed):
    """R_cos of a random Gaussian embedding of the same shape against the true signatures."""
    return r_cos(np.random.default_rng(seed).normal(size=np.shape(W)), phi)


_CONTROL_FNS = {"shuffled": shuffled_control, "random": random_control}


def _control_once(W, phi, kind: str, seed: int) -> float:
    return _CONTROL_FNS[kind](W, phi, seed)


def _control_values(W, phi, kind: str, n: int = 200) -> np.ndarray:
    """R_cos of control ``kind`` for seeds 0..n-1, against phi and against phi - u."""
    return np.asarray([_control_once(W, p, kind, s) for p in (phi, phi - 1.0 / phi.shape[1])
                       for s in range(n)])


def _control_fn_compare(given, ref, ns):
    """Re-run the student's ``my_control(W, phi, seed)`` on the check's own inputs (another
    task's signatures, an embedding aligned with them) over 40 seeds: its values must be drawn
    like the chosen control's, and never be the claim."""
    from ._base import Problem, call, same_control
    kind = ns.get("control_kind")
    if kind not in CONTROLS:
        return f"choose control_kind first (one of {sorted(CONTROLS)})"
    W, phi = _fresh_aligned()
    try:
        got = [float(call(given, W, phi, seed=s, what="my_control")) for s in range(40)]
    except Problem as e:
        return str(e)
    except (TypeError, ValueError):
        return "expected it to return one number, R_cos of the control"
    claim = r_cos(W, phi)
    if np.allclose(got, claim, atol=1e-9):
        return ("on the check's own inputs it returns the claim itself: a control must break "
                "the link between each key and its own signature, keeping everything else "
                "(shuffling the rows of W and phi together keeps every pair: it cannot fail)")
    problems = [same_control(got, [_control_once(W, p, kind, s) for s in range(200)])
                for p in (phi, phi - 1.0 / phi.shape[1])]
    return None if None in problems else problems[0]


def _control_compare(given, ref, ns):
    from ._base import default_compare
    claim = ns.get("rcos_claim")
    problem = default_compare(given, ref, 1e-6, 1e-6)
    if problem and claim is not None:
        try:
            if abs(float(given) - float(claim)) < 1e-6:
                return ("that is the claim itself: a control must break the link between each "
                        "key and its own signature, keeping everything else")
        except (TypeError, ValueError):
            pass
    if problem:
        return problem
    return _value_of("my_control", lambda ns: (*_keys_W_phi(ns), ), "at seed=0")(given, ref, ns)


def _keys_W_phi(ns):
    k = ns["task"].ordered_tokens
    return ns["res"].W_E[k], ns["res"].signatures.dense("phi_y", k), 0


@exercise("ex-05-control", answers={
    "rcos_claim": "R_cos(W^E, phi^y) over the keys, final embedding of res",
    "control_kind": f"the control you chose: one of {sorted(CONTROLS)}",
    "my_control": "your control, a function (W, phi, seed) -> R_cos of the control",
    "rcos_control": "my_control(W_keys, phi_keys, seed=0)"},
    compare={"control_kind": lambda g, r: None if g in CONTROLS else
             f"choose one of {sorted(CONTROLS)} (got {g!r})",
             "my_control": _control_fn_compare,
             "rcos_control": _control_compare},
    hint=["a control keeps everything of the claim except the link between each key and its "
          "own signature; which of W and phi does your kind replace or reorder?",
          "draw inside the function, from a generator seeded by its seed argument; "
          "'shuffled' permutes the rows of phi, 'random' draws W of the same shape"])
def control(ns):
    need(ns, "res", "task")
    W, phi, _ = _keys_W_phi(ns)
    kind = ns.get("control_kind")
    kind = kind if kind in CONTROLS else "shuffled"
    claims = (r_cos(W, phi), r_cos(W, phi - 1.0 / phi.shape[1]))
    return {"rcos_claim": Alternatives(claims),   # centred or not: both are right
            "control_kind": kind,
            "my_control": _CONTROL_FNS[kind],
            "rcos_control": Spread(tuple(_control_values(W, phi, kind)), continuous=True,
                                   margin=0.25)}


@choice("ex-05-sign", "sign_answer", "the R_order of an embedding whose neighbouring keys are "
        "the most similar", right="c", wrong={
            "a": "R_order correlates the cosine with the *distance* |i - j|: similar "
                 "neighbours means the cosine falls as the distance grows",
            "b": "0 is what an embedding with no order gives (and the shuffled control)"})
def sign(ns):
    """(a) near +1; (b) near 0; (c) near -1."""
