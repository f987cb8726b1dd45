r"""Ensembles: K synthetic-task models of the same shapes trained as ONE batched model.

The book runs the same small model many times -- over seeds, over initialisation scales
:math:`\gamma`, on control datasets. Each run alone spends most of its time in per-step
overhead (Python, autograd, the optimiser), not in arithmetic. Here the K members' parameters
are stacked (``W_E``: ``K x d x V``, ...) and trained with batched matrix products and one
update for all, so a step costs little more than one member's. The linear model (the
book's workhorse) skips autograd and torch.optim altogether: its gradient is written out
(:func:`_counts_grads`) and the optimiser step too (:class:`_Update`); the logged curves of
the members that log at a step are computed together (:class:`_MetricBatch`).

Equivalence with the single runs (tested in ``tests/test_ensemble.py``):

* each member starts from exactly the initialisation its single run draws
  (:func:`psbook.synthetic.models.make_model` with its own seed, then stacked: bitwise equal);
* each member's gradient is its own: the linear model's is computed with the operations
  autograd runs for the single run's loss (log-softmax's backward kernel, then the same
  matrix products, batched over members), the FFN's by autograd on the **sum** of the
  members' losses; the SGD / AdamW step is torch.optim's arithmetic (single-tensor, as on the
  CPU), element by element, so each member takes its own step (nothing reduces across
  members);
* each member trains on its own data: the distinct training rows of its task with their
  weights, padded to a common length with rows of weight 0 (which add exactly 0);
* the logged curves are those of :class:`psbook.synthetic.fitting.MetricRef` computed for several
  members at once: equal to rounding (~1e-15).
* with ``merge_inputs=True`` (a :func:`psbook.synthetic.train.fit` argument, part of the cache
  key only when set) members train on their distinct inputs with their labels' weights
  (:func:`psbook.synthetic.fitting.merged_rows`), as their single runs with that option do
  (bitwise, for members with equally many inputs; ``tests/test_merge_inputs.py``). That is the
  per-row loss and gradient summed in another order (equal to rounding, not bitwise), and
  several times cheaper where inputs carry several labels (chapter 06's label-permuted
  placebo).

So in the tested configurations (members with equally many distinct training rows, on the
CPU: the linear model with GD and with AdamW, the FFN) the losses, accuracies and weights
are bitwise those of the single runs. Members whose tasks have different numbers of distinct
training rows are padded, and a batched product over padded rows may sum in another order:
then they agree within float tolerance (about 1e-7 relative per step). On CUDA torch.optim
runs other (multi-tensor) kernels than the step here: equal to rounding. Some runs of the book
are chaotic -- gradient descent at the edge of stability, AdamW on modular addition -- and
there such a last-bit difference grows over training (the single runs themselves differ as
much between 1 and 2 BLAS threads in the AdamW runs of modular addition).

Members are grouped automatically: a group shares the model kind and sizes, the task's
vocabulary, label set and sequence length, the optimiser, learning rate, weight decay, number
of steps and device; seeds, :math:`\gamma`, the data and the logged/snapshot steps may differ.

Three ways in:

* :func:`fit_many` -- a list of :func:`psbook.synthetic.train.fit` argument dicts; results are cached
  per member under the key a single ``fit`` would use (so a later single run, or a bigger
  sweep, reuses them).
* :func:`batched_map` -- ``[fn(item) for item in items]`` in rounds: every :func:`fit` of
  this module (``train.fit``'s arguments and result) that ``fn`` calls, directly or through
  :func:`psbook.synthetic.experiments.run`, and that is not yet computed is deferred; the round's deferred fits are trained
  together, then ``fn`` is called again (with those fits now answered from memory). This is
  what :func:`psbook.synthetic.experiments.run_seeds` and
  :func:`psbook.synthetic.experiments.sweep` use, so a chapter's per-seed function that calls
  ``experiments.run`` needs no change. ``psbook.synthetic.train.fit`` itself never defers. ``fn`` must not depend on side effects: it may
  be called several times per item (once per round until it completes).
* :func:`train_ensemble` -- the training loop itself, on models you built.
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validate import check_choice, check_positive_float, check_positive_int
from .models import ACTIVATIONS, FFN, LinearModel, make_model
from ..progress import progress_bar
from .fitting import (MAX_COUNT_ENTRIES, NAMESPACE, DivergenceError, FitSpec, History, MetricRef,
                      TrainResult, fit_spec, merged_rows, snapshot_list, to_numpy, train_rows)
from .tasks import Task
from .train import fit as train_fit
from .train import train_spec

__all__ = ["StackedModel", "train_ensemble", "fit_many", "batched_map", "fit"]

_MAX_COUNT_ENTRIES = MAX_COUNT_ENTRIES    # the count-matrix cap of the linear path (tests lower it)


# ----------------------------------------------------------------------------------------
# the stacked model
# ----------------------------------------------------------------------------------------

class StackedModel(torch.nn.Module):
    """K models of one kind and size with stacked parameters.

    ``W_E``: ``(K, d, V)``; ``W_1``: ``(K, hidden, d)`` or None; ``W_U``: ``(K, V_out, w)`` --
    member ``k``'s parameters are the ``k``-th slices, in the single model's conventions.
    ``forward(X)`` takes token ids ``(K, N, L)`` (member ``k`` reads ``X[k]``) and returns
    logits ``(K, N, V_out)``.
    """

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must hold at least one psbook model; got an empty list")
        first = models[0]
        if type(first) not in (LinearModel, FFN):
            raise TypeError(f"models must be psbook LinearModel / FFN instances; got "
                            f"{type(first).__name__}")
        self.kind = "linear" if isinstance(first, LinearModel) else "ffn"
        self.activation = getattr(first, "activation", None)
        for i, m in enumerate(models):
            same = (type(m) is type(first) and m.W_E.shape == first.W_E.shape
                    and m.W_U.shape == first.W_U.shape
                    and getattr(m, "activation", None) == self.activation
                    and (getattr(m, "W_1", None) is None) == (getattr(first, "W_1", None) is None)
                    and (getattr(m, "W_1", None) is None or m.W_1.shape == first.W_1.shape))
            if not same:
                raise ValueError(f"models[{i}] differs in kind, sizes or activation from "
                                 f"models[0] ({type(first).__name__}, W_E {tuple(first.W_E.shape)}"
                                 f", W_U {tuple(first.W_U.shape)}); an ensemble needs one shape")
        self.sigma = ACTIVATIONS[self.activation] if self.kind == "ffn" else None
        self.vocab_size, self.label_size = first.vocab_size, first.label_size
        with torch.no_grad():
            self.W_E = torch.nn.Parameter(torch.stack([m.W_E.detach() for m in models]).clone())
            self.W_U = torch.nn.Parameter(torch.stack([m.W_U.detach() for m in models]).clone())
            w1 = getattr(first, "W_1", None)
            self.W_1 = (None if w1 is None else
                        torch.nn.Parameter(torch.stack([m.W_1.detach() for m in models]).clone()))

    @property
    def k(self) -> int:
        return int(self.W_E.shape[0])

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        K, d, V = self.W_E.shape
        # member k's token x is row k*V + x of the stacked (K*V, d) table: one embedding
        # lookup for all members (its backward is a fast scatter-add, unlike 2-D indexing)
        off = (torch.arange(K, device=X.device) * V).view(K, 1, 1)
        table = self.W_E.transpose(1, 2).reshape(K * V, d)
        h = torch.nn.functional.embedding(X + off, table).sum(dim=2)   # (K, N, d)
        if self.kind == "ffn":
            h = self.sigma(h if self.W_1 is None else torch.bmm(h, self.W_1.transpose(1, 2)))
        return torch.bmm(h, self.W_U.transpose(1, 2))               # (K, N, V_out)

    def member_logits(self, k: int, X: torch.Tensor) -> torch.Tensor:
        """Member ``k``'s logits on ``X`` (N, L): the single model's forward, op for op."""
        h = self.W_E[k].T[X].sum(dim=1)
        if self.kind == "ffn":
            h = self.sigma(h if self.W_1 is None else h @ self.W_1[k].T)
        return h @ self.W_U[k].T


# ----------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------

def _per_member(name, value, K, check):
    if isinstance(value, (list, tuple)) and len(value) == K and not (
            name == "snapshot_steps" and all(isinstance(v, (int, np.integer)) for v in value)):
        return [check(v) for v in value]
    return [check(value)] * K


def train_ensemble(models, tasks, *, optimizer: str = "gd", lr: float = 0.5, steps: int = 2000,
                   weight_decay: float = 0.0, log_every=None, snapshot_steps=(),
                   progress: bool = True, max_loss_factor: float = 50.0, device=None,
                   return_model: bool = False, merge_inputs: bool = False):
    """Train ``models`` (K psbook models of one kind and size) on ``tasks`` (one per model, or
    one task for all) as one batched model; returns one :class:`psbook.synthetic.fitting.History`
    per member -- or, for a member whose loss diverged, the
    :class:`psbook.synthetic.fitting.DivergenceError` its single run would raise (the other
    members train on).

    The arguments are those of :func:`psbook.synthetic.train.train`; ``log_every`` and
    ``snapshot_steps`` may also be given per member (a list of K values / K lists). The
    ``models`` themselves are not modified (their parameters are copied into the stack).
    With ``return_model=True`` returns ``(histories, stacked_model)``.

    The linear model reads its rows through their bag-of-token counts and takes the
    hand-written gradient of :func:`_counts_grads` (:class:`_CountsPath`; unless the counts
    would be too large: then it gathers embeddings, as the FFN does, and autograd
    differentiates); every model takes the optimiser step of :class:`_Update`.
    ``merge_inputs``: each member trains on its distinct inputs with their label weights
    (:func:`psbook.synthetic.fitting.merged_rows`), as its single run with that option does.
    """
    models = list(models)
    K = len(models)
    stack = StackedModel(models)
    tasks = _check_tasks(tasks, stack, K)
    check_choice("optimizer", optimizer, {"gd", "adam"})
    max_loss_factor = check_positive_float("max_loss_factor", max_loss_factor)
    if max_loss_factor < 1:
        raise ValueError(f"max_loss_factor must be >= 1; got {max_loss_factor}")
    lr = check_positive_float("lr", lr)
    steps = check_positive_int("steps", steps)
    weight_decay = check_positive_float("weight_decay", weight_decay, allow_zero=True)
    log_every = _per_member("log_every", log_every, K, lambda v: max(1, steps // 50)
                            if v is None else check_positive_int("log_every", v))
    snaps = _per_member("snapshot_steps", snapshot_steps, K, snapshot_list)
    for s in snaps:
        if s and (s[0] < 0 or s[-1] > steps):
            raise ValueError(f"snapshot_steps must lie in [0, steps={steps}]; got {s}")
    dev = stack.W_E.device if device is None else torch.device(device)
    stack.to(dev)
    hists = _train_stack(stack, tasks, optimizer=optimizer, lr=lr, steps=steps,
                         weight_decay=weight_decay, log_every=log_every, snaps=snaps,
                         progress=progress, max_loss_factor=max_loss_factor, dev=dev,
                         merge_inputs=bool(merge_inputs))
    return (hists, stack) if return_model else hists


def _check_tasks(tasks, stack: StackedModel, K: int) -> list:
    """``tasks`` as a list of K tasks (one Task is repeated), checked against the stack."""
    if isinstance(tasks, Task):
        tasks = [tasks] * K
    tasks = list(tasks)
    if len(tasks) != K:
        raise ValueError(f"tasks must be one Task or one per model ({K}); got {len(tasks)}")
    for i, t in enumerate(tasks):
        if not isinstance(t, Task):
            raise TypeError(f"tasks[{i}] must be a psbook.synthetic.tasks.Task; got "
                            f"{type(t).__name__}")
        if t.vocab_size != stack.vocab_size or t.label_size != stack.label_size:
            raise ValueError(f"tasks[{i}] sizes (V={t.vocab_size}, V_out={t.label_size}) do not "
                             f"match the models (V={stack.vocab_size}, "
                             f"V_out={stack.label_size})")
        if t.seq_len != tasks[0].seq_len:
            raise ValueError(f"tasks[{i}] has sequences of length {t.seq_len}, tasks[0] of "
                             f"{tasks[0].seq_len}; an ensemble needs one length")
    return tasks


def _train_stack(stack, tasks, *, optimizer, lr, steps, weight_decay, log_every, snaps,
                 progress, max_loss_factor, dev, merge_inputs=False) -> list:
    """The training loop of :func:`train_ensemble` (arguments validated): one History or
    DivergenceError per member."""
    K = len(tasks)
    if merge_inputs:
        rows = [merged_rows(t) for t in tasks]
        Xtr, Qtr = _padded_merged(rows, tasks[0].seq_len, dev)
        ytr, wtr = None, Qtr.sum(dim=2)          # an input's weight; 0 on padding
    else:
        rows = [train_rows(t) for t in tasks]
        Xtr, ytr, wtr = _padded_rows(rows, tasks[0].seq_len, dev)
        Qtr = None
    counts = _CountsPath.build(stack, rows, Xtr, ytr, wtr, Q=Qtr)
    tests = [(torch.from_numpy(t.X_test).to(dev), torch.from_numpy(t.y_test).to(dev))
             for t in tasks]
    metrics = _MetricBatch([MetricRef(t, t.signatures()) for t in tasks])
    params = [p for p in (stack.W_E, stack.W_1, stack.W_U) if p is not None]
    update = _Update(params, optimizer, lr, weight_decay)
    log_at = [set(range(0, steps + 1, log_every[k])) | {steps} | set(snaps[k]) for k in range(K)]
    log_any = set().union(*log_at)
    snap_at = [set(s) for s in snaps]
    recs = [{"steps": [], "loss": [], "train_acc": [], "test_acc": [], "curves": {},
             "snapshots": {}} for _ in range(K)]
    watch = _Divergence(K, max_loss_factor, optimizer, lr, Xtr.device)
    y_flat = None if ytr is None else ytr.reshape(-1)

    bar = progress_bar(range(steps + 1), desc=f"ensemble of {K} {stack.kind} {optimizer}",
                       enabled=progress)
    for step in bar:
        if counts is not None:
            logits, logp, per = counts.forward()
        else:
            logits, logp, per = _gathered_forward(stack, Xtr, y_flat, wtr, Qtr)
        pred = logits.detach().argmax(-1) if step in log_any else None
        lv_all = per.detach().cpu().tolist()
        logging = watch.check(step, lv_all, log_at)
        if logging:
            _log_step(step, logging, lv_all, pred, ytr, wtr if Qtr is None else Qtr, stack,
                      tests, metrics, recs, snap_at)
        watch.retire_diverged()
        if step == steps or not watch.alive:
            break
        if counts is not None:
            grads = counts.grads(logp)
        else:
            grads = list(torch.autograd.grad(watch.alive_loss(per), params))
        watch.step(update, grads)
    bar.close()
    return _histories(recs, watch.errors)


def _padded_rows(rows: list, seq_len: int, dev):
    """Each member's distinct training rows ``(X, y, w)``, padded with weight-0 rows to a
    common length, as tensors on ``dev``: ``(K, N, L)``, ``(K, N)``, ``(K, N)``."""
    K, n_max = len(rows), max(r[0].shape[0] for r in rows)
    Xp = np.zeros((K, n_max, seq_len), dtype=np.int64)
    yp = np.zeros((K, n_max), dtype=np.int64)
    wp = np.zeros((K, n_max), dtype=np.float32)
    for k, (X, y, w) in enumerate(rows):
        n = X.shape[0]
        Xp[k, :n], yp[k, :n], wp[k, :n] = X, y, w
    return tuple(torch.from_numpy(a).to(dev) for a in (Xp, yp, wp))


def _padded_merged(rows: list, seq_len: int, dev):
    """Each member's distinct inputs and label weights (:func:`merged_rows`), padded with
    all-zero rows to a common length, as tensors on ``dev``: ``(K, N, L)``, ``(K, N, V_out)``."""
    K, n_max = len(rows), max(r[0].shape[0] for r in rows)
    Xp = np.zeros((K, n_max, seq_len), dtype=np.int64)
    Qp = np.zeros((K, n_max, rows[0][1].shape[1]), dtype=np.float32)
    for k, (X, Q) in enumerate(rows):
        Xp[k, :X.shape[0]], Qp[k, :X.shape[0]] = X, Q
    return torch.from_numpy(Xp).to(dev), torch.from_numpy(Qp).to(dev)


def _gathered_forward(stack, Xtr, y_flat, wtr, Q=None):
    """The FFN's (and the large linear model's) forward pass: ``(logits, None, per-member
    losses)``; the model gathers embeddings, as its single run does (``Q``: merged inputs'
    label weights, in place of the labels ``y_flat``)."""
    K, n_max = wtr.shape
    logits = stack(Xtr)                                                # (K, N, V_out)
    if Q is not None:
        return logits, None, -(Q * torch.log_softmax(logits, 2)).sum(dim=(1, 2))
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, stack.label_size), y_flat,
                                           reduction="none").view(K, n_max)
    return logits, None, (ce * wtr).sum(dim=1)


class _CountsPath:
    """The linear model read through its bag-of-token counts ``C``, as its single run does
    (:func:`psbook.synthetic.fitting.bag_counts`): logits = C @ (W_E^T W_U^T), and the
    gradient by hand (:func:`_counts_grads`): the operations autograd runs for the single run's
    loss, without building and walking a graph each step."""

    @classmethod
    def build(cls, stack, rows, Xtr, ytr, wtr, Q=None):
        """The path for ``stack``, or None (an FFN, or counts too large: autograd instead).
        ``Q``: merged inputs' label weights (``ytr`` is then None)."""
        V = stack.vocab_size
        if stack.kind != "linear" or not all(r[0].shape[0] * V <= _MAX_COUNT_ENTRIES
                                             for r in rows):
            return None
        return cls(stack, Xtr, ytr, wtr, Q)

    def __init__(self, stack, Xtr, ytr, wtr, Q=None):
        K, n_max = wtr.shape
        V_out = stack.label_size
        C = torch.zeros(K, n_max, stack.vocab_size, device=Xtr.device)
        C.scatter_add_(2, Xtr, torch.ones(Xtr.shape, device=Xtr.device))
        C[wtr == 0] = 0.0                 # padding rows read nothing (their weight is 0 too)
        self.C, self.C_T, self.K, self.n_max, self.V_out = C, C.transpose(1, 2), K, n_max, V_out
        self.wtr, self.Q = wtr, Q
        if Q is not None:
            # merged inputs: d(loss)/d(log-probabilities) = -Q (what the single run's
            # -(Q * logp).sum() gives its backward)
            self.y_flat, self.neg_yw = None, -Q.reshape(K * n_max, V_out)
        else:
            self.y_flat = ytr.reshape(-1)
            # d(loss)/d(log-probabilities): -w at each row's label, 0 elsewhere (what
            # nll_loss's backward gives for the weights w; the same every step)
            self.neg_yw = torch.zeros(K * n_max, V_out, device=Xtr.device).scatter_(
                1, self.y_flat[:, None], -wtr.reshape(-1, 1))
        W_E, W_U = stack.W_E.detach(), stack.W_U.detach()     # aliases of the trained parameters
        self.W_Et, self.W_Ut = W_E.transpose(1, 2), W_U.transpose(1, 2)   # views, kept current

    def forward(self):
        """``(logits, log-probabilities, per-member losses)``: C @ (W_E^T W_U^T), then
        cross_entropy's two halves."""
        logits = torch.bmm(self.C, torch.bmm(self.W_Et, self.W_Ut))       # (K, N, V_out)
        logp = torch.log_softmax(logits.view(-1, self.V_out), 1)
        if self.Q is not None:
            return logits, logp, -(self.Q * logp.view(self.K, self.n_max, -1)).sum(dim=(1, 2))
        ce = torch.nn.functional.nll_loss(logp, self.y_flat,
                                          reduction="none").view(self.K, self.n_max)
        return logits, logp, (ce * self.wtr).sum(dim=1)

    def grads(self, logp):
        return _counts_grads(self.neg_yw, logp, self.C_T, self.W_Et, self.W_Ut, self.K)


