"""Checks of chapter 02's coding exercises (probability signatures)."""

from __future__ import annotations

import itertools

import numpy as np

from ...metrics import cosine_matrix, r_cos, r_order, shuffled_rows
from ...signatures import task_signatures
from ._base import Spread, choice, exercise, need
from ._base import function_compare as _function_compare

__all__ = ["neighbours", "anchor_order", "count", "rcos", "rorder", "merge"]



QUERY = "January"      # ex-neighbours' query word


def _same_list(given, ref):
    given = list(given) if isinstance(given, (tuple, np.ndarray)) else given
    if not isinstance(given, list) or not all(isinstance(w, str) for w in given):
        return f"expected a list of {len(ref)} words (strings), got {type(given).__name__}"
    if len(given) != len(ref):
        return f"expected {len(ref)} words, got {len(given)}"
    if given == ref:
        return None
    if QUERY in given:
        return (f"{QUERY} is among its own neighbours: leave the query out of the "
                f"candidates")
    if sorted(given) == sorted(ref):
        return "the right words, in the wrong order (closest first)"
    n = len(set(given) & set(ref))
    return (f"wrong token set: {n} of your {len(ref)} words are among the nearest (the query "
            f"itself, or candidates outside the 1,000 most frequent words?)")


def _nearest_ref(Phi, candidates, query, k):
    """The reference of ``my_nearest``: the ``k`` candidates (not the query) whose rows of Phi
    are closest in cosine to the query's, closest first."""
    cand = [c for c in candidates if c != query]
    S = cosine_matrix(Phi, cand + [query])
    return [cand[b] for b in np.argsort(-S[-1, :-1], kind="stable")[:k]]


def _nearest_compare(given, ref, ns):
    from ._base import Problem, call
    rng = np.random.default_rng(4)
    Phi = rng.random((30, 12))
    cands = list(range(2, 30, 2))
    for query in (4, 5):
        try:
            got = call(given, Phi, cands, query, 5, what="my_nearest")
        except Problem as e:
            return str(e)
        got = [int(x) for x in np.asarray(got).ravel()] if np.ndim(got) else None
        want = _nearest_ref(Phi, cands, query, 5)
        if got is None or len(got) != 5:
            return "expected a list of 5 token ids on the check's own matrix"
        if query in got:
            return "the query is among its own neighbours: leave it out of the candidates"
        if got != want:
            return ("on the check's own matrix the neighbours differ" +
                    (" only in their order (closest first)" if sorted(got) == sorted(want)
                     else ""))
    return None


@exercise("ex-neighbours", answers={
    "my_nearest": "your function (Phi, candidates, query, k) -> the k nearest candidates",
    "january_neighbours": "the 8 words closest to January"},
          compare={"january_neighbours": _same_list, "my_nearest": _nearest_compare},
          hint="candidates: the 1,000 most frequent words without January, then January last")
def neighbours(ns):
    need(ns, "nt", "tok", "freq")
    tok, freq = ns["tok"], ns["freq"]
    top = np.argsort(-freq)[:1000]
    q = tok.token_to_id["January"]
    cand = np.append(top[top != q], q)
    S = cosine_matrix(ns["nt"].phi_next, cand)
    return {"my_nearest": _nearest_ref,
            "january_neighbours": [tok.id_to_token[cand[b]] for b in np.argsort(-S[-1, :-1])[:8]]}


def _anchor_shuffle_compare(given, ref):
    """Any order of the anchors' own rows passes; a value no such order gives is the TA
    table's mistake, every row shuffled (other tokens' rows moved into the anchors' places)."""
    from ._base import default_compare
    problem = default_compare(given, ref, 1e-9, 1e-9)
    if problem and problem.startswith("not a value"):
        return ("not a value that reordering the anchors' own rows gives: shuffle only the "
                "anchors' rows among themselves (tokens=...); every other row must stay put")
    return problem


@exercise("ex-anchor-order", answers={
    "order_anchors": "R_order of the anchors' phi^y",
    "order_anchors_shuffled": "the same with rows shuffled among the anchors (any seed)"},
    rtol=1e-9, atol=1e-9, compare={"order_anchors_shuffled": _anchor_shuffle_compare},
    hint=["the control may move rows only among the anchors: every other token's row stays "
          "where it is",
          "metrics.shuffled_rows and r_order both take the tokens to work on: give both the "
          "anchors (any shuffle seed is fine)"])
def anchor_order(ns):
    need(ns, "sig", "task")
    a = ns["task"].groups["anchors"]
    phi = ns["sig"].phi_y
    # the control passes with any shuffle seed: every order of the anchors' rows
    return {"order_anchors": r_order(phi, a),
            "order_anchors_shuffled": Spread(tuple(r_order(phi[list(p)], None) for p in
                                                   itertools.permutations(a)))}


# ------------------------------------------------------------------ the core, by hand


