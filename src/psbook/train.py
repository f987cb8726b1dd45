r"""Full-batch training of the synthetic-task models, returning a trajectory.

:func:`train` runs full-batch gradient descent (``optimizer="gd"``, the discrete version of the
gradient flow the theory chapters analyse) or Adam on a :class:`psbook.tasks.Task`, and records
every ``log_every`` steps: the loss, train/test accuracy, :math:`R_{cos}(W^E, \phi^y)`,
:math:`R_{cos}(W^E, \phi^X)` and :math:`R_{order}(W^E)` over the task's ordered tokens,
:math:`R_{cos}(W^E, \phi^y)` over all input tokens and :math:`R_{cos}(W^U, \varphi^X)` over the
labels seen in training; plus snapshots of ``W_E`` (V x d, one row per token) and ``W_U`` at
chosen steps. NaN or a loss that explodes stops training with a message saying what to change.

:func:`fit` builds the model, trains it and caches the result (:mod:`psbook.cache`) under the
full configuration (task parameters, model, optimiser, steps, seed, device).
:func:`psbook.ensemble.fit_many` trains several such configurations of the same shapes as one
batched model and stores each member under the key :func:`fit` would use.

Device: :func:`fit` trains on ``device`` (default :func:`psbook.presets.device`:
``PSBOOK_DEVICE``, else CUDA when usable); model, data and loss weights live there, and the
logged metrics are computed from CPU copies of the weights (``.cpu()``) at the logged steps.
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

__all__ = ["History", "TrainResult", "train", "fit", "fit_spec", "FitSpec", "DivergenceError"]


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


def _cpu(t: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy of ``t`` (whatever device it lives on)."""
    return t.detach().cpu().numpy().copy()


def _train_rows(task: Task):
    """The distinct training rows ``(X, y)`` and their weights (multiplicity / N), as numpy.

    A full-batch loss over duplicated rows equals the weighted loss over the distinct rows
    (identical gradients, far faster)."""
    rows, counts = np.unique(np.concatenate([task.X_train, task.y_train[:, None]], axis=1),
                             axis=0, return_counts=True)
    return (np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, -1]),
            (counts / counts.sum()).astype(np.float32))


class _MetricRef:
    """What the logged curves compare the weights with, computed once per training run.

    The signature side of every :math:`R_{cos}` (the cosine pair values of ``phi_y``,
    ``phi_X`` over the ordered tokens, ``phi_y`` over all tokens, ``varphi_X`` over the seen
    labels) does not change along training; :meth:`curves` computes the weight side at each
    logged step with the same functions :func:`psbook.metrics.r_cos` / ``r_order`` use, so the
    values are bitwise theirs."""

    def __init__(self, task: Task, sig):
        from .metrics import cosine_matrix, pair_values
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
        from .metrics import _as_matrix, correlation, cosine_matrix, pair_values
        if self.t.size < 3:
            raise ValueError(f"tokens must name at least 3 tokens (pairs a < b are "
                             f"correlated); got {self.t.size}")
        W = _as_matrix("W", WE)
        Wt = pair_values(cosine_matrix(W[self.t]))
        U = _as_matrix("W", WU)
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


_MAX_COUNT_ENTRIES = 2 ** 25     # largest N x V (x K members) count matrix: 128 MiB of float32


def _bag_counts(model, X: torch.Tensor):
    """For the linear model, the bag-of-token counts ``C`` (N x V, float) of the rows ``X``:
    its logits are ``C @ (W_E^T W_U^T)``, the same function as ``model(X)`` (a sum of
    embeddings times ``W_U^T``) at a fraction of the cost (a V x V_out product instead of
    N x d x V_out, and no gather/scatter of embeddings). None for other models, or when C
    would be too large."""
    from .models import LinearModel
    if type(model) is not LinearModel or X.shape[0] * model.vocab_size > _MAX_COUNT_ENTRIES:
        return None
    C = torch.zeros(X.shape[0], model.vocab_size, device=X.device)
    return C.scatter_add_(1, X, torch.ones(X.shape, device=X.device))


def _log_metrics(WE: np.ndarray, WU: np.ndarray, task: Task, sig, ref: _MetricRef | None = None
                 ) -> dict:
    """The logged curves for embeddings ``WE`` (V x d) and unembedding ``WU`` (numpy)."""
    return (_MetricRef(task, sig) if ref is None else ref).curves(WE, WU)


