"""Presets (tiny / cpu / gpu / full), device choice and seeding (DESIGN §5).

One code path for every preset; only sizes change. The preset is chosen by
``PSBOOK_PRESET``; otherwise ``CI=true`` selects ``tiny``, a CUDA device selects ``gpu``,
and anything else ``cpu``. ``full`` is never chosen automatically: only by name.

* ``tiny`` -- CI and quick checks: seconds per chapter.
* ``cpu``  -- the default on a laptop or a CPU Colab runtime: at most ~3 min per chapter
  on 2 cores.
* ``gpu``  -- what a reader with a Colab T4 (16 GB) has: at most ~5 min per chapter.
* ``full`` -- the largest sizes (a reconstruction of the paper's scale), on one large GPU;
  chosen only with ``PSBOOK_PRESET=full``.

Each chapter reads the sizes it needs from the preset's sections (``preset.signatures``,
``preset.synthetic``, ``preset.theory``, ``preset.lm``); every section is a plain dict, so a
reader can override one value: ``preset = get_preset("cpu", lm={"train_steps": 500})``.
``PSBOOK_SEED`` overrides the seed of every preset; ``preset.seeds()`` lists the seeds a claim
is measured over (``n_seeds`` of them: 3 in tiny, 5 in the others).
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Preset", "PRESETS", "PRESET_NAMES", "AUTO_PRESETS", "get_preset", "preset_name",
           "device", "seed_everything", "describe", "env_seed"]

# the environment's readers live in psbook.settings (the bottom of the package); the names
# stay importable from here
from . import settings
from .settings import (AUTO_PRESETS, DEVICES, PRESET_NAMES, device,  # noqa: F401
                       env_seed, preset_name)


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    seed: int = 0
    # how many seeds each headline claim is measured over (DESIGN §4): seeds() lists them
    n_seeds: int = 3
    # chapter 02 / 09: counting signatures of real text
    signatures: dict = field(default_factory=dict)
    # chapters 05-08: synthetic tasks (sizes, steps, widget grids)
    synthetic: dict = field(default_factory=dict)
    # chapters 03-04: numerical checks of the gradient-flow theory
    theory: dict = field(default_factory=dict)
    # chapters 09-11: corpora, tokenizer, the small Qwen2.5-style model
    lm: dict = field(default_factory=dict)
    # chapter 13: interventions on the data, and the gradient flow along training
    interventions: dict = field(default_factory=dict)

    def __str__(self) -> str:  # what the setup cell of every chapter prints
        return f"preset={self.name} device={self.device} seed={self.seed} n_seeds={self.n_seeds}"

    def seeds(self, n: int | None = None) -> list[int]:
        """The seeds a claim is measured over: ``seed, seed + 1, ...`` (``n_seeds`` of them).

        They start at :attr:`seed`, so ``PSBOOK_SEED`` moves every seed of a run at once.
        """
        n = self.n_seeds if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        return [int(self.seed) + i for i in range(int(n))]


_SECTIONS = {
    "tiny": dict(
        n_seeds=3,
        signatures=dict(max_chars=2_500_000, vocab_words=5_000, top_k=500),
        synthetic=dict(
            # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
            f_add=dict(n_keys=14, n_anchors=4, n_slots=2),
            f_add_tilde=dict(n_keys=14, n_anchors=8, n_slots=2, width=1.0, n_samples=4000),
            f_mod=dict(p=17, test_frac=0.3),
            f_add_flat=dict(n_keys=14, n_anchors=12, n_slots=2, n_samples=20000),
            f_mod_noisy=dict(p=17, test_frac=0.3, n_per_pair=20, rho=1.0),
            model=dict(d=32, hidden=64, activation="relu", gamma=0.8),
            train=dict(
                f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                           ffn=dict(optimizer="gd", lr=0.5, steps=600)),
                f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                                 ffn=dict(optimizer="gd", lr=0.5, steps=600)),
                f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600),
                           ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600)),
                f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                                ffn=dict(optimizer="gd", lr=0.5, steps=600)),
                f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600),
                                 ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600)),
            ),
            # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
            init_task=dict(form="pair", n_keys=14),
            init_train=dict(optimizer="gd", lr=0.2, steps=1800),
            init_fixed_step=600,        # the step at which regimes used to be compared
            gammas=[0.3, 0.5, 0.8, 1.2],
            # widgets: the grid a reader can visit (and the static small multiples)
            widget_gammas=[0.3, 0.8],
            widget_dists=["uniform", "zipf keys", "zipf anchors"],
            widget_steps=300,
        ),
        theory=dict(d=16, gammas=[0.6, 0.9, 1.2, 1.5, 1.8], n_fit=3,
                    task=dict(n_keys=10, n_anchors=4, n_slots=2), train_gammas=[0.8, 1.2],
                    lr=0.5, steps=500, n_snapshots=12,
                    twin=dict(n_keys=8, n_anchors=4, n_slots=1, twin_of=3), twin_steps=300,
                    mod_p=7,
                    # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
                    onset=dict(gamma=0.8, lr=1.0, steps=600, log_every=10)),
        lm=dict(
            # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
            # training it, tokens counted per corpus, shards, frequent tokens for baselines
            corpus_tokenizer="auto", corpus_bpe_vocab=4096, corpus_max_chars=400_000,
            sig_max_tokens=300_000, sig_shards=4, sig_top_k=300,
            # chapters 10-11 (model_* / train_*): the small Qwen2.5-style decoder and its training
            model_d=64, model_layers=2, model_heads=4, model_kv_heads=2, model_ff=172,
            model_gamma=0.8, train_vocab=1024, train_max_tokens=150_000, train_steps=150,
            train_batch=8, train_seq_len=64, train_lr=3e-3, train_weight_decay=0.0,
            train_warmup=15, train_eval_every=15, train_checkpoint_every=75, train_top_k=100,
            train_bins=5, train_grad_gammas=[0.5, 0.8, 1.2], train_grad_windows=32,
            train_domains=["wikipedia", "code", "math"],
            # chapter 10: the init scales trained beside model_gamma; chapter 11: mixtures
            train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
        ),
        interventions=dict(
            # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
            designed_anchors=[0, 4], chains_anchors=[0, 2, 4, 6],
            # dose-response on the language model: a smaller model than chapter 10's
            lm_model=dict(n_layers=1, d_model=32, n_heads=2, n_kv_heads=1, d_ff=64),
            lm_train=dict(steps=150, batch_size=8, warmup=20, eval_every=10, checkpoint_every=150),
            band=[20, 200], n_treated=3, n_control=3, p_values=[0.0, 0.5, 1.0], n_seeds=2,
            # trajectories: synthetic (task/d/lr of preset.theory) and language model
            traj_steps=500, traj_snapshots=10, threshold=0.9,
            lm_traj_gamma=1.2, lm_traj_snapshots=8, lm_traj_windows=32,
        ),
    ),
    "cpu": dict(
        n_seeds=5,
        signatures=dict(max_chars=5_000_000, vocab_words=10_000, top_k=1_000),
        synthetic=dict(
            # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
            f_add=dict(n_keys=20, n_anchors=5, n_slots=2),
            f_add_tilde=dict(n_keys=20, n_anchors=11, n_slots=2, width=1.0, n_samples=20000),
            f_mod=dict(p=23, test_frac=0.3),
            f_add_flat=dict(n_keys=20, n_anchors=16, n_slots=2, n_samples=40000),
            f_mod_noisy=dict(p=23, test_frac=0.3, n_per_pair=20, rho=1.0),
            model=dict(d=64, hidden=128, activation="relu", gamma=0.8),
            train=dict(
                f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                           ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
                f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                                 ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
                f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000),
                           ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000)),
                f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                                ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
                f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000),
                                 ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000)),
            ),
            # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
            init_task=dict(form="pair", n_keys=20),
            init_train=dict(optimizer="gd", lr=0.2, steps=4000),
            init_fixed_step=2000,
            gammas=[0.3, 0.5, 0.8, 1.2],
            # widgets: the grid a reader can visit (and the static small multiples)
            widget_gammas=[0.3, 0.5, 0.8, 1.2],
            widget_dists=["uniform", "zipf keys", "zipf anchors"],
            widget_steps=1000,
        ),
        theory=dict(d=32, gammas=[0.5, 0.65, 0.8, 0.95, 1.1, 1.25, 1.4, 1.55, 1.7], n_fit=4,
                    task=dict(n_keys=20, n_anchors=5, n_slots=2), train_gammas=[0.8, 1.2],
                    lr=0.5, steps=1500, n_snapshots=16,
                    twin=dict(n_keys=12, n_anchors=5, n_slots=1, twin_of=5), twin_steps=600,
                    mod_p=13,
                    # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
                    onset=dict(gamma=0.8, lr=1.0, steps=1500, log_every=10)),
        lm=dict(
            # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
            # training it, tokens counted per corpus, shards, frequent tokens for baselines
            corpus_tokenizer="auto", corpus_bpe_vocab=8192, corpus_max_chars=2_000_000,
            sig_max_tokens=2_000_000, sig_shards=8, sig_top_k=500,
            # chapters 10-11 (model_* / train_*): the small Qwen2.5-style decoder and its training
            # (5 seeds x 6 models in chapter 10, 30 runs in chapter 11: batch 8 keeps each
            # chapter near 3 min of one core; batch 16 took 343 s and 353 s)
            model_d=64, model_layers=2, model_heads=4, model_kv_heads=2, model_ff=172,
            model_gamma=0.8, train_vocab=2048, train_max_tokens=400_000, train_steps=250,
            train_batch=8, train_seq_len=64, train_lr=3e-3, train_weight_decay=0.0,
            train_warmup=25, train_eval_every=25, train_checkpoint_every=50, train_top_k=200,
            train_bins=8, train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2], train_grad_windows=64,
            train_domains=["wikipedia", "code", "math"],
            train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
        ),
        interventions=dict(
            # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
            designed_anchors=[0, 5], chains_anchors=[0, 2, 4, 6],
            # dose-response on the language model: a smaller model than chapter 10's
            lm_model=dict(n_layers=1, d_model=48, n_heads=2, n_kv_heads=1, d_ff=96),
            lm_train=dict(steps=200, batch_size=16, seq_len=64, warmup=20, eval_every=10,
                          checkpoint_every=200),
            band=[20, 300], n_treated=4, n_control=4, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
            n_seeds=3,
            # trajectories: synthetic (task/d/lr of preset.theory) and language model
            traj_steps=1500, traj_snapshots=14, threshold=0.9,
            lm_traj_gamma=1.2, lm_traj_snapshots=10, lm_traj_windows=64,
        ),
    ),
    "gpu": dict(
        # A Colab T4 (16 GB, 2 CPU cores): at most ~5 min per chapter. Estimated from the cpu
        # timings, not measured on a T4: the model sizes grow where the GPU does the work
        # (training), the corpus sizes only a little (tokenizing and counting run on the CPU).
        n_seeds=5,
        signatures=dict(max_chars=10_000_000, vocab_words=20_000, top_k=1_500),
        synthetic=dict(
            # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
            f_add=dict(n_keys=30, n_anchors=8, n_slots=2),
            f_add_tilde=dict(n_keys=30, n_anchors=16, n_slots=2, width=1.0, n_samples=60000),
            f_mod=dict(p=37, test_frac=0.3),
            f_add_flat=dict(n_keys=30, n_anchors=24, n_slots=2, n_samples=80000),
            f_mod_noisy=dict(p=37, test_frac=0.3, n_per_pair=20, rho=1.0),
            model=dict(d=128, hidden=256, activation="relu", gamma=0.8),
            train=dict(
                f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                           ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
                f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                                 ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
                f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000),
                           ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000)),
                f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                                ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
                f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000),
                                 ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000)),
            ),
            # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
            init_task=dict(form="pair", n_keys=30),
            init_train=dict(optimizer="gd", lr=0.2, steps=6000),
            init_fixed_step=3000,
            gammas=[0.3, 0.5, 0.6, 0.8, 1.0, 1.2],
            # widgets: the grid a reader can visit (and the static small multiples)
            widget_gammas=[0.3, 0.5, 0.8, 1.2],
            widget_dists=["uniform", "zipf keys", "zipf anchors"],
            widget_steps=2000,
        ),
        theory=dict(d=48, gammas=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6], n_fit=4,
                    task=dict(n_keys=24, n_anchors=6, n_slots=2), train_gammas=[0.8, 1.2],
                    lr=0.5, steps=2000, n_snapshots=16,
                    twin=dict(n_keys=16, n_anchors=6, n_slots=1, twin_of=7), twin_steps=1000,
                    mod_p=17,
                    # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
                    onset=dict(gamma=0.8, lr=1.0, steps=2000, log_every=10)),
        lm=dict(
            # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
            # training it, tokens counted per corpus, shards, frequent tokens for baselines
            corpus_tokenizer="auto", corpus_bpe_vocab=8192, corpus_max_chars=4_000_000,
            sig_max_tokens=4_000_000, sig_shards=8, sig_top_k=700,
            # chapters 10-11 (model_* / train_*): the small Qwen2.5-style decoder and its training
            # (5 seeds x 6 models in chapter 10; a few MB of weights, far below a T4's 16 GB)
            model_d=128, model_layers=2, model_heads=4, model_kv_heads=2, model_ff=344,
            model_gamma=0.8, train_vocab=4096, train_max_tokens=1_500_000, train_steps=400,
            train_batch=32, train_seq_len=128, train_lr=3e-3, train_weight_decay=0.0,
            train_warmup=40, train_eval_every=40, train_checkpoint_every=100, train_top_k=300,
            train_bins=8, train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2], train_grad_windows=64,
            train_domains=["wikipedia", "code", "math"],
            train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
        ),
        interventions=dict(
            # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
            designed_anchors=[0, 6], chains_anchors=[0, 2, 4, 6],
            # dose-response on the language model: a smaller model than chapter 10's
            lm_model=dict(n_layers=2, d_model=64, n_heads=2, n_kv_heads=1, d_ff=172),
            lm_train=dict(steps=400, batch_size=32, seq_len=128, warmup=40, eval_every=20,
                          checkpoint_every=400),
            band=[20, 400], n_treated=6, n_control=6, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
            n_seeds=3,
            # trajectories: synthetic (task/d/lr of preset.theory) and language model
            traj_steps=2000, traj_snapshots=16, threshold=0.9,
            lm_traj_gamma=1.2, lm_traj_snapshots=12, lm_traj_windows=64,
        ),
    ),
    "full": dict(
        n_seeds=5,
        signatures=dict(max_chars=50_000_000, vocab_words=30_000, top_k=2_000),
        synthetic=dict(
            # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
            f_add=dict(n_keys=40, n_anchors=10, n_slots=2),
            f_add_tilde=dict(n_keys=40, n_anchors=21, n_slots=2, width=1.0, n_samples=200000),
            f_mod=dict(p=59, test_frac=0.3),
            f_add_flat=dict(n_keys=40, n_anchors=31, n_slots=2, n_samples=200000),
            f_mod_noisy=dict(p=59, test_frac=0.3, n_per_pair=20, rho=1.0),
            model=dict(d=128, hidden=512, activation="relu", gamma=0.8),
            train=dict(
                f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                           ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
                f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                                 ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
                f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000),
                           ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000)),
                f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                                ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
                f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000),
                                 ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000)),
            ),
            # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
            init_task=dict(form="pair", n_keys=40),
            init_train=dict(optimizer="gd", lr=0.2, steps=10000),
            init_fixed_step=5000,
            gammas=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2],
            # widgets: the grid a reader can visit (and the static small multiples)
            widget_gammas=[0.3, 0.5, 0.8, 1.2],
            widget_dists=["uniform", "zipf keys", "zipf anchors"],
            widget_steps=3000,
        ),
        theory=dict(d=64, gammas=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
                    n_fit=5, task=dict(n_keys=30, n_anchors=8, n_slots=2),
                    train_gammas=[0.8, 1.0, 1.2], lr=0.5, steps=3000, n_snapshots=20,
                    twin=dict(n_keys=20, n_anchors=8, n_slots=1, twin_of=9), twin_steps=1500,
                    mod_p=23,
                    # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
                    onset=dict(gamma=0.8, lr=1.0, steps=3000, log_every=10)),
        lm=dict(
            # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
            # training it, tokens counted per corpus, shards, frequent tokens for baselines
            corpus_tokenizer="auto", corpus_bpe_vocab=16384, corpus_max_chars=20_000_000,
            sig_max_tokens=10_000_000, sig_shards=16, sig_top_k=1_000,
            # chapters 10-11 (model_* / train_*): the small Qwen2.5-style decoder and its training
            # (sized for 5 seeds x 6 models per chapter within a few minutes on one GPU)
            model_d=256, model_layers=4, model_heads=4, model_kv_heads=2, model_ff=688,
            model_gamma=0.8, train_vocab=8192, train_max_tokens=5_000_000, train_steps=600,
            train_batch=32, train_seq_len=256, train_lr=2e-3, train_weight_decay=0.01,
            train_warmup=60, train_eval_every=50, train_checkpoint_every=200,
            train_top_k=500, train_bins=10, train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2],
            train_grad_windows=64, train_domains=["wikipedia", "code", "math"],
            train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
        ),
        interventions=dict(
            # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
            designed_anchors=[0, 8], chains_anchors=[0, 2, 4, 6, 8],
            # dose-response on the language model: a smaller model than chapter 10's
            lm_model=dict(n_layers=4, d_model=256, n_heads=4, n_kv_heads=2, d_ff=704),
            lm_train=dict(steps=1000, batch_size=32, seq_len=256, warmup=100, eval_every=50,
                          checkpoint_every=500),
            band=[20, 600], n_treated=8, n_control=8, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
            n_seeds=5,
            # trajectories: synthetic (task/d/lr of preset.theory) and language model
            traj_steps=3000, traj_snapshots=20, threshold=0.9,
            lm_traj_gamma=1.2, lm_traj_snapshots=14, lm_traj_windows=64,
        ),
    ),
}


def _check_override_type(old, new, where: str) -> None:
    """An override must have the kind of value it replaces (None replaces freely)."""
    def bad(kind):
        return TypeError(f"override {where} must be {kind} like the preset's value {old!r}; "
                         f"got {new!r}")
    if old is None:
        return
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise bad("True or False")
    elif isinstance(old, (int, np.integer)):
        if isinstance(new, bool) or not isinstance(new, (int, np.integer)):
            raise bad("an integer")
    elif isinstance(old, (float, np.floating)):
        if isinstance(new, bool) or not isinstance(new, (int, float, np.integer, np.floating)):
            raise bad("a number")
    elif isinstance(old, str):
        if not isinstance(new, str):
            raise bad("a string")
    elif isinstance(old, (list, tuple)):
        if not isinstance(new, (list, tuple)):
            raise bad("a list")
    elif isinstance(old, dict) and not isinstance(new, dict):
        raise bad("a dict of settings")


def _merge(base: dict, val: dict, where: str) -> None:
    """Merge ``val`` into ``base`` in place; nested dicts merge key by key; unknown keys and
    values of another kind than the preset's raise."""
    unknown = set(val) - set(base)
    if unknown:
        raise ValueError(f"unknown {where} setting(s) {sorted(map(str, unknown))}; known: "
                         f"{sorted(map(str, base))}")
    for k, v in val.items():
        _check_override_type(base.get(k), v, f"{where}.{k}")
        if isinstance(base.get(k), dict) and isinstance(v, dict):
            _merge(base[k], v, f"{where}.{k}")
        else:
            base[k] = copy.deepcopy(v)