class _Divergence:
    """Which members still train: a member whose loss turns NaN/inf or exceeds
    ``max_loss_factor`` times its first loss gets the DivergenceError its single run raises,
    and stops (left out of the loss; its gradient and parameters held at zero)."""

    def __init__(self, K, max_loss_factor, optimizer, lr, device):
        self.max_loss_factor, self.optimizer, self.lr, self.device = (max_loss_factor,
                                                                      optimizer, lr, device)
        self.K, self.loss0, self.errors = K, [None] * K, [None] * K
        self.alive, self.dead, self.died = list(range(K)), [], []
        self.alive_t, self.dead_t = torch.arange(K, device=device), None

    def check(self, step, lv_all, log_at) -> list:
        """Record this step's divergences; return the alive members that log at ``step``."""
        self.died, logging = [], []
        for k in self.alive:
            lv = lv_all[k]
            if self.loss0[k] is None:
                self.loss0[k] = lv
            if not math.isfinite(lv) or lv > self.max_loss_factor * max(self.loss0[k], 1e-3):
                lr = self.lr
                self.errors[k] = DivergenceError(
                    f"training diverged at step {step}: loss = {lv:.4g} (initial "
                    f"{self.loss0[k]:.4g}) with optimizer={self.optimizer!r}, lr={lr}. Lower "
                    f"lr (e.g. lr={lr / 5:g}), or use a smaller initialisation (larger gamma), "
                    f"or optimizer='adam'.")
                self.died.append(k)
            elif step in log_at[k]:
                logging.append(k)
        return logging

    def retire_diverged(self) -> None:
        """Take this step's diverged members out of the loss."""
        if self.died:
            self.alive = [k for k in self.alive if k not in self.died]
            self.dead += self.died
            self.alive_t = torch.tensor(self.alive, device=self.device, dtype=torch.long)
            self.dead_t = torch.tensor(self.dead, device=self.device, dtype=torch.long)

    def alive_loss(self, per):
        return per.sum() if len(self.alive) == self.K else per[self.alive_t].sum()

    def step(self, update, grads) -> None:
        """The optimiser step, with a diverged member's gradient 0 (it may be NaN) and its
        parameters held at zero (finite), whatever its optimiser state."""
        if self.dead_t is not None:
            for g in grads:
                g.index_fill_(0, self.dead_t, 0.0)
        update.step(grads)
        if self.dead_t is not None:
            for p in update.params:
                p.index_fill_(0, self.dead_t, 0.0)


