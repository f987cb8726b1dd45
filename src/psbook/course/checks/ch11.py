"""Checks of chapter 11's coding exercises (data domain)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise, function_compare


def _corpus_compare(other):
    """The TA table's "signatures of the wrong corpus": the models measured against the other
    corpus's varphi_pre (A and B swapped), or against a signature other than varphi_pre."""
    def cmp(given, ref, ns):
        from ._base import default_compare
        from psbook.metrics import r_cos
        problem = default_compare(given, ref, 1e-6, 1e-9)
        if not problem or not all(k in ns for k in ("sigs", "shared_ab", "mix", other)):
            return problem
        s = ns["sigs"][ns[other]]
        if not default_compare(given, np.array([r_cos(r.W_E, s.varphi_pre, ns["shared_ab"])
                                                for r in ns["mix"][0.5]]), 1e-6, 1e-9):
            return ("signatures of the wrong corpus: A and B swapped (pre_mid_A is measured "
                    "against corpus A's varphi_pre)")
        return problem
    return cmp


def _seeds_pairs_compare(given, ref):
    """The TA table's "seeds and pairs transposed" for costs_by_seed."""
    from ._base import default_compare, plain
    problem = default_compare(given, ref, 1e-6, 1e-9)
    g = np.asarray(plain(given)) if problem else None
    if g is not None and g.shape == ref.T.shape and ref.ndim == 2 and np.allclose(
            g, ref.T, rtol=1e-6, atol=1e-9):
        return "seeds and pairs transposed: one row per seed, one column per pair"
    return problem


@exercise("ex-11-mixture",
          answers={"pre_mid_A": "R_cos(W^E, varphi_pre of A) of the alpha=0.5 models, per seed",
                   "pre_mid_B": "R_cos(W^E, varphi_pre of B) of the alpha=0.5 models, per seed"},
          rtol=1e-6, atol=1e-9,
          compare={"pre_mid_A": _corpus_compare("B_"), "pre_mid_B": _corpus_compare("A_")},
          hint=["the alpha = 0.5 models were trained on a mixture: measure each against the "
                "previous-token signature of each corpus, over the shared tokens",
                "metrics.r_cos takes an embedding, a signature and the tokens to compare on; "
                "the signatures of each corpus are in sigs, keyed by the corpus's name"])
def mixture_pre(ns):
    from psbook.metrics import r_cos
    sigs, shared = ns["sigs"], ns["shared_ab"]
    return {"pre_mid_A": np.array([r_cos(r.W_E, sigs[ns["A_"]].varphi_pre, shared)
                                   for r in ns["mix"][0.5]]),
            "pre_mid_B": np.array([r_cos(r.W_E, sigs[ns["B_"]].varphi_pre, shared)
                                   for r in ns["mix"][0.5]])}


def _costs_ref(M):
    """The reference of ``my_mismatch_cost``: one cost per pair of corpora (i < j, in
    ``np.triu_indices`` order), ``((M_ii - M_ij) + (M_jj - M_ji)) / 2``."""
    from psbook import lm
    M = np.asarray(M, dtype=float)
    return lm.mismatch_costs(M, [str(i) for i in range(M.shape[0])])[1]


def _costs_cases(ns):
    """Matrices of the check's own: four corpora with an asymmetric pattern, and three with a
    strong diagonal (the chapter's matrix is never used)."""
    rng = np.random.default_rng(11)
    return {"a 4 x 4 matrix of the check's own (no symmetry)": (rng.normal(size=(4, 4)),),
            "a 3 x 3 matrix with a strong diagonal": (np.eye(3) + 0.2 * rng.normal(size=(3, 3)),)}


def _one_direction(M):
    M = np.asarray(M, dtype=float)
    i, j = np.triu_indices(M.shape[0], 1)
    return M[i, i] - M[i, j]


def _not_halved(M):
    return 2 * _costs_ref(M)


def _sign_flipped(M):
    return -_costs_ref(M)


@exercise("ex-11-costs",
          answers={"my_mismatch_cost": "your function M -> one cost per pair (i < j)",
                   "costs_by_seed": "mismatch costs, seeds x pairs"},
          rtol=1e-6, atol=1e-9,
          compare={"my_mismatch_cost": function_compare(
              _costs_cases, _costs_ref, "my_mismatch_cost", rtol=1e-9, atol=1e-12,
              variants={"only one direction of each pair: the model of corpus j read against "
                        "corpus i's signatures counts too": _one_direction,
                        "the two directions are summed, not averaged": _not_halved,
                        "the sign is flipped: a cost is how much *lower* the other corpus's "
                        "entry is than the model's own": _sign_flipped}),
              "costs_by_seed": _seeds_pairs_compare},
          hint=["a mismatch puts model A against corpus B's signatures: how much lower is that "
                "entry than model A against its own? Do the same from B's side",
                "the pairs i < j in the order np.triu_indices(n, 1) gives; average the two "
                "directions' drops"])
def costs(ns):
    ME = ns["ME"]
    return {"my_mismatch_cost": _costs_ref,
            "costs_by_seed": np.array([_costs_ref(ME[i]) for i in range(ME.shape[0])])}


@choice('ex-11-domain', 'domain_answer', 'your answer, one letter',
        right='a', wrong={
            'b': "the flow is driven by the signatures of the *training* data; Wikipedia's are "
                 "another corpus's statistics",
            'c': "a larger corpus gives more precise counts, not the statistics that drive this"
                 " model's flow"})
def domain(ns):
    r"""(a) \phi^{next} counted on code; (b) \phi^{next} counted on Wikipedia; (c) whichever corpus is larger."""
