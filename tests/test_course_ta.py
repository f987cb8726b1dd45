"""Issue 29.2-29.3: typed numbers cannot pass a control, and the instructor guide's TA-table
mistakes each get their own message (course/instructor-guide.md, "Notes for teaching
assistants"). Each case feeds the mistake as a student would write it and asserts the words
that name it; the correct alternatives of tests/test_course_checks_all.py still pass."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import course_env, tiny_f_add_namespace  # noqa: F401  (fixture)
from scipy.stats import spearmanr
from types import SimpleNamespace
from dataclasses import replace

from psbook.synthetic import experiments, tasks
from psbook.course.checks import _base, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10
from psbook.course.checks import ch11, ch12, ch13
from psbook.metrics import r_cos, r_order, shuffled_r_cos


@pytest.fixture(autouse=True)
def _env(course_env):
    """Every test starts from a fresh course-check state (tests/_helpers.course_env)."""


_RES = {}


def _res():
    return tiny_f_add_namespace()


def _judge(check, ns, **answers):
    ns = dict(ns)
    refs = ns.pop("__refs__", None) or check.reference(ns)   # stand-ins where the reference
    #                                                          needs a corpus
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


class From:
    """A mistake's value computed from the namespace (an answer that is not a function)."""

    def __init__(self, fn):
        self.fn = fn


def _rcos_diag_upper(W, P):         # one triangle with its diagonal, a <= b
    i, j = np.triu_indices(len(W))
    return np.corrcoef(_gram(W)[i, j], _gram(P)[i, j])[0, 1]


def _rorder_signed(W):              # signed i - j over every ordered pair i != j
    n = len(W)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return spearmanr(_gram(W)[i, j], i - j).correlation


def _f_add_ns():
    t = tasks.f_add(test_frac=0.0)
    return {"task": t, "sig": t.signatures()}


def _every_row_shuffled(ns):
    from psbook.metrics import shuffled_rows
    a = ns["task"].groups["anchors"]
    return r_order(shuffled_rows(ns["sig"].phi_y, 0), a)


def _neighbours_ns():
    words = [f"w{k}" for k in range(8)]
    return {"__refs__": {"my_nearest": ch02._nearest_ref, "january_neighbours": words}}


def _collapse_uncentred(n_keys, n_anchors, star_anchors):
    cos = ch03._collapse_ref(n_keys, n_anchors, star_anchors)[0]
    return cos, cos


def _fake_jl(seed, d):
    return {"R_cos": 0.5 + 0.03 * seed ** 2 + 0.001 * d, "shuffled": 0.01 * seed ** 2 - 0.02}


def _width_ns(seed=0):
    from psbook.presets import get_preset
    return {"jl_alignment": _fake_jl, "preset": replace(get_preset("tiny"), seed=seed)}


def _relu_ns():
    return {"task": tasks.f_add(n_keys=6, n_anchors=3, test_frac=0.0), "cfg": {"d": 8}}


def _relu_two_draws(ns):
    return ch04._relu_norm(ns, 1.5, 0) / ch04._relu_norm(ns, 0.9, 1)


def _adam_ns():
    from psbook.presets import get_preset
    p = get_preset("tiny")
    syn = dict(p.synthetic, init_task=dict(form="pair", n_keys=5),
               init_train=dict(optimizer="gd", lr=0.2, steps=30))
    return {"preset": replace(p, synthetic=syn), "g_big": 0.3, "fixed": 15}


def _matched_ns():
    r = experiments.run("f_add", model="ffn", preset="tiny", form="pair", n_keys=6, steps=150,
                        optimizer="gd", lr=0.2)
    return {"h0": r.history, "L_match": float(np.median(r.history.loss))}


def _months_ns():
    return {"__refs__": {"months_cos": {"phi_next": 0.61, "varphi_pre": 0.47, "tied": 0.58}}}


def _matched_baseline_ns():
    from psbook.signatures import next_token_signatures
    rng = np.random.default_rng(2)
    ids = np.minimum(rng.zipf(1.3, size=20000), 80) - 1
    return {"sigs": {"code": next_token_signatures(ids, 80)}, "sets": {"digits": [4, 6, 9, 12]}}


def _one_draw(ns):
    from psbook import corpus
    return float(corpus.matched_baseline(ns["sigs"]["code"], ns["sets"]["digits"], draws=1,
                                         seed=0)[0])


def _gamma_ns():
    rng = np.random.default_rng(1)
    run = lambda: SimpleNamespace(history={"E~next/top": rng.random(5)})  # noqa: E731
    return {"gam": {1.2: [run(), run()]}, "runs": {"untied": [run(), run()]}}


