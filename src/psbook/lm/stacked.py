r"""Several language models of one shape trained as ONE batched model (a stack).

Chapter 13 trains the same small decoder dozens of times: once per dose, seed and sham corpus.
Alone, one such training spends its step in two places: the unembedding and its softmax over
the vocabulary (matrix products and passes over a ``tokens x V`` array), and many small
operations (a 48-wide model: attention, MLP, norms, the optimiser) whose cost is per call, not
per number. Here the K members' parameters are stacked (``embed_tokens.weight``: ``K x V x d``,
...) and trained with batched matrix products, one optimiser and one loop, so the small
operations are paid once per step for all K; the cross-entropy is fused with the unembedding's
backward (:class:`_UnembedCrossEntropy`: the softmax is kept and turned into the gradient in
place, with no ``tokens x V`` array of zeros and no log-softmax backward pass).

What each member gets is what :func:`psbook.lm.train_lm` gives it alone:

* the same initialisation (each member's :class:`~psbook.lm.model.QwenLM` is built with its
  own configuration and seed, then stacked: bitwise equal);
* the same batches (its own token stream and its own window generator, seeded as there:
  bitwise equal), the same learning-rate schedule, gradient clipping by its **own** gradient
  norm, AdamW with the same settings (element by element: nothing mixes members), the same
  divergence checks, and the same history (loss per ``eval_every`` window, the probe if
  ``signatures`` are given);
* the same arithmetic up to float32 rounding: batched products and the fused loss sum in
  another order than the single run's kernels, so a member equals its single run to rounding
  at every step (``tests/test_lm_stacked.py`` bounds the difference by the single run's own
  float32 rounding error, measured against a float64 run), not bitwise; over a whole training
  such last-bit differences grow as they would between two BLAS libraries.

A member does not depend on its stack-mates: each batched product and the loss treat each
member alone (bitwise the same result in a stack of one or of three on the CPU of the tests;
asserted to float32 rounding there). So how many worker processes split the stacks does not
change a result.

The step's element-wise passes are written out by hand where autograd's decomposition takes
about twice the passes (:class:`_RMSNorm`, :class:`_Rotary`: forward and backward, each
compared with autograd in float64 by the tests), and AdamW is torch's fused kernel where
torch has one (:func:`adamw_impl`; ``foreach`` otherwise).

Because a stacked member is not bitwise its single run, its cache entry has its own key
(the single run's key plus ``"trainer": "stacked"`` and the AdamW kind, :func:`trainer_key`):
a stacked result never answers a :func:`psbook.lm.train_cached` call, and the other way
round, and a result of the foreach AdamW never answers for the fused one.

Members may differ in their token stream, seed, ``gamma`` (initialisation scale only) and
probe; everything else of the model and training configuration must be equal
(:func:`stack_key`). :func:`train_stacked_cached` groups a list of jobs by that key.

No checkpoints: a stack of the book's sizes trains in seconds to a minute; an interrupted one
starts over (its members that were cached stay cached).

Book: chapter 13 (the dose-response, its sham and the null over sham corpora).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..signatures import NextTokenSignatures
from .model import LMConfig, QwenLM
from .runs import check_jobs, fingerprint
from .train import (AlignmentProbe, DivergenceError, TrainConfig, TrainResult, as_stream,
                    sample_windows)

__all__ = ["stack_key", "StackedLM", "train_stacked", "train_stacked_cached", "adamw_impl",
           "trainer_key"]

STACKED = {"trainer": "stacked"}     # added to the cache key of a stacked member
_BLOCK_BYTES = 8 << 20      # the fused loss's logits block on the CPU (best: 4-16 MB here)
_MAX_WEIGHT = 1e3    # a weight this large means a run-away run (the limit train_lm uses)


# ---- hand-written element-wise passes (forward and backward) ----------------------------
# A 48-wide model spends much of its step in element-wise passes over (tokens x d) arrays;
# autograd's decomposition of these three takes about twice the passes written out here.
# tests/test_lm_stacked.py compares each with autograd's in float64 (and plants a wrong
# backward that the comparison must catch).

class _RMSNorm(torch.autograd.Function):
    r"""Per member, ``w * x / rms(x)``: ``x`` (K, N, d), ``w`` (K, d) -> (K, N, d).

    Backward: with ``y = x / rms(x)`` and ``g = grad * w``,
    ``dx = (g - y * mean(g * y)) / rms(x)`` and ``dw = sum over tokens of grad * y``."""

    @staticmethod
    def forward(ctx, x, w, eps):
        d = x.shape[-1]
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(d) \
            .add_(eps).rsqrt_()
        y = x * rstd
        ctx.save_for_backward(y, rstd, w)
        return y * w[:, None, :]

    @staticmethod
    def backward(ctx, grad):
        y, rstd, w = ctx.saved_tensors
        grad_w = (grad * y).sum(1) if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            g = grad * w[:, None, :]
            dot = (g * y).mean(-1, keepdim=True)
            grad_x = torch.addcmul(g, y, dot, value=-1.0).mul_(rstd)
        return grad_x, grad_w, None


class _Rotary(torch.autograd.Function):
    r"""Rotary positions on the last axis (width ``hd``, "rotate_half" layout):
    ``x * cos + rotate_half(x) * sin``, i.e. ``x * cos + roll(x, hd / 2) * s`` with
    ``s = (-sin_1, sin_2)`` (``sin`` with its first half negated: ``sin_signed``).

    The rotation is orthogonal, so the backward is the inverse rotation of ``grad``:
    ``grad * cos + roll(grad * s, -hd / 2)``."""

    @staticmethod
    def forward(ctx, x, cos, sin_signed):
        half = x.shape[-1] // 2
        ctx.save_for_backward(cos, sin_signed)
        return torch.addcmul(x * cos, x.roll(half, -1), sin_signed)

    @staticmethod
    def backward(ctx, grad):
        cos, sin_signed = ctx.saved_tensors
        half = grad.shape[-1] // 2
        return (grad * sin_signed).roll(-half, -1).addcmul_(grad, cos), None, None


def _sin_signed(sin: torch.Tensor) -> torch.Tensor:
    """``sin`` (..., hd) with its first half negated: what :class:`_Rotary` multiplies the
    rolled ``x`` by (``rotate_half(x) = roll(x, hd / 2)`` with the first half negated)."""
    half = sin.shape[-1] // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def stack_key(model_cfg: LMConfig, train_cfg: TrainConfig) -> tuple:
    """What members of one stack must share: the model configuration but ``gamma`` and the
    training configuration but ``seed`` (a hashable tuple)."""
    m = model_cfg.to_dict()
    m.pop("gamma")
    t = train_cfg.to_dict()
    t.pop("seed")
    return tuple(sorted(m.items())) + tuple(sorted(t.items()))


# ---- the fused unembedding + cross-entropy ---------------------------------------------

class _UnembedCrossEntropy(torch.autograd.Function):
    r"""Per member, the mean cross-entropy of ``logits = h W^T`` against ``y``.

    ``h``: (K, N, d), ``W``: (K, V, d), ``y``: (K, N) -> (K,). ``buf``: a (K, N, V)
    workspace of ``h``'s dtype, written over: the logits, then their softmax ``P`` in place (so no array of
    that size is allocated per step: fresh pages cost as much as the arithmetic). Backward
    turns ``P`` into ``P - onehot(y)`` in place and multiplies it by ``W`` and ``h``, scaling
    the small products by ``grad / N``. The loss is ``-log P[y]`` (equal to log-sum-exp minus
    the picked logit to rounding while ``P[y]`` is a normal float, i.e. loss < 87 nats; a
    larger loss is a divergence anyway). The graph can be differentiated once, before the
    next forward reuses ``buf``."""

    @staticmethod
    def forward(ctx, h, W, y, buf, work=None):
        if work is None:
            logits = torch.bmm(h, W.transpose(1, 2), out=buf)             # (K, N, V)
            P = torch.ops.aten._softmax.out(logits, -1, False, out=logits)  # in place
        else:
            # by blocks of rows: a block's logits are turned into probabilities while they
            # are still in the cache (``work``: a flat workspace of a few MB), then copied
            # into ``buf`` -- the same values as the whole product, one pass over main
            # memory less
            K, N, V = buf.shape
            rows = work.numel() // (K * V)
            for s in range(0, N, rows):
                n = min(rows, N - s)
                blk = work[:K * n * V].view(K, n, V)
                torch.bmm(h[:, s:s + n], W.transpose(1, 2), out=blk)
                torch.ops.aten._softmax.out(blk, -1, False, out=blk)
                buf[:, s:s + n].copy_(blk)
            P = buf
        loss = -P.gather(-1, y.unsqueeze(-1)).squeeze(-1).log().mean(dim=-1)
        ctx.save_for_backward(h, W, y)
        ctx.P = P
        return loss

    @staticmethod
    def backward(ctx, grad):
        h, W, y = ctx.saved_tensors
        G, ctx.P = ctx.P, None
        if G is None:
            raise RuntimeError("the stacked loss can be differentiated once")
        G.scatter_add_(-1, y.unsqueeze(-1),
                       torch.full(y.shape + (1,), -1.0, dtype=G.dtype, device=G.device))
        scale = (grad / h.shape[1]).view(-1, 1, 1)
        # scaled in place: a fresh array of their size costs page faults each step
        grad_h = torch.bmm(G, W).mul_(scale) if ctx.needs_input_grad[0] else None
        grad_W = (torch.bmm(h.transpose(1, 2), G).transpose(1, 2).mul_(scale)
                  if ctx.needs_input_grad[1] else None)
        return grad_h, grad_W, None, None, None


# ---- the stacked model -----------------------------------------------------------------

class StackedLM(torch.nn.Module):
    """K :class:`~psbook.lm.model.QwenLM` of one shape (``cfgs``; they may differ in
    ``gamma``), initialised with ``seeds`` exactly as alone, as one module whose parameters
    carry a leading member axis under the single model's names (dots replaced by ``__``).
    ``loss(ids)`` takes ``(K, B, T)`` ids and returns the K mean cross-entropies."""

    def __init__(self, cfgs, seeds):
        super().__init__()
        cfgs, seeds = list(cfgs), [int(s) for s in seeds]
        if not cfgs or len(cfgs) != len(seeds):
            raise ValueError(f"cfgs and seeds must be equally long and not empty; got "
                             f"{len(cfgs)} and {len(seeds)}")
        shape = {k: v for k, v in cfgs[0].to_dict().items() if k != "gamma"}
        for i, c in enumerate(cfgs):
            if not isinstance(c, LMConfig):
                raise TypeError(f"cfgs[{i}] must be an LMConfig; got {type(c).__name__}")
            if {k: v for k, v in c.to_dict().items() if k != "gamma"} != shape:
                raise ValueError(f"cfgs[{i}] differs from cfgs[0] in more than gamma; a stack "
                                 f"holds models of one shape")
        self.cfg = cfgs[0]
        self.K = len(cfgs)
        singles = [QwenLM(c, seed=s) for c, s in zip(cfgs, seeds)]
        self.names = [n for n, _ in singles[0].named_parameters()]
        self.dims = {n: p.dim() for n, p in singles[0].named_parameters()}
        for n in self.names:
            w = torch.stack([dict(m.named_parameters())[n].detach() for m in singles])
            if n == "lm_head.weight":
                # stored as (K, d, V) in memory, seen as (K, V, d): the layout of the gradient
                # that _UnembedCrossEntropy computes, so autograd does not copy it each step
                w = w.transpose(1, 2).contiguous().transpose(1, 2)
            self.register_parameter(n.replace(".", "__"), torch.nn.Parameter(w))
        self.register_buffer("rope_cos", singles[0].rope_cos, persistent=False)
        self.register_buffer("rope_sin", singles[0].rope_sin, persistent=False)
        self._buf = None            # the loss's K x N x V workspace, allocated once
        self._work = None           # and its blocks' (on the CPU, when N is large)

    def p(self, name: str) -> torch.Tensor:
        """The stacked parameter of the single model's ``name`` (leading axis: member)."""
        return getattr(self, name.replace(".", "__"))

    @property
    def W_E(self) -> torch.Tensor:
        return self.p("embed_tokens.weight")

    @property
    def W_U(self) -> torch.Tensor:
        return self.W_E if self.cfg.tie_embeddings else self.p("lm_head.weight")

    def _norm(self, x, name):
        return _RMSNorm.apply(x.float(), self.p(name), self.cfg.rms_eps)

    def _linear(self, x, name, bias=None):
        w = self.p(name) if isinstance(name, str) else name
        if bias is None:
            return torch.bmm(x, w.transpose(1, 2))
        return torch.baddbmm(bias[:, None, :], x, w.transpose(1, 2))

    def _attention(self, x, i, B, T, cos, sin):
        cfg, K = self.cfg, self.K
        pre = f"layers.{i}.self_attn."
        nh, nkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        w = torch.cat([self.p(pre + f"{k}_proj.weight") for k in "qkv"], dim=1)
        b = torch.cat([self.p(pre + f"{k}_proj.bias") for k in "qkv"], dim=1)
        qkv = self._linear(x, w, b).view(K * B, T, nh + 2 * nkv, hd)
        qk, v = qkv.split((nh + nkv, nkv), dim=2)
        qk = _Rotary.apply(qk, cos, sin)             # sin: with its first half negated
        q, k = qk.split((nh, nkv), dim=2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True,
                                           enable_gqa=nkv != nh)
        return self._linear(y.transpose(1, 2).reshape(K, B * T, nh * hd), pre + "o_proj.weight")

    def _mlp(self, x, i):
        pre = f"layers.{i}.mlp."
        w = torch.cat((self.p(pre + "gate_proj.weight"), self.p(pre + "up_proj.weight")), dim=1)
        gate, up = self._linear(x, w).chunk(2, -1)
        return self._linear(F.silu(gate) * up, pre + "down_proj.weight")

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """The final normalised residual stream, ``(K, B * T, d)``, of ids ``(K, B, T)``."""
        cfg, K = self.cfg, self.K
        if ids.dim() != 3 or ids.shape[0] != K:
            raise ValueError(f"ids must be (K={K}, batch, T); got shape {tuple(ids.shape)}")
        _, B, T = ids.shape
        cos, sin = self.rope_cos[:T, None], _sin_signed(self.rope_sin[:T, None])
        offset = torch.arange(K, device=ids.device).view(K, 1, 1) * cfg.vocab_size
        h = F.embedding(ids + offset, self.W_E.reshape(K * cfg.vocab_size, cfg.d_model))
        h = h.view(K, B * T, cfg.d_model)
        for i in range(cfg.n_layers):
            if cfg.attention:
                h = h + self._attention(self._norm(h, f"layers.{i}.input_layernorm.weight"),
                                        i, B, T, cos, sin)
            if cfg.mlp:
                h = h + self._mlp(self._norm(h, f"layers.{i}.post_attention_layernorm.weight"), i)
        return self._norm(h, "norm.weight")

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Each member's mean cross-entropy of ``ids[:, :, 1:]`` given ``ids[:, :, :-1]``."""
        h = self.hidden(ids[:, :, :-1])
        y = ids[:, :, 1:].reshape(self.K, -1)
        shape = (self.K, y.shape[1], self.cfg.vocab_size)
        if self._buf is None or self._buf.shape != shape or self._buf.device != h.device \
                or self._buf.dtype != h.dtype:
            self._buf = torch.empty(shape, dtype=h.dtype, device=h.device)
            rows = _BLOCK_BYTES // (self.K * shape[2] * self._buf.element_size())
            self._work = (torch.empty(self.K * rows * shape[2], dtype=h.dtype)
                          if h.device.type == "cpu" and 16 <= rows < shape[1] else None)
        return _UnembedCrossEntropy.apply(h, self.W_U, y, self._buf, self._work)

    def member_state(self, k: int) -> dict:
        """Member ``k``'s weights as a :class:`QwenLM` state dict (copies)."""
        out = {n: self.p(n)[k].detach().cpu().clone(memory_format=torch.contiguous_format) for n in self.names}
        if self.cfg.tie_embeddings:
            out["lm_head.weight"] = out["embed_tokens.weight"]
        return out


