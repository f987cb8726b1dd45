"""Every exercise check, fed a wrong-but-plausible answer, fails WITHOUT printing the reference
value (it diagnoses instead), and fed an alternative correct answer, passes (issue 19).

Each check is exercised through ``check.judge(namespace, references)``: the references are the
check's own (computed from a small namespace) where that is cheap, and otherwise stand-ins of
the same type and shape, since what is tested here is the comparison and its words, not the
chapter. A check added without a case here fails ``test_every_check_has_a_case``.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import tiny_f_add_namespace

from psbook.synthetic import experiments, tasks
from psbook.course import checks
from psbook.course.checks import _base
from psbook.course.checks._base import Alternatives, Spread

ALL = checks.all_checks()


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    _base._UNFINISHED.clear()


# ---------------------------------------------------------------------------- namespaces


def _f_add():
    t = tasks.f_add(test_frac=0.0)
    return {"task": t, "sig": t.signatures(), "keys": t.ordered_tokens}


def _ch03_flow():
    from psbook.synthetic.models import LinearModel
    t = tasks.f_add(n_keys=6, n_anchors=3, n_slots=2, test_frac=0.0)
    return {"task": t, "sig": t.signatures(),
            "m0": LinearModel(t.vocab_size, t.label_size, d=8, gamma=0.8, seed=0)}


_RUNS = {}


def _ch05_res():
    return tiny_f_add_namespace()


def _ch06_tilde():
    if "tilde" not in _RUNS:
        _RUNS["tilde"] = experiments.run("f_add_tilde", preset="tiny", n_keys=6, n_anchors=4,
                                         n_samples=500, steps=30)
    return {"tilde": _RUNS["tilde"]}


def _ch07_energy():
    r = experiments.run("f_mod_noisy", model="linear", preset="tiny", p=11, freq=2, steps=5)
    return {"ex": {"ffn_n": r}, "k1": 2}


def _ch08_matched():
    r = experiments.run("f_add", model="ffn", preset="tiny", form="pair", n_keys=6, steps=40,
                        optimizer="gd", lr=0.2)
    return {"h0": r.history, "L_match": 3.0}


def _ch12_ppmi():
    return {"C_small": np.array([[4., 0, 1, 2], [0, 3, 1, 0], [1, 1, 5, 0], [2, 0, 0, 6]])}


def _ch13_chains():
    from psbook.presets import get_preset
    return {"preset": get_preset("tiny")}


def _ch13_share():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 12, size=60) for _ in range(5)]
    return {"docs": docs, "tok": SimpleNamespace(vocab_size=12), "treated": [(3, 7)]}


def _ch04_delay():
    return {"onset": {"f_mod": {"tanh": np.array([300., 280]), "GELU": np.array([120., 120])},
                      "f_add": {"tanh": np.array([20., 20]), "GELU": np.array([30., 30])}},
            "ocfg": {"steps": 600}}


# ---------------------------------------------------------------------------- the cases
# ns: a cheap namespace the check's reference runs on; refs: stand-in references instead.
# wrong / alt: {answer: value, f(refs, ns) -> value, or Answer(a function the student wrote)};
# unnamed answers get the reference.

class Answer:
    """An override that is itself the answer (a function the student wrote), not computed."""

    def __init__(self, value):
        self.value = value


def _ch09_matched():
    from psbook.signatures import next_token_signatures
    rng = np.random.default_rng(2)
    ids = np.minimum(rng.zipf(1.3, size=20000), 80) - 1
    return {"sigs": {"code": next_token_signatures(ids, 80)}, "sets": {"digits": [4, 6, 9, 12]}}


def _my_matched_loop(sig, group, seed):   # another correct implementation: a loop
    from psbook import corpus
    values = corpus.matched_baseline(sig, group, draws=100, seed=seed)
    total = 0.0
    for v in values:
        total += float(v)
    return total / len(values)


def _ch11_costs():
    rng = np.random.default_rng(5)
    return {"ME": np.eye(3) + 0.1 * rng.normal(size=(3, 3, 3))}


def _my_costs_loop(M):              # another correct implementation: loops, i > j read as j < i
    n = len(M)
    return [((M[j][j] - M[j][i]) + (M[i][i] - M[i][j])) / 2
            for j in range(n) for i in range(j + 1, n)]


def _my_pearson_rcos(W, Phi):       # another correct implementation: scipy, both triangles
    from scipy.stats import pearsonr

    def cos(A):
        A = np.asarray(A, float)
        return (A / np.linalg.norm(A, axis=1, keepdims=True)) @ (
            A / np.linalg.norm(A, axis=1, keepdims=True)).T
    off = ~np.eye(len(W), dtype=bool)
    return pearsonr(cos(W)[off], cos(Phi)[off])[0]


def _my_rank_rorder(W):              # another correct implementation: ranks by hand
    from scipy.stats import rankdata
    A = np.asarray(W, float)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    i, j = np.triu_indices(len(A), 1)
    return np.corrcoef(rankdata((A @ A.T)[i, j]), rankdata(np.abs(i - j)))[0, 1]


def _some_perm_value(refs, ns):
    """R_order of the anchors under a permutation drawn with seed 12345 (any seed is right)."""
    from psbook.metrics import r_order, shuffled_rows
    a = ns["task"].groups["anchors"]
    return r_order(shuffled_rows(ns["sig"].phi_y, 12345, tokens=a), a)


def _my_random_control(W, phi, seed):     # another correct control: its own seeding
    from psbook.metrics import r_cos
    return r_cos(np.random.default_rng(98765 + seed).normal(size=np.shape(W)), phi)


def _ch05_random_control(refs, ns):
    k = ns["task"].ordered_tokens
    return _my_random_control(ns["res"].W_E[k], ns["res"].signatures.dense("phi_y", k), 0)


def _my_anchor_stats_777(res, tokens, seed=0):   # another seeding of the shuffles
    from psbook.metrics import r_cos, r_order, shuffled_r_cos
    W, phi = res.W_E[tokens], res.signatures.dense("phi_y", tokens)
    return (r_order(res.W_E, tokens), r_cos(W, phi),
            float(shuffled_r_cos(W, phi, n_shuffles=20, seed=777 + seed).mean()))


def _my_shuffled_control(W, phi, seed):   # another correct control: centred, own seeding
    from psbook.metrics import r_cos
    phi = np.asarray(phi) - 1.0 / np.shape(phi)[1]
    return r_cos(W, phi[np.random.default_rng(4242 + seed).permutation(len(phi))])


def _ch05_shuffled_control(refs, ns):
    k = ns["task"].ordered_tokens
    return _my_shuffled_control(ns["res"].W_E[k], ns["res"].signatures.dense("phi_y", k), 0)


def _words(n=8):
    return ["February", "March", "April", "May", "June", "July", "August", "December"][:n]


CASES = {
    "ex-neighbours": dict(refs={"january_neighbours": _words(),
                                "my_nearest": checks.ch02._nearest_ref},
                          wrong={"january_neighbours": ["January"] + _words(7)},
                          alt={"january_neighbours": tuple(_words())}),
    "ex-anchor-order": dict(ns=_f_add, wrong={"order_anchors": lambda r, ns: -r["order_anchors"]},
                            alt={"order_anchors_shuffled": _some_perm_value}),
    "ex-02-count": dict(ns=_f_add,
                        wrong={"my_phi_X": lambda r, ns: checks.ch02._self_context(
                            ns["task"].X_train, ns["task"].vocab_size)},
                        alt={"my_phi_y": lambda r, ns: __import__("scipy.sparse").sparse
                             .csr_matrix(r["my_phi_y"].astype(np.float32)),
                             "my_phi_X": lambda r, ns: r["my_phi_X"].tolist()}),
    "ex-02-rcos": dict(ns=dict, wrong={"my_r_cos": lambda r, ns: lambda W, P: np.corrcoef(
                           (np.asarray(W) @ np.asarray(W).T).ravel(),
                           (np.asarray(P) @ np.asarray(P).T).ravel())[0, 1]},
                       alt={"my_r_cos": Answer(_my_pearson_rcos)}),
    "ex-02-rorder": dict(ns=dict, wrong={"my_r_order": lambda r, ns: lambda W: -r["my_r_order"](W)},
                         alt={"my_r_order": Answer(_my_rank_rorder)}),
    "ex-02-merge": dict(ns=dict, wrong={"merge_answer": "a"}, alt={"merge_answer": " (B) "}),
    "ex-predict-collapse": dict(ns=dict, wrong={"cos_star": lambda r, ns: r["cos_star"] * 2},
                                alt={"cos_star": lambda r, ns: list(r["cos_star"])}),
    "ex-03-width": dict(refs={"jl8": 0.71, "jl8_shuffled": 0.013},
                        wrong={"jl8": 0.64}, alt={"jl8": np.float32(0.71)}),
    "ex-03-flow-step": dict(ns=_ch03_flow, wrong={"v_pred": lambda r, ns: -r["v_pred"]},
                            alt={"v_pred": lambda r, ns: __import__("torch").tensor(
                                r["v_pred"], requires_grad=True) * 1.0}),
    "ex-03-shrink": dict(ns=dict, wrong={"shrink_answer": "b"}, alt={"shrink_answer": "C"}),
    "ex-04-relu": dict(refs={"relu_ratio": 0.283, "sigma_ratio": 8 ** -0.6},
                       wrong={"relu_ratio": 1 / 0.283},
                       alt={"sigma_ratio": 2 ** (-1.8)}),
    "ex-04-delay": dict(ns=_ch04_delay, wrong={"delay_mod": lambda r, ns: 1 / r["delay_mod"]},
                        alt={"delay_mod": (290 / 120 + 280 / 120 - 290 / 120 + 300 / 120) / 2}),
    "ex-04-c2": dict(ns=dict, wrong={"c2_silu": 0.5},
                     alt={"c2_silu": lambda r, ns: (lambda s, h: (s(h) - 2 * s(0) + s(-h))
                                                    / (2 * h * h))(
                         lambda z: z / (1 + np.exp(-z)), 1e-3)}),
    "ex-04-where": dict(ns=dict, wrong={"where_answer": "d"}, alt={"where_answer": "(b)"}),
    "ex-05-zipf": dict(ns=_ch05_res, wrong={"rorder_rare": lambda r, ns: r["rorder_frequent"]
                                            if abs(r["rorder_frequent"] - r["rorder_rare"]) > 1e-3
                                            else r["rorder_rare"] + 0.2},
                       alt={"rorder_uniform": lambda r, ns: float(r["rorder_uniform"])}),
    "ex-05-anchors": dict(ns=_ch05_res, wrong={"rcos_anchors_shuffled": lambda r, ns: 1.5},
                          alt={"my_anchor_stats": Answer(_my_anchor_stats_777),
                               "rcos_anchors_shuffled": lambda r, ns: _my_anchor_stats_777(
                                   ns["res"], ns["task"].groups["anchors"], seed=0)[2]}),
    "ex-05-control": dict(ns=lambda: dict(_ch05_res(), control_kind="random"),
                          wrong={"rcos_control": lambda r, ns: r["rcos_claim"].values[0]},
                          alt={"rcos_claim": lambda r, ns: r["rcos_claim"].values[1],
                               "my_control": Answer(_my_random_control),
                               "rcos_control": _ch05_random_control}),
    "ex-05-sign": dict(ns=dict, wrong={"sign_answer": "a"}, alt={"sign_answer": "c."}),
    "ex-06-partial": dict(ns=_ch06_tilde, wrong={"pc_tilde": lambda r, ns: r["pc_tilde"] + 0.1},
                          alt={"pc_tilde": lambda r, ns: r["pc_tilde"] * (1 + 1e-8)}),
    "ex-06-direction": dict(ns=_ch06_tilde, wrong={"C_ka": lambda r, ns: r["C_ka"][::-1].copy()},
                            alt={"C_ka": lambda r, ns: r["C_ka"].astype(np.float32)}),
    "ex-06-order": dict(ns=dict, wrong={"order_answer": "a"}, alt={"order_answer": "C"}),
    "ex-07-spectrum": dict(ns=dict, wrong={"k_first": 2},
                           alt={"spec_c": lambda r, ns: list(r["spec_c"])}),
    "ex-07-energy": dict(ns=_ch07_energy, wrong={"energy_k": lambda r, ns: r["energy_max_other"]
                                                 if r["energy_max_other"] != r["energy_k"] else 2.0},
                         alt={"energy_k": lambda r, ns: np.float64(r["energy_k"])}),
    "ex-07-silent": dict(ns=dict, wrong={"silent_answer": "b"}, alt={"silent_answer": "A"}),
    "ex-08-adam": dict(refs={"rcos_adam": [0.91, 0.55]},
                       wrong={"rcos_adam": [0.55, 0.91]}, alt={"rcos_adam": np.array([0.91, 0.55])}),
    "ex-08-matched": dict(ns=_ch08_matched, wrong={"rcos_m": lambda r, ns: -r["rcos_m"]
                                                   if r["rcos_m"] else 0.5},
                          alt={"step_m": lambda r, ns: np.int64(r["step_m"])}),
    "ex-08-gamma": dict(ns=dict, wrong={"gamma_answer": "a"}, alt={"gamma_answer": "B"}),
    "ex-09-months": dict(refs={"months_cos": {"phi_next": 0.61, "varphi_pre": 0.47, "tied": 0.58}},
                         wrong={"months_cos": {"phi_next": 0.47, "varphi_pre": 0.61, "tied": 0.58}},
                         alt={"months_cos": {"tied": np.float32(0.58), "phi_next": 0.61,
                                             "varphi_pre": 0.47}}),
    "ex-09-matched": dict(ns=_ch09_matched,
                          wrong={"digits_matched_code": lambda r, ns: r["digits_cos_code"],
                                 "my_matched_baseline": lambda r, ns: lambda sig, g, seed: 0.2},
                          alt={"my_matched_baseline": lambda r, ns: _my_matched_loop,
                               "digits_matched_code": lambda r, ns: np.float64(
                                   r["digits_matched_code"])}),
    "ex-09-next-sig": dict(ns=dict, wrong={"varphi_pre_small": lambda r, ns: r["varphi_pre_small"].T},
                           alt={"vocab_small": lambda r, ns: tuple(r["vocab_small"]),
                                "B_small": lambda r, ns: r["B_small"].astype(int)}),
    "ex-09-which": dict(ns=dict, wrong={"which_answer": "a"}, alt={"which_answer": "b"}),
    "ex-10-gamma": dict(refs={"early_12": np.array([0.12, 0.15]), "early_08": np.array([0.33, 0.31])},
                        wrong={"early_12": np.array([0.33, 0.31])},
                        alt={"early_12": [0.12, 0.15]}),
    "ex-10-tied-flow": dict(refs={"cos_both": 0.93, "cos_input": 0.64},
                            wrong={"cos_input": 0.93}, alt={"cos_both": 0.93 * (1 + 1e-6)}),
    "ex-10-tied": dict(ns=dict, wrong={"tied_answer": "a"}, alt={"tied_answer": "(c)"}),
    "ex-11-mixture": dict(refs={"pre_mid_A": np.array([0.4, 0.42]), "pre_mid_B": np.array([0.3, 0.33])},
                          wrong={"pre_mid_A": np.array([0.3, 0.33])},
                          alt={"pre_mid_B": (0.3, 0.33)}),
    "ex-11-costs": dict(ns=_ch11_costs,
                        wrong={"costs_by_seed": lambda r, ns: r["costs_by_seed"].T,
                               "my_mismatch_cost": lambda r, ns: lambda M: np.array(
                                   [M[i, i] - M[i, j] for i, j in zip(*np.triu_indices(len(M), 1))])},
                        alt={"costs_by_seed": lambda r, ns: r["costs_by_seed"].tolist(),
                             "my_mismatch_cost": lambda r, ns: _my_costs_loop}),
    "ex-11-domain": dict(ns=dict, wrong={"domain_answer": "b"}, alt={"domain_answer": "A"}),
    "ex-12-ppmi": dict(ns=_ch12_ppmi, wrong={"ppmi_small": lambda r, ns: np.where(
                           r["ppmi_small"] > 0, r["ppmi_small"] * 1.7, 0.0)},
                       alt={"ppmi_small": lambda r, ns: __import__("scipy.sparse").sparse
                            .csr_matrix(r["ppmi_small"])}),
    "ex-12-pre": dict(refs={"rcos_pre_ppmi": 0.377}, wrong={"rcos_pre_ppmi": -0.377},
                      alt={"rcos_pre_ppmi": np.array(0.377)}),
    "ex-12-zero": dict(ns=dict, wrong={"zero_answer": "b"}, alt={"zero_answer": "a"}),
    "ex-13-chains": dict(ns=_ch13_chains, wrong={"cos_02": lambda r, ns: r["cos_01"]
                                                 if abs(r["cos_01"] - r["cos_02"]) > 1e-3
                                                 else r["cos_02"] + 0.3},
                         alt={"cos_01": lambda r, ns: np.float32(r["cos_01"])}),
    "ex-13-share": dict(ns=_ch13_share, wrong={"count_change": 2},
                        alt={"sig_cos_p1": lambda r, ns: float(r["sig_cos_p1"])}),
    "ex-13-which": dict(ns=dict, wrong={"intervention_answer": "c"},
                        alt={"intervention_answer": "B"}),
}


def _value(v, refs, ns):
    if isinstance(v, Answer):
        return v.value
    return v(refs, ns) if callable(v) else v


def _setup(label):
    case = CASES[label]
    chk = ALL[label]
    ns = case["ns"]() if "ns" in case else {}
    refs = chk.reference(ns) if "ns" in case else dict(case["refs"])
    return case, chk, ns, refs


def _answers(chk, refs, ns, overrides):
    out = {}
    for name in chk.answers:
        ref = refs[name]
        if name in overrides:
            out[name] = _value(overrides[name], refs, ns)
        elif isinstance(ref, Spread):
            out[name] = float(np.median(ref.array))
        elif isinstance(ref, Alternatives):
            out[name] = ref.values[0]
        else:
            out[name] = ref
    return out


def _shown(ref) -> list[str]:
    """Ways the reference value could appear in a message."""
    if isinstance(ref, (Spread, Alternatives)):
        vals = ref.array if isinstance(ref, Spread) else [
            v for v in ref.values if np.ndim(v) == 0]
        return [s for v in vals for s in _shown(float(v))]
    if isinstance(ref, str):
        return [f"({ref})", repr(ref)] if len(ref) == 1 else [ref]
    if isinstance(ref, (list, tuple)) and ref and all(isinstance(w, str) for w in ref):
        return list(ref)
    if isinstance(ref, dict):
        return [s for v in ref.values() for s in _shown(float(v))]
    if callable(ref) or isinstance(ref, (bool, np.bool_)):
        return []
    arr = np.asarray(_base.plain(ref), dtype=float).ravel()
    vals = [x for x in arr[:50] if np.isfinite(x) and round(abs(x), 2) not in (0.0, 1.0)]
    return [f for x in vals for f in (f"{x:.4g}", f"{x:.3f}", f"{x:.2f}")
            if len(f.strip("-0.")) >= 2]


def test_every_check_has_a_case():
    assert len(ALL) >= 40, f"only {len(ALL)} distinct self-checks (issue 19 asks for 40)"
    assert set(ALL) == set(CASES), (f"no case for {sorted(set(ALL) - set(CASES))}; "
                                    f"stale cases {sorted(set(CASES) - set(ALL))}")


@pytest.mark.parametrize("label", sorted(CASES))
def test_alternative_correct_answer_passes(label, capsys):
    case, chk, ns, refs = _setup(label)
    answers = _answers(chk, refs, ns, case["alt"])
    res = chk.judge({**ns, **answers}, refs)
    out = capsys.readouterr().out
    assert res.passed, out
    assert f"{label}: all answers right." in out


@pytest.mark.parametrize("label", sorted(CASES))
def test_wrong_but_plausible_answer_fails_without_the_reference(label, capsys):
    case, chk, ns, refs = _setup(label)
    answers = _answers(chk, refs, ns, case["wrong"])
    given_text = " ".join(str(v) for v in answers.values())
    res = chk.judge({**ns, **answers}, refs)
    out = capsys.readouterr().out
    assert not res.passed and set(res.wrong) == set(case["wrong"]), out
    wrong_lines = [ln for ln in out.splitlines() if "✗" in ln or "Hint" in ln]
    for name in case["wrong"]:
        for s in _shown(refs[name]):
            if s in given_text or s in chk.answers[name]:
                continue          # also a piece of the student's own answer or of the question
            leaked = [ln for ln in wrong_lines if s in ln]
            assert not leaked, f"{label}: the reference {s!r} is printed: {leaked}"
    assert f"checks.reveal({label!r})" in out
    # ...and the student can ask for it
    checks.reveal(label)
    assert f"{label}: reference" in capsys.readouterr().out


def test_reveal_by_answer_name_and_before_the_check(capsys):
    from psbook.course.checks import reveal
    _base._LAST.pop("ex-03-shrink", None)
    with pytest.raises(LookupError, match="run the check cell of ex-03-shrink first"):
        reveal("shrink_answer")
    assert reveal("shrink_answer", {}) == "c"
    with pytest.raises(KeyError, match="exercise label or an answer name"):
        reveal("no-such-exercise")


def test_diagnoses_name_the_mistake():
    r = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    cmp = lambda g: _base.default_compare(g, r, 1e-6, 1e-9)  # noqa: E731
    assert "sign is flipped" in cmp(-r)
    assert "transposed" in cmp(r.T)
    assert "constant factor" in cmp(3 * r)
    assert "columns sum to 1 instead of rows" in cmp(r / r.sum(axis=0))
    assert "expected shape (3, 3), got (3, 2)" in cmp(r[:, :2])
    assert "wrong places" in cmp(r[[1, 0, 2]])
    assert "too small" in _base.default_compare(0.1, 0.4, 1e-6, 1e-9)
    assert "0.4" not in _base.default_compare(0.1, 0.4, 1e-6, 1e-9)


def test_random_controls_pass_with_any_seed():
    """A control drawn with any seed passes: the references are Spreads, not one draw."""
    ns = _f_add()
    chk = ALL["ex-anchor-order"]
    refs = chk.reference(ns)
    from psbook.metrics import r_order, shuffled_rows
    a = ns["task"].groups["anchors"]
    for seed in (0, 1, 7, 2024, 99999):
        val = r_order(shuffled_rows(ns["sig"].phi_y, seed, tokens=a), a)
        assert chk.judge(dict(ns, order_anchors=refs["order_anchors"],
                              order_anchors_shuffled=val), refs)
    ns5 = _ch05_res()
    chk5 = ALL["ex-05-control"]
    for kind, fn, my in (("shuffled", _ch05_shuffled_control, _my_shuffled_control),
                         ("random", _ch05_random_control, _my_random_control)):
        ns5k = dict(ns5, control_kind=kind)
        refs5 = chk5.reference(ns5k)
        ns5k.update(rcos_claim=refs5["rcos_claim"].values[0], my_control=my,
                    rcos_control=fn(refs5, ns5k))
        assert chk5.judge(ns5k, refs5), kind


def test_the_claim_offered_as_its_own_control_is_diagnosed(capsys):
    ns = dict(_ch05_res(), control_kind="shuffled")
    chk = ALL["ex-05-control"]
    refs = chk.reference(ns)
    claim = refs["rcos_claim"].values[0]
    res = chk.judge(dict(ns, rcos_claim=claim, rcos_control=claim), refs)
    if not refs["rcos_control"].contains(claim, 1e-6, 1e-6):
        assert "the claim itself" in res.wrong["rcos_control"]


def test_an_unfinished_stub_is_reported_and_nothing_is_filled_in(capsys):
    ns = {"merge_answer": "a"}          # a stale value from an earlier run of the cell
    exec("from psbook.course.checks import unfinished\n"
         "with unfinished('ex-02-merge'):\n"
         "    raise NotImplementedError('exercise ex-02-merge: one letter')\n", ns)
    out = capsys.readouterr().out
    assert out.strip() == ("exercise ex-02-merge: not done yet (the notebook carries on; its "
                           "check will say what is missing)")
    assert "merge_answer" not in ns                   # the stale answer is gone
    res = ALL["ex-02-merge"](ns)
    assert res.missing == ["merge_answer"] and "merge_answer" not in ns
    exec("with unfinished('ex-02-merge'):\n    merge_answer = 'a'\n", ns)
    assert not ALL["ex-02-merge"](ns)                 # done now: the student's answer counts
    with pytest.raises(NotImplementedError, match="something else"):
        exec("with unfinished('ex-02-merge'):\n"
             "    raise NotImplementedError('something else')\n", ns)


def test_multiple_choice_rejects_a_non_letter(capsys):
    res = ALL["ex-07-silent"]({"silent_answer": 3})
    assert "answer with one letter" in res.wrong["silent_answer"]
    res = ALL["ex-07-silent"]({"silent_answer": "z"})
    assert "there is no option (z)" in res.wrong["silent_answer"]
