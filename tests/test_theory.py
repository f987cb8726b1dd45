"""Tests of psbook.theory / psbook.theory_checks: the predicted gradient-flow terms against autograd.

Tolerances come from the order of the neglected terms: a prediction that keeps the velocity up to
O(eps^k) leaves a relative residual a * sigma^m (1 + O(sigma)) with m = residual_order(...). Over
init stds sigma <= 0.03 the O(sigma) correction changes the log-log slope by a few hundredths,
so the fitted slope must lie within 0.25 of m (0.25 < half the gap between neighbouring orders).
Exact identities (Prop. 1 with the model's own mean prediction, signature bookkeeping) are held to
float64 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psbook import theory as th
from psbook import theory_checks as tc
from psbook.synthetic.models import FFN, LinearModel
from psbook.signatures import task_signatures
from psbook.synthetic.tasks import f_mod

SLOPE_TOL = 0.25
SMALL_GAMMAS = np.array([1.1, 1.3, 1.5, 1.7])        # d = 24: sigma from 0.030 down to 0.0045


def _random_case(seed=0, V=11, Vo=7, L=3, N=240, repeats=True):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, V, size=(N, L))
    if not repeats:
        X = np.stack([rng.choice(V, size=L, replace=False) for _ in range(N)])
    y = (X[:, 0] + 2 * X[:, 1]) % Vo                 # labels depend on the tokens
    flip = rng.random(N) < 0.3
    y[flip] = rng.integers(0, Vo, size=flip.sum())
    return X, y, V, Vo


# ----------------------------------------------------------------------------- exact identities

def test_prop1_exact_form_matches_autograd_at_any_scale():
    X, y, V, Vo = _random_case()
    sig = task_signatures(X, y, V, Vo)
    model = LinearModel(V, Vo, d=8, gamma=0.3, seed=1)        # large init: no approximation used
    true = th.autograd_velocity(model, X, y)
    with torch.no_grad():
        P = torch.softmax(model.double()(torch.as_tensor(X)), -1).numpy()
    counts = np.zeros((X.shape[0], V))
    np.add.at(counts, (np.repeat(np.arange(X.shape[0]), X.shape[1]), X.ravel()), 1.0)
    pbar = (counts.T @ P) / counts.sum(0)[:, None]           # mean prediction given x occurs
    W_U = model.W_U.detach().numpy()
    pred = W_U.T @ (sig.r_in[:, None] * (sig.phi_y - pbar)).T
    np.testing.assert_allclose(pred, true["W_E"], rtol=1e-9, atol=1e-12)


def test_label_matrix_columns_and_rows():
    X, y, V, Vo = _random_case(repeats=True)
    sig = task_signatures(X, y, V, Vo)
    M = th.label_matrix(sig)
    L = X.shape[1]
    rows = L * sig.label_prior[:, None] * sig.varphi_X - sig.r_in[None, :] / Vo
    np.testing.assert_allclose(M, rows, atol=1e-12)
    counts = np.zeros((X.shape[0], V))
    np.add.at(counts, (np.repeat(np.arange(X.shape[0]), L), X.ravel()), 1.0)
    np.testing.assert_allclose(th.cooccurrence_matrix(sig), counts.T @ counts / X.shape[0],
                               atol=1e-12)


def test_second_order_signatures_are_distributions():
    X, y, V, Vo = _random_case(repeats=False)
    sig = task_signatures(X, y, V, Vo)
    Phi = th.phi_X_given_y_stack(sig)
    np.testing.assert_allclose(Phi.sum(axis=2), sig.phi_X, atol=1e-12)
    np.testing.assert_allclose(Phi.sum(axis=1), sig.phi_y, atol=1e-12)
    Psi = th.label_pair_signature(sig)
    seen = sig.label_mass > 0
    np.testing.assert_allclose(Psi[seen].sum(axis=(1, 2)), 1.0, atol=1e-12)
    np.testing.assert_allclose(Psi.sum(axis=2)[seen], sig.varphi_X[seen], atol=1e-12)


# ----------------------------------------------------------------------------- orders vs autograd

@pytest.mark.parametrize("kind,activation,orders", [
    ("linear", None, (1, 3)),
    ("ffn", "poly2", (1, 2)),
    ("ffn", "gelu", (1, 2)),
    ("ffn", "tanh", (1,)),
])
def test_residual_shrinks_with_the_predicted_power(kind, activation, orders):
    X, y, V, Vo = _random_case(seed=2)
    sc = tc.init_scale_scan(kind, X, y, V, Vo, gammas=SMALL_GAMMAS, d=24, orders=orders,
                            activation=activation, seed=3, n_fit=len(SMALL_GAMMAS))
    for o in orders:
        m = sc["predicted"][o]
        assert abs(sc["slope_E"][o] - m) < SLOPE_TOL, (kind, activation, o, sc["slope_E"][o], m)
        assert abs(sc["slope_U"][o] - m) < SLOPE_TOL, (kind, activation, o, sc["slope_U"][o], m)
        assert np.all(np.diff(sc["res_E"][o]) < 0)
    if len(orders) == 2:   # the higher-order prediction is better, by a growing factor
        ratio = sc["res_E"][orders[1]] / sc["res_E"][orders[0]]
        assert np.all(np.diff(ratio) < 0) and ratio[-1] < 0.2


def test_wrong_signature_does_not_converge():
    """Negative control: with the label signatures of the tokens permuted, the residual stays
    O(1) instead of shrinking -- the order test above can fail."""
    X, y, V, Vo = _random_case(seed=4)
    sig = task_signatures(X, y, V, Vo)
    perm = np.roll(np.arange(V), 1)
    sig.__dict__["phi_y"] = sig.phi_y[perm]                 # overwrite the cached property
    res = []
    for g in SMALL_GAMMAS:
        model = LinearModel(V, Vo, d=24, gamma=float(g), seed=5)
        true = th.autograd_velocity(model, X, y)
        res.append(th.relative_residual(th.predicted_velocity(model, sig, 1)["W_E"], true["W_E"]))
    assert min(res) > 0.3
    assert abs(th.loglog_slope(24.0 ** -SMALL_GAMMAS, res)) < SLOPE_TOL


def test_modular_addition_needs_the_second_order_term():
    task = f_mod(p=7, test_frac=0.0)
    sig = task.signatures()
    assert np.abs(th.label_matrix(sig)).max() < 1e-15         # phi^y uniform for every token
    model = FFN(7, 7, d=24, hidden=None, activation="gelu", gamma=1.5, seed=0)
    true = th.autograd_velocity(model, task.X_train, task.y_train)
    first = th.predicted_velocity(model, sig, 1)
    second = th.predicted_velocity(model, sig, 2)
    assert np.abs(first["W_E"]).max() < 1e-15
    # sigma = 24^-1.5 = 0.0085; relative residual O(sigma) (the eps^3 terms over eps^2 ones)
    assert th.relative_residual(second["W_E"], true["W_E"]) < 10 * 24.0 ** -1.5
    assert th.token_cosines(second["W_E"], true["W_E"]).min() > 0.99


def test_twin_tokens_get_identical_predicted_velocity():
    task = tc.twin_task(n_keys=6, n_anchors=3, twin_of=2)
    sig = task.signatures()
    tw = task.vocab_size - 1
    for name in ("phi_y", "phi_X"):
        np.testing.assert_array_equal(getattr(sig, name)[2], getattr(sig, name)[tw])
    model = LinearModel(task.vocab_size, task.label_size, d=16, gamma=0.8, seed=0)
    v = th.predicted_velocity(model, sig, 1)["W_E"]
    np.testing.assert_allclose(v[:, 2], v[:, tw], atol=1e-15)
    assert np.linalg.norm(v[:, 2] - v[:, 3]) > 0.1 * np.linalg.norm(v[:, 2])


# ----------------------------------------------------------------------------- the integrator

def _closed_form(a0, b0, m, t):
    s, dlt = (a0 + b0) / 2, (a0 - b0) / 2
    return s * np.exp(m * t) + dlt * np.exp(-m * t), s * np.exp(m * t) - dlt * np.exp(-m * t)


@pytest.mark.parametrize("method,rtol", [("exact", 1e-10), ("rk4", 1e-7)])
def test_integrator_matches_closed_form_on_a_diagonal_case(method, rtol):
    m = np.array([0.3, 1.0, 2.0])
    a0, b0 = np.array([0.1, -0.2, 0.05]), np.array([0.3, 0.1, -0.02])
    times = [0.0, 0.5, 1.0, 2.5]
    out = th.integrate_reduced(np.diag(a0), np.diag(b0), np.diag(m), times, method=method,
                               dt=0.01)
    for k, t in enumerate(times):
        a, b = _closed_form(a0, b0, m, t)
        np.testing.assert_allclose(np.diag(out["W_E"][k]), a, rtol=rtol)
        np.testing.assert_allclose(np.diag(out["W_U"][k]), b, rtol=rtol)
        off = out["W_E"][k] - np.diag(np.diag(out["W_E"][k]))
        assert np.abs(off).max() < 1e-12


def test_reduced_system_velocity_is_the_first_order_prediction():
    X, y, V, Vo = _random_case(seed=6)
    sig = task_signatures(X, y, V, Vo)
    model = LinearModel(V, Vo, d=10, gamma=0.8, seed=0)
    W_E, W_U = model.W_E.detach().double().numpy(), model.W_U.detach().double().numpy()
    h = 1e-6
    out = th.integrate_reduced(W_E, W_U, th.label_matrix(sig), [0.0, h])
    pred = th.linear_velocity(W_E, W_U, sig, 1)
    np.testing.assert_allclose((out["W_E"][1] - out["W_E"][0]) / h, pred["W_E"], rtol=1e-4,
                               atol=1e-10)
    np.testing.assert_allclose((out["W_U"][1] - out["W_U"][0]) / h, pred["W_U"], rtol=1e-4,
                               atol=1e-10)


# ----------------------------------------------------------------------------- bad input

def test_bad_input_messages():
    X, y, V, Vo = _random_case()
    sig = task_signatures(X, y, V, Vo)
    with pytest.raises(TypeError, match="sig must be"):
        th.label_matrix("not signatures")
    with pytest.raises(ValueError, match="W_E must be d x V"):
        th.linear_velocity(np.zeros((4, V + 1)), np.zeros((Vo, 4)), sig)
    with pytest.raises(ValueError, match="W_U must have shape"):
        th.linear_velocity(np.zeros((4, V)), np.zeros((Vo, 5)), sig)
    with pytest.raises(ValueError, match="relu"):
        th.taylor_coefficients("relu")
    with pytest.raises(ValueError, match="hidden=None"):
        th.predicted_velocity(FFN(V, Vo, d=4, hidden=8, activation="gelu"), sig)
    with pytest.raises(ValueError, match="times must be"):
        th.integrate_reduced(np.zeros((2, 3)), np.zeros((4, 2)), np.zeros((4, 3)), [1.0, 0.5])
    with pytest.raises(ValueError, match="order must be"):
        th.linear_velocity(np.zeros((4, V)), np.zeros((Vo, 4)), sig, order=4)


def test_onset_times_tanh_later_than_gelu_on_f_mod():
    from psbook import theory_checks
    from psbook.synthetic import tasks
    mod = tasks.f_mod(p=7, test_frac=0.0)
    o = theory_checks.onset_times(mod, models={"gelu": "gelu", "tanh": "tanh", "lin": "linear"},
                                  d=16, gamma=0.8, lr=1.0, steps=400, seeds=[0])
    assert o["tanh"][0] > 1.5 * o["gelu"][0] and np.isnan(o["lin"][0])
    with pytest.raises(ValueError, match="threshold"):
        theory_checks.onset_times(mod, models={"g": "gelu"}, d=8, gamma=0.8, lr=1.0, steps=5,
                                  seeds=[0], threshold=1.5)


def test_twin_training_collapses_twins():
    from psbook import theory_checks
    t = theory_checks.twin_task(n_keys=8, n_anchors=4, twin_of=3)
    h = theory_checks.twin_training(t, d=16, lr=0.5, steps=300, seed=1)
    pc = theory_checks.pair_cosines(h.snapshots, [(3, t.vocab_size - 1), (3, 4)])
    assert pc[(3, t.vocab_size - 1)][-1] > 0.95 > pc[(3, 4)][-1]


def test_scan_and_reduced_tables_read_the_results():
    scan = {"orders": (1, 3), "slope_E": {1: 2.01, 3: 3.98}, "slope_U": {1: 2.0, 3: 4.0},
            "predicted": {1: 2, 3: 4}, "res_E": {1: np.array([1e-2, 1e-3]),
                                                 3: np.array([1e-4, 1e-6])},
            "cos_min": {1: np.array([0.9, 0.999]), 3: np.array([0.99, 1.0])}}
    t = tc.scan_table({"linear": scan})
    assert t["order"] == [1, 3] and t["res E"] == [1e-3, 1e-6] and t["min cos"] == [0.999, 1.0]
    assert max(len(line) for line in str(t).splitlines()) <= 80
    run = {"cos_agree": np.array([1.0, 0.95, 0.5, 0.2]), "t": np.array([0, 1, 2, 4.0]),
           "loss": np.array([2.0, 1.9, 1.0, 0.5]), "loss0": 2.0,
           "R_cos_train": np.array([0.1, 0.5, 0.8, 0.9]),
           "R_cos_reduced": np.array([0.1, 0.5, 0.6, 0.4])}
    r = tc.reduced_table({"gamma=0.8": run})
    assert r.rows[0]["agree to t"] == "1" and r.rows[0]["part at t"] == "2"
    assert r.rows[0]["loss"] == "95.0%" and r.rows[0]["R_cos red."] == 0.4
    assert max(len(line) for line in str(r).splitlines()) <= 80