def _self_context(X, V):
    """phi^X counted *with* the token itself as a context (a plausible mistake)."""
    C = np.zeros((V, V))
    for i in range(X.shape[1]):
        for j in range(X.shape[1]):
            np.add.at(C, (X[:, i], X[:, j]), 1.0)
    s = C.sum(axis=1, keepdims=True)
    return np.divide(C, s, out=np.zeros_like(C), where=s > 0)


def _phi_X_compare(given, ref, ns):
    from ._base import default_compare, plain
    problem = default_compare(given, ref, 1e-6, 1e-9)
    if problem and "task" in ns:
        g = np.asarray(plain(given), dtype=float)
        t = ns["task"]
        if g.shape == ref.shape and np.allclose(g, _self_context(t.X_train, t.vocab_size),
                                                atol=1e-9):
            return ("each token counted itself as context: J is a uniformly random *other* "
                    "position (j != i)")
    return problem


def _count_ref(X, y, V, V_out):
    s = task_signatures(X, y, V, V_out)
    return s.phi_y, s.phi_X


def _count_cases(ns):
    from ...synthetic import tasks
    t = tasks.f_add(n_keys=5, n_anchors=3, test_frac=0.0, seed=3)
    return {"another task (f_add with 5 keys, seed 3)":
            (t.X_train, t.y_train, t.vocab_size, t.label_size)}


def _per_occurrence(X, y, V, V_out):
    """Rows divided by the number of sequences N instead of the row totals."""
    py, px = _count_ref(X, y, V, V_out)
    C = np.zeros((V, V_out))
    np.add.at(C, (X.ravel(), np.repeat(y, X.shape[1])), 1.0)
    return C / len(X), px


_COUNT_MISTAKES = {
    "each token counted itself as context: J is a uniformly random *other* position (j != i)":
        lambda X, y, V, Vo: (_count_ref(X, y, V, Vo)[0], _self_context(X, V)),
    "divided by the number of sequences N (or L) instead of each row's total: every row of a "
    "signature is a distribution and sums to 1": _per_occurrence,
}


@exercise("ex-02-count", answers={
    "my_count": "your function (X, y, V, V_out) -> (phi_y, phi_X)",
    "my_phi_y": "phi^y counted by hand (V x V_out, one row per input token)",
    "my_phi_X": "phi^X counted by hand (V x V)"}, rtol=1e-6, atol=1e-9,
    compare={"my_phi_X": _phi_X_compare,
             "my_count": _function_compare(_count_cases, _count_ref, "my_count",
                                           variants=_COUNT_MISTAKES,
                                           outputs=("phi_y", "phi_X"))},
    hint=["a signature is a conditional distribution: count, for each input token, what comes "
          "with it, then make each row a distribution",
          "loop over the occurrences (n, i); for phi^X also over the other positions j != i; "
          "then divide each row by its total (rows of tokens that never occur stay 0)"])
def count(ns):
    need(ns, "task")
    t = ns["task"]
    py, px = _count_ref(t.X_train, t.y_train, t.vocab_size, t.label_size)
    return {"my_count": _count_ref, "my_phi_y": py, "my_phi_X": px}


