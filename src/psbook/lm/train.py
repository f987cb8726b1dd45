r"""Training the small decoder, with the alignment metrics logged along the way.

:func:`train_lm` runs AdamW (linear warm-up, cosine decay) on random windows of a token
stream and, every ``eval_every`` steps, records the loss and the alignment between the
learned geometry and the probability signatures of the training text (DESIGN §3):

* untied models: :math:`R_{cos}(\mathbf W^E, \phi^{next})` and
  :math:`R_{cos}(\mathbf W^U, \varphi^{pre})`;
* tied models: :math:`R_{cos}(\mathbf W, \tilde\phi)` with :math:`\tilde\phi = \phi^{next} +
  \varphi^{pre}`;

each over several named token sets (e.g. the top-K most frequent tokens, digits, months).

Robustness: a checkpoint (model, optimiser, data-order RNG, history) is written atomically
every ``checkpoint_every`` steps; calling :func:`train_lm` again with the same arguments and
``checkpoint_dir`` resumes from it, and the result is *identical* to an uninterrupted run
(``tests/test_lm.py`` checks this). A non-finite or exploding loss stops training with
:class:`psbook.synthetic.fitting.DivergenceError` (alias ``TrainingDiverged``), whose message says
what to change.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._validate import as_token_array, check_positive_float, check_positive_int
from ..metrics import correlation, cosine_matrix, pair_values
from ..progress import progress_bar
from ..signatures import NextTokenSignatures
from ..synthetic.fitting import DivergenceError
from .model import LMConfig, QwenLM

__all__ = ["TrainConfig", "TrainResult", "DivergenceError", "TrainingDiverged", "AlignmentProbe",
           "train_lm",
           "as_stream", "sample_windows"]


# One exception for a diverged run, whichever trainer: psbook.synthetic.fitting.DivergenceError.
# ``TrainingDiverged`` is the same class under its older public name (kept as an alias):
# ``except DivergenceError`` and ``except TrainingDiverged`` catch both trainers' divergences.
TrainingDiverged = DivergenceError


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`train_lm`."""

    steps: int = 300
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    warmup: int = 20
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 25
    checkpoint_every: int = 100
    seed: int = 0
    diverge_factor: float = 2.0   # loss above diverge_factor * ln(V) counts as divergence

    def __post_init__(self):
        for name in ("steps", "batch_size", "seq_len", "eval_every", "checkpoint_every"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("warmup", self.warmup, minimum=0)
        check_positive_int("seed", self.seed, minimum=0)
        check_positive_float("lr", self.lr)
        check_positive_float("weight_decay", self.weight_decay, allow_zero=True)
        check_positive_float("grad_clip", self.grad_clip)
        check_positive_float("diverge_factor", self.diverge_factor)
        check_positive_float("min_lr_ratio", self.min_lr_ratio, allow_zero=True)
        check_positive_float("beta1", self.beta1, allow_zero=True)
        check_positive_float("beta2", self.beta2, allow_zero=True)
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1]; got {self.min_lr_ratio}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1); got {getattr(self, name)}")

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based): linear warm-up, then cosine decay."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 *
                          (1 + math.cos(math.pi * min(t, 1.0))))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What :func:`train_lm` returns (picklable; cached by :func:`psbook.lm.train_cached`).

    ``history`` maps ``"step"``, ``"tokens"``, ``"loss"``, ``"seconds"`` and one key per
    alignment metric (e.g. ``"E~next/top"``) to 1-D arrays, one entry per evaluation (the
    first at step 0, before any update). ``W_E``/``W_U`` are the final embedding and
    unembedding (V x d, float32 numpy; the same array for a tied model), ``W_E0``/``W_U0`` the
    initial ones.
    """

    model_cfg: dict
    train_cfg: dict
    history: dict
    W_E: np.ndarray
    W_U: np.ndarray
    W_E0: np.ndarray
    W_U0: np.ndarray
    seconds: float
    tokens_per_second: float
    state_dict: dict | None = field(default=None, repr=False)

    @property
    def tied(self) -> bool:
        return bool(self.model_cfg["tie_embeddings"])

    def model(self) -> QwenLM:
        """Rebuild the trained model (needs ``keep_state=True`` at training time)."""
        if self.state_dict is None:
            raise ValueError("this TrainResult holds no weights beyond W_E/W_U; train with "
                             "keep_state=True to rebuild the model")
        m = QwenLM(LMConfig(**self.model_cfg))
        m.load_state_dict(self.state_dict)
        return m


# ---- data -------------------------------------------------------------------------------

def as_stream(tokens, vocab_size: int) -> np.ndarray:
    """One 1-D int64 stream from an array or a list of documents (concatenated), with every
    id checked against the model's ``vocab_size``."""
    if isinstance(tokens, (list, tuple)):
        if not tokens:
            raise ValueError("tokens is an empty list; expected token-id arrays (documents)")
        parts = [as_token_array(f"tokens[{i}]", t, vocab_size, ndim=1, allow_empty=True)
                 for i, t in enumerate(tokens)]
        stream = np.concatenate(parts)
    else:
        stream = as_token_array("tokens", tokens, vocab_size, ndim=1)
    return stream


