r"""Full-batch training of the synthetic-task models, returning a trajectory.

:func:`train` runs full-batch gradient descent (``optimizer="gd"``, the discrete version of the
gradient flow the theory chapters analyse) or Adam on a :class:`psbook.tasks.Task`, and records
every ``log_every`` steps: the loss, train/test accuracy, :math:`R_{cos}(W^E, \phi^y)`,
:math:`R_{cos}(W^E, \phi^X)` and :math:`R_{order}(W^E)` over the task's ordered tokens,
:math:`R_{cos}(W^E, \phi^y)` over all input tokens and :math:`R_{cos}(W^U, \varphi^X)` over the
labels seen in training; plus snapshots of ``W_E`` (V x d, one row per token) and ``W_U`` at
chosen steps. NaN or a loss that explodes stops training with a message saying what to change.

:func:`fit` builds the model, trains it and caches the result (:mod:`psbook.cache`) under the
full configuration (task parameters, model, optimiser, steps, seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import metrics
from ._validate import check_choice, check_positive_float, check_positive_int, check_seed
from .models import make_model
from .progress import progress_bar
from .tasks import Task

__all__ = ["History", "TrainResult", "train", "fit", "DivergenceError"]


class DivergenceError(RuntimeError):
    """Training produced NaN/inf or an exploding loss; the message says what to change.

    The one exception for a diverged run: :func:`train` (synthetic tasks) and
    :func:`psbook.lm.train_lm` (the language model) both raise it;
    ``psbook.lm.TrainingDiverged`` is the same class under its older name."""


@dataclass
class History:
    """A training trajectory. ``steps[k]`` is the step at which row ``k`` of every curve was logged."""

    steps: np.ndarray
    loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    curves: dict                      # name -> array over ``steps`` (R_cos_*, R_order, ...)
    snapshots: dict = field(default_factory=dict)   # step -> {"W_E": (V, d), "W_U": (V_out, w)}

    def __getitem__(self, name: str) -> np.ndarray:
        if name in ("loss", "train_acc", "test_acc", "steps"):
            return getattr(self, name)
        if name not in self.curves:
            raise KeyError(f"no curve {name!r}; available: loss, train_acc, test_acc, "
                           f"{', '.join(self.curves)}")
        return self.curves[name]

    def first_step_below(self, name: str, threshold: float) -> float:
        """First logged step at which curve ``name`` is below ``threshold`` (NaN if never)."""
        v = self[name]
        hit = np.flatnonzero(np.asarray(v) < threshold)
        return float(self.steps[hit[0]]) if hit.size else float("nan")

    def first_step_above(self, name: str, threshold: float) -> float:
        v = self[name]
        hit = np.flatnonzero(np.asarray(v) > threshold)
        return float(self.steps[hit[0]]) if hit.size else float("nan")


@dataclass
class TrainResult:
    history: History
    W_E: np.ndarray          # final embeddings, one row per token (V x d)
    W_U: np.ndarray          # final unembedding (V_out x width)
    config: dict
    W_1: np.ndarray | None = None


def _snapshot_list(snapshot_steps) -> list:
    """``snapshot_steps`` as a sorted list of distinct ints (an iterable of integers)."""
    import numbers
    if isinstance(snapshot_steps, (str, bytes)) or not hasattr(snapshot_steps, "__iter__"):
        raise TypeError(f"snapshot_steps must be a list of integer steps (possibly empty); got "
                        f"{type(snapshot_steps).__name__} {snapshot_steps!r}")
    out = set()
    for s in snapshot_steps:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"snapshot_steps must hold integer steps; got {s!r}")
        out.add(int(s))
    return sorted(out)


def _accuracy(model, X, y) -> float:
    if X.shape[0] == 0:
        return float("nan")
    with torch.no_grad():
        return float((model(X).argmax(-1) == y).float().mean())


def _log_metrics(model, task: Task, sig) -> dict:
    WE = model.W_E.detach().T.numpy()
    WU = model.W_U.detach().numpy()
    t = task.ordered_tokens
    seen_labels = np.flatnonzero(sig.label_mass > 0)
    out = {
        "R_cos_phi_y": metrics.r_cos(WE[t], sig.dense("phi_y", t)),
        "R_cos_phi_X": metrics.r_cos(WE[t], sig.dense("phi_X", t)),
        "R_order": metrics.r_order(WE, t),
        "R_cos_phi_y_all": metrics.r_cos(WE, sig.phi_y_sparse),
        "R_cos_WU_varphi_X": (metrics.r_cos(WU[seen_labels], sig.dense("varphi_X", seen_labels))
                              if seen_labels.size >= 3 else float("nan")),
    }
    return out


def train(model: torch.nn.Module, task: Task, *, optimizer: str = "gd", lr: float = 0.5,
          steps: int = 2000, weight_decay: float = 0.0, log_every: int | None = None,
          snapshot_steps=(), progress: bool = True, max_loss_factor: float = 50.0) -> History:
    """Train ``model`` full-batch on ``task.X_train``; returns the :class:`History`.

    ``optimizer``: ``"gd"`` (plain gradient descent) or ``"adam"`` (AdamW when
    ``weight_decay > 0``). ``log_every`` defaults to ``steps // 50``. ``snapshot_steps``: steps
    at which ``W_E`` and ``W_U`` are stored (step 0 = initialisation; the last step is always
    logged). Raises :class:`DivergenceError` if the loss becomes NaN/inf or exceeds
    ``max_loss_factor`` times its initial value.
    """
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "W_E") \
            or not hasattr(model, "W_U"):
        raise TypeError(f"model must be a psbook model (LinearModel / FFN, from "
                        f"psbook.models.make_model); got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.tasks.Task; got {type(task).__name__}")
    check_choice("optimizer", optimizer, {"gd", "adam"})
    max_loss_factor = check_positive_float("max_loss_factor", max_loss_factor)
    if max_loss_factor < 1:
        raise ValueError(f"max_loss_factor must be >= 1 (the loss may not exceed this many times "
                         f"its initial value); got {max_loss_factor}")
    lr = check_positive_float("lr", lr)
    steps = check_positive_int("steps", steps)
    weight_decay = check_positive_float("weight_decay", weight_decay, allow_zero=True)
    log_every = max(1, steps // 50) if log_every is None else check_positive_int("log_every",
                                                                                 log_every)
    snaps = _snapshot_list(snapshot_steps)
    if snaps and (snaps[0] < 0 or snaps[-1] > steps):
        raise ValueError(f"snapshot_steps must lie in [0, steps={steps}]; got {snaps}")
    if model.W_E.shape[1] != task.vocab_size or model.W_U.shape[0] != task.label_size:
        raise ValueError(f"model sizes (V={model.W_E.shape[1]}, V_out={model.W_U.shape[0]}) do "
                         f"not match the task (V={task.vocab_size}, V_out={task.label_size})")

    # Full-batch loss over duplicated rows == weighted loss over the distinct rows: train on
    # the distinct (X, y) rows with their multiplicities (identical gradients, far faster).
    rows, counts = np.unique(np.concatenate([task.X_train, task.y_train[:, None]], axis=1),
                             axis=0, return_counts=True)
    Xtr, ytr = torch.from_numpy(np.ascontiguousarray(rows[:, :-1])), torch.from_numpy(rows[:, -1])
    wtr = torch.from_numpy(counts / counts.sum()).float()
    Xte, yte = torch.from_numpy(task.X_test), torch.from_numpy(task.y_test)
    sig = task.signatures()
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "gd":
        opt = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    def lossf(logits, y):
        return (torch.nn.functional.cross_entropy(logits, y, reduction="none") * wtr).sum()

    log_at = set(range(0, steps + 1, log_every)) | {steps} | set(snaps)
    rec = {"steps": [], "loss": [], "train_acc": [], "test_acc": []}
    curves: dict = {}
    snapshots: dict = {}
    loss0 = None

    bar = progress_bar(range(steps + 1), desc=f"{task.name} {type(model).__name__} {optimizer}",
                       enabled=progress)
    for step in bar:
        logits = model(Xtr)
        loss = lossf(logits, ytr)
        lv = float(loss.detach())
        if loss0 is None:
            loss0 = lv
        if not np.isfinite(lv) or lv > max_loss_factor * max(loss0, 1e-3):
            raise DivergenceError(
                f"training diverged at step {step}: loss = {lv:.4g} (initial {loss0:.4g}) with "
                f"optimizer={optimizer!r}, lr={lr}. Lower lr (e.g. lr={lr / 5:g}), or use a "
                f"smaller initialisation (larger gamma), or optimizer='adam'.")
        if step in log_at:
            rec["steps"].append(step)
            rec["loss"].append(lv)
            with torch.no_grad():
                rec["train_acc"].append(float(((logits.argmax(-1) == ytr).float() * wtr).sum()))
            rec["test_acc"].append(_accuracy(model, Xte, yte))
            for k, v in _log_metrics(model, task, sig).items():
                curves.setdefault(k, []).append(v)
            if step in snaps:
                snapshots[step] = {"W_E": model.W_E.detach().T.numpy().copy(),
                                   "W_U": model.W_U.detach().numpy().copy()}
            if not bar.disable:
                bar.set_postfix(loss=f"{lv:.3f}", acc=f"{rec['train_acc'][-1]:.2f}",
                                refresh=False)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    bar.close()
    return History(steps=np.asarray(rec["steps"]), loss=np.asarray(rec["loss"]),
                   train_acc=np.asarray(rec["train_acc"]), test_acc=np.asarray(rec["test_acc"]),
                   curves={k: np.asarray(v) for k, v in curves.items()}, snapshots=snapshots)


def fit(task: Task, *, model: str = "linear", d: int = 64, hidden: int | None = 128,
        activation: str = "relu", gamma: float = 0.8, seed: int = 0, optimizer: str = "gd",
        lr: float = 0.5, steps: int = 2000, weight_decay: float = 0.0,
        log_every: int | None = None, snapshot_steps=(), progress: bool = True,
        cache: bool = True) -> TrainResult:
    """Build a model for ``task``, train it and cache the result under the full config.

    ``model``: ``"linear"`` or ``"ffn"`` (``hidden``/``activation`` are used by the FFN only).
    A second call with the same configuration loads the stored result instead of training.
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.tasks.Task (from psbook.tasks.make); got "
                        f"{type(task).__name__}")
    check_choice("model", model, {"linear", "ffn"})
    seed = check_seed("seed", seed)
    model_kw = dict(d=d, gamma=gamma, seed=seed)
    if model == "ffn":
        model_kw.update(hidden=hidden, activation=activation)
    train_kw = dict(optimizer=optimizer, lr=lr, steps=steps, weight_decay=weight_decay,
                    log_every=log_every, snapshot_steps=_snapshot_list(snapshot_steps))
    config = {"task": task.config(), "model": model, **model_kw, **train_kw}

    def compute() -> TrainResult:
        torch.manual_seed(seed)
        m = make_model(model, task.vocab_size, task.label_size, **model_kw)
        hist = train(m, task, progress=progress, **train_kw)
        W1 = getattr(m, "W_1", None)
        return TrainResult(history=hist, W_E=m.W_E.detach().T.numpy().copy(),
                           W_U=m.W_U.detach().numpy().copy(), config=config,
                           W_1=None if W1 is None else W1.detach().numpy().copy())

    if not cache:
        return compute()
    from .cache import load_or_compute
    return load_or_compute("synthetic_train", config, compute, verbose=False)