def _histories(recs: list, errors: list) -> list:
    """One History per member from its records, or its DivergenceError."""
    out = []
    for r, err in zip(recs, errors):
        if err is not None:
            out.append(err)
            continue
        out.append(History(steps=np.asarray(r["steps"]), loss=np.asarray(r["loss"]),
                           train_acc=np.asarray(r["train_acc"]),
                           test_acc=np.asarray(r["test_acc"]),
                           curves={n: np.asarray(v) for n, v in r["curves"].items()},
                           snapshots=r["snapshots"]))
    return out


def _counts_grads(neg_yw, logp, C_T, W_Et, W_Ut, K):
    """The gradients of the linear model's summed loss with respect to ``W_E`` and ``W_U``
    (stacked; ``W_Et``, ``W_Ut`` are their transposed views), computed by hand with the
    operations autograd runs for it, so that each member's gradient is bitwise its single
    run's in the tested configurations:

    * log-softmax's backward, ``dl = g - exp(logp) * sum(g)`` per row, with ``g`` what
      nll_loss's backward gives (``-w`` at the label): ``w * (softmax - onehot(y))``, padding
      rows ``0`` -- ``torch._log_softmax_backward_data``, the kernel autograd calls;
    * ``logits = C @ M``: ``dM = C^T @ dl``; ``M = W_E^T @ W_U^T``: ``d(W_E^T) = dM @ W_U``,
      ``d(W_U^T) = W_E @ dM`` -- computed as their transposes ``W_U^T @ dM^T`` and
      ``dM^T @ W_E^T`` (the same BLAS products; the gradients come out in the parameters'
      layout, which makes the update's element-wise operations cheaper).

    Members do not mix (every product is batched over them)."""
    V_out = logp.shape[1]
    dl = torch._log_softmax_backward_data(neg_yw, logp, 1, logp.dtype).view(K, -1, V_out)
    dMt = torch.bmm(C_T, dl).transpose(1, 2)                         # (K, V_out, V)
    return [torch.bmm(W_Ut, dMt),                                    # W_E: (K, d, V)
            torch.bmm(dMt, W_Et)]                                    # W_U: (K, V_out, d)


