"""Figures of the synthetic-task chapters (05-08). They take computed results; never train."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..display import count
from ..metrics import cosine_matrix, r_cos
from .core import clean, styled, cosine_heatmap, metric_curves, pca_scatter, set_alt

__all__ = ["signature_heatmaps", "training_heatmaps", "trajectories", "pca_side_by_side",
           "small_multiples", "sweep_curves", "fourier_bars"]

SIG_LABEL = {"phi_y": r"$\phi^y$", "phi_X": r"$\phi^X$"}


def _names(task, tokens):
    return [task.token_names[t] for t in tokens]


def signature_heatmaps(task, tokens=None, names=("phi_y", "phi_X"), *, axes=None):
    """Cosine-similarity heatmaps of the listed signatures' rows, side by side."""
    t = task.ordered_tokens if tokens is None else np.asarray(tokens)
    sig = task.signatures()
    with styled():
        if axes is None:
            _, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6))
        axes = np.atleast_1d(axes)
        for ax, nm in zip(axes, names):
            cosine_heatmap(sig.dense(nm, t), labels=_names(task, t), ax=ax, axis_label="key token",
                           title=f"cos of signatures {SIG_LABEL.get(nm, nm)} ({task.name})")
        axes[0].figure.tight_layout()
    return axes


def training_heatmaps(result, steps, *, signature: str = "phi_y", tokens=None):
    """Embedding cosine heatmaps at several training steps, then the signature's heatmap
    (the paper's style): one row of panels, R_cos in each title."""
    task = result.task
    t = task.ordered_tokens if tokens is None else np.asarray(tokens)
    Phi = result.signatures.dense(signature, t)
    labels = _names(task, t)
    n = len(steps) + 1
    cols = n if n <= 4 else 3  # more panels: rows of three, each wide enough to read
    rows = -(-n // cols)
    with styled():
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.2 * rows), squeeze=False)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        axes = axes.flat[:n]
        for ax, s in zip(axes, steps):
            W = result.snapshot(s)[t]
            cosine_heatmap(W, labels=labels, ax=ax, colorbar=False, axis_label="key token",
                           title=f"$W^E$ at step {s}\n$R_{{cos}}$ = {r_cos(W, Phi):+.2f}")
        cosine_heatmap(Phi, labels=labels, ax=axes[-1], axis_label="key token",
                       title=f"signature {SIG_LABEL.get(signature, signature)}\n(training data)")
        fig.tight_layout()
    return set_alt(fig, f"Cosine-similarity heatmaps of the {len(t)} key embeddings (rows of "
                        f"W^E) at training steps {', '.join(map(str, steps))}, each titled with "
                        f"its R_cos, and, last, the heatmap of the label signature {signature} "
                        f"of the training data ({task.name}) that they come to resemble.")


