"""Figures of chapter 12 and ``psbook align``: alignment of published models with signatures."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .core import COSINE_CMAP, set_alt, styled

__all__ = ["alignment_figure", "grouped_bars", "binned_bars", "binned_null_figure",
           "signature_bars", "proxy_bars", "group_heatmaps"]


def binned_bars(binned, *, ax=None, title: str = "", null=None):
    """Within-bin correlation per bin of embedding cosine (bars), and a null's (ticks)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.4, 3.4))
        x = np.arange(binned.count.size)
        ax.bar(x, binned.corr, color="C0", alpha=0.85, label="within-bin correlation")
        if null is not None:
            ax.scatter(x, null, marker="_", s=300, color="k", zorder=3,
                       label="shuffled signature")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{m:+.2f}" for m in binned.mean_emb], rotation=45, fontsize=8)
        ax.set_xlabel("bin of token pairs by embedding cosine (bin mean)")
        ax.set_ylabel("corr(embedding cos, signature cos)")
        ax.set_title(title)
        ax.legend(loc="upper left")
    return ax


def binned_null_figure(results: dict, nulls: dict):
    """One panel per model: its binned alignment (``results[label]``, an AlignResult, window
    ±5 PPMI) with the mean of its Gaussian-copula null (``nulls[label]["corr"]``, draws x
    bins) as a dashed line.

    Book: chapter 12 (where the alignment lives)."""
    with styled():
        fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6),
                                 squeeze=False)
        for ax, (name, r) in zip(axes[0], results.items()):
            binned_bars(r.binned, ax=ax, title=f"{name}: window ±5, PPMI")
            nb = r.binned.corr.size
            ax.plot(np.arange(nb), nulls[name]["corr"].mean(0), "k--o", ms=3,
                    label="Gaussian-copula null")
            ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def alignment_figure(result, null_binned=None):
    """Two panels for one :class:`psbook.align.AlignResult`: R_cos beside its controls, and
    the binned alignment."""
    with styled():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
        names = ["R_cos", "frequency-\ncontrolled", "frequency-\nmatched shuffle", "shuffled"]
        vals = [result.r_cos, result.r_cos_freq_controlled, result.r_cos_freq_shuffle,
                result.r_cos_control]
        a1.bar(range(4), vals, color=["C0", "C0", "0.6", "0.6"])
        a1.axhline(0, color="0.5", lw=0.8)
        a1.set_xticks(range(4))
        a1.set_xticklabels(names, fontsize=8)
        a1.set_ylabel("R_cos (Pearson over token pairs)")
        sig = result.signature + (f" ±{result.window}" if result.window else "")
        a1.set_title(f"{result.model} vs {sig} ({result.weighting})", fontsize=9)
        binned_bars(result.binned, ax=a2, title=f"binned alignment ({result.n_used} tokens)",
                    null=None if null_binned is None else null_binned.corr)
        fig.tight_layout()
    return set_alt(fig, f"Left, bars of R_cos of {result.model} with the {sig} signature "
                        f"({result.weighting}) beside its frequency-controlled value and two "
                        f"shuffled controls; right, the within-bin correlation for bins of "
                        f"token pairs by embedding cosine ({result.n_used} tokens).")


def grouped_bars(table: dict, *, controls: dict | None = None, ax=None, ylabel: str = "R_cos",
                 title: str = "", legend_title: str = "", colors: Sequence[str] | None = None):
    """Grouped bars: ``table[group][series] = (mean, sd)``; ``controls[group][series] = value``
    drawn as black ticks (the control the bar must beat)."""
    groups = list(table)
    series = list(dict.fromkeys(s for g in groups for s in table[g]))
    with styled():
        if ax is None:
            # each group as wide as its bars need, or its longest label line (9 pt text)
            longest = max(len(line) for g in groups for line in str(g).split("\n"))
            per_group = max(1.1 * max(1, len(series)) / 2, 0.085 * longest + 0.3)
            _, ax = plt.subplots(figsize=(1.2 + per_group * len(groups), 3.6))
        w = 0.8 / len(series)
        for j, s in enumerate(series):
            x = np.arange(len(groups)) + (j - (len(series) - 1) / 2) * w
            m = [table[g].get(s, (np.nan, 0))[0] for g in groups]
            e = [table[g].get(s, (np.nan, 0))[1] for g in groups]
            ax.bar(x, m, w, yerr=e, capsize=2, label=s,
                   color=None if colors is None else colors[j % len(colors)])
            if controls:
                c = [controls.get(g, {}).get(s, np.nan) for g in groups]
                ax.scatter(x, c, marker="_", s=120, color="k", zorder=3,
                           label="shuffled control" if j == 0 else None)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(groups)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(title=legend_title or None)
    return ax