def _log_step(step, members, lv_all, pred, ytr, wtr, stack, tests, metrics, recs, snap_at):
    """Record step ``step`` for ``members`` (alive, logging now): loss, accuracies, curves
    (computed for the members together) and snapshots. ``ytr`` None: merged inputs, and
    ``wtr`` their label weights ``Q``."""
    idx = torch.tensor(members, device=wtr.device, dtype=torch.long)
    with torch.no_grad():
        if ytr is None:
            acc = wtr[idx].gather(2, pred[idx].unsqueeze(2)).sum(dim=(1, 2)).cpu().tolist()
        else:
            acc = ((pred[idx] == ytr[idx]).float() * wtr[idx]).sum(dim=1).cpu().tolist()
        WE = stack.W_E.detach()[idx].transpose(1, 2).cpu().numpy()      # (m, V, d)
        WU = stack.W_U.detach()[idx].cpu().numpy()                      # (m, V_out, w)
        test_acc = []
        for k in members:
            Xte, yte = tests[k]
            test_acc.append(float("nan") if Xte.shape[0] == 0 else float(
                (stack.member_logits(k, Xte).argmax(-1) == yte).float().mean()))
    curves = metrics.curves(members, WE, WU)
    for i, k in enumerate(members):
        r = recs[k]
        r["steps"].append(step)
        r["loss"].append(lv_all[k])
        r["train_acc"].append(acc[i])
        r["test_acc"].append(test_acc[i])
        for name, v in curves[i].items():
            r["curves"].setdefault(name, []).append(v)
        if step in snap_at[k]:
            r["snapshots"][step] = {"W_E": WE[i].copy(), "W_U": WU[i].copy()}