# ---- the loop --------------------------------------------------------------------------

def _np(W: torch.Tensor) -> np.ndarray:
    return W.detach().float().cpu().numpy().copy()


def _member_dims(t: torch.Tensor) -> tuple:
    return tuple(range(1, t.dim()))


def adamw_impl(device="cpu") -> str:
    """Which AdamW :func:`train_stacked` uses on ``device``: ``"fused"`` (one pass per
    parameter: torch's fused kernel, on the CPU from torch 2.4) where torch has it, else
    ``"foreach"``. The two agree to float32 rounding, not bitwise, so the choice is part of a
    stacked member's cache key (:func:`trainer_key`).

    Book: chapters 10, 11 and 13 (through :func:`train_stacked_cached`)."""
    dev = torch.device(device)
    if dev.type not in _FUSED_CHECKED:
        try:
            p = torch.zeros(2, device=dev, requires_grad=True)
            opt = torch.optim.AdamW([p], fused=True)
            p.grad = torch.ones_like(p)
            opt.step()
            _FUSED_CHECKED[dev.type] = "fused"
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            _FUSED_CHECKED[dev.type] = "foreach"
    return _FUSED_CHECKED[dev.type]


_FUSED_CHECKED: dict = {}       # device type -> "fused" / "foreach", tried once per process


