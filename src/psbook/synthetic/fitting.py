r"""What one synthetic training is, and the pieces both trainers share.

:mod:`psbook.synthetic.train` trains one model alone, :mod:`psbook.synthetic.ensemble` trains
several of one shape as one batched model; both import from here (and neither imports the
other's internals): the validated request (:class:`FitSpec`, :func:`fit_spec`), what a
training returns (:class:`History`, :class:`TrainResult`, :class:`DivergenceError`), the
distinct training rows and their weights (:func:`train_rows`), and the reference side of the
logged curves (:class:`MetricRef`), so that a batched member's curves are bitwise its single
run's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .._validate import check_choice, check_seed
from .tasks import Task

__all__ = ["DivergenceError", "History", "TrainResult", "FitSpec", "fit_spec", "snapshot_list",
           "accuracy", "to_numpy", "train_rows", "merged_rows", "MetricRef", "MAX_COUNT_ENTRIES",
           "bag_counts",
           "log_metrics", "check_device", "NAMESPACE"]

NAMESPACE = "synthetic_train"     # the cache namespace of one synthetic training


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


def snapshot_list(snapshot_steps) -> list:
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


def accuracy(model, X, y) -> float:
    if X.shape[0] == 0:
        return float("nan")
    with torch.no_grad():
        return float((model(X).argmax(-1) == y).float().mean())


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy of ``t`` (whatever device it lives on)."""
    return t.detach().cpu().numpy().copy()


def train_rows(task: Task):
    """The distinct training rows ``(X, y)`` and their weights (multiplicity / N), as numpy.

    A full-batch loss over duplicated rows equals the weighted loss over the distinct rows
    (identical gradients, far faster)."""
    rows, counts = np.unique(np.concatenate([task.X_train, task.y_train[:, None]], axis=1),
                             axis=0, return_counts=True)
    return (np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, -1]),
            (counts / counts.sum()).astype(np.float32))


def merged_rows(task: Task):
    r"""The distinct training *inputs* and the weights of their labels, ``(X, Q)`` as numpy:
    ``Q[i, y]`` = (number of training rows with input ``X[i]`` and label ``y``) / N, a
    ``(rows, label_size)`` float32 matrix.

    The full-batch loss over the rows, :math:`-\sum_i \sum_y Q_{iy}\log p(y\mid X_i)`, and
    its gradient equal those of :func:`train_rows` (the rows of one input share its logits);
    a task whose inputs carry several labels (noisy labels, a label-permuted placebo) has
    several times fewer inputs than rows. The sums run in another order: equal to float
    rounding, not bitwise (``fit(..., merge_inputs=True)``). Book: chapter 06."""
    X, inv = np.unique(task.X_train, axis=0, return_inverse=True)
    Q = np.zeros((X.shape[0], task.label_size), dtype=np.float64)
    np.add.at(Q, (inv.reshape(-1), task.y_train), 1.0)
    return np.ascontiguousarray(X), (Q / task.y_train.shape[0]).astype(np.float32)


class MetricRef:
    """What the logged curves compare the weights with, computed once per training run.

    The signature side of every :math:`R_{cos}` (the cosine pair values of ``phi_y``,
    ``phi_X`` over the ordered tokens, ``phi_y`` over all tokens, ``varphi_X`` over the seen
    labels) does not change along training; :meth:`curves` computes the weight side at each
    logged step with the same functions :func:`psbook.metrics.r_cos` / ``r_order`` use, so the
    values are bitwise theirs."""

    def __init__(self, task: Task, sig):
        from ..metrics import cosine_matrix, pair_values
        t = np.asarray(task.ordered_tokens)
        self.t = t
        self.seen = np.flatnonzero(sig.label_mass > 0)
        pv = lambda M: pair_values(cosine_matrix(M))      # noqa: E731
        self.phi_y = pv(sig.dense("phi_y", t))
        self.phi_X = pv(sig.dense("phi_X", t))
        self.phi_y_all = pv(sig.phi_y_sparse)
        self.varphi = pv(sig.dense("varphi_X", self.seen)) if self.seen.size >= 3 else None
        idx = np.arange(t.size)
        self.dist = pair_values(np.abs(idx[:, None] - idx[None, :]))

    def curves(self, WE: np.ndarray, WU: np.ndarray) -> dict:
        from ..metrics import as_matrix, correlation, cosine_matrix, pair_values
        if self.t.size < 3:
            raise ValueError(f"tokens must name at least 3 tokens (pairs a < b are "
                             f"correlated); got {self.t.size}")
        W = as_matrix("W", WE)
        Wt = pair_values(cosine_matrix(W[self.t]))
        U = as_matrix("W", WU)
        return {
            "R_cos_phi_y": correlation(Wt, self.phi_y),
            "R_cos_phi_X": correlation(Wt, self.phi_X),
            "R_order": correlation(np.round(Wt, 12), self.dist, "spearman"),
            "R_cos_phi_y_all": correlation(pair_values(cosine_matrix(W[np.arange(W.shape[0])])),
                                           self.phi_y_all),
            "R_cos_WU_varphi_X": (correlation(pair_values(cosine_matrix(U[self.seen])),
                                              self.varphi)
                                  if self.varphi is not None else float("nan")),
        }


