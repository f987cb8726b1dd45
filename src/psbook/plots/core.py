"""Shared figure helpers: one look for every chapter."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from ..metrics import cosine_matrix

__all__ = ["book_style", "heatmap", "cosine_heatmap", "metric_curves", "pca_2d", "pca_scatter",
           "save"]

_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
}

# Diverging map for cosine similarity, always on the fixed range [-1, 1] so that panels compare.
COSINE_CMAP = "RdBu_r"


def book_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(_STYLE)


@contextmanager
def _styled():
    with mpl.rc_context(_STYLE):
        yield


def heatmap(M, *, ax=None, row_labels: Sequence[str] | None = None,
            col_labels: Sequence[str] | None = None, title: str = "", xlabel: str = "",
            ylabel: str = "", cbar_label: str = "", cmap: str = "viridis", vmin=None, vmax=None,
            max_ticks: int = 40, colorbar: bool = True):
    """A labelled heatmap of a matrix; tick labels are thinned to at most ``max_ticks``."""
    M = np.asarray(M, dtype=float)
    with _styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.2, 3.6))
        im = ax.imshow(M, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                       interpolation="nearest")
        for labels, n, setter, lab_setter in (
                (row_labels, M.shape[0], ax.set_yticks, ax.set_yticklabels),
                (col_labels, M.shape[1], ax.set_xticks, ax.set_xticklabels)):
            if labels is not None:
                step = max(1, int(np.ceil(n / max_ticks)))
                idx = np.arange(0, n, step)
                setter(idx)
                lab_setter([str(labels[i]) for i in idx],
                           rotation=90 if lab_setter == ax.set_xticklabels else 0,
                           fontsize=8 if n > 15 else 9)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if colorbar:
            cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            if cbar_label:
                cb.set_label(cbar_label)
    return ax


def cosine_heatmap(A=None, *, S=None, labels: Sequence[str] | None = None, ax=None,
                   title: str = "", axis_label: str = "token", colorbar: bool = True):
    """Heatmap of the pairwise cosine similarity of the rows of ``A`` (or a given matrix ``S``),
    on the fixed colour range [-1, 1]."""
    if S is None:
        if A is None:
            raise ValueError("cosine_heatmap needs A (rows = token vectors) or S (a cosine matrix)")
        S = cosine_matrix(A)
    return heatmap(S, ax=ax, row_labels=labels, col_labels=labels, title=title,
                   xlabel=axis_label, ylabel=axis_label, cbar_label="cosine similarity",
                   cmap=COSINE_CMAP, vmin=-1, vmax=1, colorbar=colorbar)


def metric_curves(steps, curves: dict, *, ax=None, xlabel: str = "training step",
                  ylabel: str = "", title: str = "", hlines: dict | None = None, logx=False):
    """Several metric trajectories against training step; ``curves`` maps label -> values."""
    with _styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        for label, ys in curves.items():
            ax.plot(steps, ys, label=label, lw=1.8)
        for label, y in (hlines or {}).items():
            ax.axhline(y, ls="--", lw=1, color="grey")
            ax.annotate(label, (ax.get_xlim()[0], y), fontsize=8, color="grey",
                        xytext=(3, 3), textcoords="offset points")
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(curves) > 1:
            ax.legend()
    return ax


def pca_2d(A) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``A`` on their first two principal components.

    Returns ``(coords (n, 2), explained_variance_ratio (2,))``.
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] < 2:
        raise ValueError(f"A must be 2-D with at least 2 rows; got shape {A.shape}")
    C = A - A.mean(axis=0)
    U, s, _ = np.linalg.svd(C, full_matrices=False)
    var = s ** 2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    coords = U[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, ratio


def pca_scatter(A, labels: Sequence[str] | None = None, *, values=None, ax=None, title: str = "",
                cbar_label: str = "", annotate: bool = True, connect: bool = False):
    """Scatter of the rows of ``A`` on their first two principal components, optionally coloured
    by ``values`` and joined in order (``connect=True``, for ordered tokens such as numbers)."""
    coords, ratio = pca_2d(A)
    with _styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3.6))
        if connect:
            ax.plot(coords[:, 0], coords[:, 1], color="lightgrey", lw=1, zorder=1)
        sc = ax.scatter(coords[:, 0], coords[:, 1], c=values if values is not None else "C0",
                        cmap="viridis", s=28, zorder=2)
        if annotate and labels is not None:
            for (x, y), lab in zip(coords, labels):
                ax.annotate(str(lab), (x, y), fontsize=7, xytext=(2, 2),
                            textcoords="offset points")
        if values is not None:
            cb = ax.figure.colorbar(sc, ax=ax, fraction=0.046, pad=0.03)
            if cbar_label:
                cb.set_label(cbar_label)
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}% of variance)")
        ax.set_title(title)
    return ax


def save(fig, path) -> Path:
    """Save a figure as PNG (creating folders) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