def _adamw(groups, cfg, device):
    """AdamW over ``groups`` with ``cfg``'s learning rate and betas, :func:`adamw_impl`'s
    kind."""
    kind = {adamw_impl(device): True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **kind)


def trainer_key(device="cpu") -> dict:
    """What a stacked member's cache key adds to its single run's: the trainer and the
    AdamW kind (:func:`adamw_impl`), so a result of another trainer or optimiser kernel is
    never served for it.

    Book: chapters 10, 11 and 13 (through :func:`train_stacked_cached`)."""
    return {**STACKED, "adamw": adamw_impl(device)}


def train_stacked(jobs, *, device: str = "cpu", keep_state: bool = False,
                  progress: bool = False, desc: str = "stack") -> list:
    """Train the members ``jobs`` (dicts with ``tokens``, ``model_cfg``, ``train_cfg`` and
    optionally ``signatures``, ``token_sets``; one :func:`stack_key`) as one
    :class:`StackedLM`. Returns, in order, each member's :class:`~psbook.lm.train.TrainResult`
    (``seconds``: the stack's training time divided by K), or the
    :class:`~psbook.lm.train.DivergenceError` a member's single run would raise (its message
    says which member); the other members train on unaffected.

    Book: chapter 13."""
    from ..progress import progress_bar

    jobs = list(jobs)
    if not jobs:
        raise ValueError("jobs is empty; give at least one training")
    keys = {stack_key(j["model_cfg"], j["train_cfg"]) for j in jobs}
    if len(keys) != 1:
        raise ValueError("jobs must share the model and training configuration but gamma and "
                         "seed (psbook.lm.stacked.stack_key); group them with "
                         "train_stacked_cached")
    streams, probes = [], []
    for i, j in enumerate(jobs):
        s, probe = _member_inputs(i, j)
        streams.append(torch.from_numpy(s))
        probes.append(probe)
    cfg = jobs[0]["train_cfg"]
    dev = torch.device(device)
    K, L = len(jobs), cfg.seq_len + 1
    model = StackedLM([j["model_cfg"] for j in jobs], [j["train_cfg"].seed for j in jobs]).to(dev)
    W_E0, W_U0 = _np(model.W_E), _np(model.W_U)
    params = [model.p(n) for n in model.names]
    opt = _adamw(
        [{"params": [p for n, p in zip(model.names, params) if model.dims[n] >= 2],
          "weight_decay": cfg.weight_decay},
         {"params": [p for n, p in zip(model.names, params) if model.dims[n] < 2],
          "weight_decay": 0.0}], cfg, dev)
    gens = [torch.Generator().manual_seed(j["train_cfg"].seed + 1) for j in jobs]
    limit = cfg.diverge_factor * math.log(jobs[0]["model_cfg"].vocab_size)
    hist = [{k: [] for k in ["step", "tokens", "loss", "seconds"] + (p.keys if p else [])}
            for p in probes]
    window = [[] for _ in jobs]
    errors: list = [None] * K
    elapsed = 0.0

    def batch(gen_of):
        return torch.stack([sample_windows(st, cfg.batch_size, L, gen_of(k))
                            for k, st in enumerate(streams)]).to(dev)

    def evaluate(step):
        if step == 0:   # one batch drawn without touching the training generators
            g0 = [torch.Generator().manual_seed(j["train_cfg"].seed + 2) for j in jobs]
            with torch.no_grad():
                first = model.loss(batch(lambda k: g0[k])).tolist()
        W_E, W_U = (_np(model.W_E), _np(model.W_U)) if any(probes) else (None, None)
        for k, h in enumerate(hist):
            h["step"].append(step)
            h["tokens"].append(step * cfg.batch_size * cfg.seq_len)
            h["seconds"].append(elapsed / K)
            h["loss"].append(float(np.mean(window[k])) if window[k] else first[k])
            window[k].clear()
            if probes[k] is not None:
                for key, v in probes[k](W_E[k], W_U[k]).items():
                    h[key].append(v)

    evaluate(0)
    bar = progress_bar(total=cfg.steps, desc=f"{desc} ({K} models)", enabled=progress)
    model.train()
    try:
        for step in range(cfg.steps):
            t0 = time.perf_counter()
            for grp in opt.param_groups:
                grp["lr"] = cfg.lr_at(step)
            losses = model.loss(batch(lambda k: gens[k]))
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            with torch.no_grad():
                # each member clipped by its own gradient norm (clip_grad_norm_'s rule)
                # (one reduction pass per tensor: no squared or absolute copy is allocated)
                sq = sum(torch.linalg.vector_norm(p.grad, dim=_member_dims(p.grad)).square()
                         for p in params)
                gnorm = sq.sqrt()
                coef = (cfg.grad_clip / (gnorm + 1e-6)).clamp(max=1.0)
                for p in params:
                    p.grad.mul_(coef.view((K,) + (1,) * (p.dim() - 1)))
                wmax = torch.stack([torch.linalg.vector_norm(p, ord=math.inf,
                                                             dim=_member_dims(p))
                                    for p in params]).amax(0)
            lv = losses.detach().tolist()
            for k in range(K):
                if errors[k] is None:
                    errors[k] = _divergence(jobs[k], step, lv[k], float(gnorm[k]),
                                            float(wmax[k]), limit, cfg)
                window[k].append(lv[k])
            opt.step()
            elapsed += time.perf_counter() - t0
            done = step + 1
            if done % cfg.eval_every == 0 or done == cfg.steps:
                evaluate(done)
            bar.update(1)
    finally:
        bar.close()
    out = []
    W_E, W_U = _np(model.W_E), _np(model.W_U)
    n_tok = cfg.steps * cfg.batch_size * cfg.seq_len
    for k, j in enumerate(jobs):
        if errors[k] is not None:
            out.append(errors[k])
            continue
        h = {key: np.asarray(v, dtype=np.float64) for key, v in hist[k].items()}
        out.append(TrainResult(
            model_cfg=j["model_cfg"].to_dict(), train_cfg=j["train_cfg"].to_dict(), history=h,
            W_E=W_E[k], W_U=W_U[k], W_E0=W_E0[k], W_U0=W_U0[k], seconds=elapsed / K,
            tokens_per_second=n_tok / (elapsed / K) if elapsed > 0 else float("nan"),
            state_dict=model.member_state(k) if keep_state else None))
    return out