class _Update:
    """The optimiser step of :func:`train`, by hand, on the stacked parameters.

    ``"gd"``: :class:`torch.optim.SGD` without momentum (``g = g + wd * p`` if ``wd``;
    ``p -= lr * g``); ``"adam"``: :class:`torch.optim.AdamW` with its defaults (betas 0.9,
    0.999, eps 1e-8, decoupled weight decay ``p *= 1 - lr * wd``). The operations are those of
    torch's single-tensor implementations (what torch.optim runs on the CPU), so given the same
    gradients the parameters are bitwise torch.optim's (tested); on CUDA torch.optim runs its
    multi-tensor ("foreach") kernels, the same arithmetic up to rounding. Every operation acts
    element by element, so each member takes its own step. Skips torch.optim's per-step
    wrappers (profiler records, grad-mode switching, ``.grad`` bookkeeping), most of an
    optimiser step's cost at these sizes. ``grads`` are consumed (updated in place)."""

    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, params, optimizer: str, lr: float, weight_decay: float):
        self.params = [p.detach() for p in params]         # aliases: updated in place
        self.adam = optimizer == "adam"
        self.lr, self.wd = float(lr), float(weight_decay)
        if self.adam:
            self.exp_avg = [torch.zeros_like(p) for p in self.params]
            self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
            self.n = 0

    def step(self, grads) -> None:
        lr, wd = self.lr, self.wd
        if not self.adam:
            for p, g in zip(self.params, grads):
                if wd != 0:
                    g = g.add_(p, alpha=wd)
                p.add_(g, alpha=-lr)
            return
        beta1, beta2 = self.BETAS
        self.n += 1
        step = float(self.n)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            if wd != 0:
                p.mul_(1 - lr * wd)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.EPS)
            p.addcdiv_(m, denom, value=-step_size)


