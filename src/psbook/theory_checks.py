r"""Numerical checks of the gradient-flow theory (chapters 03-04), built on :mod:`psbook.theory`.

* :func:`residual_order` -- the power of the initialisation scale by which the neglected terms
  are smaller than the kept ones (what the log-log slopes should be).
* :func:`init_scale_scan` -- autograd velocity vs predicted velocity over initialisation scales.
* :func:`reduced_vs_training` -- full-batch gradient descent of the linear model vs the
  integrated reduced system :math:`\dot W^E = W^{U\top}M,\ \dot W^U = MW^{E\top}`.
* :func:`twin_task` -- composite addition with an extra key token that duplicates another key
  (identical signatures), for the collapse check; :func:`pair_cosines` follows token pairs
  through a training run.
"""

from __future__ import annotations

import numpy as np
import torch

from . import metrics, theory
from ._validate import check_choice, check_positive_int
from .synthetic.models import FFN, LinearModel
from .signatures import task_signatures
from .synthetic.tasks import Task, f_add

__all__ = ["residual_order", "init_scale_scan", "relu_direction_scan", "reduced_vs_training",
           "twin_task", "pair_cosines", "cached_scale_scan", "scan_table",
           "cached_reduced_vs_training", "reduced_table"]


def residual_order(kind: str, order: int, activation: str | None = None,
                   leading: int = 1) -> int:
    r"""Power :math:`k` with relative residual :math:`\propto\varepsilon^k` after keeping the
    velocity up to :math:`O(\varepsilon^{order})`, when its first non-zero term is of order
    ``leading``: :math:`k` = (order of the first neglected term) - ``leading``.

    Linear model: only odd orders occur (:math:`\varepsilon, \varepsilon^3, \varepsilon^5`),
    so order 1 leaves :math:`\varepsilon^3` and order 3 leaves :math:`\varepsilon^5`. FFN:
    order 1 leaves the :math:`\varepsilon^2` term (:math:`\varepsilon^3` if :math:`C_2 = 0`),
    order 2 leaves :math:`\varepsilon^3`. ``leading`` is 1 unless the first-order term vanishes
    identically (e.g. modular addition, where every :math:`\phi^y_x` is uniform).
    """
    check_choice("kind", kind, {"linear", "ffn"})
    order = check_positive_int("order", order)
    leading = check_positive_int("leading", leading)
    if kind == "linear":
        if order > 3:
            raise ValueError(f"order must be 1, 2 or 3 for the linear model; got {order}")
        neglected = 3 if order < 3 else 5
    else:
        if order > 2:
            raise ValueError(f"order must be 1 or 2 for the FFN; got {order}")
        C1, C2, _ = theory.taylor_coefficients(activation)
        neglected = 2 if (order == 1 and C2 != 0.0) else 3
    if leading >= neglected:
        raise ValueError(f"leading={leading} must be below the first neglected order "
                         f"{neglected} (kind={kind!r}, order={order})")
    return neglected - leading


def _make(kind, V, Vo, d, gamma, activation, seed):
    if kind == "linear":
        return LinearModel(V, Vo, d=d, gamma=gamma, seed=seed)
    return FFN(V, Vo, d=d, hidden=None, activation=activation, gamma=gamma, seed=seed)