def _member_inputs(i: int, job: dict):
    """Member ``i``'s token stream (checked against its model) and probe (None without
    signatures)."""
    m, t = job["model_cfg"], job["train_cfg"]
    if not isinstance(m, LMConfig) or not isinstance(t, TrainConfig):
        raise TypeError(f"jobs[{i}] needs an LMConfig model_cfg and a TrainConfig train_cfg")
    stream = as_stream(job["tokens"], m.vocab_size)
    if t.seq_len > m.max_seq_len:
        raise ValueError(f"jobs[{i}]: train_cfg.seq_len ({t.seq_len}) exceeds the model's "
                         f"max_seq_len ({m.max_seq_len})")
    if stream.size < t.seq_len + 1:
        raise ValueError(f"jobs[{i}]: tokens holds {stream.size} ids, fewer than one training "
                         f"window of seq_len + 1 = {t.seq_len + 1}")
    sig, sets = job.get("signatures"), job.get("token_sets")
    if (sig is None) != (sets is None):
        raise ValueError(f"jobs[{i}]: pass signatures and token_sets together (or neither)")
    if sig is None:
        return stream, None
    if not isinstance(sig, NextTokenSignatures) or sig.vocab_size != m.vocab_size:
        raise ValueError(f"jobs[{i}]: signatures must be NextTokenSignatures over the model's "
                         f"{m.vocab_size} tokens")
    return stream, AlignmentProbe(sig, sets, tied=m.tie_embeddings)