def trajectories(histories: dict, metric: str, *, ax=None, ylabel: str = "", title: str = "",
                 threshold: float | None = None):
    """``metric`` against training step for several runs (``label -> History``)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.3))
        for label, h in histories.items():
            ax.plot(h.steps, h[metric], lw=1.8, label=label)
        if threshold is not None:
            ax.axhline(threshold, ls="--", lw=1, color="grey")
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel or metric)
        ax.set_title(title)
        ax.legend()
    return ax


def pca_side_by_side(panels: list, labels, *, suptitle: str = ""):
    """PCA scatters of several matrices (``[(title, rows-as-tokens matrix), ...]``), points
    coloured by token index and joined in token order."""
    with styled():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.1 * len(panels), 3.7))
        axes = np.atleast_1d(axes)
        vals = np.arange(len(labels))
        for ax, (title, A) in zip(axes, panels):
            pca_scatter(A, labels, values=vals, ax=ax, title=title, cbar_label="token value",
                        connect=True)
        if suptitle:
            fig.suptitle(suptitle)
        fig.tight_layout()
    titles = "; ".join(clean(str(t)) for t, _ in panels)
    return set_alt(fig, f"{len(panels)} scatter plots of tokens on the first two principal "
                        f"components of: {titles}; points coloured by token value and joined "
                        f"in token order, so an ordered embedding shows as a smooth curve.")


def small_multiples(grid: list, row_key: str, col_key: str, *, signature: str = "phi_y",
                    title: str = ""):
    """A grid of key-embedding cosine heatmaps: ``grid = [(settings, ExperimentResult), ...]``,
    rows by ``settings[row_key]``, columns by ``settings[col_key]``; each panel's title gives
    its column's setting, R_cos, R_order and test accuracy, the left column's axis label its
    row's setting. Token indices are whole numbers; inner panels share the outer axes' labels,
    so no title is wider than its panel (at the column's width, in a 4-column grid)."""
    from matplotlib.ticker import MaxNLocator

    rows = list(dict.fromkeys(s[row_key] for s, _ in grid))
    cols = list(dict.fromkeys(s[col_key] for s, _ in grid))
    with styled():
        fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.0 * len(cols) + 0.8,
                                                                3.3 * len(rows)), squeeze=False,
                                 layout="constrained", sharex=True, sharey=True)
        for s, res in grid:
            r, c = rows.index(s[row_key]), cols.index(s[col_key])
            ax = axes[r, c]
            t = res.task.ordered_tokens
            m = res.metrics
            im = ax.imshow(cosine_matrix(res.W_E[t]), cmap="RdBu_r", vmin=-1, vmax=1,
                           interpolation="nearest")
            ax.set_title(f"{col_key} = {s[col_key]}\n"
                         f"$R_{{cos}}$={m['R_cos_phi_' + signature[4:]]:+.2f}  "
                         f"acc={res.test_accuracy:.2f}\n"
                         f"$R_{{order}}$={m['R_order']:+.2f}", fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("key token", labelpad=1)
            if c == 0:
                ax.set_ylabel(f"{row_key} = {s[row_key]}\nkey token", labelpad=1)
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            ax.tick_params(labelsize=9)
        for ax in axes.ravel():
            ax.label_outer()
        cb = fig.colorbar(im, ax=axes, fraction=0.02, pad=0.02)
        cb.set_label("cosine similarity of $W^E$ rows")
        if title:
            fig.suptitle(title)
    return set_alt(fig, f"Grid of key-embedding cosine-similarity heatmaps, one row per "
                        f"{row_key} ({', '.join(map(str, rows))}) and one column per {col_key} "
                        f"({', '.join(map(str, cols))}), each titled with its R_cos, R_order "
                        f"and test accuracy.")


def sweep_curves(x, curves: dict, *, xlabel: str, ylabel: str, title: str = "", ax=None):
    """Metric values against a swept parameter (``label -> values``), with markers."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.3))
        for label, ys in curves.items():
            ax.plot(x, ys, "o-", lw=1.6, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
    return ax


def fourier_bars(powers: dict, *, title: str = "", ax=None):
    """Fraction of embedding energy per frequency k for several models (``label -> power``)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.6, 3.2))
        n = len(powers)
        for i, (label, pw) in enumerate(powers.items()):
            k = np.arange(1, len(pw) + 1)
            ax.bar(k + (i - (n - 1) / 2) * 0.8 / n, pw, width=0.8 / n, label=label)
        ax.set_xlabel("frequency k")
        ax.set_ylabel("fraction of embedding energy")
        ax.set_title(title)
        ax.legend()
    return ax


def fourier_beside_bars(powers: dict, energies: dict, *, fourier_title: str = "",
                        reference: float | None = None,
                        bar_ylabel: str = "energy fraction at the data's k*",
                        reference_label: str = "uniform over frequencies",
                        bar_title: str = "energy on the predicted frequency, per seed",
                        figsize=(10.5, 3.4)):
    """A figure of two panels: :func:`fourier_bars` of ``powers`` (one run's energy per
    frequency) and :func:`seed_bars` of ``energies`` (label -> values over seeds), with a
    dashed ``reference`` line. Book: chapter 07."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=figsize)
    fourier_bars(powers, title=fourier_title, ax=axes[0])
    seed_bars(energies, ylabel=bar_ylabel, reference=reference,
              reference_label=reference_label, title=bar_title, ax=axes[1])
    fig.tight_layout()
    return fig


def accuracy_and_loss(x, histories: dict, *, title: str = "", figsize=(10, 3.3)):
    """A figure of two :func:`seed_band` panels over training: test accuracy and training
    loss, ``histories`` mapping a label to one :class:`History` per seed. Book: chapter
    07."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=figsize)
    seed_band(x, {k: [h.test_acc for h in v] for k, v in histories.items()}, ax=axes[0],
              ylabel="test accuracy", title=title)
    seed_band(x, {k: [h.loss for h in v] for k, v in histories.items()}, ax=axes[1],
              ylabel="training loss (cross-entropy)", title="training loss")
    fig.tight_layout()
    return fig


# re-exported for chapters that want plain curves
metric_curves = metric_curves


def seed_band(x, curves: dict, *, ax=None, ylabel: str = "", title: str = "",
              xlabel: str = "training step", threshold: float | None = None):
    """Mean ± sd over seeds as a line and a band: ``curves`` maps a label to an array of
    shape ``(n_seeds, len(x))`` (e.g. ``SeedRuns[name]``)."""
    x = np.asarray(x, dtype=float)
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.3))
        for label, Y in curves.items():
            Y = np.atleast_2d(np.asarray(Y, dtype=float))
            if Y.shape[1] != x.size:
                raise ValueError(f"curves[{label!r}] must have shape (n_seeds, {x.size}); "
                                 f"got {Y.shape}")
            m = Y.mean(axis=0)
            s = Y.std(axis=0, ddof=1) if Y.shape[0] > 1 else np.zeros_like(m)
            n = count(Y.shape[0], "seed")
            line, = ax.plot(x, m, lw=1.8, label=f"{label} (mean ± sd, {n})")
            ax.fill_between(x, m - s, m + s, color=line.get_color(), alpha=0.25, lw=0)
        if threshold is not None:
            ax.axhline(threshold, ls="--", lw=1, color="grey")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
    return ax