class _MetricBatch:
    """:meth:`psbook.synthetic.fitting.MetricRef.curves` for several members at once.

    Per family of curves, members whose references have the same sizes form a group (the
    ordered tokens' count for ``R_cos_phi_y``, ``R_cos_phi_X``, ``R_order``; all of them for
    ``R_cos_phi_y_all``; the seen labels' count for ``R_cos_WU_varphi_X``); a group's cosine
    matrices are one stacked product and its correlations vectorised sums (Spearman: ranks
    along each member's row), with the formulas of :func:`psbook.metrics.cosine_matrix` and
    :func:`psbook.metrics.correlation`: the values agree with the per-member ones to rounding
    (~1e-15, tested). A member whose weights hold NaN/inf, or whose reference the per-member
    code refuses, goes through :meth:`MetricRef.curves` itself (and its errors)."""

    NAMES = ("R_cos_phi_y", "R_cos_phi_X", "R_order", "R_cos_phi_y_all", "R_cos_WU_varphi_X")

    def __init__(self, refs):
        self.refs = list(refs)
        self._stacks: dict = {}

    def _stack(self, family: str, ks: tuple) -> dict:
        """The references of members ``ks`` for ``family``, stacked (computed once)."""
        key = (family, ks)
        if key not in self._stacks:
            refs = [self.refs[k] for k in ks]

            def rows(name):
                return _centred(np.stack([getattr(r, name) for r in refs]).astype(np.float64))

            if family == "t":
                from scipy.stats import rankdata
                n = refs[0].t.size
                d = refs[0].dist.astype(np.float64)          # |i - j|: the same for one n
                s = dict(idx=np.stack([r.t for r in refs]), iu=np.triu_indices(n, k=1),
                         phi_y=rows("phi_y"), phi_X=rows("phi_X"),
                         dist=(None if np.all(d == d[0]) else
                               _centred(rankdata(d)[None, :])))
            elif family == "all":
                s = dict(phi_y_all=rows("phi_y_all"))
            else:
                s = dict(idx=np.stack([r.seen for r in refs]),
                         iu=np.triu_indices(refs[0].seen.size, k=1), varphi=rows("varphi"))
            self._stacks[key] = s
        return self._stacks[key]

    def curves(self, members, WE: np.ndarray, WU: np.ndarray) -> list:
        """The curves of ``members`` (indices) from their weights ``WE`` ``(m, V, d)`` and
        ``WU`` ``(m, V_out, w)`` (rows in ``members``' order): one dict per member, as
        :meth:`MetricRef.curves` returns it."""
        members = list(members)
        we, wu = WE.astype(np.float64), WU.astype(np.float64)
        out: list = [None] * len(members)
        ok = []
        for i, k in enumerate(members):
            r = self.refs[k]
            if r.t.size < 3 or not (np.all(np.isfinite(we[i])) and np.all(np.isfinite(wu[i]))):
                out[i] = r.curves(WE[i], WU[i])      # the per-member code, with its errors
            else:
                ok.append(i)
        if not ok:
            return out
        vals = np.full((len(members), len(self.NAMES)), np.nan)

        def groups(key):
            g: dict = {}
            for i in ok:
                g.setdefault(key(self.refs[members[i]]), []).append(i)
            return g.items()

        for _, rows in groups(lambda r: r.t.size):
            s = self._stack("t", tuple(members[i] for i in rows))
            Wt = _cos_pairs(we[rows][np.arange(len(rows))[:, None], s["idx"]], s["iu"])
            vals[rows, 0] = _pearson(Wt, s["phi_y"])
            vals[rows, 1] = _pearson(Wt, s["phi_X"])
            vals[rows, 2] = _spearman(np.round(Wt, 12), s["dist"])
        s = self._stack("all", tuple(members[i] for i in ok))
        vals[ok, 3] = _pearson(_cos_pairs(we[ok], np.triu_indices(we.shape[1], k=1)),
                               s["phi_y_all"])
        for n_seen, rows in groups(lambda r: None if r.varphi is None else r.seen.size):
            if n_seen is None:
                continue                                  # fewer than 3 seen labels: NaN
            s = self._stack("seen", tuple(members[i] for i in rows))
            U = _cos_pairs(wu[rows][np.arange(len(rows))[:, None], s["idx"]], s["iu"])
            vals[rows, 4] = _pearson(U, s["varphi"])
        for i in ok:
            out[i] = {name: float(v) for name, v in zip(self.NAMES, vals[i])}
        return out