def init_scale_scan(kind: str, X, y, vocab_size: int, label_size: int, *, gammas, d: int,
                    orders=(1,), activation: str | None = None, seed: int = 0,
                    n_fit: int = 4) -> dict:
    r"""Compare the predicted velocity (:func:`psbook.theory.predicted_velocity`) with the
    autograd velocity (:func:`psbook.theory.autograd_velocity`) at each ``gamma``.

    The same random draw is used at every ``gamma`` (only its scale :math:`d^{-\gamma}` changes).
    Returns a dict with ``gamma``, ``sigma`` (= ``d**-gamma``), ``loss`` and, per order,
    ``res_E[o]``, ``res_U[o]`` (relative residuals), ``cos_min[o]``, ``cos_median[o]`` (per-token
    cosines of the ``W_E`` columns), ``slope_E[o]``, ``slope_U[o]`` (log-log slopes fitted over
    the ``n_fit`` smallest scales), ``predicted[o]`` (:func:`residual_order`; 0 when the kept
    terms vanish identically) and ``leading`` (order of the first non-zero term: 1, or more
    when the label matrix M is zero, as for modular addition).
    """
    check_choice("kind", kind, {"linear", "ffn"})
    if kind == "ffn":
        theory.taylor_coefficients(activation)
    d = check_positive_int("d", d)
    gammas = np.sort(np.asarray(gammas, dtype=np.float64))
    if gammas.size < 2:
        raise ValueError(f"gammas must hold at least 2 values; got {gammas.size}")
    X, y = np.asarray(X), np.asarray(y)
    sig = task_signatures(X, y, vocab_size, label_size)
    orders = tuple(int(o) for o in orders)
    # the first non-vanishing order: 1, unless the label matrix M is identically zero
    leading = 1
    if np.abs(theory.label_matrix(sig)).max() < 1e-14:
        leading = 3 if (kind == "linear" or theory.taylor_coefficients(activation)[1] == 0) \
            else 2
    pre = {}
    if kind == "ffn" and max(orders) >= 2:
        pre = dict(phi_Xy=theory.phi_X_given_y_stack(sig), psi=theory.label_pair_signature(sig))
    out = {"kind": kind, "activation": activation, "gamma": gammas, "sigma": float(d) ** -gammas,
           "orders": orders, "loss": [], "res_E": {o: [] for o in orders},
           "res_U": {o: [] for o in orders}, "cos_min": {o: [] for o in orders},
           "cos_median": {o: [] for o in orders}}
    for g in gammas:
        model = _make(kind, vocab_size, label_size, d, float(g), activation, seed)
        true = theory.autograd_velocity(model, X, y)
        out["loss"].append(true["loss"])
        for o in orders:
            if kind == "linear":
                pred = theory.linear_velocity(model.W_E, model.W_U, sig, o)
            else:
                pred = theory.ffn_velocity(model.W_E, model.W_U, sig, activation, o, **pre)
            out["res_E"][o].append(theory.relative_residual(pred["W_E"], true["W_E"]))
            out["res_U"][o].append(theory.relative_residual(pred["W_U"], true["W_U"]))
            c = theory.token_cosines(pred["W_E"], true["W_E"])
            out["cos_min"][o].append(float(c.min()))
            out["cos_median"][o].append(float(np.median(c)))
    n_fit = min(max(2, int(n_fit)), gammas.size)
    sl = slice(gammas.size - n_fit, None)          # largest gammas = smallest scales
    out["loss"] = np.asarray(out["loss"])
    out["slope_E"], out["slope_U"], out["predicted"] = {}, {}, {}
    for o in orders:
        for key in ("res_E", "res_U", "cos_min", "cos_median"):
            out[key][o] = np.asarray(out[key][o])
        out["slope_E"][o] = theory.loglog_slope(out["sigma"][sl], out["res_E"][o][sl])
        out["slope_U"][o] = theory.loglog_slope(out["sigma"][sl], out["res_U"][o][sl])
        try:
            out["predicted"][o] = residual_order(kind, o, activation, leading)
        except ValueError:          # the kept orders are all zero: nothing is predicted
            out["predicted"][o] = 0
    out["n_fit"] = n_fit
    out["leading"] = leading
    return out


def cached_scale_scan(kind: str, task: Task, *, gammas, d: int, n_fit: int, orders=(1,),
                      activation: str | None = None) -> dict:
    """:func:`init_scale_scan` of ``task``'s training set, loaded from the cache when it holds it.

    Book: chapters 03-04 (Check 1, and chapter 04's modular addition).
    """
    from .cache import load_or_compute

    key = {"kind": kind, "task": task.config(), "d": d, "gammas": gammas, "n_fit": n_fit}
    if kind == "ffn":
        key = {"kind": kind, "activation": activation, **{k: key[k] for k in key if k != "kind"}}
    return load_or_compute(
        "theory_scan", key,
        lambda: init_scale_scan(kind, task.X_train, task.y_train, task.vocab_size,
                                task.label_size, gammas=gammas, d=d, orders=orders,
                                activation=activation, n_fit=n_fit))


def scan_table(scans: dict, orders=None, *, caption: str = ""):
    """A :class:`~psbook.display.Table` of :func:`init_scale_scan` results: one row per scan
    and order.

    Book: chapters 03-04 (Check 1). Columns: the fitted log-log slopes of the ``W_E`` and
    ``W_U`` residuals, the predicted slope, and at the smallest scale the relative residual of
    ``W_E`` and the worst token's cosine. ``scans`` maps a name (``"linear"``, ``"gelu"``) to a
    scan; ``orders`` defaults to each scan's own.
    """
    from .display import Table

    rows = []
    for name, sc in scans.items():
        for o in (sc["orders"] if orders is None else orders):
            rows.append({"model": name, "order": o, "slope E": sc["slope_E"][o],
                         "slope U": sc["slope_U"][o], "predicted": sc["predicted"][o],
                         "res E": sc["res_E"][o][-1], "min cos": sc["cos_min"][o][-1]})
    return Table(rows, caption=caption or "Residual of the predicted velocity against autograd",
                 formats={"res E": ".2e", "min cos": ".6f"},
                 note="slope E, U: fitted log-log slopes of the relative residuals of W^E, "
                      "W^U; res E, min cos: W^E's relative residual and the worst token's "
                      "cosine at the smallest scale.")