def order_and_alignment(x, order: dict, alignment: dict, *, threshold: float | None = None,
                        alignment_label: str = r"$R_{cos}(W^E,\phi^y)$ over keys",
                        alignment_title: str = r"alignment with $\phi^y$",
                        figsize=(10, 3.3)):
    """A figure of two :func:`seed_band` panels over training: the order of the key
    embeddings (``order``: label -> ``(n_seeds, len(x))`` R_order curves, with the
    ``threshold`` line) and their alignment (``alignment``: the same for an R_cos).
    Book: chapters 05-06."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=figsize)
    seed_band(x, order, ax=axes[0], threshold=threshold,
              ylabel=r"$R_{order}(W^E)$ over keys", title="order of the key embeddings")
    seed_band(x, alignment, ax=axes[1], ylabel=alignment_label, title=alignment_title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------
# claims over seeds: mean ± sd (chapters 06-08)
# ----------------------------------------------------------------------------------------

def _seed_array(label, v, ndim):
    a = np.asarray(v, dtype=float)
    if a.ndim != ndim:
        raise ValueError(f"values for {label!r} must be a {ndim}-D array (seeds first); got "
                         f"shape {a.shape}")
    return a


def seed_bars(values: dict, *, ylabel: str, title: str = "", ax=None,
              reference: float | None = None, reference_label: str = "chance"):
    """One bar per label (``label -> values over seeds``): the mean, an error bar of one sd and
    the individual seeds as dots; ``reference`` draws a dashed line (e.g. chance)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.3))
        for i, (label, v) in enumerate(values.items()):
            a = _seed_array(label, v, 1)
            sd = a.std(ddof=1) if a.size > 1 else 0.0
            ax.bar(i, a.mean(), yerr=sd, capsize=4, alpha=0.75, color=f"C{i}")
            ax.plot(np.full(a.size, i) + np.linspace(-0.15, 0.15, a.size), a, "k.", ms=5)
        if reference is not None:
            ax.axhline(reference, ls="--", lw=1, color="grey", label=reference_label)
            ax.legend(loc="upper right")
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(list(values), fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    return ax


def bars_beside_band(bars: dict, x, curves: dict, *, bar_ylabel: str, bar_title: str = "",
                     band_ylabel: str = "", band_title: str = "",
                     threshold: float | None = None, figsize=(10.5, 3.4)):
    """A figure of two panels: :func:`seed_bars` of ``bars`` (label -> values over seeds)
    and :func:`seed_band` of ``curves`` (label -> ``(n_seeds, len(x))``) over training.
    Book: chapter 06."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=figsize)
    seed_bars(bars, ylabel=bar_ylabel, title=bar_title, ax=axes[0])
    seed_band(x, curves, ax=axes[1], ylabel=band_ylabel, title=band_title,
              threshold=threshold)
    fig.tight_layout()
    return fig


__all__ += ["seed_band"]


def sweep_errorbars(x, curves: dict, *, xlabel: str, ylabel: str, title: str = "", ax=None):
    """Mean ± sd over seeds against a swept parameter (``label -> (n_seeds, len(x))``); NaN
    entries (a run that never reached the point) are left out of that mean."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.3))
        for i, (label, v) in enumerate(curves.items()):
            a = _seed_array(label, v, 2)
            n = np.isfinite(a).sum(axis=0)
            m = np.array([np.nanmean(c) if k else np.nan for c, k in zip(a.T, n)])
            sd = np.array([np.nanstd(c, ddof=1) if k > 1 else 0.0 for c, k in zip(a.T, n)])
            ax.errorbar(np.asarray(x, dtype=float) + 0.01 * (i - len(curves) / 2), m, yerr=sd,
                        fmt="o-", lw=1.6, capsize=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    return ax


def sweep_panels(x, panels: dict, *, xlabel: str, ylabel: str, figsize=None):
    """A figure of one :func:`sweep_errorbars` panel per entry of ``panels`` (title ->
    ``label -> (n_seeds, len(x))``), side by side. Book: chapter 08."""
    with styled():
        fig, axes = plt.subplots(1, len(panels), figsize=figsize or (4.7 * len(panels), 3.5),
                                 squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        sweep_errorbars(x, curves, xlabel=xlabel, ylabel=ylabel, title=title, ax=ax)
    fig.tight_layout()
    return fig


__all__ += ["seed_bars", "sweep_errorbars"]
