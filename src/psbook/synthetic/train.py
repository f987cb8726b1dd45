r"""Full-batch training of the synthetic-task models, returning a trajectory.

:func:`train` runs full-batch gradient descent (``optimizer="gd"``, the discrete version of the
gradient flow the theory chapters analyse) or Adam on a :class:`psbook.synthetic.tasks.Task`, and records
every ``log_every`` steps: the loss, train/test accuracy, :math:`R_{cos}(W^E, \phi^y)`,
:math:`R_{cos}(W^E, \phi^X)` and :math:`R_{order}(W^E)` over the task's ordered tokens,
:math:`R_{cos}(W^E, \phi^y)` over all input tokens and :math:`R_{cos}(W^U, \varphi^X)` over the
labels seen in training; plus snapshots of ``W_E`` (V x d, one row per token) and ``W_U`` at
chosen steps. NaN or a loss that explodes stops training with a message saying what to change.

:func:`fit` builds the model, trains it and caches the result (:mod:`psbook.cache`) under the
full configuration (task parameters, model, optimiser, steps, seed, device).
:func:`psbook.synthetic.ensemble.fit_many` trains several such configurations of the same shapes as one
batched model and stores each member under the key :func:`fit` would use.

Device: :func:`fit` trains on ``device`` (default :func:`psbook.presets.device`:
``PSBOOK_DEVICE``, else CUDA when usable); model, data and loss weights live there, and the
logged metrics are computed from CPU copies of the weights (``.cpu()``) at the logged steps.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import check_choice, check_positive_float, check_positive_int
from ..progress import progress_bar
from .fitting import (NAMESPACE, DivergenceError, FitSpec, History, MetricRef, TrainResult,
                      accuracy, bag_counts, fit_spec, log_metrics, snapshot_list, to_numpy,
                      merged_rows, train_rows)
from .models import make_model
from .tasks import Task

__all__ = ["History", "TrainResult", "train", "fit", "fit_spec", "FitSpec", "DivergenceError",
           "train_spec"]


def _checked(model, task, optimizer, lr, steps, weight_decay, log_every, snapshot_steps,
             max_loss_factor) -> tuple:
    """:func:`train`'s arguments checked: ``(lr, steps, weight_decay, log_every, snapshots,
    max_loss_factor)``, or an error naming the argument, what it must be and what it is."""
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "W_E") \
            or not hasattr(model, "W_U"):
        raise TypeError(f"model must be a psbook model (LinearModel / FFN, from "
                        f"psbook.synthetic.models.make_model); got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.synthetic.tasks.Task; got {type(task).__name__}")
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
    snaps = snapshot_list(snapshot_steps)
    if snaps and (snaps[0] < 0 or snaps[-1] > steps):
        raise ValueError(f"snapshot_steps must lie in [0, steps={steps}]; got {snaps}")
    if model.W_E.shape[1] != task.vocab_size or model.W_U.shape[0] != task.label_size:
        raise ValueError(f"model sizes (V={model.W_E.shape[1]}, V_out={model.W_U.shape[0]}) do "
                         f"not match the task (V={task.vocab_size}, V_out={task.label_size})")
    return lr, steps, weight_decay, log_every, snaps, max_loss_factor


class _Recorder:
    """What :func:`train` logs at its logged steps: loss, accuracies, the geometry curves
    (:func:`~psbook.synthetic.fitting.log_metrics`) and the snapshots of ``W_E``/``W_U``."""

    def __init__(self, task: Task, snaps, X_test, y_test):
        self.task, self.snaps, self.X_test, self.y_test = task, snaps, X_test, y_test
        self.sig = task.signatures()
        self.ref = MetricRef(task, self.sig)
        self.rec = {"steps": [], "loss": [], "train_acc": [], "test_acc": []}
        self.curves: dict = {}
        self.snapshots: dict = {}

    def log(self, step: int, model, logits, loss: float, y, w) -> None:
        """``y``, ``w``: the rows' labels and weights, or (merged inputs) ``y`` None and ``w``
        the label-weight matrix ``Q`` of :func:`~psbook.synthetic.fitting.merged_rows`."""
        self.rec["steps"].append(step)
        self.rec["loss"].append(loss)
        with torch.no_grad():
            pred = logits.argmax(-1)
            self.rec["train_acc"].append(float(((pred == y).float() * w).sum()) if y is not None
                                         else float(w.gather(1, pred[:, None]).sum()))
        self.rec["test_acc"].append(accuracy(model, self.X_test, self.y_test))
        WE, WU = to_numpy(model.W_E.T), to_numpy(model.W_U)
        for k, v in log_metrics(WE, WU, self.task, self.sig, self.ref).items():
            self.curves.setdefault(k, []).append(v)
        if step in self.snaps:
            self.snapshots[step] = {"W_E": WE, "W_U": WU}

    def history(self) -> History:
        r = self.rec
        return History(steps=np.asarray(r["steps"]), loss=np.asarray(r["loss"]),
                       train_acc=np.asarray(r["train_acc"]), test_acc=np.asarray(r["test_acc"]),
                       curves={k: np.asarray(v) for k, v in self.curves.items()},
                       snapshots=self.snapshots)


def train(model: torch.nn.Module, task: Task, *, optimizer: str = "gd", lr: float = 0.5,
          steps: int = 2000, weight_decay: float = 0.0, log_every: int | None = None,
          snapshot_steps=(), progress: bool = True, max_loss_factor: float = 50.0,
          device=None, merge_inputs: bool = False) -> History:
    """Train ``model`` full-batch on ``task.X_train``; returns the :class:`History`.

    ``optimizer``: ``"gd"`` (plain gradient descent) or ``"adam"`` (AdamW when
    ``weight_decay > 0``). ``log_every`` defaults to ``steps // 50``. ``snapshot_steps``: steps
    at which ``W_E`` and ``W_U`` are stored (step 0 = initialisation; the last step is always
    logged). Raises :class:`DivergenceError` if the loss becomes NaN/inf or exceeds
    ``max_loss_factor`` times its initial value. ``device`` (``"cpu"``, ``"cuda"``, ...):
    where to train; the model is moved there (default: where its parameters are).
    ``merge_inputs``: train on the distinct inputs with their label weights
    (:func:`~psbook.synthetic.fitting.merged_rows`): the same loss and gradient, summed in
    another order, and several times fewer rows where inputs carry several labels.
    """
    lr, steps, weight_decay, log_every, snaps, max_loss_factor = _checked(
        model, task, optimizer, lr, steps, weight_decay, log_every, snapshot_steps,
        max_loss_factor)
    dev = model.W_E.device if device is None else torch.device(device)
    model.to(dev)
    if merge_inputs:
        Xtr, wtr = (torch.from_numpy(a).to(dev) for a in merged_rows(task))
        ytr = None                                   # wtr is the label-weight matrix Q
    else:
        Xtr, ytr, wtr = (torch.from_numpy(a).to(dev) for a in train_rows(task))
    recorder = _Recorder(task, snaps, torch.from_numpy(task.X_test).to(dev),
                         torch.from_numpy(task.y_test).to(dev))
    C = bag_counts(model, Xtr)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD if optimizer == "gd" else torch.optim.AdamW)(
        params, lr=lr, weight_decay=weight_decay)
    log_at = set(range(0, steps + 1, log_every)) | {steps} | set(snaps)
    loss0 = None
    bar = progress_bar(range(steps + 1), desc=f"{task.name} {type(model).__name__} {optimizer}",
                       enabled=progress)
    for step in bar:
        logits = model(Xtr) if C is None else C @ (model.W_E.T @ model.W_U.T)
        if merge_inputs:
            loss = -(wtr * torch.log_softmax(logits, 1)).sum()
        else:
            loss = (torch.nn.functional.cross_entropy(logits, ytr, reduction="none") * wtr).sum()
        lv = float(loss.detach())
        loss0 = lv if loss0 is None else loss0
        if not np.isfinite(lv) or lv > max_loss_factor * max(loss0, 1e-3):
            raise DivergenceError(
                f"training diverged at step {step}: loss = {lv:.4g} (initial {loss0:.4g}) with "
                f"optimizer={optimizer!r}, lr={lr}. Lower lr (e.g. lr={lr / 5:g}), or use a "
                f"smaller initialisation (larger gamma), or optimizer='adam'.")
        if step in log_at:
            recorder.log(step, model, logits, lv, ytr, wtr)
            if not bar.disable:
                bar.set_postfix(loss=f"{lv:.3f}", acc=f"{recorder.rec['train_acc'][-1]:.2f}",
                                refresh=False)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    bar.close()
    return recorder.history()


def fit(task: Task, *, model: str = "linear", d: int = 64, hidden: int | None = 128,
        activation: str = "relu", gamma: float = 0.8, seed: int = 0, optimizer: str = "gd",
        lr: float = 0.5, steps: int = 2000, weight_decay: float = 0.0,
        log_every: int | None = None, snapshot_steps=(), progress: bool = True,
        cache: bool = True, device=None, merge_inputs: bool = False) -> TrainResult:
    """Build a model for ``task``, train it and cache the result under the full config.

    ``model``: ``"linear"`` or ``"ffn"`` (``hidden``/``activation`` are used by the FFN only).
    A second call with the same configuration loads the stored result instead of training.
    ``device``: where to train (default :func:`psbook.presets.device`). ``merge_inputs``: see
    :func:`train` (cached under its own key).

    To train several configurations of one shape together (seeds, gamma values) use
    :func:`psbook.synthetic.ensemble.fit_many` or :func:`psbook.synthetic.ensemble.batched_map`
    (what :func:`psbook.synthetic.experiments.run_seeds` and ``sweep`` use); they store each
    member under the key this function uses.
    """
    spec = fit_spec(task, model=model, d=d, hidden=hidden, activation=activation, gamma=gamma,
                    seed=seed, optimizer=optimizer, lr=lr, steps=steps,
                    weight_decay=weight_decay, log_every=log_every,
                    snapshot_steps=snapshot_steps, device=device, merge_inputs=merge_inputs)
    if not cache:
        return train_spec(spec, progress)
    from ..cache import load_or_compute
    return load_or_compute(NAMESPACE, spec.config, lambda: train_spec(spec, progress),
                           verbose=False)


def train_spec(spec: FitSpec, progress: bool = False) -> TrainResult:
    """Train ``spec``'s configuration alone, uncached (the reference path every ensemble member
    matches)."""
    torch.manual_seed(spec.model_kw["seed"])
    m = make_model(spec.model, spec.task.vocab_size, spec.task.label_size, **spec.model_kw)
    hist = train(m, spec.task, progress=progress, device=spec.device, **spec.train_kw)
    W1 = getattr(m, "W_1", None)
    return TrainResult(history=hist, W_E=to_numpy(m.W_E.T), W_U=to_numpy(m.W_U),
                       config=spec.config, W_1=None if W1 is None else to_numpy(W1))