def _centred(v: np.ndarray):
    """Rows ``v`` as :func:`_pearson` takes a reference: the rows, centred, their sums of
    squares, whether each is constant."""
    vc = v - v.mean(axis=1, keepdims=True)
    return v, vc, (vc * vc).sum(axis=1), np.all(v == v[:, :1], axis=1)


def _cos_pairs(A: np.ndarray, iu) -> np.ndarray:
    """:func:`psbook.metrics.cosine_matrix` of each ``A[i]`` (``(m, n, d)``, float64) at the
    pairs ``iu`` (``a < b``, row-major): ``(m, n (n - 1) / 2)``."""
    norms = np.linalg.norm(A, axis=2)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    An = A * inv[:, :, None]
    S = np.clip(An @ An.transpose(0, 2, 1), -1.0, 1.0)
    return S[:, iu[0], iu[1]]


def _pearson(U: np.ndarray, ref) -> np.ndarray:
    """:func:`psbook.metrics.correlation` of each row of ``U`` with its reference row
    (``ref``: the rows, centred, their sums of squares, whether constant): ``(m,)``."""
    _, vc, vv, v_const = ref
    uc = U - U.mean(axis=1, keepdims=True)
    den = np.sqrt((uc * uc).sum(axis=1) * vv)
    num = (uc * vc).sum(axis=1)
    ok = ~(np.all(U == U[:, :1], axis=1) | v_const) & (den > 0)
    return np.where(ok, num / np.where(ok, den, 1.0), np.nan)


def _spearman(U: np.ndarray, ref) -> np.ndarray:
    """The Spearman version of :func:`_pearson` (``ref``: the reference's ranks as one row,
    shared by all rows of ``U``; None if the reference is constant)."""
    from scipy.stats import rankdata
    if ref is None:
        return np.full(U.shape[0], np.nan)
    return _pearson(rankdata(U, axis=1), ref)     # constant ranks <=> constant row: NaN


# ----------------------------------------------------------------------------------------
# fit_many: many fit() calls, batched by shape, cached per member
# ----------------------------------------------------------------------------------------

def _group_key(spec: FitSpec) -> tuple:
    mk, tk, t = spec.model_kw, spec.train_kw, spec.task
    return (spec.model, mk["d"], mk.get("hidden"), mk.get("activation"), t.vocab_size,
            t.label_size, t.seq_len, tk["optimizer"], float(tk["lr"]), tk["steps"],
            float(tk["weight_decay"]), spec.device, bool(tk.get("merge_inputs", False)))


def _key(spec: FitSpec) -> str:
    from ..cache import config_key
    return config_key(NAMESPACE, spec.config)


def _cached(spec: FitSpec):
    """``(True, result)`` if the cache holds ``spec``'s result, else ``(False, None)``."""
    from ..cache import lookup
    return lookup(NAMESPACE, spec.config)


def _store(spec: FitSpec, result: TrainResult) -> None:
    from ..cache import load_or_compute
    load_or_compute(NAMESPACE, spec.config, lambda: result, verbose=False)


def _train_specs(specs: list, progress: bool = False) -> list:
    """Train ``specs`` (all of one group) together; one TrainResult or DivergenceError each."""
    if len(specs) == 1:
        try:
            return [train_spec(specs[0], progress)]
        except DivergenceError as exc:
            return [exc]
    models = []
    for s in specs:
        torch.manual_seed(s.model_kw["seed"])      # what the single run does before building
        models.append(make_model(s.model, s.task.vocab_size, s.task.label_size, **s.model_kw))
    tk = specs[0].train_kw
    hists, stack = train_ensemble(
        models, [s.task for s in specs], optimizer=tk["optimizer"], lr=tk["lr"],
        steps=tk["steps"], weight_decay=tk["weight_decay"],
        log_every=[s.train_kw["log_every"] for s in specs],
        snapshot_steps=[s.train_kw["snapshot_steps"] for s in specs], progress=progress,
        device=specs[0].device, return_model=True,
        merge_inputs=bool(tk.get("merge_inputs", False)))
    out = []
    for k, (s, h) in enumerate(zip(specs, hists)):
        if isinstance(h, Exception):
            out.append(h)
            continue
        out.append(TrainResult(history=h, W_E=to_numpy(stack.W_E[k].T), W_U=to_numpy(stack.W_U[k]),
                               config=s.config,
                               W_1=None if stack.W_1 is None else to_numpy(stack.W_1[k])))
    return out


def _resolve(specs: list, *, cache: bool, progress: bool, memo: dict | None = None) -> dict:
    """Results (or DivergenceErrors) of ``specs`` by key: memo, then cache, then trained in
    groups of one shape; new results go to the memo and (``cache``) to the cache."""
    memo = {} if memo is None else memo
    todo: dict = {}
    for s in specs:
        k = _key(s)
        if k in memo or k in todo:
            continue
        if cache:
            hit, res = _cached(s)
            if hit:
                memo[k] = res
                continue
        todo[k] = s
    groups: dict = {}
    for k, s in todo.items():
        groups.setdefault(_group_key(s), []).append((k, s))
    for members in groups.values():
        results = _train_specs([s for _, s in members], progress)
        for (k, s), r in zip(members, results):
            memo[k] = r
            if cache and not isinstance(r, Exception):
                _store(s, r)
    return memo