def get_preset(name: str | None = None, **overrides) -> Preset:
    """The named preset (default: :func:`preset_name`), with section values overridden.

    ``overrides`` maps a section name to a dict of values, e.g. ``lm={"train_steps": 200}``;
    nested sections merge key by key (``synthetic={"f_add": {"n_keys": 10}}`` keeps the other
    f_add sizes). ``seed``, ``n_seeds`` and ``device`` are set directly. Every call returns a
    deep copy: editing one preset never changes another. ``PSBOOK_SEED`` overrides the seed
    (an explicit ``seed=`` override wins over it).
    """
    if name is not None and name not in PRESET_NAMES:
        raise ValueError(f"name must be one of {PRESET_NAMES}; got {name!r}")
    from ._validate import check_environment
    check_environment()           # every PSBOOK_* variable, once, before any work
    name = settings.preset_name() if name is None else name
    dev = settings.device()
    if name == "gpu" and dev != "cuda":
        _warn_gpu_preset_on_cpu()
    from .parallel import limit_threads
    limit_threads()               # never more torch threads than usable cores
    table = copy.deepcopy(_SECTIONS[name])
    n_seeds = table.pop("n_seeds")
    sections = table
    seed = settings.env_seed()
    p = Preset(name=name, device=dev, n_seeds=n_seeds,
               seed=0 if seed is None else seed, **sections)
    top = {}
    for key, val in overrides.items():
        if key in sections:
            if not isinstance(val, dict):
                raise TypeError(f"override {key} must be a dict of values; got "
                                f"{type(val).__name__}")
            _merge(getattr(p, key), val, key)
        elif key in ("seed", "n_seeds"):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0 \
                    or (key == "n_seeds" and val < 1):
                raise ValueError(f"override {key} must be a {'positive' if key == 'n_seeds' else 'non-negative'} "
                                 f"int; got {val!r}")
            top[key] = int(val)
        elif key == "device":
            if not isinstance(val, str) or not val.strip():
                raise TypeError(f"override device must be a device name such as 'cpu' or "
                                f"'cuda'; got {val!r}")
            top[key] = val
        else:
            raise ValueError(f"unknown override {key!r}; expected one of "
                             f"{sorted(list(sections) + ['seed', 'n_seeds', 'device'])}")
    return replace(p, **top) if top else p