def _cases(seed=0):
    """Test inputs for the hand-written metrics: random, with and without structure."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(9, 5))
    Phi = W @ rng.normal(size=(5, 7)) + 0.5 * rng.normal(size=(9, 7))
    ordered = np.cumsum(rng.normal(size=(8, 6)), axis=0) + 0.3 * rng.normal(size=(8, 6))
    return W, Phi, ordered


def _pairs(C):
    return C[np.triu_indices(C.shape[0], 1)]


# A function of the student's may compute in float32 (torch's default) or in another order of
# operations: a few float32 epsilons on a correlation of O(1) values, not 1e-6 by default.
FN_TOL = 64 * float(np.finfo(np.float32).eps)


def _fn_compare(reference, inputs, variants):
    """Compare a student's function with ``reference`` on ``inputs`` (tuples of arguments);
    ``variants`` maps a diagnosis to a plausible wrong function, which returns one value or a
    ``(low, high)`` interval of the values the mistake can give (rounding-dependent ties)."""
    def near(g, v, r):
        if isinstance(v, tuple):
            lo, hi = min(v), max(v)
            return lo - FN_TOL * (1 + abs(r)) <= g <= hi + FN_TOL * (1 + abs(r))
        return abs(g - float(v)) <= FN_TOL * (1 + abs(r))

    def cmp(given, ref):
        if not callable(given):
            return f"expected a function, got {type(given).__name__}"
        for args in inputs:
            shapes = " and ".join(f"{np.shape(a)}" for a in args)
            try:
                g = float(given(*args))
            except Exception as e:  # the student's bug, in their words
                return f"calling it on arrays of shape {shapes} raised {type(e).__name__}: {e}"
            r = float(reference(*args))
            if not np.isfinite(g):
                return f"returns {g} on arrays of shape {shapes} (a division by zero?)"
            if abs(g - r) > FN_TOL * (1 + abs(r)):
                for words, fn in variants.items():
                    if near(g, fn(*args), r):
                        return words
                if abs(g + r) <= FN_TOL * (1 + abs(r)):
                    return f"the sign is flipped on arrays of shape {shapes}"
                return (f"on arrays of shape {shapes} it returns a value that is "
                        f"{'too large' if g > r else 'too small'}")
        return None
    return cmp


def _pearson(u, v):
    return float(np.corrcoef(u, v)[0, 1])


def _spearman(u, v):
    from scipy.stats import rankdata
    return _pearson(rankdata(u), rankdata(v))


_W, _PHI, _ORD = _cases()
_RCOS_VARIANTS = {
    "Spearman's rank correlation instead of Pearson's (R_cos correlates the cosines "
    "themselves)": lambda W, P: _spearman(_pairs(cosine_matrix(W)), _pairs(cosine_matrix(P))),
    "the pairs a = b are included (the diagonal is 1 for every token and inflates the "
    "correlation): use a < b": lambda W, P: _pearson(cosine_matrix(W).ravel(),
                                                     cosine_matrix(P).ravel()),
    "the pairs a = b are included with the upper triangle (a <= b: the diagonal is 1 for "
    "every token and inflates the correlation): use a < b, np.triu_indices(n, 1)":
        lambda W, P: _pearson(*(cosine_matrix(M)[np.triu_indices(len(M))] for M in (W, P))),
    "dot products instead of cosines (normalise the rows first)": lambda W, P: _pearson(
        _pairs(np.asarray(W) @ np.asarray(W).T), _pairs(np.asarray(P) @ np.asarray(P).T)),
}


@exercise("ex-02-rcos", answers={"my_r_cos": "your R_cos(W, Phi), a function"},
          compare={"my_r_cos": _fn_compare(r_cos, [(_W, _PHI), (_ORD, _ORD ** 2)],
                                           _RCOS_VARIANTS)},
          hint=["which pairs of tokens does R_cos correlate over, and which correlation is it? "
                "(the definition in the chapter)",
                "cosine matrices of the rows of W and of Phi; keep the pairs a < b only (the "
                "upper triangle without its diagonal); Pearson correlation of the two vectors "
                "of pair cosines"])
def rcos(ns):
    return {"my_r_cos": r_cos}


def _dist(n):
    i = np.arange(n)
    return np.abs(i[:, None] - i[None, :])


def _with_diagonal(W):
    """Spearman over all pairs, i = j included: the diagonal's cosines are 1 exactly (tied) or,
    from a float Gram matrix ``Wn @ Wn.T``, 1 up to rounding (untied): both ends of the range
    the mistake gives, whatever the rounding."""
    n = len(W)
    C, D = cosine_matrix(W), _dist(n)
    upper = np.triu_indices(n, 0)                 # i <= j, or every ordered pair
    values = []
    for diag in (np.ones(n), 1.0 + 1e-9 * np.arange(n)):   # tied; distinct, above every pair
        np.fill_diagonal(C, diag)
        values += [_spearman(C.ravel(), D.ravel()), _spearman(C[upper], D[upper])]
    return (min(values), max(values))


def _signed_all_pairs(W):
    """Spearman of the cosines and the signed i - j over every ordered pair i != j."""
    n = len(W)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return _spearman(cosine_matrix(W)[i, j], (i - j).astype(float))


_RORDER_VARIANTS = {
    "Pearson's correlation instead of Spearman's (R_order ranks the cosines and the "
    "distances)": lambda W: _pearson(_pairs(cosine_matrix(W)), _pairs(_dist(len(W)))),
    "the pairs i = j are included: use i < j": _with_diagonal,
    "the sign is flipped: correlate with the distance |i - j| itself, not with -|i - j| or "
    "the signed i - j": lambda W: -r_order(W),
    "the signed difference i - j over every ordered pair: it is symmetric in sign and "
    "correlates with nothing; use the distance |i - j| over the pairs i < j":
        lambda W: _signed_all_pairs(W),
}


@exercise("ex-02-rorder", answers={"my_r_order": "your R_order(W), a function"},
          compare={"my_r_order": _fn_compare(lambda W: r_order(W), [(_ORD,), (_W,)],
                                             _RORDER_VARIANTS)},
          hint="Spearman correlation, over pairs i < j, of cos(W_i, W_j) and |i - j|: "
               "scipy.stats.spearmanr, or np.corrcoef of the ranks")
def rorder(ns):
    return {"my_r_order": r_order}


@choice("ex-02-merge", "merge_answer", "which quantity cannot be merged by adding shards",
        right="b", wrong={
            "a": "bigram counts of two shards add up exactly to the counts of the whole",
            "c": "a token's number of occurrences is a count: shard counts add exactly"})
def merge(ns):
    """(a) the bigram counts B; (b) the rows of phi^next, normalised per shard; (c) the
    occurrence counts of each token."""