def relu_direction_scan(X, y, vocab_size: int, label_size: int, *, gammas, d: int,
                        seed: int = 0) -> dict:
    r"""For the ReLU FFN (no Taylor expansion at 0): per-token cosine between the autograd
    embedding velocity and the first-order direction :math:`W^{U\top}M` at each ``gamma``.

    ReLU is positively homogeneous, so :math:`\sigma'(h)` is a 0/1 mask whatever the scale:
    nothing makes this cosine tend to 1 as the initialisation shrinks. Returns ``gamma``,
    ``sigma``, ``cos_median``, ``cos_min``.
    """
    d = check_positive_int("d", d)
    gammas = np.sort(np.asarray(gammas, dtype=np.float64))
    X, y = np.asarray(X), np.asarray(y)
    sig = task_signatures(X, y, vocab_size, label_size)
    med, mn = [], []
    for g in gammas:
        model = FFN(vocab_size, label_size, d=d, hidden=None, activation="relu",
                    gamma=float(g), seed=seed)
        true = theory.autograd_velocity(model, X, y)
        c = theory.token_cosines(theory.linear_velocity(model.W_E, model.W_U, sig, 1)["W_E"],
                                 true["W_E"])
        med.append(float(np.median(c)))
        mn.append(float(c.min()))
    return {"gamma": gammas, "sigma": float(d) ** -gammas, "cos_median": np.asarray(med),
            "cos_min": np.asarray(mn)}