def fit_many(members, *, cache: bool = True, progress: bool = False, errors: str = "raise",
             device=None) -> list:
    """``[fit(**m) for m in members]``, with members of the same shapes trained together.

    Each member is a dict of :func:`psbook.synthetic.train.fit` arguments (``task`` included). Results
    come back in order, each cached under the key its single ``fit`` would use; members
    already in the cache are loaded, not trained. ``errors``: ``"raise"`` raises the first
    member's :class:`psbook.synthetic.train.DivergenceError`, ``"return"`` puts it in that member's
    place. ``device`` applies to members that do not name one.
    """
    check_choice("errors", errors, {"raise", "return"})
    specs = []
    for i, m in enumerate(members):
        if not isinstance(m, dict) or "task" not in m:
            raise TypeError(f"members[{i}] must be a dict of fit() arguments with a 'task'; "
                            f"got {m!r:.80}")
        kw = dict(m)
        kw.pop("progress", None)
        kw.pop("cache", None)
        if kw.get("device") is None:
            kw["device"] = device
        specs.append(fit_spec(**kw))
    memo = _resolve(specs, cache=cache, progress=progress)
    out = [memo[_key(s)] for s in specs]
    if errors == "raise":
        for r in out:
            if isinstance(r, Exception):
                raise r
    return out


# ----------------------------------------------------------------------------------------
# batched_map: run a per-item function, deferring its fits and batching them across items
# ----------------------------------------------------------------------------------------

class _Deferred(BaseException):
    """Raised inside ``fn`` by a fit that is not computed yet (a BaseException, so that an
    ``except Exception`` in ``fn`` does not swallow it)."""


@dataclass
class _Plan:
    memo: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)      # key -> cache flag of the request
    progress: bool = False

    def request(self, spec: FitSpec, *, cache: bool, progress: bool) -> TrainResult:
        k = _key(spec)
        if k not in self.memo and cache:
            hit, res = _cached(spec)
            if hit:
                self.memo[k] = res
        if k in self.memo:
            r = self.memo[k]
            if isinstance(r, Exception):
                raise r
            return r
        self.pending[k] = spec
        self.cache[k] = self.cache.get(k, False) or bool(cache)
        self.progress = self.progress or bool(progress)
        raise _Deferred(k)

    def flush(self) -> None:
        specs = list(self.pending.values())
        cached = [s for s in specs if self.cache[_key(s)]]
        uncached = [s for s in specs if not self.cache[_key(s)]]
        if cached:
            _resolve(cached, cache=True, progress=self.progress, memo=self.memo)
        if uncached:
            _resolve(uncached, cache=False, progress=self.progress, memo=self.memo)
        self.pending.clear()


# The plan of the innermost batched_map call: read only by fit() above and batched_map below.
_PLAN: contextvars.ContextVar = contextvars.ContextVar("psbook_ensemble_plan", default=None)


def fit(task: Task, *, progress: bool = True, cache: bool = True, **fit_args) -> TrainResult:
    """:func:`psbook.synthetic.train.fit` (same arguments, same result), batched inside
    :func:`batched_map`.

    Outside a :func:`batched_map` call this *is* ``train.fit``. Inside one (the per-item
    function of :func:`psbook.synthetic.experiments.run_seeds`, ``sweep`` and
    ``run_over_seeds``, which all call :func:`psbook.synthetic.experiments.run`, which calls
    this), a configuration not yet computed (in memory or in the cache) stops the item's call
    and is trained with the round's other requests as one batched model; the next round
    answers it from memory. Only this function and :func:`batched_map` see the round's plan.
    """
    plan = _PLAN.get()
    if plan is None:
        return train_fit(task, progress=progress, cache=cache, **fit_args)
    return plan.request(fit_spec(task, **fit_args), cache=cache, progress=progress)


def batched_map(fn, items) -> list:
    """``[fn(item) for item in items]``, with the fits ``fn`` makes batched across items.

    Rounds: ``fn`` is called on every unfinished item; its first :func:`fit` (this module's;
    :func:`psbook.synthetic.experiments.run` calls it) that is not yet computed
    (in memory or in the cache) stops the call and is recorded. The recorded fits of the round
    are trained together (:func:`fit_many`'s grouping), then the next round calls ``fn`` again
    and those fits return at once. An item is finished when ``fn`` returns; its value is the
    one from that call. So ``fn`` runs up to (number of its fits + 1) times per item: keep it
    free of side effects (printing, appending to outer lists, drawing from a global RNG).
    Errors other than a deferred fit propagate at once. Nested calls share the memory.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(item); got {type(fn).__name__}")
    items = list(items)
    outer = _PLAN.get()
    plan = _Plan(memo=outer.memo if outer is not None else {})
    token = _PLAN.set(plan)
    try:
        done: dict = {}
        while len(done) < len(items):
            for i, it in enumerate(items):
                if i in done:
                    continue
                try:
                    done[i] = fn(it)
                except _Deferred:
                    pass
            if len(done) < len(items):
                if not plan.pending:         # pragma: no cover - a deferral always records
                    raise RuntimeError("batched_map: an item neither finished nor deferred")
                plan.flush()
    finally:
        _PLAN.reset(token)
    return [done[i] for i in range(len(items))]