def _mixture_ns():
    rng = np.random.default_rng(4)
    sig = lambda: SimpleNamespace(varphi_pre=rng.random((12, 12)))  # noqa: E731
    return {"sigs": {"a": sig(), "b": sig()}, "A_": "a", "B_": "b",
            "shared_ab": list(range(10)),
            "mix": {0.5: [SimpleNamespace(W_E=rng.normal(size=(12, 4))) for _ in range(3)]}}


def _mixture_swapped(ns):
    return np.array([r_cos(r.W_E, ns["sigs"]["b"].varphi_pre, ns["shared_ab"])
                     for r in ns["mix"][0.5]])


def _chains_ns():
    from psbook.presets import get_preset
    return {"preset": get_preset("tiny")}


def _share_ns():
    rng = np.random.default_rng(0)               # even token ids only: gaps in the vocabulary
    docs = [2 * rng.integers(0, 12, size=60) for _ in range(6)]
    return {"docs": docs, "tok": SimpleNamespace(vocab_size=24), "treated": [(4, 10), (6, 8)]}


# (check, namespace, answer, the mistake's value (or From(f(ns))), words that name it); the
# instructor guide's TA table names each case in its last column (tested below)
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
    "ex-02-rorder minus distance": (ch02.rorder, dict, "my_r_order", _rorder_neg,
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
    "ex-02-rcos diagonal, one triangle": (ch02.rcos, dict, "my_r_cos", _rcos_diag_upper,
                                          "upper triangle (a <= b"),
    "ex-02-rorder signed i-j": (ch02.rorder, dict, "my_r_order", _rorder_signed,
                                "signed difference i - j over every ordered pair"),
    "ex-neighbours query kept": (ch02.neighbours, _neighbours_ns, "january_neighbours",
                                 ["January"] + [f"w{k}" for k in range(7)],
                                 "January is among its own neighbours"),
    "ex-anchor-order every row shuffled": (ch02.anchor_order, _f_add_ns,
                                           "order_anchors_shuffled", From(_every_row_shuffled),
                                           "shuffle only the anchors' rows"),
    "ex-predict-collapse not centred": (ch03.collapse, dict, "my_star_cosines",
                                        _collapse_uncentred, "second list is not centred"),
    "ex-predict-collapse cos_star_centred not centred": (
        ch03.collapse, dict, "cos_star_centred",
        From(lambda ns: ch03._collapse_ref(10, 4, [0, 1])[0]), "second list is not centred"),
    "ex-03-width one seed": (ch03.width, _width_ns, "jl8",
                             From(lambda ns: _fake_jl(ns["preset"].seeds()[1], 8)["R_cos"]),
                             "one seed's value"),
    "ex-03-width seeds from 0": (
        ch03.width, lambda: _width_ns(seed=3), "jl8_shuffled",
        From(lambda ns: np.mean([_fake_jl(s, 8)["shuffled"]
                                 for s in range(len(ns["preset"].seeds()))])),
        "preset.seeds() starts at the preset's seed"),
    "ex-04-relu two draws": (ch04.relu, _relu_ns, "relu_ratio", From(_relu_two_draws),
                             "different random draws"),
    "ex-06-direction transposed": (ch06.direction, lambda: {"tilde": _tilde()},
                                   "my_key_anchor_block",
                                   lambda W, k, a: ch06._block_ref(W, k, a).T,
                                   "anchors x keys"),
    "ex-06-direction C_ka transposed": (
        ch06.direction, lambda: {"tilde": _tilde()}, "C_ka",
        From(lambda ns: ch06.direction.reference(ns)["C_ka"].T.copy()), "anchors x keys"),
    "ex-07-spectrum index k": (ch07.spectrum, dict, "k_first",
                               From(lambda ns: ch07.spectrum.reference(ns)["k_first"] - 1),
                               "frequency k at index k"),
    "ex-08-adam not merged": (ch08.adam, _adam_ns, "rcos_adam", From(lambda ns: ch08._adam_runs(
        ns, {**ns["preset"].synthetic["init_train"], "steps": ns["fixed"]})),
        "not merged into the training settings"),
    "ex-08-matched step_m index": (ch08.matched, _matched_ns, "step_m",
                                   From(lambda ns: ch08._matched_index(ns["h0"],
                                                                       ns["L_match"])[0]),
                                   "the index into the logged arrays"),
    "ex-08-matched my_at_matched index": (ch08.matched, _matched_ns, "my_at_matched",
                                          ch08._matched_index, "the index into the logged"),
    "ex-09-months swapped": (ch09.months, _months_ns, "months_cos",
                             {"phi_next": 0.47, "varphi_pre": 0.61, "tied": 0.58},
                             "under the wrong signature names"),
    "ex-09-matched one draw": (ch09.matched, _matched_baseline_ns, "digits_matched_code",
                               From(_one_draw), "one draw of the baseline, not the mean"),
    "ex-09-matched function one draw": (ch09.matched, _matched_baseline_ns, "my_matched_baseline",
                                        ch09._one_draw, "one draw of the baseline, not the mean"),
    "ex-09-matched ten draws": (ch09.matched, _matched_baseline_ns, "my_matched_baseline",
                                ch09._ten_draws, "the mean of 10 draws, not 100"),
    "ex-10-gamma index 0": (ch10.early_alignment, _gamma_ns, "early_12", From(
        lambda ns: np.array([r.history["E~next/top"][0] for r in ns["gam"][1.2]])),
        "index 0 is the evaluation at step 0"),
    "ex-11-mixture wrong corpus": (ch11.mixture_pre, _mixture_ns, "pre_mid_A",
                                   From(_mixture_swapped), "signatures of the wrong corpus"),
    "ex-11-costs seeds and pairs transposed": (
        ch11.costs, _costs_ns, "costs_by_seed",
        From(lambda ns: ch11.costs.reference(ns)["costs_by_seed"].T.copy()),
        "seeds and pairs transposed"),
    "ex-13-chains held out": (ch13.chains, _chains_ns, "my_chain_cosines",
                              ch13._chains_held_out, "a held-out test fraction"),
    "ex-13-share different token sets": (ch13.share, _share_ns, "my_share_effect",
                                         ch13._share_other_tokens, "different token sets"),
    "ex-13-share count changed": (ch13.share, _share_ns, "count_change", 3,
                                  "different token sets"),
}