MAX_COUNT_ENTRIES = 2 ** 25     # largest N x V (x K members) count matrix: 128 MiB of float32


def bag_counts(model, X: torch.Tensor):
    """For the linear model, the bag-of-token counts ``C`` (N x V, float) of the rows ``X``:
    its logits are ``C @ (W_E^T W_U^T)``, the same function as ``model(X)`` (a sum of
    embeddings times ``W_U^T``) at a fraction of the cost (a V x V_out product instead of
    N x d x V_out, and no gather/scatter of embeddings). None for other models, or when C
    would be too large."""
    from .models import LinearModel
    if type(model) is not LinearModel or X.shape[0] * model.vocab_size > MAX_COUNT_ENTRIES:
        return None
    C = torch.zeros(X.shape[0], model.vocab_size, device=X.device)
    return C.scatter_add_(1, X, torch.ones(X.shape, device=X.device))


def log_metrics(WE: np.ndarray, WU: np.ndarray, task: Task, sig, ref: MetricRef | None = None
                 ) -> dict:
    """The logged curves for embeddings ``WE`` (V x d) and unembedding ``WU`` (numpy)."""
    return (MetricRef(task, sig) if ref is None else ref).curves(WE, WU)


@dataclass
class FitSpec:
    """One :func:`psbook.synthetic.train.fit` call, validated: what to build, how to train it, and
    its cache config (:func:`psbook.synthetic.train.train_spec` trains it alone,
    :func:`psbook.synthetic.ensemble.fit_many` with others of its shape)."""
    task: Task
    model: str
    model_kw: dict            # d, gamma, seed (+ hidden, activation for the FFN)
    train_kw: dict            # optimizer, lr, steps, weight_decay, log_every, snapshot_steps
    device: str
    config: dict              # the cache configuration (what fit stores the result under)


def check_device(device) -> str:
    if device is None:
        from ..presets import device as default_device
        return default_device()
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not device:
        raise TypeError(f"device must be a torch device name such as 'cpu' or 'cuda' (or None "
                        f"for psbook.presets.device()); got {device!r}")
    return device


def fit_spec(task: Task, *, model: str = "linear", d: int = 64, hidden: int | None = 128,
             activation: str = "relu", gamma: float = 0.8, seed: int = 0, optimizer: str = "gd",
             lr: float = 0.5, steps: int = 2000, weight_decay: float = 0.0,
             log_every: int | None = None, snapshot_steps=(), device=None,
             merge_inputs: bool = False) -> FitSpec:
    """The :class:`FitSpec` of ``psbook.synthetic.train.fit(task, ...)`` with the same arguments (validated).

    ``merge_inputs``: train on :func:`merged_rows` (the rows of one input as one, with its
    label weights) instead of :func:`train_rows`; only then is it part of the cache config."""
    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.synthetic.tasks.Task (from psbook.synthetic.tasks.make); got "
                        f"{type(task).__name__}")
    check_choice("model", model, {"linear", "ffn"})
    seed = check_seed("seed", seed)
    model_kw = dict(d=d, gamma=gamma, seed=seed)
    if model == "ffn":
        model_kw.update(hidden=hidden, activation=activation)
    train_kw = dict(optimizer=optimizer, lr=lr, steps=steps, weight_decay=weight_decay,
                    log_every=log_every, snapshot_steps=snapshot_list(snapshot_steps))
    if not isinstance(merge_inputs, bool):
        raise TypeError(f"merge_inputs must be True or False; got {merge_inputs!r}")
    if merge_inputs:
        train_kw["merge_inputs"] = True
    device = check_device(device)
    config = {"task": task.config(), "model": model, **model_kw, **train_kw, "device": device}
    return FitSpec(task=task, model=model, model_kw=model_kw, train_kw=train_kw, device=device,
                   config=config)