def signature_bars(grid: dict, *, book_text: str = "WikiText-2",
                   weightings=("raw", "ppmi")):
    """One panel per model of an :func:`psbook.align.alignment_grid`: R_cos (mean ± sd over
    subsamples) per signature and weighting, the shuffled control as black ticks.

    Book: chapter 12 (which signature, which weighting)."""
    models = list(dict.fromkeys(k[0] for k in grid))
    signatures = list(dict.fromkeys(k[1] for k in grid))
    with styled():
        fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), sharey=True,
                                 squeeze=False)
        for ax, name in zip(axes[0], models):
            bars = {s: {w: grid[(name, s, w)]["r_cos"] for w in weightings} for s in signatures}
            ctrl = {s: {w: grid[(name, s, w)]["r_cos_control"][0] for w in weightings}
                    for s in signatures}
            grouped_bars(bars, controls=ctrl, ax=ax, ylabel="R_cos (mean ± sd, subsamples)",
                         title=f"{name} vs {book_text} signatures", legend_title="weighting")
            ax.set_xlabel("signature")
        fig.tight_layout()
    return fig


def proxy_bars(proxy: dict):
    """R_cos per model and mismatched proxy (``{(label, proxy): psbook.align.proxy_cost}``):
    the book corpus with full counts, thinned to the proxy's counts, and the proxy.

    Book: chapter 12 (proxy mismatch)."""
    bars = {f"{n}\n({p['n']} tokens shared\nwith {s})": {
                "book corpus (full counts)": p["matched"],
                "book corpus, thinned": (p["thinned"].mean(), p["thinned"].std(ddof=1)),
                "mismatched proxy": p["mismatched"]}
            for (n, s), p in proxy.items() if p is not None}
    ax = grouped_bars(bars, ylabel="R_cos, window ±5 PPMI", legend_title="signatures from",
                      title="same model, same tokens, different proxy corpus")
    ax.figure.tight_layout()
    return ax.figure


def group_heatmaps(panels, groups: dict):
    """Cosine matrices of the word groups, 2 x 2 (``panels``: ``(rows, title)`` pairs, the
    rows ordered group by group as in ``groups``: ``{name: ids}``), on one colour scale.

    Ticks name the groups (one label at each block's centre, lines between the blocks), not
    each word, so nothing overlaps at the page's width; one colour bar serves all panels.

    Book: chapter 12 (a token group you can see)."""
    from ..metrics import cosine_matrix

    sizes = [len(v) for v in groups.values()]
    edges = np.cumsum([0] + sizes)
    centres = (edges[:-1] + edges[1:]) / 2 - 0.5
    n_cols = 2
    n_rows = int(np.ceil(len(panels) / n_cols))
    with styled():
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(9, 4.1 * n_rows), squeeze=False,
                                 constrained_layout=True)
        for ax, (M, title) in zip(axes.ravel(), panels):
            S = cosine_matrix(np.asarray(M.toarray() if hasattr(M, "toarray") else M,
                                         dtype=np.float64))
            im = ax.imshow(S, cmap=COSINE_CMAP, vmin=-1, vmax=1, interpolation="nearest")
            for e in edges[1:-1]:
                ax.axhline(e - 0.5, color="k", lw=0.8)
                ax.axvline(e - 0.5, color="k", lw=0.8)
            ax.set_xticks(centres)
            ax.set_xticklabels(list(groups), fontsize=10, rotation=30, ha="right")
            ax.set_yticks(centres)
            ax.set_yticklabels(list(groups), fontsize=10)
            ax.tick_params(length=0)
            ax.set_title(title, fontsize=11)
        for ax in axes.ravel()[len(panels):]:
            ax.set_visible(False)
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.04, pad=0.02)
        cb.set_label("cosine similarity")
    n = int(edges[-1])
    return set_alt(fig, f"{len(panels)} heatmaps of the cosine similarity of {n} words, "
                        f"ordered group by group ({', '.join(groups)}), on one colour scale "
                        f"from -1 to 1: " + "; ".join(t for _, t in panels) + ".")
