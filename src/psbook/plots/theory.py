"""Figures of the gradient-flow chapters (03-04). They plot computed results; they never train."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..metrics import cosine_matrix
from .core import clean, styled, cosine_heatmap, heatmap, set_alt

__all__ = ["residual_scaling", "token_cosine_curves", "reduced_agreement",
           "reduced_snapshots", "pair_cosine_curves", "signature_panels",
           "composite_signatures", "cosine_panels", "group_cosine_heatmap"]

_ORDER_NAMES = {1: "order 1", 2: "order 2", 3: "order 3"}


def residual_scaling(scans: dict, *, matrix: str = "E", ax=None, title: str = ""):
    r"""Log-log plot of the relative residual |autograd - predicted| / |autograd| against the
    initialisation std, one line per (scan, order); the legend gives the fitted and the
    predicted slope. ``scans`` maps a label to an :func:`psbook.theory_checks.init_scale_scan`
    result; ``matrix`` is ``"E"`` (embedding) or ``"U"`` (unembedding)."""
    if matrix not in ("E", "U"):
        raise ValueError(f"matrix must be 'E' or 'U'; got {matrix!r}")
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.8))
        markers = "osD^v"
        k = 0
        for label, sc in scans.items():
            for o in sc["orders"]:
                res = sc[f"res_{matrix}"][o]
                slope = sc[f"slope_{matrix}"][o]
                ax.loglog(sc["sigma"], res, marker=markers[k % len(markers)], lw=1.6, ms=4,
                          label=f"{label}, {_ORDER_NAMES.get(o, o)}: slope {slope:.2f} "
                                f"(predicted {sc['predicted'][o]})")
                # reference line of the predicted slope through the smallest-scale point
                s0, r0 = sc["sigma"][-1], res[-1]
                xs = np.array([sc["sigma"].min(), sc["sigma"].max()])
                ax.loglog(xs, r0 * (xs / s0) ** sc["predicted"][o], ls=":", lw=1, color="grey")
                k += 1
        ax.set_xlabel(r"initialisation std $\sigma = d^{-\gamma}$")
        name = r"$W^E$" if matrix == "E" else r"$W^U$"
        ax.set_ylabel(f"relative residual of d{name}/dt")
        ax.set_title(title or f"Predicted vs autograd velocity of {name} (dotted: predicted slope)")
        ax.legend(fontsize=7.5, loc="lower right")
    return ax


def token_cosine_curves(scans: dict, *, ax=None, title: str = ""):
    """Per-token cosine between predicted and autograd embedding velocity against the init
    std: median (solid) and worst token (dashed), one colour per (scan, order)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.6))
        k = 0
        for label, sc in scans.items():
            for o in sc["orders"]:
                c = f"C{k}"
                ax.semilogx(sc["sigma"], sc["cos_median"][o], color=c, lw=1.6, marker="o", ms=3,
                            label=f"{label}, {_ORDER_NAMES.get(o, o)}: median token")
                ax.semilogx(sc["sigma"], sc["cos_min"][o], color=c, lw=1.2, ls="--",
                            label=f"{label}, {_ORDER_NAMES.get(o, o)}: worst token")
                k += 1
        ax.set_xlabel(r"initialisation std $\sigma = d^{-\gamma}$")
        ax.set_ylabel("cosine(predicted, autograd) per token")
        ax.set_title(title or "Direction of each token's velocity")
        ax.legend(fontsize=7.5)
    return ax