def _divergence(job, step, lv, gnorm, wmax, limit, cfg):
    """The DivergenceError member ``job``'s single run raises at ``step``, or None."""
    if math.isfinite(lv) and math.isfinite(gnorm) and wmax <= _MAX_WEIGHT \
            and not (step >= cfg.warmup and lv > limit):
        return None
    note = (f"a weight reached |w| = {wmax:.3g} > {_MAX_WEIGHT:g}, loss = {lv:.4g}"
            if math.isfinite(lv) and wmax > _MAX_WEIGHT else f"loss = {lv:.4g}")
    V = job["model_cfg"].vocab_size
    return DivergenceError(
        f"training {job.get('desc', '')!r} (a stack member) diverged at step {step}: {note} "
        f"(learning rate {cfg.lr_at(step):.3g}; a uniform guess scores ln V = "
        f"{math.log(V):.3g}). Lower the learning rate (TrainConfig.lr; e.g. halve it), "
        f"lengthen the warmup, or lower grad_clip")


# ---- cached, grouped, on several cores ---------------------------------------------------

def _config(job: dict) -> dict:
    """A member's cache key: what its single run's key holds, plus ``"trainer": "stacked"``."""
    sig, sets = job.get("signatures"), job.get("token_sets")
    return {"model": job["model_cfg"].to_dict(), "train": job["train_cfg"].to_dict(),
            "tokens": fingerprint(job["tokens"]),
            "signatures": fingerprint(sig) if sig is not None else None,
            "token_sets": {k: np.asarray(v, dtype=np.int64).tolist()
                           for k, v in (sets or {}).items()},
            **trainer_key(job.get("device", "cpu"))}