def train(model: torch.nn.Module, task: Task, *, optimizer: str = "gd", lr: float = 0.5,
          steps: int = 2000, weight_decay: float = 0.0, log_every: int | None = None,
          snapshot_steps=(), progress: bool = True, max_loss_factor: float = 50.0,
          device=None) -> History:
    """Train ``model`` full-batch on ``task.X_train``; returns the :class:`History`.

    ``optimizer``: ``"gd"`` (plain gradient descent) or ``"adam"`` (AdamW when
    ``weight_decay > 0``). ``log_every`` defaults to ``steps // 50``. ``snapshot_steps``: steps
    at which ``W_E`` and ``W_U`` are stored (step 0 = initialisation; the last step is always
    logged). Raises :class:`DivergenceError` if the loss becomes NaN/inf or exceeds
    ``max_loss_factor`` times its initial value. ``device`` (``"cpu"``, ``"cuda"``, ...):
    where to train; the model is moved there (default: where its parameters are).
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

    dev = model.W_E.device if device is None else torch.device(device)
    model.to(dev)
    Xr, yr, wr = _train_rows(task)
    Xtr, ytr, wtr = (torch.from_numpy(a).to(dev) for a in (Xr, yr, wr))
    Xte, yte = torch.from_numpy(task.X_test).to(dev), torch.from_numpy(task.y_test).to(dev)
    C = _bag_counts(model, Xtr)
    sig = task.signatures()
    ref = _MetricRef(task, sig)
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
        logits = model(Xtr) if C is None else C @ (model.W_E.T @ model.W_U.T)
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
            WE, WU = _cpu(model.W_E.T), _cpu(model.W_U)
            for k, v in _log_metrics(WE, WU, task, sig, ref).items():
                curves.setdefault(k, []).append(v)
            if step in snaps:
                snapshots[step] = {"W_E": WE, "W_U": WU}
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


@dataclass
class FitSpec:
    """One :func:`fit` call, validated: what to build, how to train it, and its cache config."""
    task: Task
    model: str
    model_kw: dict            # d, gamma, seed (+ hidden, activation for the FFN)
    train_kw: dict            # optimizer, lr, steps, weight_decay, log_every, snapshot_steps
    device: str
    config: dict              # the cache configuration (what fit stores the result under)

    def compute(self, progress: bool = False) -> TrainResult:
        """Train this configuration alone (the reference path every ensemble member matches)."""
        torch.manual_seed(self.model_kw["seed"])
        m = make_model(self.model, self.task.vocab_size, self.task.label_size, **self.model_kw)
        hist = train(m, self.task, progress=progress, device=self.device, **self.train_kw)
        W1 = getattr(m, "W_1", None)
        return TrainResult(history=hist, W_E=_cpu(m.W_E.T), W_U=_cpu(m.W_U), config=self.config,
                           W_1=None if W1 is None else _cpu(W1))


def _check_device(device) -> str:
    if device is None:
        from .presets import device as default_device
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
             log_every: int | None = None, snapshot_steps=(), device=None) -> FitSpec:
    """The :class:`FitSpec` of ``fit(task, ...)`` with the same arguments (validated)."""
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
    device = _check_device(device)
    config = {"task": task.config(), "model": model, **model_kw, **train_kw, "device": device}
    return FitSpec(task=task, model=model, model_kw=model_kw, train_kw=train_kw, device=device,
                   config=config)


def fit(task: Task, *, model: str = "linear", d: int = 64, hidden: int | None = 128,
        activation: str = "relu", gamma: float = 0.8, seed: int = 0, optimizer: str = "gd",
        lr: float = 0.5, steps: int = 2000, weight_decay: float = 0.0,
        log_every: int | None = None, snapshot_steps=(), progress: bool = True,
        cache: bool = True, device=None) -> TrainResult:
    """Build a model for ``task``, train it and cache the result under the full config.

    ``model``: ``"linear"`` or ``"ffn"`` (``hidden``/``activation`` are used by the FFN only).
    A second call with the same configuration loads the stored result instead of training.
    ``device``: where to train (default :func:`psbook.presets.device`).

    Inside :func:`psbook.ensemble.batched_map` (which :func:`psbook.experiments.run_seeds`
    uses) a configuration not yet computed is deferred and trained together with the other
    members of its round as one batched model; the result is the same within floating-point
    tolerance.
    """
    spec = fit_spec(task, model=model, d=d, hidden=hidden, activation=activation, gamma=gamma,
                    seed=seed, optimizer=optimizer, lr=lr, steps=steps,
                    weight_decay=weight_decay, log_every=log_every,
                    snapshot_steps=snapshot_steps, device=device)
    from .ensemble import current_plan
    plan = current_plan()
    if plan is not None:
        return plan.request(spec, cache=cache, progress=progress)
    if not cache:
        return spec.compute(progress)
    from .cache import load_or_compute
    return load_or_compute("synthetic_train", spec.config, lambda: spec.compute(progress),
                           verbose=False)
