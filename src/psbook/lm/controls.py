r"""Seeds, controls and ablations for the language-model chapters (10-11).

* :func:`train_seeds` -- one cached training per seed, so a claim can be reported as mean +-
  sd over seeds and a re-run only redraws; :func:`train_grid` -- several such runs (labels x
  seeds) at once: the runs of one shape as one stacked model
  (:func:`psbook.lm.stacked.train_stacked_cached`), the stacks side by side on several cores
  (``trainer="single"``: one :func:`psbook.lm.train_cached` per run).
* :func:`probes` -- what the training loop logs along training in chapters 10 and 11 (one
  definition, so that their runs on the same corpus share one cache entry).
* :func:`history_frame` -- the alignment histories of several runs as one long table (the
  input of ``seaborn.lineplot`` with a band over seeds).
* :func:`mean_sd` -- mean and sample standard deviation of a list of numbers.
* :func:`frequency_controls` -- :math:`R_{cos}` beside two controls that remove token
  frequency: a partial correlation on the pairs' log-frequencies, and the signature rows
  permuted among tokens of similar frequency (Zhou et al. 2022: cosine similarity depends on
  frequency).
* :func:`ablation_configs` -- the zero-layer, attention-free and attention-only variants of a model.
* :func:`mixture_docs` -- a training stream mixing two corpora, a fraction ``alpha`` of the
  tokens from the first.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._validate import check_positive_int
from ..metrics import correlation, cosine_matrix, pair_values
from ..signatures import NextTokenSignatures
from .model import LMConfig
from .train import TrainConfig

__all__ = ["train_seeds", "train_grid", "probes", "history_frame", "mean_sd", "frequency_controls",
           "ablation_configs", "mixture_docs", "token_counts", "at_loss",
           "ablation_table", "removal_effects", "removal_table", "gamma_table",
           "equal_loss_table", "mixture_alignment"]


def train_seeds(tokens, model_cfg: LMConfig, train_cfg: TrainConfig, seeds, **kwargs) -> list:
    """The :class:`TrainResult` list of one cached training per seed in ``seeds`` (the seed
    sets both the initialisation and the data order), in the order of ``seeds``: one
    :func:`train_grid` label (``kwargs`` go there: ``trainer``, or the
    :func:`psbook.lm.train_cached` arguments)."""
    return train_grid({None: (tokens, model_cfg, train_cfg)}, seeds, **kwargs)[None]


def train_grid(runs: dict, seeds, *, progress: bool = True, trainer: str = "stacked",
               **kwargs) -> dict:
    """Every run of ``runs`` once per seed: ``{label: (tokens, model_cfg, train_cfg)}`` or
    ``{label: (tokens, model_cfg, train_cfg, extra)}`` with ``extra`` a dict of
    :func:`psbook.lm.train_cached` arguments for that run alone (e.g. its own
    ``signatures``); ``kwargs`` go to every run. Returns ``{label: [TrainResult per seed]}``.

    All ``len(runs) x len(seeds)`` trainings are handed over at once. ``trainer="stacked"``
    (the default): :func:`psbook.lm.stacked.train_stacked_cached` -- the runs of one shape
    (every seed; labels that differ only in ``gamma``, their tokens or probes) train as one
    batched model with a fused unembedding + cross-entropy, each member equal to its single
    run to float32 rounding, cached under its own key; the stacks run side by side on several
    cores (``PSBOOK_WORKERS``). ``trainer="single"``: one :func:`psbook.lm.train_cached` per
    run through :func:`psbook.lm.train_many` (resumable from checkpoints; its own cache key).
    Chapters 10 and 11 share their identical runs through the cache only if they use the same
    trainer.

    Book: chapters 10 and 11."""
    from .runs import train_many
    from .stacked import train_stacked_cached
    if trainer not in ("stacked", "single"):
        raise ValueError(f"trainer must be 'stacked' or 'single'; got {trainer!r}")
    if not isinstance(runs, dict) or not runs:
        raise ValueError(f"runs must be a non-empty dict label -> (tokens, model_cfg, "
                         f"train_cfg[, extra]); got {runs!r:.80}")
    seeds = [int(check_positive_int("seed", s, minimum=0)) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed; got an empty list")
    desc = kwargs.pop("desc", "training")
    jobs, labels = [], []
    for label, spec in runs.items():
        if not isinstance(spec, tuple) or len(spec) not in (3, 4) or (
                len(spec) == 4 and not isinstance(spec[3], dict)):
            raise ValueError(f"runs[{label!r}] must be (tokens, model_cfg, train_cfg) or "
                             f"(tokens, model_cfg, train_cfg, extra dict); got {spec!r:.80}")
        tokens, m_cfg, t_cfg = spec[:3]
        extra = {**kwargs, **(spec[3] if len(spec) == 4 else {})}
        if not isinstance(t_cfg, TrainConfig):
            where = "" if label is None else f" of runs[{label!r}]"
            raise TypeError(f"train_cfg{where} must be a TrainConfig; got "
                            f"{type(t_cfg).__name__}")
        name = desc if label is None else f"{desc} ({label})"
        for s in seeds:
            jobs.append({"tokens": tokens, "model_cfg": m_cfg,
                         "train_cfg": replace(t_cfg, seed=s), "desc": f"{name} seed {s}",
                         **extra})
            labels.append(label)
    train = train_stacked_cached if trainer == "stacked" else train_many
    results = train(jobs, progress=progress, desc=desc)
    out = {label: [] for label in runs}
    for label, r in zip(labels, results):
        out[label].append(r)
    return out


def probes(signatures: NextTokenSignatures, preset) -> dict:
    """The :func:`psbook.lm.train_cached` arguments that say what is logged along training:
    ``{"signatures": signatures, "token_sets": {"top": the preset's train_top_k most frequent
    tokens}}``.

    Chapters 10 and 11 log only this (their figures read nothing else along training; other
    token sets are measured on the final matrices). A cached training is keyed by what it logs,
    so one definition lets the two chapters' identical runs -- the untied model on the book's
    English corpus, every seed -- share one cache entry: ``make book`` trains them once.

    Book: chapters 10 and 11."""
    if not isinstance(signatures, NextTokenSignatures):
        raise TypeError(f"signatures must be NextTokenSignatures; got "
                        f"{type(signatures).__name__}")
    lm = getattr(preset, "lm", None)
    if not isinstance(lm, dict) or "train_top_k" not in lm:
        raise TypeError(f"preset must be a psbook preset (with lm['train_top_k']); got "
                        f"{type(preset).__name__}")
    from .analysis import top_tokens
    return {"signatures": signatures,
            "token_sets": {"top": top_tokens(signatures, lm["train_top_k"])}}


def history_frame(runs: dict, keys=None):
    """A long ``pandas.DataFrame`` (columns ``model``, ``seed``, ``step``, ``tokens``,
    ``metric``, ``value``) of the alignment histories of ``runs``: ``{label: [TrainResult per
    seed]}``. ``keys`` restricts the metrics (default: every alignment key)."""
    import pandas as pd
    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict label -> list of TrainResult")
    rows = []
    for label, results in runs.items():
        for r in results:
            h = r.history
            ks = [k for k in h if "~" in k] if keys is None else [k for k in keys if k in h]
            for k in ks:
                for st, tk, v in zip(h["step"], h["tokens"], h[k]):
                    rows.append((label, r.train_cfg["seed"], int(st), int(tk), k, float(v)))
    return pd.DataFrame(rows, columns=["model", "seed", "step", "tokens", "metric", "value"])


def mean_sd(values) -> tuple[float, float]:
    """``(mean, sd)`` of ``values`` (sample sd, ddof=1; 0 for a single value). NaNs raise."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty; expected at least one number")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite; got {v}")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def token_counts(signatures: NextTokenSignatures) -> np.ndarray:
    """How often each token occurs in the corpus (as the first token of a bigram)."""
    if not isinstance(signatures, NextTokenSignatures):
        raise TypeError(f"signatures must be NextTokenSignatures; got {type(signatures).__name__}")
    return np.asarray(signatures.counts.sum(axis=1)).ravel()


