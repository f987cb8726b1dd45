r"""The gradient-flow prediction checked along training, not only at initialisation (ch. 13).

At saved snapshots of a training run, the *actual* velocity of the embedding (the exact
negative gradient, :func:`psbook.theory.autograd_velocity` for the synthetic models; the
autograd gradient of a fixed batch for the language model) is compared token by token with
the velocity *predicted* from the signatures (:func:`psbook.theory.linear_velocity` at order
1 and 3, :func:`psbook.theory.ffn_velocity` at order 1 and 2 -- the :math:`\phi^{X|y}` term --,
:func:`psbook.lm.predicted_gradients`). Under full-batch gradient descent the velocity *is*
the negative gradient, so no finite difference is needed.

* :func:`synthetic_trajectory` -- linear model or FFN (``hidden=None``, a smooth activation)
  on a :class:`psbook.synthetic.tasks.Task`, trained by :func:`psbook.synthetic.train.fit` (cached).
* :func:`lm_trajectory` -- the language model of chapter 10, trained by
  :func:`psbook.lm.train_lm` in stretches (exact resume from its checkpoint) and probed at
  each stop; cached.
* :func:`holds_until` -- the last step (and loss) before the median cosine first falls below a
  threshold: where the prediction stops holding.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from . import theory
from ._validate import check_choice, check_positive_int
from .synthetic.tasks import Task

__all__ = ["snapshot_steps", "synthetic_trajectory", "lm_trajectory", "holds_until",
           "quartiles"]


def snapshot_steps(steps: int, n: int) -> np.ndarray:
    """``0`` and ``n - 1`` log-spaced steps up to ``steps`` (unique, sorted)."""
    steps = check_positive_int("steps", steps)
    n = check_positive_int("n", n, minimum=2)
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, steps, n - 1))])).astype(int)


def quartiles(cos_rows) -> dict:
    """Per row (snapshot) of per-token cosines: ``median``, ``q1``, ``q3``."""
    q = np.array([np.percentile(c, [25, 50, 75]) if len(c) else [np.nan] * 3 for c in cos_rows])
    return {"q1": q[:, 0], "median": q[:, 1], "q3": q[:, 2]}


def holds_until(result: dict, key: str, threshold: float = 0.9) -> dict:
    """Where the prediction stops holding: the first snapshot whose median per-token cosine
    (``result[key]["median"]``) is below ``threshold``. Returns ``{"step", "loss", "index",
    "holds_throughout"}``; ``step``/``loss`` are those of that first failing snapshot (NaN if
    it never fails)."""
    if key not in result:
        raise ValueError(f"key must be one of {[k for k in result if isinstance(result[k], dict)]}"
                         f"; got {key!r}")
    med = np.asarray(result[key]["median"])
    bad = np.flatnonzero(~(med >= threshold))
    if bad.size == 0:
        return {"step": float("nan"), "loss": float("nan"), "index": None,
                "holds_throughout": True}
    i = int(bad[0])
    return {"step": float(result["steps"][i]), "loss": float(result["loss"][i]), "index": i,
            "holds_throughout": False}


def synthetic_trajectory(task: Task, *, model: str = "linear", d: int = 32, gamma: float = 0.8,
                         lr: float = 0.5, steps: int = 500, n_snapshots: int = 12,
                         activation: str = "gelu", seed: int = 0, tokens=None) -> dict:
    r"""Train ``model`` (``"linear"`` or ``"ffn"`` with ``hidden=None``) by full-batch gradient
    descent (:func:`psbook.synthetic.train.fit`, cached) and, at ``n_snapshots`` log-spaced steps,
    compare the autograd velocity of ``W_E`` with the predicted one.

    Orders: 1 and 3 for the linear model, 1 and 2 for the FFN (order 2 holds the
    :math:`\phi^{X|y}` term; ``activation`` must have a Taylor expansion, e.g. ``"gelu"``).
    Returns ``steps``, ``loss`` (full-batch, at each snapshot), ``orders`` and, per order
    ``o``, ``result[f"order{o}"] = {"cos": list of per-token cosines, "median", "q1", "q3",
    "residual"}`` (relative residual :func:`psbook.theory.relative_residual`).
    """
    from .synthetic.models import make_model
    from .synthetic.train import fit

    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.synthetic.tasks.Task; got {type(task).__name__}")
    check_choice("model", model, {"linear", "ffn"})
    if model == "ffn":
        theory.taylor_coefficients(activation)          # refuses relu with a clear message
    snaps = snapshot_steps(steps, n_snapshots)
    res = fit(task, model=model, d=d, hidden=None, activation=activation, gamma=gamma,
              seed=seed, optimizer="gd", lr=lr, steps=steps, snapshot_steps=snaps,
              progress=False)
    sig = task.signatures()
    tok = np.flatnonzero(sig.r_in > 0) if tokens is None else np.asarray(tokens, np.int64)
    orders = (1, 3) if model == "linear" else (1, 2)
    pre = {}
    if model == "ffn":
        pre = dict(phi_Xy=theory.phi_X_given_y_stack(sig), psi=theory.label_pair_signature(sig))
    kw = dict(d=d, gamma=gamma, seed=seed)
    if model == "ffn":
        kw.update(hidden=None, activation=activation)
    net = make_model(model, task.vocab_size, task.label_size, **kw)
    out = {"steps": snaps, "loss": [], "orders": orders, "model": model, "tokens": tok}
    per = {o: {"cos": [], "residual": []} for o in orders}
    for s in snaps:
        snap = res.history.snapshots[int(s)]
        with torch.no_grad():
            net.W_E.copy_(torch.from_numpy(snap["W_E"].T.copy()))
            net.W_U.copy_(torch.from_numpy(snap["W_U"].copy()))
        true = theory.autograd_velocity(net, sig.X, sig.y, sig.weights)
        out["loss"].append(true["loss"])
        WE, WU = snap["W_E"].T.astype(np.float64), snap["W_U"].astype(np.float64)
        for o in orders:
            if model == "linear":
                pred = theory.linear_velocity(WE, WU, sig, o)
            else:
                pred = theory.ffn_velocity(WE, WU, sig, activation, o, **pre)
            per[o]["cos"].append(theory.token_cosines(pred["W_E"], true["W_E"], tok))
            per[o]["residual"].append(theory.relative_residual(pred["W_E"], true["W_E"]))
    out["loss"] = np.asarray(out["loss"])
    for o in orders:
        out[f"order{o}"] = {**quartiles(per[o]["cos"]), "cos": per[o]["cos"],
                            "residual": np.asarray(per[o]["residual"])}
    return out


def lm_trajectory(tokens, model_cfg, train_cfg, *, n_snapshots: int = 8, n_windows: int = 32,
                  min_count: int = 5, device: str = "cpu") -> dict:
    r"""Train the language model of chapter 10 and, at ``n_snapshots`` log-spaced steps,
    compare its autograd embedding gradient on a fixed batch of ``n_windows`` windows with the
    leading-order prediction (:func:`psbook.lm.predicted_gradients`).

    Training runs in stretches through :func:`psbook.lm.train_lm`'s checkpoints (its resume
    is exact, so the trajectory is that of one uninterrupted run). Cached under the full
    configuration. Returns ``steps``, ``loss`` (of the probe batch), ``train_loss`` /
    ``train_steps`` (the training curve), ``E`` (and ``U`` for an untied model) as
    ``{"cos": [...], "median", "q1", "q3"}``.
    """
    from .cache import load_or_compute
    from .lm import QwenLM, as_stream, fingerprint, predicted_gradients, train_lm
    from .lm.model import LMConfig
    from .lm.train import TrainConfig

    if not isinstance(model_cfg, LMConfig) or not isinstance(train_cfg, TrainConfig):
        raise TypeError("model_cfg must be an LMConfig and train_cfg a TrainConfig (see "
                        "psbook.lm.configs_from_preset)")
    n_windows = check_positive_int("n_windows", n_windows)
    snaps = snapshot_steps(train_cfg.steps, n_snapshots)
    stream = as_stream(tokens, model_cfg.vocab_size)
    L = train_cfg.seq_len + 1
    if stream.size < n_windows * L:
        raise ValueError(f"tokens holds {stream.size} ids, fewer than n_windows * (seq_len + 1)"
                         f" = {n_windows * L}; use fewer windows")
    config = {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
              "tokens": fingerprint(tokens), "snaps": snaps.tolist(), "n_windows": n_windows,
              "min_count": min_count}

    def compute():
        # the probe batch: evenly spaced windows over the whole stream
        starts = np.linspace(0, stream.size - L, n_windows).astype(np.int64)
        ids = torch.from_numpy(stream[starts[:, None] + np.arange(L)]).to(device)
        keys = ["E"] if model_cfg.tie_embeddings else ["E", "U"]
        rows = {k: [] for k in keys}
        losses = []
        hist = None
        with tempfile.TemporaryDirectory() as tmp:
            for s in snaps:
                if s == 0:
                    model = QwenLM(model_cfg, seed=train_cfg.seed)
                else:
                    r = train_lm(tokens, model_cfg, train_cfg, checkpoint_dir=tmp,
                                 stop_after=int(s), device=device, progress=False,
                                 keep_state=True)
                    hist = r.history
                    model = r.model()
                model = model.to(device)
                with torch.no_grad():
                    losses.append(float(model.loss(ids)))
                g = predicted_gradients(model, ids, min_count=min_count)
                for k in keys:
                    rows[k].append(g[f"cos_{k}"])
        out = {"steps": snaps, "loss": np.asarray(losses),
               "train_steps": np.asarray(hist["step"]) if hist else np.zeros(0),
               "train_loss": np.asarray(hist["loss"]) if hist else np.zeros(0)}
        for k in keys:
            out[k] = {**quartiles(rows[k]), "cos": rows[k]}
        return out

    return load_or_compute("lm-trajectory", config, compute, verbose=False)