PRESETS = {n: (lambda n=n: get_preset(n)) for n in PRESET_NAMES}

_WARNED_GPU = False


def _warn_gpu_preset_on_cpu() -> None:
    """Once per process: the gpu preset was asked for on a machine without a CUDA GPU."""
    global _WARNED_GPU
    if _WARNED_GPU:
        return
    _WARNED_GPU = True
    import warnings
    warnings.warn("psbook: the gpu preset runs on the CPU here (torch finds no CUDA GPU). Its "
                  "sizes are meant for a GPU: a language-model training step does about 500x "
                  "the arithmetic of the cpu preset's (d_model 256 vs 64, 4 vs 2 layers, 32x256 "
                  "vs 8x64 tokens per batch) for 2.4x the steps, so chapters 10, 11 and 13 take "
                  "hours instead of minutes. Use PSBOOK_PRESET=cpu on this machine.",
                  UserWarning, stacklevel=3)


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32); got {seed!r}")
    # PYTHONHASHSEED is not set: it only takes effect when a Python process starts.
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover
        pass


def describe(preset: Preset | None = None) -> str:
    """Two short lines for a chapter's setup cell: versions, then preset, device and seeds
    (each fits a printed line of the book's page)."""
    import platform

    p = get_preset() if preset is None else preset
    try:
        import torch
        tv = torch.__version__
        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        tv, threads = "absent", 0
    from . import __version__
    return (f"psbook {__version__} | torch {tv} ({threads} thread{'s' if threads != 1 else ''}) "
            f"| Python {platform.python_version()}\n{p}")