def _residual(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ beta


def frequency_controls(W, Phi, tokens, counts, *, n_bins: int = 5, draws: int = 20,
                       seed: int = 0) -> dict:
    r""":math:`R_{cos}(W, \Phi)` over ``tokens`` beside two controls that remove frequency.

    * ``"partial"``: the correlation of embedding and signature cosines after regressing both,
      over the pairs (a, b), on :math:`\log n_a + \log n_b` and :math:`|\log n_a - \log n_b|`
      (``counts`` = :math:`n`, occurrences per token);
    * ``"permuted"``: the mean :math:`R_{cos}` when the rows of ``Phi`` are permuted among
      tokens of similar frequency (``n_bins`` quantile bins of log-count), over ``draws``
      permutations (``"permuted_sd"`` their sd). This is what frequency alone explains; a real
      alignment stays well above it.

    Returns ``{"r_cos", "partial", "permuted", "permuted_sd"}``.
    """
    tokens = np.asarray(tokens, dtype=np.int64).ravel()
    counts = np.asarray(counts, dtype=float).ravel()
    if tokens.size < 4:
        raise ValueError(f"tokens must hold at least 4 token ids; got {tokens.size}")
    if counts.ndim != 1 or tokens.max() >= counts.size:
        raise ValueError(f"counts must be a 1-D array over the vocabulary (length > "
                         f"{tokens.max()}); got shape {counts.shape}")
    n_bins = check_positive_int("n_bins", n_bins)
    draws = check_positive_int("draws", draws)
    e = pair_values(cosine_matrix(W, tokens))
    s = pair_values(cosine_matrix(Phi, tokens))
    lf = np.log(np.maximum(counts[tokens], 1.0))
    iu = np.triu_indices(tokens.size, 1)
    X = np.column_stack([np.ones(e.size), lf[iu[0]] + lf[iu[1]], np.abs(lf[iu[0]] - lf[iu[1]])])
    out = {"r_cos": correlation(e, s), "partial": correlation(_residual(e, X), _residual(s, X))}
    edges = np.quantile(lf, np.linspace(0, 1, n_bins + 1)[1:-1])
    bin_of = np.searchsorted(edges, lf, side="right")
    rng = np.random.default_rng(seed)
    Phi_t = np.asarray(Phi[tokens].todense() if hasattr(Phi, "todense") else Phi[tokens])
    vals = []
    for _ in range(draws):
        perm = np.arange(tokens.size)
        for b in np.unique(bin_of):
            idx = np.flatnonzero(bin_of == b)
            perm[idx] = rng.permutation(idx)
        vals.append(correlation(e, pair_values(cosine_matrix(Phi_t[perm]))))
    out["permuted"], out["permuted_sd"] = float(np.mean(vals)), float(np.std(vals))
    return {k: float(v) for k, v in out.items()}


def ablation_configs(model_cfg: LMConfig) -> dict:
    """``{"full", "attention-free", "attention-only", "zero-layer"}`` variants of
    ``model_cfg``: the same widths, vocabulary and initialisation; the attention-free model
    keeps the MLP blocks, the attention-only model keeps the attention and drops the MLPs (so
    each part can be removed first), the zero-layer model is embedding -> final RMSNorm ->
    unembedding."""
    if not isinstance(model_cfg, LMConfig):
        raise TypeError(f"model_cfg must be an LMConfig; got {type(model_cfg).__name__}")
    return {"full": model_cfg, "attention-free": replace(model_cfg, attention=False),
            "attention-only": replace(model_cfg, mlp=False),
            "zero-layer": replace(model_cfg, n_layers=0)}


def ablation_table(runs_by_variant: dict, flow: dict, key: str = "E~next/top"):
    """A :class:`psbook.display.Table` of the ablation: per variant (``{name: [TrainResult
    per seed]}``), the final ``key`` (seed mean ± sd), the final training loss (seed mean)
    and the median cosine of the flow against autograd at initialisation (``flow``: name ->
    the cosines over seeds and tokens).

    Book: chapter 10 (which path carries the alignment?)."""
    from ..display import Table
    rows = [{"model": name, "final R_cos(W^E, φ^next)": [r.history[key][-1] for r in rs],
             "loss": float(np.mean([r.history["loss"][-1] for r in rs])),
             "flow vs autograd (median cos)": float(np.median(flow[name]))}
            for name, rs in runs_by_variant.items()]
    return Table(rows, caption="Ablation: the four variants after training",
                 formats={"final R_cos(W^E, φ^next)": "+", "loss": ".2f",
                          "flow vs autograd (median cos)": "+.3f"},
                 note="R_cos: mean ± sd over seeds; the flow at initialisation")


def removal_effects(M: dict) -> dict:
    """What removing each part changes, per seed, in the two orders of removal, from one value
    per seed of each of the four :func:`ablation_configs` variants (``M[name]``): ``{"attention
    first": {"attention": ..., "MLP": ...}, "MLP first": {...}}``.

    Book: chapter 10 (which path carries the alignment?)."""
    return {"attention first": {"attention": M["attention-free"] - M["full"],
                                "MLP": M["zero-layer"] - M["attention-free"]},
            "MLP first": {"MLP": M["attention-only"] - M["full"],
                          "attention": M["zero-layer"] - M["attention-only"]}}


def removal_table(orders: dict):
    """A :class:`psbook.display.Table` of :func:`removal_effects` for several quantities
    (``{quantity: removal_effects(...)}``): one row per quantity and order of removal.

    Book: chapter 10 (which path carries the alignment?)."""
    from ..display import Table
    rows = [{"quantity": what, "order": o, "removing attention": d["attention"],
             "removing the MLP": d["MLP"]}
            for what, od in orders.items() for o, d in od.items()]
    return Table(rows, caption="Change when a part is removed",
                 formats={"removing attention": "+", "removing the MLP": "+"},
                 note="mean ± sd over seeds")


def _take(docs, n: int) -> list:
    out, total = [], 0
    for d in docs:
        if total >= n:
            break
        d = np.asarray(d, dtype=np.int64)
        piece = d[: n - total]
        if piece.size:
            out.append(piece)
            total += piece.size
    return out


def mixture_docs(docs_a, docs_b, alpha: float, n_tokens: int | None = None) -> list:
    """Documents of a mixture with a fraction ``alpha`` of its ``n_tokens`` tokens from corpus
    A (``docs_a``, lists of token arrays) and the rest from corpus B, each taken from the start
    of its corpus (the last document cut). ``n_tokens`` defaults to the smaller corpus's size;
    ``alpha = 1`` gives A's first ``n_tokens`` tokens, ``alpha = 0`` B's."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
            or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}")
    for name, d in (("docs_a", docs_a), ("docs_b", docs_b)):
        if not isinstance(d, (list, tuple)) or not d:
            raise TypeError(f"{name} must be a non-empty list of token-id arrays; got "
                            f"{type(d).__name__}")
    sizes = [sum(int(np.asarray(x).size) for x in d) for d in (docs_a, docs_b)]
    n = min(sizes) if n_tokens is None else check_positive_int("n_tokens", n_tokens)
    if n > min(sizes):
        raise ValueError(f"n_tokens ({n}) exceeds the smaller corpus ({min(sizes)} tokens)")
    n_a = int(round(float(alpha) * n))
    return _take(docs_a, n_a) + _take(docs_b, n - n_a)


def mixture_alignment(runs_by_alpha: dict, Phi, tokens, *, which: str = "W_E") -> np.ndarray:
    """R_cos of each mixture's trained matrix ``which`` (``"W_E"``, or ``"W_E0"`` at
    initialisation) against the signatures ``Phi`` over ``tokens``: ``runs_by_alpha`` maps a
    mixture proportion to its results (one per seed). Returns seeds x mixtures, in the order
    of ``runs_by_alpha``.

    Book: chapter 11 (a dose-response: mixing two corpora)."""
    from ..metrics import r_cos
    n_seeds = len(next(iter(runs_by_alpha.values())))
    return np.array([[r_cos(getattr(rs[i], which), Phi, tokens) for rs in runs_by_alpha.values()]
                     for i in range(n_seeds)])


def gamma_table(runs_by_gamma: dict, grad: dict, key: str = "E~next/top"):
    """A :class:`psbook.display.Table` of the runs at several init scales (``{gamma:
    [TrainResult per seed]}``): the final ``key`` (seed mean ± sd), the final training loss
    and the flow's agreement with autograd at initialisation (``grad``:
    :func:`psbook.lm.gradient_check`'s result; NaN for a scale it did not check).

    Book: chapter 10 (three initialisation scales)."""
    from ..display import Table
    rows = [{"γ": g, "final R_cos(W^E, φ^next)": [r.history[key][-1] for r in rs],
             "loss": float(np.mean([r.history["loss"][-1] for r in rs])),
             "flow agreement at init": (float(np.median(grad[g]["cos_E"])) if g in grad
                                        else float("nan"))}
            for g, rs in runs_by_gamma.items()]
    return Table(rows, caption="The same model at three initialisation scales",
                 formats={"γ": ".2f", "final R_cos(W^E, φ^next)": "+", "loss": ".2f",
                          "flow agreement at init": "+.3f"},
                 note="R_cos: mean ± sd over seeds; loss: seed mean")


def equal_loss_table(at_equal_loss: dict, loss: float):
    """A :class:`psbook.display.Table` of runs read at an equal training loss
    (``{gamma: array seeds x (step, value)}`` from :func:`at_loss`): the value and the step
    where it is reached, mean ± sd over seeds.

    Book: chapter 10 (three initialisation scales)."""
    from ..display import Table
    rows = []
    for g, v in at_equal_loss.items():
        m, sd = mean_sd(v[:, 0])
        rows.append({"γ": g, "R_cos(W^E, φ^next)": v[:, 1],
                     "reached at step": f"{m:.0f} ± {sd:.0f}"})
    return Table(rows, caption=f"At equal training loss {loss:.2f}",
                 formats={"γ": ".2f", "R_cos(W^E, φ^next)": "+"},
                 note="mean ± sd over seeds")


def at_loss(history: dict, loss: float, key: str) -> tuple[float, float]:
    """``(step, value of history[key])`` where the logged training loss first falls to
    ``loss``, linearly interpolated between the two evaluations around it (``(nan, nan)`` if
    it never does). Compares runs at equal loss rather than at an equal step."""
    if not isinstance(history, dict) or "loss" not in history or "step" not in history:
        raise TypeError(f"history must be a training history dict with 'step' and 'loss'; "
                        f"got {type(history).__name__}")
    if key not in history:
        raise ValueError(f"key must be a logged curve; got {key!r}, logged: "
                         f"{sorted(k for k in history if k not in ('step', 'loss'))}")
    if isinstance(loss, bool) or not isinstance(loss, (int, float, np.floating)) \
            or not np.isfinite(loss):
        raise ValueError(f"loss must be a finite number; got {loss!r}")
    L = np.asarray(history["loss"], dtype=float)
    x, y = np.asarray(history["step"], dtype=float), np.asarray(history[key], dtype=float)
    hit = np.flatnonzero(L <= loss)
    if not hit.size:
        return float("nan"), float("nan")
    i = int(hit[0])
    if i == 0 or L[i - 1] == L[i]:
        return float(x[i]), float(y[i])
    f = (L[i - 1] - loss) / (L[i - 1] - L[i])     # in (0, 1]: how far from eval i-1 to eval i
    return float(x[i - 1] + f * (x[i] - x[i - 1])), float(y[i - 1] + f * (y[i] - y[i - 1]))
