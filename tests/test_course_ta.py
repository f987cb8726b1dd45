"""Issue 29.2-29.3: typed numbers cannot pass a control, and the instructor guide's TA-table
mistakes each get their own message (course/instructor-guide.md, "Notes for teaching
assistants"). Each case feeds the mistake as a student would write it and asserts the words
that name it; the correct alternatives of tests/test_course_checks_all.py still pass."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import course_env, tiny_f_add_namespace  # noqa: F401  (fixture)
from scipy.stats import spearmanr

from psbook.synthetic import experiments, tasks
from psbook.course.checks import _base, ch02, ch03, ch04, ch05, ch06, ch07, ch09, ch11, ch12
from psbook.metrics import r_cos, r_order, shuffled_r_cos


@pytest.fixture(autouse=True)
def _env(course_env):
    """Every test starts from a fresh course-check state (tests/_helpers.course_env)."""


_RES = {}


def _res():
    return tiny_f_add_namespace()


def _judge(check, ns, **answers):
    refs = check.reference(ns)
    full = {k: refs[k] for k in check.answers if not isinstance(
        refs[k], (_base.Spread, _base.Alternatives))}
    full.update({k: refs[k].values[0] for k in check.answers
                 if isinstance(refs[k], _base.Alternatives)})
    return check.judge({**ns, **full, **answers}, refs)


# ------------------------------------------------------------------ typed numbers (29.2)


def _control_ns():
    ns = dict(_res(), control_kind="shuffled")
    k = ns["task"].ordered_tokens
    W, phi = ns["res"].W_E[k], ns["res"].signatures.dense("phi_y", k)
    return ns, W, phi


def _good_control(W, phi, seed):
    return r_cos(W, phi[np.random.default_rng(seed).permutation(len(phi))])


def test_a_typed_zero_fails_ex05_control():
    ns, W, phi = _control_ns()
    r = _judge(ch05.control, ns, my_control=_good_control, rcos_control=0.0)
    assert "not what your my_control returns" in r.wrong["rcos_control"]
    r = _judge(ch05.control, ns, my_control=lambda W, phi, seed: 0.0, rcos_control=0.0)
    assert "same value for every seed" in r.wrong["my_control"]
    # the same function, its own value: right
    assert _judge(ch05.control, ns, my_control=_good_control,
                  rcos_control=_good_control(W, phi, 0))


def test_a_typed_zero_fails_ex05_anchors():
    ns = _res()

    def stats(res, tokens, seed=0):
        W, phi = res.W_E[tokens], res.signatures.dense("phi_y", tokens)
        return (r_order(res.W_E, tokens), r_cos(W, phi),
                float(shuffled_r_cos(W, phi, n_shuffles=20, seed=seed).mean()))
    r = _judge(ch05.anchors, ns, my_anchor_stats=stats, rcos_anchors_shuffled=0.0)
    assert "not what your my_anchor_stats returns" in r.wrong["rcos_anchors_shuffled"]
    r = _judge(ch05.anchors, ns, my_anchor_stats=lambda res, t, seed=0: (*stats(res, t)[:2], 0.0))
    assert "same value for every seed" in r.wrong["my_anchor_stats"]


def test_a_hand_written_frequent_group_fails_ex05_zipf():
    ns = _res()
    keys = np.asarray(ns["task"].ordered_tokens)
    typed = np.sort(keys[:5])

    def hand(keys_, rate):
        return typed, np.sort(np.asarray(keys_)[-5:])
    r = _judge(ch05.zipf, ns, my_rate_groups=hand)
    assert "my_rate_groups" in r.wrong


# ------------------------------------------------------------------ the TA table (29.3)


def _count_ns():
    t = tasks.f_add(test_frac=0.0)
    return {"task": t}


def _count_self(X, y, V, V_out):
    py, _ = ch02._count_ref(X, y, V, V_out)
    return py, ch02._self_context(X, V)


def _count_by_n(X, y, V, V_out):
    C = np.zeros((V, V_out))
    for n in range(len(X)):
        for i in range(X.shape[1]):
            C[X[n, i], y[n]] += 1
    return C / len(X), ch02._count_ref(X, y, V, V_out)[1]


def _count_transposed(X, y, V, V_out):
    py, px = ch02._count_ref(X, y, V, V_out)
    return np.asarray(py.todense() if hasattr(py, "todense") else py).T, px


def _gram(W):
    W = np.asarray(W, float)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    return Wn @ Wn.T


def _rorder_with_diag(W):           # the case: Wn @ Wn.T, diagonal not exactly 1
    n = len(W)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return spearmanr(_gram(W).ravel(), np.abs(i - j).ravel()).correlation


def _rorder_neg(W):
    i, j = np.triu_indices(len(W), 1)
    return spearmanr(_gram(W)[i, j], -np.abs(i - j)).correlation


def _rorder_pearson(W):
    i, j = np.triu_indices(len(W), 1)
    return np.corrcoef(_gram(W)[i, j], np.abs(i - j))[0, 1]


def _rcos_diag(W, P):
    return np.corrcoef(_gram(W).ravel(), _gram(P).ravel())[0, 1]


def _rcos_spearman(W, P):
    i, j = np.triu_indices(len(W), 1)
    return spearmanr(_gram(W)[i, j], _gram(P)[i, j]).correlation


def _rcos_dot(W, P):
    i, j = np.triu_indices(len(W), 1)
    W, P = np.asarray(W, float), np.asarray(P, float)
    return np.corrcoef((W @ W.T)[i, j], (P @ P.T)[i, j])[0, 1]


def _flow(mistake):
    def f(W_U, r, phi):
        u = 1 / phi.shape[1]
        return {"no r": W_U.T @ (phi - u).T, "no centre": W_U.T @ (r[:, None] * phi).T,
                "gradient": -(W_U.T @ (r[:, None] * (phi - u)).T),
                "W_U M": (W_U.T @ (r[:, None] * (phi - u)).T).T}[mistake]
    return f


def _ppmi_negative(C):
    C = np.asarray(C, float)
    with np.errstate(divide="ignore"):
        pmi = np.log(C * C.sum() / np.outer(C.sum(1), C.sum(0)))
    return np.where(C > 0, pmi, 0.0)


def _ppmi_smoothed(C):
    from psbook.cooccurrence import ppmi
    return ppmi(np.asarray(C, float), alpha=0.75).toarray()


def _next_wrap(words):
    vocab = sorted(set(words))
    ids = [vocab.index(w) for w in words]
    B = np.zeros((len(vocab),) * 2)
    for a, b in zip(ids, ids[1:] + ids[:1]):
        B[a, b] += 1
    return (vocab, B, B / B.sum(1, keepdims=True), (B / B.sum(0, keepdims=True)).T)


def _next_cols(words):
    v, B, phi, pre = ch09._next_ref(words)
    return v, B, phi, pre.T


def _rate_by_value(keys, rate):
    keys = np.sort(np.asarray(keys))
    return keys[:5], keys[-5:]


def _rate_unsorted(keys, rate):
    keys = np.asarray(keys)
    return keys[np.argsort(-rate)[:5]][::-1], keys[np.argsort(rate)[:5]][::-1]


def _ch03_ns():
    from psbook.synthetic.models import LinearModel
    t = tasks.f_add(n_keys=6, n_anchors=3, n_slots=2, test_frac=0.0)
    return {"task": t, "sig": t.signatures(),
            "m0": LinearModel(t.vocab_size, t.label_size, d=8, gamma=0.8, seed=0)}


def _energy_ns():
    r = experiments.run("f_mod_noisy", model="linear", preset="tiny", p=11, freq=2, steps=5)
    return {"ex": {"ffn_n": r}, "k1": 2}


def _energy_at_k(ns):
    from psbook.signatures import fourier_power
    return float(fourier_power(ns["ex"]["ffn_n"].W_E)[2])


def _tilde():
    if "tilde" not in _RES:
        _RES["tilde"] = experiments.run("f_add_tilde", preset="tiny", n_keys=6, n_anchors=4,
                                        n_samples=500, steps=30)
    return _RES["tilde"]


def _delay_ns():
    return {"onset": {"f_mod": {"tanh": np.array([300., 280]), "GELU": np.array([120., 120])},
                      "f_add": {"tanh": np.array([20., 20]), "GELU": np.array([30., 30])}},
            "ocfg": {"steps": 600}}


def _costs_ns():
    rng = np.random.default_rng(3)
    return {"ME": np.eye(3) + 0.1 * rng.normal(size=(2, 3, 3))}


# (check, namespace, answer, the mistake's value (or f(ns) -> value), words that name it)
TA = {
    "ex-02-count j = i": (ch02.count, _count_ns, "my_count", _count_self, "counted itself"),
    "ex-02-count by N": (ch02.count, _count_ns, "my_count", _count_by_n,
                         "divided by the number of sequences"),
    "ex-02-count transposed": (ch02.count, _count_ns, "my_count", _count_transposed,
                               "transposed"),
    "ex-02-rcos diagonal": (ch02.rcos, dict, "my_r_cos", _rcos_diag, "pairs a = b"),
    "ex-02-rcos spearman": (ch02.rcos, dict, "my_r_cos", _rcos_spearman, "Spearman"),
    "ex-02-rcos dot": (ch02.rcos, dict, "my_r_cos", _rcos_dot, "dot products"),
    "ex-02-rorder Wn@Wn.T diagonal": (ch02.rorder, dict, "my_r_order", _rorder_with_diag,
                                      "pairs i = j are included"),
    "ex-02-rorder -|i-j|": (ch02.rorder, dict, "my_r_order", _rorder_neg,
                            "not with -|i - j|"),
    "ex-02-rorder pearson": (ch02.rorder, dict, "my_r_order", _rorder_pearson, "Pearson"),
    "ex-03-flow gradient": (ch03.flow_step, _ch03_ns, "my_flow_velocity", _flow("gradient"),
                            "minus the gradient"),
    "ex-03-flow no r_x": (ch03.flow_step, _ch03_ns, "my_flow_velocity", _flow("no r"),
                          "r_x is missing"),
    "ex-03-flow not centred": (ch03.flow_step, _ch03_ns, "my_flow_velocity",
                               _flow("no centre"), "not centred"),
    "ex-03-flow W_U M": (ch03.flow_step, _ch03_ns, "my_flow_velocity", _flow("W_U M"),
                         "W^U M instead"),
    "ex-04-delay upside down": (ch04.delay, _delay_ns, "delay_mod",
                                lambda ns: float(np.mean([120 / 300, 120 / 280])),
                                "upside down"),
    "ex-05-zipf by value": (ch05.zipf, _res, "my_rate_groups", _rate_by_value,
                            "ranked by the keys' values"),
    "ex-05-zipf unsorted": (ch05.zipf, _res, "my_rate_groups", _rate_unsorted,
                            "not sorted back into key order"),
    "ex-05-control claim": (ch05.control, lambda: dict(_res(), control_kind="shuffled"),
                            "my_control", lambda W, phi, seed: r_cos(W, phi), "claim itself"),
    "ex-05-control rows and columns": (
        ch05.control, lambda: dict(_res(), control_kind="shuffled"), "my_control",
        lambda W, phi, seed: (lambda p: r_cos(W[p], phi[p]))(
            np.random.default_rng(seed).permutation(len(phi))), "claim itself"),
    "ex-07-energy index k": (ch07.energy, _energy_ns, "energy_k", _energy_at_k,
                             "frequency k at index k"),
    "ex-07-energy my_energy index k": (ch07.energy, _energy_ns, "my_energy",
                                       lambda W, k: ch07._energy_ref(W, k + 1),
                                       "frequency k at index k"),
    "ex-04-delay my_delay upside down": (ch04.delay, _delay_ns, "my_delay",
                                         ch04._DELAY_MISTAKES[next(iter(ch04._DELAY_MISTAKES))],
                                         "upside down"),
    "ex-04-delay my_delay drops nan": (ch04.delay, _delay_ns, "my_delay",
                                       lambda o, st: float(np.nanmean(o["tanh"] / o["GELU"])),
                                       "plateau (onset nan) is dropped"),
    "ex-06-partial no intercept": (ch06.partial, lambda: {"tilde": _tilde()}, "my_partial_r_cos",
                                   ch06._partial_no_intercept, "without an intercept"),
    "ex-04-c2 one-sided": (ch04.c2, dict, "my_c2", lambda sg: ch04._c2_one_sided(sg),
                           "one-sided difference"),
    "ex-09-next-sig columns": (ch09.next_sig, dict, "my_next_signatures", _next_cols,
                               "column-normalised"),
    "ex-09-next-sig across the end": (ch09.next_sig, dict, "my_next_signatures", _next_wrap,
                                      "across the text's end"),
    "ex-11-costs one direction": (ch11.costs, _costs_ns, "my_mismatch_cost",
                                  ch11._one_direction, "only one direction"),
    "ex-11-costs not halved": (ch11.costs, _costs_ns, "my_mismatch_cost", ch11._not_halved,
                               "summed, not averaged"),
    "ex-11-costs sign": (ch11.costs, _costs_ns, "my_mismatch_cost", ch11._sign_flipped,
                         "sign is flipped"),
    "ex-12-ppmi negative": (ch12.ppmi_by_hand, lambda: {"C_small": np.array(
        [[10, 0, 3, 1], [2, 8, 0, 0], [1, 1, 1, 1], [0, 5, 5, 0]], float)}, "my_ppmi",
        _ppmi_negative, "negative PMI kept"),
    "ex-12-ppmi smoothed": (ch12.ppmi_by_hand, lambda: {"C_small": np.array(
        [[10, 0, 3, 1], [2, 8, 0, 0], [1, 1, 1, 1], [0, 5, 5, 0]], float)}, "my_ppmi",
        _ppmi_smoothed, "smoothed context counts"),
}


@pytest.mark.parametrize("case", sorted(TA))
def test_each_ta_mistake_gets_its_own_message(case, capsys):
    check, make_ns, name, mistake, words = TA[case]
    ns = make_ns()
    value = mistake(ns) if name in ("delay_mod", "energy_k") else mistake
    r = _judge(check, ns, **{name: value})
    out = capsys.readouterr().out
    assert name in r.wrong, out
    assert words in r.wrong[name], r.wrong[name]


def test_rorder_with_an_inexact_gram_diagonal_is_still_right_when_pairs_are_i_lt_j():
    """The issue's -0.76103 vs -0.76105: the right function computed through Wn @ Wn.T (and in
    float32) passes; only the i = j pairs make it wrong."""
    def mine(W):
        i, j = np.triu_indices(len(W), 1)
        return spearmanr(_gram(np.asarray(W, np.float32))[i, j], np.abs(i - j)).correlation
    assert _judge(ch02.rorder, {}, my_r_order=mine)


def test_ex_neighbours_names_the_query_kept_and_the_order():
    """ex-neighbours' reference needs the corpus; its function comparison does not."""
    kept = lambda Phi, c, q, k: [q] + ch02._nearest_ref(Phi, c, q, k)[:k - 1]  # noqa: E731
    assert "the query is among" in ch02._nearest_compare(kept, None, {})
    rev = lambda Phi, c, q, k: ch02._nearest_ref(Phi, c, q, k)[::-1]  # noqa: E731
    assert "only in their order" in ch02._nearest_compare(rev, None, {})
    assert ch02._nearest_compare(ch02._nearest_ref, None, {}) is None