def reduced_agreement(results: dict, *, axes=None, threshold: float = 0.9):
    """Two panels per run: agreement of training with the reduced system against
    gradient-flow time (cosine-matrix correlation, solid; relative error of the displacement,
    right axis) and the loss. ``results`` maps a label to a
    :func:`psbook.theory_checks.reduced_vs_training` result."""
    with styled():
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        ax, axl = axes
        for k, (label, r) in enumerate(results.items()):
            c = f"C{k}"
            t = r["t"][1:]
            ax.semilogx(t, r["cos_agree"][1:], color=c, lw=1.8, marker="o", ms=3,
                        label=f"{label}: corr. of cosine matrices")
            ax.semilogx(t, r["R_cos_train"][1:], color=c, lw=1.2, ls="--",
                        label=rf"{label}: $R_{{cos}}(W^E,\phi^y)$, training")
            ax.semilogx(t, r["R_cos_reduced"][1:], color=c, lw=1.2, ls=":",
                        label=rf"{label}: $R_{{cos}}(W^E,\phi^y)$, reduced")
            axl.semilogx(t, r["loss"][1:] / r["loss0"], color=c, lw=1.8, label=label)
            part = np.flatnonzero(r["cos_agree"] < threshold)
            if part.size:
                for a in (ax, axl):
                    a.axvline(r["t"][part[0]], color=c, lw=0.8, ls="-.")
        ax.axhline(threshold, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("gradient-flow time t = step x learning rate")
        ax.set_ylabel("correlation")
        ax.set_title("Training vs reduced system (dash-dot: where they part)")
        ax.set_ylim(-0.3, 1.05)
        ax.legend(fontsize=7, loc="center left")
        axl.set_xlabel("gradient-flow time t = step x learning rate")
        axl.set_ylabel(r"loss / $\log V_{out}$")
        axl.set_title("Training loss (relative to its initial value)")
        axl.legend(fontsize=8)
    return axes


def reduced_snapshots(r: dict, idx, *, labels=None, fig=None):
    """Cosine-similarity matrices of the embeddings at snapshots ``idx`` of a
    :func:`psbook.theory_checks.reduced_vs_training` result: training (top row) and the
    reduced system (bottom row)."""
    idx = list(idx)
    with styled():
        if fig is None:
            fig, axes = plt.subplots(2, len(idx), figsize=(2.9 * len(idx) + 0.6, 5.6),
                                     squeeze=False)
        else:
            axes = np.asarray(fig.axes).reshape(2, len(idx))
        for j, k in enumerate(idx):
            cap = f"t = {r['t'][k]:g}, loss {r['loss'][k]:.2f}"
            for i, (W, who) in enumerate(((r["W_train"][k], "training"),
                                          (r["W_reduced"][k], "reduced system"))):
                cosine_heatmap(S=cosine_matrix(W), labels=labels, ax=axes[i, j],
                               title=f"{who}\n{cap}", colorbar=(j == len(idx) - 1))
        fig.tight_layout()
    times = ", ".join(f"{r['t'][k]:g}" for k in idx)
    return set_alt(fig, f"Cosine-similarity heatmaps of the embeddings at times {times}: "
                        f"top row the trained model, bottom row the reduced system, each "
                        f"titled with its loss.")


def pair_cosine_curves(pc: dict, names: dict, *, ax=None, title: str = ""):
    """cos(W_a, W_b) over training for token pairs; ``pc`` from
    :func:`psbook.theory_checks.pair_cosines`, ``names`` maps each pair to a legend label."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        steps = pc["steps"]
        x = np.maximum(steps, 0.5)
        for pair, label in names.items():
            ax.semilogx(x, pc[pair], lw=1.8, marker="o", ms=3, label=label)
        ax.set_xlabel("training step (step 0 drawn at 0.5)")
        ax.set_ylabel("cosine similarity of the two embeddings")
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(title or "Twin tokens collapse, different tokens separate")
        ax.legend(fontsize=8)
    return ax


def composite_signatures(sig, keys, *, token_names, label_names, x_show: int):
    r"""The four signatures of a composite-addition dataset in a 2 x 2 figure.

    Book: chapter 02 (A composite-addition dataset). (a) :math:`\phi^y` and (b)
    :math:`\phi^X` of the ``keys`` (rows in their natural order), (c) :math:`\varphi^X` of
    every label, (d) :math:`\phi^{X|y}_x` of the token ``x_show``. ``sig`` is a
    :class:`psbook.signatures.TaskSignatures`.
    """
    keys = list(keys)
    key_names = [token_names[k] for k in keys]
    with styled():
        fig, axes = plt.subplots(2, 2, figsize=(10.5, 8.2), constrained_layout=True)
        panels = [
            (sig.phi_y[keys], key_names, label_names,
             r"(a) label signature $\phi^y_x(\nu)$ of each key",
             r"label $\nu$ (value of the sum)", "key $x$"),
            (sig.phi_X[keys], key_names, token_names,
             r"(b) co-occurrence signature $\phi^X_x(\beta)$",
             r"context token $\beta$", "key $x$"),
            (sig.varphi_X, label_names, token_names,
             r"(c) input signature $\varphi^X_\nu(\beta)$ of each label",
             r"input token $\beta$", r"label $\nu$"),
            (sig.phi_X_given_y(x_show), token_names, label_names,
             r"(d) joint signature $\phi^{X|y}_x(\beta,\nu)$ for key "
             + str(token_names[x_show]), r"label $\nu$", r"context token $\beta$"),
        ]
        for ax, (M, rows, cols, title, xlabel, ylabel) in zip(axes.ravel(), panels):
            heatmap(M, ax=ax, row_labels=rows, col_labels=cols, title=title, xlabel=xlabel,
                    ylabel=ylabel, cbar_label="probability")
    return fig


def cosine_panels(matrices: dict, labels, *, axis_label: str = "token", size: float = 5.0):
    """Cosine-similarity heatmaps side by side, one per ``{title: cosine matrix}``.

    Book: chapter 02 (the geometry of the signatures). All panels share ``labels``."""
    n = len(matrices)
    with styled():
        fig, axes = plt.subplots(1, n, figsize=(size * n, 0.8 * size), constrained_layout=True)
        for ax, (title, S) in zip(np.atleast_1d(axes), matrices.items()):
            cosine_heatmap(S=S, labels=labels, ax=ax, axis_label=axis_label, title=title)
    return fig


def group_cosine_heatmap(S, labels, sizes, *, title: str = "", axis_label: str = "word"):
    """One cosine-similarity heatmap with lines between consecutive token groups.

    Book: chapter 02 (signatures of real text). ``sizes``: the number of tokens of each
    group, in the order of ``labels``."""
    with styled():
        fig, ax = plt.subplots(figsize=(7.5, 6.4))
        cosine_heatmap(S=S, labels=labels, ax=ax, axis_label=axis_label, title=title)
        for edge in np.cumsum(list(sizes))[:-1] - 0.5:
            ax.axhline(edge, color="k", lw=0.8)
            ax.axvline(edge, color="k", lw=0.8)
    return fig


def signature_panels(phi_y, phi_xy: dict, *, token_names=None, label_names=None, fig=None):
    r"""Left: the label signatures :math:`\phi^y` of all tokens; right: the matrix signature
    :math:`\phi^{X|y}_x` of the tokens in ``phi_xy`` (maps a title to a ``V x V_out`` matrix)."""
    n = 1 + len(phi_xy)
    with styled():
        if fig is None:
            fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.4))
        else:
            axes = fig.axes
        heatmap(phi_y, ax=axes[0], row_labels=token_names, col_labels=label_names,
                title=r"$\phi^y_x(\nu)$ (all tokens)", xlabel=r"label $\nu$",
                ylabel="input token x", cbar_label="probability", vmin=0)
        for ax, (t, m) in zip(axes[1:], phi_xy.items()):
            heatmap(m, ax=ax, row_labels=token_names, col_labels=label_names, title=t,
                    xlabel=r"label $\nu$", ylabel=r"context token $\beta$",
                    cbar_label="probability", vmin=0)
        fig.tight_layout()
    return set_alt(fig, "Heatmaps of probabilities: the label signatures phi^y of all tokens "
                        "(input token against label), then the matrix signatures "
                        + ", ".join(clean(str(t)) for t in phi_xy)
                        + " (context token against label).")