def reduced_vs_training(task: Task, *, d: int, gamma: float, lr: float, steps: int,
                        n_snapshots: int = 12, seed: int = 0, tokens=None,
                        progress: bool = False) -> dict:
    r"""Train the linear model with full-batch gradient descent and integrate the reduced
    system from the same initialisation; compare them at ``n_snapshots`` log-spaced steps.

    Per snapshot (gradient-flow time ``t = step * lr``): ``loss`` of the trained model,
    ``cos_agree`` (Pearson correlation over token pairs of the two embeddings' cosine
    matrices), ``delta_cos_agree`` (the same for the displacements :math:`W^E(t)-W^E(0)`),
    ``rel_err`` (:math:`\|\Delta W^E_{train}-\Delta W^E_{red}\|/\|\Delta W^E_{train}\|`), and
    ``R_cos_train`` / ``R_cos_reduced`` (:math:`R_{cos}(W^E, \phi^y)`). Also the snapshot
    matrices ``W_train`` / ``W_reduced`` (one row per token) and ``tokens``.
    """
    from .synthetic.train import train

    steps = check_positive_int("steps", steps)
    n_snapshots = check_positive_int("n_snapshots", n_snapshots, minimum=2)
    snaps = np.unique(np.concatenate(
        [[0], np.round(np.geomspace(1, steps, n_snapshots - 1)).astype(int)]))
    sig = task.signatures()
    t_idx = (np.flatnonzero(sig.r_in > 0) if tokens is None
             else np.asarray(tokens, dtype=np.int64))
    torch.manual_seed(seed)
    model = LinearModel(task.vocab_size, task.label_size, d=d, gamma=gamma, seed=seed)
    W_E0 = model.W_E.detach().double().numpy().copy()
    W_U0 = model.W_U.detach().double().numpy().copy()
    hist = train(model, task, optimizer="gd", lr=lr, steps=steps, snapshot_steps=snaps,
                 log_every=max(1, steps // 100), progress=progress)
    red = theory.integrate_reduced(W_E0, W_U0, theory.label_matrix(sig), snaps * lr)
    phi = sig.phi_y[t_idx]
    rows = {k: [] for k in ("loss", "cos_agree", "delta_cos_agree", "rel_err", "R_cos_train",
                            "R_cos_reduced")}
    Wt_all, Wr_all = [], []
    for k, s in enumerate(snaps):
        Wt = hist.snapshots[int(s)]["W_E"].astype(np.float64)[t_idx]
        Wr = red["W_E"][k].T[t_idx]
        Wt_all.append(Wt)
        Wr_all.append(Wr)
        rows["loss"].append(float(hist.loss[np.flatnonzero(hist.steps == s)[0]]))
        rows["cos_agree"].append(metrics.correlation(
            metrics.pair_values(metrics.cosine_matrix(Wt)),
            metrics.pair_values(metrics.cosine_matrix(Wr))))
        dt, dr = Wt - W_E0.T[t_idx], Wr - W_E0.T[t_idx]
        if s == 0:
            rows["delta_cos_agree"].append(float("nan"))
            rows["rel_err"].append(float("nan"))
        else:
            rows["delta_cos_agree"].append(metrics.correlation(
                metrics.pair_values(metrics.cosine_matrix(dt)),
                metrics.pair_values(metrics.cosine_matrix(dr))))
            rows["rel_err"].append(theory.relative_residual(dr, dt))
        rows["R_cos_train"].append(metrics.r_cos(Wt, phi))
        rows["R_cos_reduced"].append(metrics.r_cos(Wr, phi))
    out = {k: np.asarray(v) for k, v in rows.items()}
    out.update(steps=snaps, t=snaps * lr, W_train=np.stack(Wt_all), W_reduced=np.stack(Wr_all),
               tokens=t_idx, loss0=float(np.log(task.label_size)), lr=lr)
    return out


def cached_reduced_vs_training(task: Task, *, d: int, gamma: float, lr: float, steps: int,
                               n_snapshots: int = 12, seed: int = 0) -> dict:
    """:func:`reduced_vs_training`, loaded from the cache when it holds the run.

    Book: chapter 03 (Check 2)."""
    from .cache import load_or_compute

    conf = {"task": task.config(), "d": d, "gamma": gamma, "lr": lr, "steps": steps,
            "n_snapshots": n_snapshots, "seed": seed}
    return load_or_compute(
        "theory_reduced", conf,
        lambda: reduced_vs_training(task, d=d, gamma=gamma, lr=lr, steps=steps,
                                    n_snapshots=n_snapshots, seed=seed))


def reduced_table(runs: dict, threshold: float = 0.9):
    """A :class:`~psbook.display.Table` of :func:`reduced_vs_training` runs: until when the
    trained and the reduced embeddings' cosine matrices agree, and where they part.

    Book: chapter 03 (Check 2). One row per run (``runs`` maps a name to a run): the last
    snapshot whose agreement is at least ``threshold`` (its time ``t`` and loss, as a share of
    ``log V_out``), the first one below it, and the final :math:`R_{cos}(W^E,\\phi^y)` of
    training and of the reduced system.
    """
    from .display import Table

    rows = []
    for name, r in runs.items():
        part = int(np.flatnonzero(r["cos_agree"] < threshold)[0])
        ok = part - 1
        rows.append({"run": name, "agree to t": f"{r['t'][ok]:g}",
                     "loss": f"{r['loss'][ok] / r['loss0']:.1%}",
                     "part at t": f"{r['t'][part]:g}",
                     "loss then": f"{r['loss'][part] / r['loss0']:.1%}",
                     "R_cos train": r["R_cos_train"][-1],
                     "R_cos red.": r["R_cos_reduced"][-1]})
    return Table(rows, caption=f"Training against the reduced system (agreement: correlation "
                               f"of the cosine matrices >= {threshold:g})",
                 formats={"R_cos train": ".2f", "R_cos red.": ".2f"},
                 note="loss: as a share of log V_out; R_cos: R_cos(W_E, phi_y) at the end "
                      "of training and of the reduced system.")


def twin_task(*, n_keys: int = 10, n_anchors: int = 4, n_slots: int = 1, twin_of: int = 3,
              seed: int = 0) -> Task:
    r"""Composite addition :func:`psbook.synthetic.tasks.f_add` (full table, no test split) with one extra
    key token, named ``"<twin_of>'"``, that means the same number as key ``twin_of``.

    Every row with key ``twin_of`` is duplicated with the twin in its place, so the twin and
    its original have identical :math:`r`, :math:`\phi^y`, :math:`\phi^X` and
    :math:`\phi^{X|y}`; every other key has a different :math:`\phi^y`. The twin's id is
    ``vocab_size - 1`` (after the anchors).
    """
    n_keys = check_positive_int("n_keys", n_keys, minimum=3)
    if not (isinstance(twin_of, (int, np.integer)) and 0 <= twin_of < n_keys):
        raise ValueError(f"twin_of must be a key in [0, {n_keys}); got {twin_of!r}")
    base = f_add(n_keys=n_keys, n_anchors=n_anchors, n_slots=n_slots, test_frac=0.0,
                 seed=seed)
    twin = base.vocab_size
    rows = base.X_train[:, 0] == twin_of
    X_extra = base.X_train[rows].copy()
    X_extra[:, 0] = twin
    X = np.concatenate([base.X_train, X_extra])
    y = np.concatenate([base.y_train, base.y_train[rows]])
    params = dict(base.params, twin_of=int(twin_of), kind="twin")
    return Task(name="f_add_twin", X_train=X, y_train=y, X_test=base.X_test,
                y_test=base.y_test, vocab_size=twin + 1, label_size=base.label_size,
                ordered_tokens=base.ordered_tokens, token_names=base.token_names + [f"{twin_of}'"],
                label_names=base.label_names, params=params,
                groups=dict(base.groups, twin=np.array([twin])))


def pair_cosines(snapshots: dict, pairs) -> dict:
    """``{(a, b): array over sorted snapshot steps}`` of cos(W_a, W_b), from a
    :class:`psbook.synthetic.train.History`'s ``snapshots`` (rows = tokens); also ``"steps"``."""
    if not snapshots:
        raise ValueError("snapshots is empty; train with snapshot_steps=[...]")
    steps = sorted(snapshots)
    out = {"steps": np.asarray(steps)}
    for a, b in pairs:
        vals = []
        for s in steps:
            W = snapshots[s]["W_E"]
            na, nb = np.linalg.norm(W[a]), np.linalg.norm(W[b])
            vals.append(float(W[a] @ W[b] / (na * nb)) if na * nb > 0 else 0.0)
        out[(int(a), int(b))] = np.asarray(vals)
    return out


def onset_times(task: Task, *, models, d: int, gamma: float, lr: float, steps: int, seeds,
                log_every: int = 10, threshold: float = 0.9) -> dict:
    """First logged step at which the training loss falls below ``threshold`` times its
    initial value (NaN: never within ``steps``), for each model at each seed.

    ``models`` maps a name to ``"linear"`` or an FFN activation (``"gelu"``, ``"tanh"``,
    ...; one layer, no hidden width: the FFN of chapter 04). Full-batch GD from the small
    initialisation ``d**-gamma``, the setting the corollaries assume. Returns
    ``{name: array of onset steps, one per seed}``.
    """
    from .synthetic.ensemble import fit_many

    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict name -> 'linear' or an activation; "
                         f"got {models!r}")
    if not 0 < float(threshold) < 1:
        raise ValueError(f"threshold must be in (0, 1); got {threshold!r}")
    seeds = [check_positive_int("seed", s, minimum=0) for s in seeds]
    out = {}
    for name, kind in models.items():
        kw = (dict(model="linear") if kind == "linear"
              else dict(model="ffn", hidden=None, activation=kind))
        hists = [r.history for r in fit_many(     # the seeds train together as one ensemble
            [dict(task=task, d=d, gamma=gamma, seed=s, optimizer="gd", lr=lr, steps=steps,
                  log_every=log_every, **kw) for s in seeds])]
        vals = [h.first_step_below("loss", float(threshold) * h.loss[0]) for h in hists]
        out[name] = np.asarray(vals, dtype=float)
    return out


__all__ += ["onset_times"]


def twin_training(task: Task, *, d: int, lr: float, steps: int, seed: int = 0,
                  gamma: float = 0.8, n_snapshots: int = 12):
    """Train the linear model on ``task`` (e.g. :func:`twin_task`) by full-batch GD from the
    initialisation drawn with ``seed``, storing ``W_E`` at log-spaced steps; cached.

    Returns the :class:`psbook.synthetic.train.History` (its ``snapshots`` feed :func:`pair_cosines`).
    """
    from .cache import load_or_compute
    from .synthetic.train import train

    steps = check_positive_int("steps", steps)
    seed = check_positive_int("seed", seed, minimum=0)
    snaps = sorted({0} | set(np.unique(np.geomspace(1, steps, n_snapshots).astype(int)).tolist()))
    conf = {"task": task.config(), "d": d, "lr": lr, "steps": steps, "snaps": snaps,
            "seed": seed, "gamma": gamma}
    return load_or_compute(
        "theory_twin", conf,
        lambda: train(LinearModel(task.vocab_size, task.label_size, d=d, gamma=gamma, seed=seed),
                      task, optimizer="gd", lr=lr, steps=steps, snapshot_steps=snaps,
                      progress=False))


__all__ += ["twin_training"]
