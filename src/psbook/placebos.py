r"""Data-free placebos: matrices with the *shape* of a signature but built from no data.

A check that a learned geometry "follows a signature" should fail when the signature is
replaced by the strongest thing that carries the same shape and none of the data. These are
such things, for the synthetic tasks of chapters 06 and 07:

* :func:`index_kernel` -- a Gaussian in the token index: row ``i`` is
  :math:`\exp(-(i-j)^2/2w^2)`. It says only "tokens listed next to each other are alike", the
  shape of an ordered co-occurrence signature (chapter 06), with no count in it.
* :func:`circle_kernel` -- the points :math:`(\cos 2\pi kx/p,\ \sin 2\pi kx/p)`: the shape of
  the Fourier eigenvalue :math:`\lambda_k(x)` of modular addition (chapter 07), for any
  frequency ``k``, whatever the data.
* :func:`best_index_kernel` -- the Gaussian whose width makes a statistic largest, over a grid
  of widths: the placebo given every advantage (its width is tuned on the very embedding it is
  compared with).
"""

from __future__ import annotations

import numpy as np

from ._validate import check_positive_int

__all__ = ["index_kernel", "circle_kernel", "best_index_kernel", "DEFAULT_WIDTHS"]

#: the widths (in index units) :func:`best_index_kernel` tries by default
DEFAULT_WIDTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def index_kernel(n: int, width: float) -> np.ndarray:
    r"""``n x n`` Gaussian kernel in the index: ``K[i, j] = exp(-(i - j)^2 / (2 width^2))``."""
    n = check_positive_int("n", n)
    if isinstance(width, bool) or not isinstance(width, (int, float, np.integer, np.floating)) \
            or not np.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a positive number (in index units); got {width!r}")
    i = np.arange(n, dtype=float)
    return np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * float(width) ** 2))


def circle_kernel(p: int, k: int) -> np.ndarray:
    r"""``p x 2`` points ``(cos 2 pi k x / p, sin 2 pi k x / p)`` for ``x = 0..p-1``: the shape of
    modular addition's Fourier eigenvalue at frequency ``k``, computed from no data."""
    p = check_positive_int("p", p)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= p // 2:
        raise ValueError(f"k must be an integer frequency in [1, p//2 = {p // 2}]; got {k!r}")
    a = 2 * np.pi * int(k) * np.arange(p) / p
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def best_index_kernel(statistic, n: int, widths=DEFAULT_WIDTHS) -> tuple[float, float]:
    """``(best value, its width)``: ``statistic(index_kernel(n, w))`` maximised over ``widths``.

    ``statistic`` is a callable taking the kernel (e.g. a partial correlation of an embedding
    with it). Tuning the width on the statistic itself makes this the strongest version of the
    placebo; a claim that beats it beats every width in the grid.
    """
    if not callable(statistic):
        raise TypeError(f"statistic must be a callable taking a kernel; got {type(statistic).__name__}")
    widths = [float(w) for w in widths]
    if not widths:
        raise ValueError("widths must hold at least one width; got an empty sequence")
    vals = [float(statistic(index_kernel(n, w))) for w in widths]
    if not all(np.isfinite(vals)):
        raise ValueError(f"statistic returned a non-finite value for some width: {vals}")
    i = int(np.argmax(vals))
    return vals[i], widths[i]


def partial_controls(res, label: str, *, n_shuffles: int = 10) -> dict:
    r"""The partial correlation :math:`R_{cos}(W^E,\phi^X\mid\phi^y)` of one run over its
    ordered tokens, beside its control and its placebo, keyed for a chapter's table:
    ``partial_<label>``; ``partial_<label>_shuffled`` (the mean over ``n_shuffles`` of
    :math:`\phi^X`'s rows shuffled across tokens); ``partial_<label>_kernel`` and
    ``kernel_width_<label>`` (the :func:`best_index_kernel` in place of :math:`\phi^X`).

    ``res``: a :class:`psbook.synthetic.experiments.ExperimentResult`. Book: chapter 06.
    """
    from .synthetic.experiments import partial_r_cos
    from .metrics import shuffled_rows

    k, sig = res.task.ordered_tokens, res.signatures
    pX, py = sig.dense("phi_X", k), sig.dense("phi_y", k)
    out = {f"partial_{label}": partial_r_cos(res.W_E, pX, py, tokens=k)}
    out[f"partial_{label}_shuffled"] = np.mean(
        [partial_r_cos(res.W_E, shuffled_rows(pX, seed=j), py, tokens=k)
         for j in range(n_shuffles)])
    out[f"partial_{label}_kernel"], out[f"kernel_width_{label}"] = best_index_kernel(
        lambda K: partial_r_cos(res.W_E, K, py, tokens=k), len(k))
    return out