@pytest.mark.parametrize("case", sorted(TA))
def test_each_ta_mistake_gets_its_own_message(case, capsys):
    check, make_ns, name, mistake, words = TA[case]
    ns = make_ns()
    value = (mistake.fn(ns) if isinstance(mistake, From) else
             mistake(ns) if name in ("delay_mod", "energy_k") else mistake)
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


def _ta_table():
    """``[(exercises cell, [case ids])]`` of the instructor guide's TA table."""
    from pathlib import Path
    import re
    text = (Path(__file__).resolve().parents[1] / "course" / "instructor-guide.md").read_text()
    start = text.index("| exercise | common mistakes |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append((cells[0], re.findall(r"`([^`]+)`", cells[-1])))
    return rows


def test_the_ta_table_marks_the_case_that_covers_each_row():
    """Every row of the TA table names the tests/test_course_ta.py cases that feed its
    mistakes; every case named exists and belongs to one of the row's exercises, and every
    case is named by a row."""
    rows = _ta_table()
    assert len(rows) >= 18
    named = set()
    for exercises, cases in rows:
        assert cases, f"the TA row {exercises} names no test case"
        for c in cases:
            assert c in TA, f"the TA row {exercises} names {c!r}, not a case of TA"
            assert TA[c][0].label in exercises, (c, exercises)
        named |= set(cases)
    assert named == set(TA), f"cases no TA row names: {sorted(set(TA) - named)}"


def test_a_planted_ta_row_without_cases_fails(monkeypatch):
    rows = _ta_table()
    rows[0] = (rows[0][0], [])
    monkeypatch.setattr(__import__(__name__), "_ta_table", lambda: rows)
    with pytest.raises(AssertionError, match="names no test case"):
        test_the_ta_table_marks_the_case_that_covers_each_row()


@pytest.mark.parametrize("mistake,words", [(None, None), ("no r", "r_x is missing"),
                                           ("no centre", "not centred")])
def test_flow_step_in_float32_is_judged_with_a_float32_tolerance(mistake, words):
    """A student's velocity computed in float32 (torch's default) is right; float32 versions of
    the TA table's "forgot r_x" and "forgot to centre" are still named (the tolerance is a few
    float32 epsilons of the largest entry, far below what either mistake changes)."""
    def mine(W_U, r, phi):
        W_U, r, phi = (np.asarray(a, np.float32) for a in (W_U, r, phi))
        return (_flow(mistake) if mistake else
                lambda W, rr, p: W.T @ (rr[:, None] * (p - np.float32(1 / p.shape[1]))).T)(
                    W_U, r, phi)
    ns = _ch03_ns()
    r = _judge(ch03.flow_step, ns, my_flow_velocity=mine)
    if mistake is None:
        assert "my_flow_velocity" in r.right
    else:
        assert words in r.wrong["my_flow_velocity"]
