"""Figures of chapter 12 and ``psbook align``: alignment of published models with signatures."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .core import styled, set_alt

__all__ = ["alignment_figure", "grouped_bars", "binned_bars"]


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