def flat_task_values(flat, *, threshold: float, seed: int) -> dict:
    r"""The numbers of one ``f_add_flat`` run (keys that share one label signature), each
    beside its placebo, keyed ``flat_*`` and ``perm_*`` for a chapter's table.

    ``flat_r_order_phi_y`` / ``flat_r_order_phi_X``: the order of the task's signatures;
    ``flat_final``, ``flat_rcos_X``, ``flat_rcos_y``: the final :math:`R_{order}(W^E)` and
    :math:`R_{cos}` with :math:`\phi^X` and :math:`\phi^y`; ``flat_t``: the interpolated step
    at which :math:`R_{order}` crosses ``threshold``; ``flat_rcos_kernel``: the
    :func:`best_index_kernel` placebo against the embedding; ``perm_final`` /
    ``perm_rcos_X``: the same model trained on the same rows with their labels permuted across
    rows (permutation drawn from ``seed``: :math:`\phi^X` kept, the label's joint dependence on
    the tokens broken). That run trains on its distinct inputs with their label weights
    (``merge_inputs``: the same loss, several times fewer rows once the labels are permuted),
    logs only its first and last step, and inside
    :func:`psbook.synthetic.experiments.run_seeds` trains together with the other seeds'.
    Book: chapter 06.
    """
    from dataclasses import replace

    from .metrics import crossing_step, r_cos, r_order
    from .synthetic.tasks import signature_contrast
    from .synthetic.ensemble import fit

    c = signature_contrast(flat.task)
    h = flat.history
    out = dict(flat_r_order_phi_y=c["r_order_phi_y"], flat_r_order_phi_X=c["r_order_phi_X"],
               flat_final=flat.metrics["R_order"], flat_rcos_X=flat.metrics["R_cos_phi_X"],
               flat_rcos_y=flat.metrics["R_cos_phi_y"],
               flat_t=crossing_step(h.steps, h["R_order"], threshold))
    ft = flat.task
    kf = ft.ordered_tokens
    out["flat_rcos_kernel"] = best_index_kernel(lambda K: r_cos(flat.W_E[kf], K), len(kf))[0]
    perm = np.random.default_rng(seed).permutation(len(ft.y_train))
    pt = replace(ft, y_train=ft.y_train[perm], _sig=None)
    cfg = {k: flat.config[k] for k in ("d", "gamma", "seed", "optimizer", "lr", "steps",
                                       "weight_decay", "device")}
    pr = fit(pt, model="linear", merge_inputs=True, log_every=cfg["steps"], **cfg)
    out["perm_final"] = float(r_order(pr.W_E, kf))
    out["perm_rcos_X"] = r_cos(pr.W_E[kf], ft.signatures().dense("phi_X", kf))
    return out


#: how chapter 06's table names the values of :func:`partial_controls` (labels tilde, add)
#: and :func:`flat_task_values`
SEPARATION_LABELS = {
    "partial_tilde": "f~_add: R_cos(W^E, phi^X | phi^y)",
    "partial_tilde_shuffled": "f~_add: the same, phi^X shuffled",
    "partial_tilde_kernel": "f~_add: the same, index kernel",
    "kernel_width_tilde": "f~_add: the kernel's width",
    "partial_add": "f_add: R_cos(W^E, phi^X | phi^y)",
    "partial_add_shuffled": "f_add: the same, phi^X shuffled",
    "partial_add_kernel": "f_add: the same, index kernel",
    "kernel_width_add": "f_add: the kernel's width",
    "flat_r_order_phi_y": "f_add_flat: R_order(phi^y)",
    "flat_r_order_phi_X": "f_add_flat: R_order(phi^X)",
    "flat_final": "f_add_flat: final R_order(W^E)",
    "flat_rcos_X": "f_add_flat: R_cos(W^E, phi^X)",
    "flat_rcos_y": "f_add_flat: R_cos(W^E, phi^y)",
    "flat_t": "f_add_flat: onset of order",
    "flat_rcos_kernel": "f_add_flat: R_cos(W^E, index kernel)",
    "perm_final": "labels permuted: final R_order",
    "perm_rcos_X": "labels permuted: R_cos(W^E, phi^X)",
}

__all__ += ["partial_controls", "flat_task_values", "SEPARATION_LABELS"]


def circle_fits(ffn, lin, k: int) -> dict:
    r"""How well circles fit two runs' embeddings on a modular-addition task whose data chose
    frequency ``k``: :math:`R_{cos}` of the FFN's and the linear model's ``W^E`` with the
    measured :math:`\lambda_k` (``ffn``, ``lin``); of the FFN's with the data-free circle at
    ``k`` (``ffn_circle``); and the best data-free circle at any *other* frequency, the
    placebo, for both (``ffn_other``, ``lin_other``). Book: chapter 07."""
    from .metrics import r_cos
    from .signatures import fourier_signature

    p = ffn.task.vocab_size

    def with_circles(W):
        other = max(r_cos(W, circle_kernel(p, j)) for j in range(1, p // 2 + 1) if j != k)
        return r_cos(W, circle_kernel(p, k)), other

    c_k, c_other = with_circles(ffn.W_E)
    return {"ffn": r_cos(ffn.W_E, fourier_signature(ffn.task, k)),
            "lin": r_cos(lin.W_E, fourier_signature(lin.task, k)),
            "ffn_circle": c_k, "ffn_other": c_other, "lin_other": with_circles(lin.W_E)[1]}


__all__ += ["circle_fits"]