def sample_windows(stream: torch.Tensor, batch_size: int, length: int,
                   gen: torch.Generator) -> torch.Tensor:
    """``batch_size`` random windows of ``length`` consecutive tokens (drawn with ``gen``)."""
    starts = torch.randint(0, stream.numel() - length + 1, (batch_size,), generator=gen)
    return stream[starts[:, None] + torch.arange(length)]


# ---- alignment probe --------------------------------------------------------------------

class AlignmentProbe:
    r"""Computes :math:`R_{cos}` between a model's token vectors and signatures, fast.

    The signature cosines of each token set are computed once; each call then only needs the
    embedding cosines. Values equal :func:`psbook.metrics.r_cos` (Pearson) exactly.
    ``token_sets`` maps a name (``"top"``, ``"digits"``...) to token ids; sets with fewer than
    3 tokens are skipped (a correlation over pairs needs at least 3).
    """

    def __init__(self, signatures: NextTokenSignatures, token_sets: dict, *, tied: bool):
        if not isinstance(signatures, NextTokenSignatures):
            raise TypeError(f"signatures must be NextTokenSignatures; got "
                            f"{type(signatures).__name__}")
        if not isinstance(token_sets, dict):
            raise TypeError(f"token_sets must be a dict name -> token ids; got "
                            f"{type(token_sets).__name__}")
        V = signatures.vocab_size
        self.tied = bool(tied)
        self.sets = {}
        self.sig_pairs = {}
        pairs = [("W~tied", "tied")] if tied else [("E~next", "phi_next"), ("U~pre", "varphi_pre")]
        for name, toks in token_sets.items():
            t = as_token_array(f"token_sets[{name!r}]", toks, V, ndim=1, allow_empty=True)
            if t.size < 3:
                continue
            self.sets[name] = t
            for key, attr in pairs:
                self.sig_pairs[f"{key}/{name}"] = pair_values(
                    cosine_matrix(getattr(signatures, attr)[t]))

    @property
    def keys(self) -> list[str]:
        return list(self.sig_pairs)

    def __call__(self, W_E, W_U=None) -> dict:
        out = {}
        for key, sig in self.sig_pairs.items():
            which, name = key.split("/", 1)
            W = W_U if which == "U~pre" else W_E
            emb = pair_values(cosine_matrix(W[self.sets[name]]))
            out[key] = correlation(emb, sig)
        return out


# ---- checkpoints ------------------------------------------------------------------------

CHECKPOINT = "checkpoint.npz"


def _atomic_save(obj, path: Path) -> bool:
    """Write the checkpoint ``obj`` (tensors and plain data) as data
    (:mod:`psbook.cache_format`: arrays + JSON, no pickle), atomically; a failed write warns
    once (:func:`psbook.atomic.write_file`) and returns False."""
    from ..atomic import write_file
    from ..cache_format import dumps
    return write_file(path, dumps(obj))


