r"""Predicted gradient-flow terms of the embedding and unembedding (chapters 03-04).

The book's reconstruction of the paper's Propositions 1-2 and Corollaries 1-4 (the paper's text
is not available; see ``design/paper-notes.md`` §5). Conventions: ``W_E`` is ``d x V`` (column
``x`` = token ``x``), ``W_U`` is ``V_out x d``; the loss is the full-batch (weighted) mean
cross-entropy; gradient flow is :math:`\dot\theta = -\nabla_\theta \mathcal L`, so one step of
plain gradient descent with learning rate ``lr`` advances time by ``lr``.

Order is counted in powers of the initialisation scale :math:`\varepsilon` (std
``d**-gamma``): "order ``k``" keeps every term of the velocity up to :math:`O(\varepsilon^k)`.

* :func:`label_matrix` ``M[nu, x] = r_x (phi^y_x(nu) - 1/V_out)`` and :func:`cooccurrence_matrix`
  ``K[x, x'] = r_x (delta_{xx'} + (L-1) phi^X_x(x'))`` -- the signatures as the flows use them.
* :func:`linear_velocity` -- Corollaries 3.1-3.2 (order 1: ``W_U^T M``, ``M W_E^T``; order 3 adds
  the :math:`\phi^X` term of the linearised softmax).
* :func:`ffn_velocity` -- Corollaries 4.1-4.2 for ``f = W_U sigma(sum_i W_E[:, x_i])`` (order 1,
  and order 2 with :math:`\phi^{X|y}`).
* :func:`predicted_velocity` -- dispatch on a :mod:`psbook.synthetic.models` model;
  :func:`autograd_velocity` -- the exact negative full-batch gradient, for comparison.
* :func:`integrate_reduced` -- the reduced two-layer linear system
  :math:`\dot W^E = W^{U\top} M`, :math:`\dot W^U = M W^{E\top}` (exact or RK4).
* :func:`relative_residual`, :func:`token_cosines`, :func:`loglog_slope` -- comparison helpers.

Runs of these checks over many initialisation scales and against training live in
:mod:`psbook.theory_checks`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ._validate import (as_float_array, as_token_array, check_choice, check_positive_float,
                        check_positive_int, check_weights)
from .signatures import TaskSignatures

__all__ = ["TAYLOR", "taylor_coefficients", "label_matrix", "cooccurrence_matrix",
           "phi_X_given_y_stack", "label_pair_signature", "linear_velocity", "ffn_velocity",
           "predicted_velocity", "autograd_velocity", "integrate_reduced", "relative_residual",
           "token_cosines", "loglog_slope"]

# sigma(z) = C1 z + C2 z^2 + C3 z^3 + O(z^4) around 0 (all these activations have sigma(0) = 0).
TAYLOR = {
    "identity": (1.0, 0.0, 0.0),
    "poly2": (1.0, 0.5, 0.0),                       # z + z^2/2 exactly
    "tanh": (1.0, 0.0, -1.0 / 3.0),
    "gelu": (0.5, 1.0 / math.sqrt(2.0 * math.pi), 0.0),   # z * Phi(z), exact-erf GELU
    "silu": (0.5, 0.25, 0.0),                       # z * sigmoid(z)
}


def taylor_coefficients(activation: str) -> tuple[float, float, float]:
    r"""``(C1, C2, C3)`` with :math:`\sigma(z) = C_1 z + C_2 z^2 + C_3 z^3 + O(z^4)`.

    ReLU has no such expansion at 0 (it is not differentiable there) and is refused.
    """
    if activation == "relu":
        raise ValueError("activation 'relu' has no Taylor expansion at 0 (its derivative jumps "
                         "there), so the corollaries' polynomial expansion does not apply; use "
                         f"one of {sorted(TAYLOR)}")
    check_choice("activation", activation, set(TAYLOR))
    return TAYLOR[activation]


def _check_sig(sig) -> TaskSignatures:
    if not isinstance(sig, TaskSignatures):
        raise TypeError(f"sig must be a psbook.signatures.TaskSignatures (from task_signatures "
                        f"or Task.signatures()); got {type(sig).__name__}")
    return sig


def _weights(W_E, W_U, sig):
    sig = _check_sig(sig)
    W_E = as_float_array("W_E", W_E)
    if W_E.ndim != 2 or W_E.shape[1] != sig.vocab_size:
        raise ValueError(f"W_E must be d x V with V = vocab_size = {sig.vocab_size}; got shape "
                         f"{W_E.shape}")
    W_U = as_float_array("W_U", W_U, (sig.label_size, W_E.shape[0]))
    return W_E, W_U, sig


# --------------------------------------------------------------------------------------
# the signatures as the flows use them
# --------------------------------------------------------------------------------------

def label_matrix(sig: TaskSignatures) -> np.ndarray:
    r"""``M[nu, x] = r_x (phi^y_x(nu) - 1/V_out)`` (``V_out x V``): the centred joint
    label-token occurrence matrix. Column ``x`` is :math:`r_x(\phi^y_x-\mathbf u)`; row ``nu``
    is :math:`L\,P(y{=}\nu)\,\varphi^X_\nu - \mathbf r / V_{out}`."""
    sig = _check_sig(sig)
    return (sig.r_in[:, None] * (sig.phi_y - 1.0 / sig.label_size)).T


def cooccurrence_matrix(sig: TaskSignatures) -> np.ndarray:
    r"""``K[x, x'] = r_x (delta_{xx'} + (L-1) phi^X_x(x'))`` = :math:`\mathbb E[c_x c_{x'}]`,
    the per-sample second moment of the token counts (``V x V``, symmetric)."""
    sig = _check_sig(sig)
    L = sig.seq_len
    return sig.r_in[:, None] * (np.eye(sig.vocab_size) + (L - 1) * sig.phi_X)


def phi_X_given_y_stack(sig: TaskSignatures) -> np.ndarray:
    r"""All matrix signatures :math:`\phi^{X|y}_x` stacked: array ``[x, beta, nu]``
    (``V x V x V_out``), from :meth:`TaskSignatures.phi_X_given_y`."""
    sig = _check_sig(sig)
    n = sig.vocab_size ** 2 * sig.label_size
    if n > 50_000_000:
        raise ValueError(f"the stack of phi_X_given_y would hold {n:,} entries (V={sig.vocab_size}, "
                         f"V_out={sig.label_size}); the second-order terms are for small tasks")
    return np.stack([sig.phi_X_given_y(x) for x in range(sig.vocab_size)])


def label_pair_signature(sig: TaskSignatures) -> np.ndarray:
    r"""``Psi[nu, b, b'] = P(x_I = b, x_J = b' | y = nu)``, I and J independent and uniform over
    the L positions (``V_out x V x V``; zero for labels that never occur).

    A second-order signature of the *label* token, introduced by this book for Corollary 4.2
    (the unembedding's :math:`C_2` term): :math:`\mathbb E[h\odot h\mid y=\nu] =
    L^2\,\mathrm{diag}(W^E\Psi_\nu W^{E\top})`.
    """
    sig = _check_sig(sig)
    V, Vo, L = sig.vocab_size, sig.label_size, sig.seq_len
    if Vo * V * V > 50_000_000:
        raise ValueError(f"label_pair_signature would hold {Vo * V * V:,} entries; the "
                         f"second-order terms are for small tasks")
    out = np.zeros(Vo * V * V)
    for i in range(L):
        for j in range(L):
            idx = (sig.y * V + sig.X[:, i]) * V + sig.X[:, j]
            out += np.bincount(idx, weights=sig.weights, minlength=Vo * V * V)
    out = out.reshape(Vo, V, V)
    mass = sig.label_mass
    out /= (L * L) * np.where(mass > 0, mass, 1.0)[:, None, None]
    return out


# --------------------------------------------------------------------------------------
# predicted velocities
# --------------------------------------------------------------------------------------

def linear_velocity(W_E, W_U, sig: TaskSignatures, order: int = 1) -> dict:
    r"""Predicted :math:`\dot W^E, \dot W^U` of the linear model ``f = W_U sum_i W_E[:, x_i]``.

    ``order=1`` (Corollaries 3.1-3.2, leading :math:`O(\varepsilon)`): ``W_U^T M`` and ``M W_E^T``.
    ``order=2`` is the same (the linear model has no :math:`O(\varepsilon^2)` term).
    ``order=3`` adds the linearised-softmax term :math:`-\frac1{V_{out}}W^{U\top}PFK` and
    :math:`-\frac1{V_{out}}PFKW^{E\top}`, with ``F = W_U W_E``, ``P = I - 11^T/V_out``: the only
    place :math:`\phi^X` enters. Returns ``{"W_E": d x V, "W_U": V_out x d}``.
    """
    W_E, W_U, sig = _weights(W_E, W_U, sig)
    order = check_positive_int("order", order)
    if order > 3:
        raise ValueError(f"order must be 1, 2 or 3 for the linear model; got {order}")
    G = label_matrix(sig)
    if order == 3:
        Vo = sig.label_size
        FK = W_U @ (W_E @ cooccurrence_matrix(sig))
        G = G - (FK - FK.mean(axis=0, keepdims=True)) / Vo
    return {"W_E": W_U.T @ G, "W_U": G @ W_E.T}


def ffn_velocity(W_E, W_U, sig: TaskSignatures, activation: str = "gelu", order: int = 1,
                 *, phi_Xy=None, psi=None) -> dict:
    r"""Predicted velocities of the FFN ``f = W_U sigma(sum_i W_E[:, x_i])`` (Corollaries 4.1-4.2).

    ``order=1``: :math:`C_1` times the linear model's leading terms. ``order=2`` adds the
    :math:`O(\varepsilon^2)` terms of :math:`\sigma'(h) = C_1 + 2C_2h + \dots` and
    :math:`\sigma(h) = C_1h + C_2 h^{\odot2} + \dots`:

    .. math::
        2C_2 r_x\big[W^E_x\odot W^{U\top}(\phi^y_x-\mathbf u) + (L-1)\big(\mathrm{diag}(W^E
        \phi^{X|y}_x W^U) - (W^E\phi^X_x)\odot W^{U\top}\mathbf u\big)\big]

    for ``W_E`` and :math:`C_2 P Q` for ``W_U`` (``Q[nu] = P(y=nu) E[h*h | y=nu]``, from
    :func:`label_pair_signature`). ``phi_Xy`` / ``psi`` may be passed precomputed
    (:func:`phi_X_given_y_stack`, :func:`label_pair_signature`) to save time in scans.
    """
    W_E, W_U, sig = _weights(W_E, W_U, sig)
    order = check_positive_int("order", order)
    if order > 2:
        raise ValueError(f"order must be 1 or 2 for the FFN; got {order}")
    C1, C2, _ = taylor_coefficients(activation)
    M = label_matrix(sig)
    out = {"W_E": C1 * (W_U.T @ M), "W_U": C1 * (M @ W_E.T)}
    if order == 1 or C2 == 0.0:
        return out
    V, Vo, L = sig.vocab_size, sig.label_size, sig.seq_len
    Phi = phi_X_given_y_stack(sig) if phi_Xy is None else as_float_array("phi_Xy", phi_Xy, (V, V, Vo))
    A = W_U.T @ (sig.phi_y - 1.0 / Vo).T                     # d x V: W_U^T (phi^y_x - u)
    D = np.einsum("kb,xbk->kx", W_E, np.einsum("xbn,nk->xbk", Phi, W_U))   # diag(W_E Phi_x W_U)
    wu = W_U.mean(axis=0)                                     # W_U^T u
    ctx = (W_E @ sig.phi_X.T) * wu[:, None]                   # (W_E phi^X_x) * W_U^T u
    out["W_E"] = out["W_E"] + 2 * C2 * sig.r_in[None, :] * (W_E * A + (L - 1) * (D - ctx))
    Psi = label_pair_signature(sig) if psi is None else as_float_array("psi", psi, (Vo, V, V))
    q = sig.label_prior
    Q = (L * L) * q[:, None] * np.einsum("kb,nbc,kc->nk", W_E, Psi, W_E)   # V_out x d
    out["W_U"] = out["W_U"] + C2 * (Q - Q.sum(axis=0, keepdims=True) / Vo)
    return out


def predicted_velocity(model, sig: TaskSignatures, order: int = 1) -> dict:
    """Predicted velocities for a :class:`psbook.synthetic.models.LinearModel` or a
    :class:`psbook.synthetic.models.FFN` with ``hidden=None`` (the form the corollaries analyse)."""
    from .synthetic.models import FFN, LinearModel
    if isinstance(model, LinearModel):
        return linear_velocity(model.W_E, model.W_U, sig, order)
    if isinstance(model, FFN):
        if model.W_1 is not None:
            raise ValueError("predicted_velocity needs an FFN with hidden=None (f = W_U "
                             "sigma(sum W_E)); got one with a hidden layer of width "
                             f"{model.hidden}")
        return ffn_velocity(model.W_E, model.W_U, sig, model.activation, order)
    raise TypeError(f"model must be a psbook.synthetic.models.LinearModel or FFN; got "
                    f"{type(model).__name__}")


def autograd_velocity(model, X, y, weights=None) -> dict:
    r"""The exact gradient-flow velocity :math:`-\nabla\mathcal L` of the full-batch (weighted)
    mean cross-entropy, computed by autograd in float64 on a copy of ``model``.

    Returns ``{"W_E": ..., "W_U": ..., "loss": float}`` (numpy, same shapes as the weights).
    """
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "W_E"):
        raise TypeError(f"model must be a psbook model (LinearModel / FFN); got "
                        f"{type(model).__name__}")
    V, Vo = int(model.W_E.shape[1]), int(model.W_U.shape[0])
    X = torch.from_numpy(as_token_array("X", X, V, ndim=2))
    y = torch.from_numpy(as_token_array("y", y, Vo, ndim=1))
    if X.dim() != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, L) and y (N,); got shapes {tuple(X.shape)} and "
                         f"{tuple(y.shape)}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns; expected sequences of at least one token")
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise ValueError(f"model parameter {name} holds NaN or inf; the model diverged")
    m = copy.deepcopy(model).double()
    m.zero_grad()
    per = torch.nn.functional.cross_entropy(m(X), y, reduction="none")
    if weights is None:
        loss = per.mean()
    else:
        w = torch.from_numpy(check_weights("weights", weights, X.shape[0]))
        loss = (w * per).sum() / w.sum()
    loss.backward()
    out = {name: -p.grad.detach().numpy().copy() for name, p in m.named_parameters()}
    out["loss"] = float(loss.detach())
    return out


# --------------------------------------------------------------------------------------
# the reduced linear system
# --------------------------------------------------------------------------------------

def integrate_reduced(W_E0, W_U0, M, times, method: str = "exact", dt: float = 0.05) -> dict:
    r"""Solve :math:`\dot W^E = W^{U\top}M,\ \dot W^U = M W^{E\top}` from ``(W_E0, W_U0)``.

    With :math:`Z = [W^{E\top}; W^U]` this is :math:`\dot Z = HZ`, :math:`H = [[0, M^\top],
    [M, 0]]` symmetric, so ``method="exact"`` uses :math:`Z(t) = Q e^{\Lambda t}Q^\top Z(0)`
    (eigenvalues of H are :math:`\pm` the singular values of M); ``method="rk4"`` integrates
    with classical Runge-Kutta steps of at most ``dt``. ``times`` (non-decreasing, >= 0) are the
    gradient-flow times to report (GD step k with learning rate lr is time ``k * lr``).

    Returns ``{"t": (T,), "W_E": (T, d, V), "W_U": (T, V_out, d)}``.
    """
    check_choice("method", method, {"exact", "rk4"})
    M = as_float_array("M", M)
    if M.ndim != 2:
        raise ValueError(f"M must be a V_out x V matrix; got shape {M.shape}")
    Vo, V = M.shape
    W_E0 = as_float_array("W_E0", W_E0)
    if W_E0.ndim != 2 or W_E0.shape[1] != V:
        raise ValueError(f"W_E0 must be d x V with V = {V} (columns of M); got {W_E0.shape}")
    d = W_E0.shape[0]
    W_U0 = as_float_array("W_U0", W_U0, (Vo, d))
    t = np.asarray(times, dtype=np.float64).ravel()
    if t.size == 0 or np.any(t < 0) or np.any(np.diff(t) < 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"times must be a non-empty non-decreasing sequence of times >= 0; "
                         f"got {times!r}")
    Z0 = np.concatenate([W_E0.T, W_U0], axis=0)
    H = np.zeros((V + Vo, V + Vo))
    H[:V, V:] = M.T
    H[V:, :V] = M
    Zs = []
    if method == "exact":
        lam, Q = np.linalg.eigh(H)
        growth = float(np.abs(lam).max()) * float(t[-1])
        if growth > 709:           # exp(709.8) overflows float64
            raise ValueError(f"times reach t = {t[-1]:g}, where the fastest mode grows like "
                             f"exp({np.abs(lam).max():.3g} t) and overflows float64; keep "
                             f"times below {709 / np.abs(lam).max():.4g}")
        C = Q.T @ Z0
        for tk in t:
            Zs.append(Q @ (np.exp(lam * tk)[:, None] * C))
    else:
        dt = check_positive_float("dt", dt)
        Z, now = Z0.copy(), 0.0
        for tk in t:
            n = int(math.ceil((tk - now) / dt - 1e-12))
            if n > 0:
                h = (tk - now) / n
                for _ in range(n):
                    k1 = H @ Z
                    k2 = H @ (Z + 0.5 * h * k1)
                    k3 = H @ (Z + 0.5 * h * k2)
                    k4 = H @ (Z + h * k3)
                    Z = Z + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
            now = tk
            Zs.append(Z.copy())
    Zs = np.stack(Zs)
    if not np.all(np.isfinite(Zs)):
        bad = int(np.flatnonzero(~np.isfinite(Zs).reshape(len(t), -1).all(1))[0])
        raise ValueError(f"the solution overflows float64 by t = {t[bad]:g}; shorten times")
    return {"t": t, "W_E": np.transpose(Zs[:, :V, :], (0, 2, 1)), "W_U": Zs[:, V:, :]}


# --------------------------------------------------------------------------------------
# comparisons
# --------------------------------------------------------------------------------------

def relative_residual(pred, true) -> float:
    """``||true - pred||_F / ||true||_F`` (inf if ``true`` is zero)."""
    pred, true = as_float_array("pred", pred), as_float_array("true", true)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape; got {pred.shape} and "
                         f"{true.shape}")
    den = np.linalg.norm(true)
    return float(np.linalg.norm(true - pred) / den) if den > 0 else float("inf")


def token_cosines(pred, true, tokens=None) -> np.ndarray:
    """Cosine between matching columns (one per token) of two ``d x V`` velocity matrices,
    for ``tokens`` (default: every column whose true velocity is non-zero)."""
    pred, true = as_float_array("pred", pred), as_float_array("true", true)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape; got {pred.shape} and "
                         f"{true.shape}")
    nt, npd = np.linalg.norm(true, axis=0), np.linalg.norm(pred, axis=0)
    cols = np.flatnonzero(nt > 0) if tokens is None else \
        as_token_array("tokens", tokens, true.shape[1], ndim=1, allow_empty=True)
    den = nt[cols] * npd[cols]
    return np.divide((pred[:, cols] * true[:, cols]).sum(0), den, out=np.zeros(cols.size),
                     where=den > 0)


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (both positive)."""
    x, y = as_float_array("x", x), as_float_array("y", y)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be equally long with at least 2 points; got {x.shape} "
                         f"and {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