def _train_and_store(jobs: list, device: str):
    """Train one stack and cache each finished member; the results (or errors) in order."""
    from ..cache import load_or_compute
    results = train_stacked(jobs, device=device)
    for j, r in zip(jobs, results):
        if not isinstance(r, Exception):
            load_or_compute(j.get("namespace", "lm-train"), _config({**j, "device": device}),
                            lambda r=r: r, verbose=False)
    return results


def train_stacked_cached(jobs, *, progress: bool = True, desc: str = "training",
                         max_stack: int = 8) -> list:
    """:func:`train_stacked` for a list of jobs (the arguments of
    :func:`psbook.lm.train_cached`), through the cache: each member is looked up and stored
    under its single run's key plus ``"trainer": "stacked"``; the missing ones are grouped by
    :func:`stack_key` and device into stacks of at most ``max_stack`` members, and the stacks
    run side by side on :func:`psbook.parallel.workers` processes (``PSBOOK_WORKERS``).
    Identical jobs are trained once. Returns the :class:`~psbook.lm.train.TrainResult` list in
    the order of ``jobs``; a member that diverged raises its
    :class:`~psbook.lm.train.DivergenceError` once all stacks are done (the others cached).

    Book: chapter 13."""
    from ..cache import lookup
    from ..parallel import map_jobs, workers

    jobs = check_jobs(jobs, "train_stacked_cached")
    from ..cache import config_key
    keys = [config_key(j.get("namespace", "lm-train"), _config(j)) for j in jobs]
    out = [lookup(j.get("namespace", "lm-train"), _config(j))[1] for j in jobs]
    first = {}                                   # one training per distinct key
    for i, r in enumerate(out):
        if r is None:
            first.setdefault(keys[i], i)
    groups: dict = {}
    for i in first.values():
        j = jobs[i]
        groups.setdefault((stack_key(j["model_cfg"], j["train_cfg"]),
                           str(j.get("device", "cpu"))), []).append(i)
    stacks = []
    for (_, dev), idx in groups.items():
        # a multiple of the worker processes (they finish together), none over max_stack
        w = workers(len(idx), dev)
        n = min(len(idx), w * math.ceil(math.ceil(len(idx) / max(1, int(max_stack))) / w))
        stacks += [(dev, part.tolist()) for part in np.array_split(np.asarray(idx), n)]
    if stacks:
        n_workers = workers(len(stacks), stacks[0][0])
        results = map_jobs(_train_and_store,
                           [(([{k: v for k, v in jobs[i].items() if k != "device"}
                                for i in idx], dev), {}) for dev, idx in stacks],
                           n_workers=n_workers, device=stacks[0][0], desc=desc,
                           progress=progress)
        err = None
        done = {}
        for (_, idx), res in zip(stacks, results):
            for i, r in zip(idx, res):
                if isinstance(r, Exception):
                    err = err or r
                else:
                    done[keys[i]] = r
        if err is not None:
            raise err
        out = [done[keys[i]] if r is None else r for i, r in enumerate(out)]
    return out