def read_checkpoint(path) -> dict:
    """The state a checkpoint written by :func:`train_lm` holds (tensors on the CPU); raises
    for a damaged or foreign file. Nothing in it is unpickled."""
    from ..cache_format import load
    state = load(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a checkpoint")
    return state


def _np(W: torch.Tensor) -> np.ndarray:
    return W.detach().float().cpu().numpy().copy()


# A weight this large (init std ~ d**-0.8; trained weights stay O(1)) only comes from a
# run whose updates have run away, even while the loss still looks flat.
_MAX_WEIGHT = 1e3


@torch.no_grad()
def _max_abs_weight(model) -> float:
    m = float(torch.stack([p.detach().abs().max() for p in model.parameters()]).max())
    return m if math.isfinite(m) else float("inf")


def _checkpoint_key(model_cfg, train_cfg, stream_np, signatures, token_sets) -> dict:
    """What a checkpoint must match to be resumed: code, configuration and data."""
    from ..cache import code_fingerprint, fingerprint
    sig = None
    if signatures is not None:
        c = signatures.counts.tocsr()
        sig = fingerprint([c.indptr, c.indices, c.data, list(c.shape)])
    return {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
            "code": code_fingerprint(), "tokens": fingerprint(stream_np),
            "signatures": sig,
            "token_sets": None if token_sets is None else fingerprint(
                {str(k): np.asarray(v, dtype=np.int64) for k, v in token_sets.items()})}


def _load_checkpoint(ckpt: Path, dev):
    """The checkpoint's state, or None if there is none. A damaged checkpoint (truncated by a
    killed run, say) is reported with its path, deleted, and training starts over."""
    try:  # another process running the same cached run may delete it under our feet
        # stored as data (psbook.cache_format): nothing in a checkpoint can run code
        state = read_checkpoint(ckpt)
        for k in ("W_E0", "W_U0"):          # stored as tensors, used as numpy arrays
            if isinstance(state.get(k), torch.Tensor):
                state[k] = state[k].cpu().numpy()
        return state
    except FileNotFoundError:
        return None
    except Exception as exc:
        warnings.warn(f"psbook: the checkpoint {ckpt} is damaged and was deleted; training "
                      f"starts over ({type(exc).__name__}: {str(exc)[:200]})", RuntimeWarning,
                      stacklevel=3)
        ckpt.unlink(missing_ok=True)
        return None


# ---- the loop ---------------------------------------------------------------------------

def train_lm(tokens, model_cfg: LMConfig, train_cfg: TrainConfig, *,
             signatures: NextTokenSignatures | None = None, token_sets: dict | None = None,
             device: str = "cpu", checkpoint_dir=None, stop_after: int | None = None,
             keep_state: bool = False, progress: bool = True, desc: str = "training") -> TrainResult:
    """Train a :class:`QwenLM` on ``tokens`` and log alignment metrics along the way.

    ``tokens``: a 1-D array of ids or a list of documents (concatenated into one stream).
    ``signatures``/``token_sets``: what :class:`AlignmentProbe` measures at every evaluation
    (omit both to log the loss only). ``checkpoint_dir``: where a checkpoint is written every
    ``train_cfg.checkpoint_every`` steps; if it holds a checkpoint of the same configuration,
    training resumes from it. ``stop_after``: stop (after checkpointing) once this many steps
    are done, as a disconnecting runtime would; call again to continue. Returns a
    :class:`TrainResult`; raises :class:`~psbook.synthetic.fitting.DivergenceError` (alias
    ``TrainingDiverged``) on a NaN or exploding loss.
    """
    stream_np, probe = _check_training_inputs(tokens, model_cfg, train_cfg, signatures,
                                              token_sets, stop_after)
    run = _Run(stream_np, model_cfg, train_cfg, probe, torch.device(device))
    if checkpoint_dir is not None:
        run.resume_from(Path(checkpoint_dir), signatures, token_sets)
    if run.start == 0 and not run.history["step"]:
        run.evaluate(0)
    end = train_cfg.steps if stop_after is None else min(train_cfg.steps, stop_after)
    bar = progress_bar(total=train_cfg.steps, initial=run.start, desc=desc, enabled=progress)
    run.model.train()
    try:
        for step in range(run.start, end):
            lv = run.step(step)
            done = step + 1
            if done % train_cfg.eval_every == 0 or done == train_cfg.steps:
                run.evaluate(done)
                first = probe.keys[0] if probe else None
                bar.set_postfix(loss=f"{lv:.3f}", refresh=False,
                                **({"R": f"{run.history[first][-1]:+.2f}"} if first else {}))
            if done % train_cfg.checkpoint_every == 0 or done == end:
                run.save(done)
            bar.update(1)
    finally:
        bar.close()
    return run.result(keep_state)


def _check_training_inputs(tokens, model_cfg, train_cfg, signatures, token_sets, stop_after):
    """:func:`train_lm`'s arguments checked: the token stream as one array, and the
    :class:`AlignmentProbe` (None without signatures)."""
    if not isinstance(model_cfg, LMConfig):
        raise TypeError(f"model_cfg must be an LMConfig; got {type(model_cfg).__name__}")
    if not isinstance(train_cfg, TrainConfig):
        raise TypeError(f"train_cfg must be a TrainConfig; got {type(train_cfg).__name__}")
    V = model_cfg.vocab_size
    try:
        stream_np = as_stream(tokens, V)
    except ValueError as exc:
        raise ValueError(f"{exc}. The model's vocab_size ({V}) must equal the tokenizer's "
                         f"vocab_size") from None
    L = train_cfg.seq_len + 1
    if L > model_cfg.max_seq_len + 1:
        raise ValueError(f"train_cfg.seq_len ({train_cfg.seq_len}) exceeds the model's "
                         f"max_seq_len ({model_cfg.max_seq_len})")
    if stream_np.size < L:
        raise ValueError(f"tokens holds {stream_np.size} ids, fewer than one training window "
                         f"of seq_len + 1 = {L}; give more text or a shorter seq_len")
    if (signatures is None) != (token_sets is None):
        raise ValueError("pass signatures and token_sets together (or neither)")
    probe = None
    if signatures is not None:
        if not isinstance(signatures, NextTokenSignatures):
            raise TypeError(f"signatures must be NextTokenSignatures; got "
                            f"{type(signatures).__name__}")
        if signatures.vocab_size != V:
            raise ValueError(f"signatures cover a vocabulary of {signatures.vocab_size} tokens "
                             f"but the model has vocab_size={V}; count them with the same "
                             f"tokenizer")
        probe = AlignmentProbe(signatures, token_sets, tied=model_cfg.tie_embeddings)
    if stop_after is not None:
        check_positive_int("stop_after", stop_after, minimum=0)
    return stream_np, probe


class _Run:
    """One :func:`train_lm` run's state: model, optimiser, sampling RNG, history, the clock,
    and its checkpoint; one method per thing a step of the loop does."""

    def __init__(self, stream_np, model_cfg, train_cfg, probe, dev):
        self.stream_np, self.model_cfg, self.cfg, self.probe, self.dev = (
            stream_np, model_cfg, train_cfg, probe, dev)
        self.stream = torch.from_numpy(stream_np)  # stays on the CPU: windows are cut there
        self.L = train_cfg.seq_len + 1
        self.model = QwenLM(model_cfg, seed=train_cfg.seed).to(dev)
        self.W_E0, self.W_U0 = _np(self.model.W_E), _np(self.model.W_U)
        decay = [p for n, p in self.model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": train_cfg.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}],
                                     lr=train_cfg.lr, betas=(train_cfg.beta1, train_cfg.beta2),
                                     foreach=True)
        self.gen = torch.Generator().manual_seed(train_cfg.seed + 1)
        keys = ["step", "tokens", "loss", "seconds"] + (probe.keys if probe else [])
        self.history = {k: [] for k in keys}
        self.start, self.elapsed, self.window_losses = 0, 0.0, []
        self.ckpt, self.config = None, None
        self.limit_loss = train_cfg.diverge_factor * math.log(model_cfg.vocab_size)

    def resume_from(self, checkpoint_dir: Path, signatures, token_sets) -> None:
        """Checkpoint to ``checkpoint_dir``; continue from the checkpoint there, if any."""
        self.ckpt = Path(checkpoint_dir) / CHECKPOINT
        self.config = _checkpoint_key(self.model_cfg, self.cfg, self.stream_np, signatures,
                                      token_sets)
        state = _load_checkpoint(self.ckpt, self.dev)
        if state is None:
            return
        if not isinstance(state, dict) or state.get("config") != self.config:
            raise ValueError(f"checkpoint_dir {str(checkpoint_dir)!r} holds a checkpoint of a "
                             f"different configuration, other training data or other psbook "
                             f"code; use another folder or delete it")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.start, self.elapsed, self.history = state["step"], state["seconds"], state["history"]
        self.window_losses = state["window_losses"]
        self.W_E0, self.W_U0 = state["W_E0"], state["W_U0"]

    def step(self, step: int) -> float:
        """One optimiser step (learning-rate schedule, a batch, clipping); its loss. Raises
        DivergenceError on a NaN, an exploding loss or weight."""
        cfg, model = self.cfg, self.model
        t0 = time.perf_counter()
        for grp in self.opt.param_groups:
            grp["lr"] = cfg.lr_at(step)
        batch = sample_windows(self.stream, cfg.batch_size, self.L, self.gen).to(self.dev)
        loss = model.loss(batch, check=False)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        lv = loss.detach().item()
        wmax = _max_abs_weight(model)
        if not math.isfinite(lv) or not math.isfinite(float(gnorm)) or wmax > _MAX_WEIGHT \
                or (step >= cfg.warmup and lv > self.limit_loss):
            self._diverged(step, lv, wmax)
        self.opt.step()
        self.window_losses.append(lv)
        self.elapsed += time.perf_counter() - t0
        return lv

    def _diverged(self, step: int, lv: float, wmax: float):
        if math.isfinite(lv) and wmax > _MAX_WEIGHT:
            lv_note = f"a weight reached |w| = {wmax:.3g} > {_MAX_WEIGHT:g}, loss = {lv:.4g}"
        else:
            lv_note = f"loss = {lv:.4g}"
        raise DivergenceError(
            f"training diverged at step {step}: {lv_note} (learning rate "
            f"{self.cfg.lr_at(step):.3g}; a uniform guess scores ln V = "
            f"{math.log(self.model_cfg.vocab_size):.3g}). Lower the learning rate "
            f"(TrainConfig.lr, preset.lm['train']['lr']; e.g. halve it), lengthen the warmup, "
            f"or lower grad_clip; with gamma < 0.5 (large init) also try a larger gamma")

    def evaluate(self, step: int) -> None:
        """Log step ``step``: tokens seen, time, the mean loss since the last log (at step 0
        the loss of one batch drawn without touching the training RNG) and the probe."""
        cfg, history = self.cfg, self.history
        history["step"].append(step)
        history["tokens"].append(step * cfg.batch_size * cfg.seq_len)
        history["seconds"].append(self.elapsed)
        if self.window_losses:
            history["loss"].append(float(np.mean(self.window_losses)))
        else:
            g0 = torch.Generator().manual_seed(cfg.seed + 2)
            with torch.no_grad():
                history["loss"].append(float(self.model.loss(
                    sample_windows(self.stream, cfg.batch_size, self.L, g0).to(self.dev),
                    check=False)))
        self.window_losses.clear()
        if self.probe is not None:
            with torch.no_grad():
                for k, v in self.probe(_np(self.model.W_E), _np(self.model.W_U)).items():
                    history[k].append(v)

    def save(self, step: int) -> None:
        """Write the checkpoint (if there is a checkpoint folder)."""
        if self.ckpt is None:
            return
        # plain data and tensors only, stored as data; a full or read-only disk warns once
        # (psbook.atomic) and training goes on
        _atomic_save({"config": self.config, "model": self.model.state_dict(),
                      "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                      "step": step, "seconds": float(self.elapsed),
                      "history": {k: [float(x) for x in v] for k, v in self.history.items()},
                      "window_losses": [float(x) for x in self.window_losses],
                      "W_E0": torch.from_numpy(self.W_E0),
                      "W_U0": torch.from_numpy(self.W_U0)},
                     self.ckpt)

    def result(self, keep_state: bool) -> TrainResult:
        hist = {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()}
        n_tok = hist["tokens"][-1] if hist["tokens"].size else 0
        model, elapsed = self.model, self.elapsed
        return TrainResult(
            model_cfg=self.model_cfg.to_dict(), train_cfg=self.cfg.to_dict(), history=hist,
            W_E=_np(model.W_E), W_U=_np(model.W_U), W_E0=self.W_E0, W_U0=self.W_U0,
            seconds=elapsed,
            tokens_per_second=float(n_tok / elapsed) if elapsed > 0 else float("nan"),
            state_dict=({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                        if keep_state else None))
