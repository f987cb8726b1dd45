"""Figures of the language-model chapters (09-11). Plot functions never count or train.

The first block (chapter 09: signatures of real text) is kept together at the top; the
model chapters' figures follow below it.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..metrics import cosine_matrix
from .core import COSINE_CMAP, clean, styled, cosine_heatmap, set_alt


def _few(labels, n: int = 6) -> str:
    """The first ``n`` labels, for an alt text."""
    labels = [str(x) for x in labels]
    return ", ".join(labels[:n]) + (", ..." if len(labels) > n else "")

__all__ = ["token_label", "token_labels", "signature_cosine_panels", "corpus_cosine_panels",
           "top_next_bars", "set_similarity_bars", "agreement_matrix"]

# ======================================================================================
# Chapter 09 -- signatures of real text
# ======================================================================================

_SIG_TITLES = {"phi_next": r"$\phi^{next}$ (next token)",
               "varphi_pre": r"$\varphi^{pre}$ (previous token)",
               "tied": r"$\tilde\phi = \phi^{next} + \varphi^{pre}$"}


def token_label(s: str) -> str:
    """A token's readable form for a tick label: a leading space shows as '␣', newlines as
    '\\n', tabs as '\\t', an empty token as '∅'."""
    if s == "":
        return "∅"
    out = s.replace("\n", "\\n").replace("\t", "\\t")
    return "␣" + out[1:] if out.startswith(" ") else out


def token_labels(tokenizer, ids) -> list[str]:
    return [token_label(tokenizer.id_to_token(int(i))) for i in ids]


def tokenization_table(tokenizer, texts):
    """A :class:`psbook.display.Table`: each text of ``texts`` (a string or several) with its
    number of tokens and the tokens in their readable form (:func:`token_label`), ``|``
    between them.

    Book: chapter 09 (a tokenizer)."""
    from ..display import Table
    texts = [texts] if isinstance(texts, str) else list(texts)
    rows = []
    for t in texts:
        ids = tokenizer.encode(t)
        rows.append({"text": t, "tokens": len(ids),
                     "as tokens": " | ".join(token_labels(tokenizer, ids))})
    return Table(rows, caption=f"Text cut into tokens by {tokenizer.name}",
                 note="␣ marks a leading space")


def token_set_table(tokenizer, sets: dict, sigs=None, *, first: int = 12):
    """A :class:`psbook.display.Table` of named token sets: each set's size, its first
    ``first`` tokens (readable) and, with ``sigs`` (NextTokenSignatures), how often the set's
    tokens occur in that corpus.

    Book: chapters 09 and 10 (digits, months, weekdays; the tokens measured)."""
    from ..display import Table
    cut = any(len(ids) > first for ids in sets.values())
    shown = f"the first {first} (readable)" if cut else "readable"
    rows = []
    for name, ids in sets.items():
        ids = [int(i) for i in ids]
        row = {"set": name, "tokens": len(ids)}
        if sigs is not None:
            row["occurrences"] = int(sigs.counts[ids].sum()) if ids else 0
        row[shown] = (" ".join(token_labels(tokenizer, ids[:first]))
                      + (" …" if len(ids) > first else ""))
        rows.append(row)
    return Table(rows, caption="Token sets",
                 formats={"occurrences": ",d"} if sigs is not None else None)


def top_next_table(sigs_by_corpus: dict, tokenizer, token: int, k: int = 4):
    """A :class:`psbook.display.Table`: in each corpus, the ``k`` most probable next tokens
    after ``token`` with their probabilities (:func:`psbook.corpus.top_next`).

    Book: chapter 09 (why the months are so alike)."""
    from ..corpus import top_next
    from ..display import Table
    after = token_label(tokenizer.id_to_token(int(token)))
    rows = [{"corpus": src,
             f"next tokens after {after}": ", ".join(
                 f"{token_label(t)} {p:.2f}" for t, p in top_next(sig, tokenizer, token, k=k))
             or "(absent)"} for src, sig in sigs_by_corpus.items()]
    return Table(rows, caption=f"The {k} most probable tokens after {after}, by corpus")


def _group_lines(ax, sizes: Sequence[int] | None):
    if not sizes:
        return
    edge = -0.5
    for n in list(sizes)[:-1]:
        edge += n
        ax.axhline(edge, color="k", lw=0.8)
        ax.axvline(edge, color="k", lw=0.8)


def signature_cosine_panels(sigs, tokens, labels, *, names=("phi_next", "varphi_pre", "tied"),
                            groups: Sequence[int] | None = None, suptitle: str = ""):
    """One cosine heatmap per signature (``phi_next``, ``varphi_pre``, ``tied``) over the same
    ``tokens``; ``groups`` (sizes of consecutive token groups) draws separating lines."""
    with styled():
        fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.3),
                                 constrained_layout=True)
        for ax, name in zip(np.atleast_1d(axes), names):
            S = cosine_matrix(getattr(sigs, name), tokens)
            cosine_heatmap(S=S, labels=labels, ax=ax, title=_SIG_TITLES.get(name, name),
                           colorbar=name == names[-1])
            _group_lines(ax, groups)
        if suptitle:
            fig.suptitle(suptitle)
    return set_alt(fig, f"Cosine-similarity heatmaps over the same {len(labels)} tokens "
                        f"({_few(labels)}) of the signatures {', '.join(names)}, side by side"
                        + (", token groups separated by lines." if groups else "."))


def corpus_cosine_panels(sigs_by_corpus: dict, tokens, labels, *, name: str = "phi_next",
                         groups: Sequence[int] | None = None, suptitle: str = ""):
    """The cosine matrix of the same ``tokens`` under each corpus's signature ``name``."""
    n = len(sigs_by_corpus)
    with styled():
        fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 4.2), constrained_layout=True)
        for i, (ax, (corpus, sigs)) in enumerate(zip(np.atleast_1d(axes),
                                                     sigs_by_corpus.items())):
            S = cosine_matrix(getattr(sigs, name), tokens)
            cosine_heatmap(S=S, labels=labels, ax=ax, colorbar=i == n - 1,
                           title=f"{corpus}: {_SIG_TITLES.get(name, name).split(' (')[0]}")
            _group_lines(ax, groups)
        if suptitle:
            fig.suptitle(suptitle)
    return set_alt(fig, f"Cosine-similarity heatmaps of the signature {name} over the same "
                        f"{len(labels)} tokens ({_few(labels)}), one per corpus: "
                        f"{', '.join(map(str, sigs_by_corpus))}.")


def top_next_bars(tops_by_corpus: dict, token_text: str, *, k: int = 8):
    """Horizontal bars of the most probable next tokens of one token in each corpus.

    ``tops_by_corpus`` maps a corpus name to a list of (readable token, probability), as
    returned by :func:`psbook.corpus.top_next`.
    """
    n = len(tops_by_corpus)
    with styled():
        fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 0.32 * k + 1.4),
                                 constrained_layout=True)
        for ax, (corpus, top) in zip(np.atleast_1d(axes), tops_by_corpus.items()):
            top = list(top)[:k]
            labs = [token_label(t) for t, _ in top][::-1]
            vals = [p for _, p in top][::-1]
            ax.barh(range(len(vals)), vals, color="C0")
            ax.set_yticks(range(len(vals)))
            ax.set_yticklabels(labs, fontsize=9)
            ax.set_xlabel(r"$\phi^{next}$ probability")
            ax.set_title(f"{corpus}: after '{token_label(token_text)}'")
            if not vals:
                ax.text(0.5, 0.5, "token absent", ha="center", va="center",
                        transform=ax.transAxes)
        fig.supylabel("next token")
    return set_alt(fig, f"Horizontal bar charts of the {k} most probable next tokens after "
                        f"'{token_label(token_text)}' and their probabilities, one per corpus: "
                        f"{', '.join(map(str, tops_by_corpus))}.")


def set_similarity_bars(table: dict, *, ylabel: str = r"mean pair cosine of $\phi^{next}$",
                        title: str = ""):
    """Grouped bars: ``table[corpus][set name] = mean pair cosine`` (NaN bars are skipped)."""
    corpora = list(table)
    sets = list(next(iter(table.values())))
    width = 0.8 / len(corpora)
    with styled():
        fig, ax = plt.subplots(figsize=(1.3 * len(sets) + 2.5, 3.4), constrained_layout=True)
        for i, c in enumerate(corpora):
            vals = np.array([table[c][s] for s in sets], dtype=float)
            x = np.arange(len(sets)) + (i - (len(corpora) - 1) / 2) * width
            ax.bar(x[np.isfinite(vals)], vals[np.isfinite(vals)], width, label=c)
        ax.set_xticks(np.arange(len(sets)))
        ax.set_xticklabels(sets)
        ax.set_xlabel("token set")
        ax.set_ylabel(ylabel)
        ax.set_ylim(min(0, ax.get_ylim()[0]), 1.05)
        ax.set_title(title)
        ax.legend(title="corpus", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return set_alt(fig, f"Grouped bar chart of the {clean(ylabel)} within each token set "
                        f"({', '.join(map(str, sets))}), one bar per corpus "
                        f"({', '.join(map(str, corpora))}).")


def agreement_matrix(M, labels: Sequence[str], *, title: str = "",
                     cbar_label: str = "Pearson correlation of pair cosines"):
    """A small annotated matrix of agreements between corpora (values in [-1, 1])."""
    M = np.asarray(M, dtype=float)
    with styled():
        fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2.2, 1.0 * len(labels) + 1.2),
                               constrained_layout=True)
        im = ax.imshow(M, cmap=COSINE_CMAP, vmin=-1, vmax=1)
        for (i, j), v in np.ndenumerate(M):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if abs(v) > 0.6 else "black")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.set_xlabel("corpus")
        ax.set_ylabel("corpus")
        ax.set_title(title)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(cbar_label)
    return set_alt(fig, f"Annotated heatmap of the {clean(cbar_label)} between "
                        f"{', '.join(map(str, labels))}, each cell printed with its value"
                        + (f": {clean(title)}." if title else "."))


# ======================================================================================
# Chapters 10-11 -- the small Qwen2.5-style model (added below this line)
# ======================================================================================

__all__ += ["gradient_check_panels",
            "domain_matrix", "mismatch_scatter"]

_METRIC_LABELS = {"E~next": r"$R_{cos}(W^E, \phi^{next})$",
                  "U~pre": r"$R_{cos}(W^U, \varphi^{pre})$",
                  "W~tied": r"$R_{cos}(W, \tilde\phi)$"}


def gradient_check_panels(results: dict, *, gamma_main: float | None = None):
    """Chapter 10: leading-order gradient vs autograd. ``results`` is
    :func:`psbook.lm.gradient_check`'s ``{gamma: dict}``. Left: per-token cosines at
    ``gamma_main``; right: their median against gamma."""
    gammas = sorted(results)
    gamma_main = gammas[len(gammas) // 2] if gamma_main is None else gamma_main
    series = [("cos_E", r"$W^E$: $r_a J^\top W^{U\top}(\phi^{next}_a-u)$"),
              ("cos_E_bare", r"$W^E$: bare $r_a W^{U\top}(\phi^{next}_a-u)$"),
              ("cos_U", r"$W^U$: $\sum_\alpha (B_{\alpha\nu}-n_\alpha/V)\,N(W^E_\alpha)$")]
    series = [s for s in series if s[0] in results[gammas[0]]]
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        bins = np.linspace(-1, 1, 41)
        for key, lab in series:
            axes[0].hist(results[gamma_main][key], bins=bins, alpha=0.5, label=lab)
            axes[1].plot(gammas, [np.median(results[g][key]) for g in gammas], "o-", label=lab)
        axes[0].set_xlabel("cosine(predicted, autograd gradient) per token")
        axes[0].set_ylabel("number of tokens")
        axes[0].set_title(rf"at initialisation, $\gamma={gamma_main:g}$")
        axes[0].legend(fontsize=7, loc="upper left")
        axes[1].set_xlabel(r"initialisation exponent $\gamma$ (std $= d_{in}^{-\gamma}$)")
        axes[1].set_ylabel("median cosine over tokens")
        axes[1].set_ylim(-0.05, 1.05)
        axes[1].set_title("the prediction becomes exact as the init shrinks")
        axes[1].axhline(1, color="grey", lw=0.8, ls="--")
        fig.tight_layout()
    return set_alt(fig, f"Left, histograms over tokens of the cosine between the predicted "
                        f"and the autograd gradient at initialisation exponent gamma = "
                        f"{gamma_main:g}; right, the median cosine against gamma "
                        f"({', '.join(f'{g:g}' for g in gammas)}), for "
                        f"{', '.join(k for k, _ in series)}.")


def domain_matrix(M, row_labels: Sequence[str], col_labels: Sequence[str], *, ax=None,
                  title: str = "", xlabel: str = "signatures counted on",
                  ylabel: str = "model trained on", cbar_label: str = r"$R_{cos}$"):
    """Chapter 11: an annotated matrix (model trained on A x signatures of corpus B); the
    best column of each row is outlined."""
    M = np.asarray(M, dtype=float)
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(1.3 * M.shape[1] + 2.2, 1.1 * M.shape[0] + 1.4))
        lim = max(0.05, float(np.nanmax(np.abs(M))))
        im = ax.imshow(M, cmap=COSINE_CMAP, vmin=-lim, vmax=lim)
        for i in range(M.shape[0]):
            j_best = int(np.nanargmax(M[i]))
            for j in range(M.shape[1]):
                ax.text(j, i, f"{M[i, j]:+.2f}", ha="center", va="center", fontsize=9,
                        fontweight="bold" if j == j_best else "normal")
            ax.add_patch(plt.Rectangle((j_best - 0.5, i - 0.5), 1, 1, fill=False, lw=2,
                                       ec="k"))
        ax.set_xticks(range(M.shape[1]))
        ax.set_xticklabels(col_labels)
        ax.set_yticks(range(M.shape[0]))
        ax.set_yticklabels(row_labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(cbar_label)
    return ax


def mismatch_scatter(similarity, cost, pairs: Sequence[str], *, ax=None):
    """Chapter 11: for each pair of corpora, how similar their signatures are (x) against how
    much R_cos drops when a model is compared with the other corpus's signatures (y)."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.8))
        ax.scatter(similarity, cost, s=60)
        for x, y, t in zip(similarity, cost, pairs):
            ax.annotate(t, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
        ax.set_xlabel(r"$R_{cos}(\phi^{next}_A, \phi^{next}_B)$ (similarity of the corpora)")
        ax.set_ylabel(r"drop in $R_{cos}$ with mismatched signatures")
        ax.set_title("more different corpora, larger mismatch cost")
    return ax


def cross_domain_panels(M_E, M_U, domains: Sequence[str]):
    """Chapter 11: the cross-domain matrices side by side, :math:`R_{cos}(W^E_A,
    \\phi^{next}_B)` and :math:`R_{cos}(W^U_A, \\varphi^{pre}_B)` (seed means), as
    :func:`domain_matrix` draws them. Returns the figure.

    Book: chapter 11 (the cross-domain matrix)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    domain_matrix(M_E, domains, domains, ax=axes[0],
                  title=r"$R_{cos}(W^E_{A}, \phi^{next}_{B})$ (seed mean)",
                  cbar_label=r"$R_{cos}$")
    domain_matrix(M_U, domains, domains, ax=axes[1],
                  title=r"$R_{cos}(W^U_{A}, \varphi^{pre}_{B})$ (seed mean)",
                  cbar_label=r"$R_{cos}$")
    fig.tight_layout()
    return fig


def corpus_similarity_panels(S, cost, pairs: Sequence[str], domains: Sequence[str]):
    """Chapter 11: how alike the corpora's signatures are (:func:`domain_matrix` of ``S``)
    beside the mismatch cost of each pair against that similarity
    (:func:`mismatch_scatter`). Returns the figure.

    Book: chapter 11 (how different are the corpora?)."""
    S = np.asarray(S, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    domain_matrix(S, domains, domains, ax=axes[0], ylabel="signatures counted on",
                  title=r"$R_{cos}(\phi^{next}_{A}, \phi^{next}_{B})$",
                  cbar_label=r"$R_{cos}$ between signatures")
    iu = np.triu_indices(len(domains), 1)
    mismatch_scatter(S[iu], cost, pairs, ax=axes[1])
    fig.tight_layout()
    return fig


# ======================================================================================
# Seeds, ablations and mixtures (chapters 10-11): means with a band of one sd over seeds
# ======================================================================================

def alignment_bands(frame, metrics: dict, *, x: str = "step", loss_frame=None):
    """Chapter 10: alignment over training as the mean over seeds with a +-1 sd band
    (``seaborn.lineplot(errorbar="sd")``), one panel per entry of ``metrics``
    (panel title -> metric key, e.g. ``{"W^E vs phi_next": "E~next/top"}``), one line per
    model. ``frame`` is :func:`psbook.lm.history_frame`'s table."""
    import seaborn as sns
    n = len(metrics)
    with styled():
        fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 3.5), squeeze=False)
        for ax, (title, key) in zip(axes[0], metrics.items()):
            sub = frame[frame["metric"] == key]
            sns.lineplot(data=sub, x=x, y="value", hue="model", errorbar="sd", ax=ax,
                         marker="o", markersize=3)
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xlabel("training step" if x == "step" else x)
            ax.set_ylabel(r"$R_{cos}$ (mean $\pm$ sd over seeds)")
            ax.set_title(title)
            ax.legend(title=None)
        fig.tight_layout()
    return set_alt(fig, f"Line plots of R_cos against the training {x}, mean over seeds with "
                        f"a band of one sd, one line per model, one panel per comparison: "
                        f"{'; '.join(clean(t) for t in metrics)}.")


def binned_alignment_bands(panels: dict):
    """Chapter 10: the binned alignment over seeds. ``panels`` maps a title to a
    list (one entry per seed) of ``(BinnedAlignment, null_corr)``; bars are seed means with
    sd error bars, black ticks the null's seed mean, the red line the mean signature cosine."""
    n = len(panels)
    with styled():
        fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.6), squeeze=False)
        for ax, (title, runs) in zip(axes[0], panels.items()):
            corr = np.array([b.corr for b, _ in runs])
            null = np.array([nl for _, nl in runs])
            sig = np.array([b.mean_sig for b, _ in runs])
            x = np.arange(corr.shape[1])
            ax.bar(x, np.nanmean(corr, 0), yerr=np.nanstd(corr, 0, ddof=1) if len(runs) > 1
                   else None, color="C0", alpha=0.8, capsize=3,
                   label="within-bin correlation (mean ± sd)")
            ax.scatter(x, np.nanmean(null, 0), marker="_", s=300, color="k", zorder=3,
                       label="null: same overall correlation,\nequally strong in every bin")
            ax2 = ax.twinx()
            ax2.plot(x, np.nanmean(sig, 0), "o-", color="C3", label="mean signature cosine")
            ax2.set_ylabel("mean signature cosine in bin", color="C3")
            ax2.spines["right"].set_visible(True)
            ax.set_xticks(x)
            ax.set_xticklabels([f"{i + 1}" for i in x])
            ax.set_xlabel("bin of pairs by embedding cosine (1 = least similar)")
            ax.set_ylabel("correlation within bin")
            ax.set_title(title)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, loc="upper left")
        fig.tight_layout()
    return set_alt(fig, f"Bar charts of the correlation within bins of token pairs sorted by "
                        f"embedding cosine (mean and sd over seeds), with the null as black "
                        f"ticks and the mean signature cosine per bin as a line, one panel per: "
                        f"{'; '.join(clean(t) for t in panels)}.")


def seed_bars(values: dict, *, ylabel: str, title: str = "", control: dict | None = None,
              ax=None):
    """Bars of seed means with sd error bars and the single seeds as dots; ``values`` maps a
    label to the per-seed numbers; ``control`` (same labels) is drawn as hollow bars behind."""
    with styled():
        own = ax is None
        if ax is None:
            fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(values), 3.4))
        else:
            fig = ax.figure
        x = np.arange(len(values))
        for i, (label, v) in enumerate(values.items()):
            v = np.asarray(v, dtype=float)
            ax.bar(i, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else None, color=f"C{i}",
                   alpha=0.8, capsize=4, label=None)
            ax.scatter(np.full(v.size, i) + np.linspace(-0.15, 0.15, v.size), v, s=10,
                       color="k", zorder=3)
            if control is not None and label in control:
                c = np.asarray(control[label], dtype=float)
                ax.bar(i, c.mean(), fill=False, edgecolor="k", ls="--", lw=1.2,
                       label="control" if i == 0 else None)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(list(values), rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if control is not None:
            ax.legend()
        fig.tight_layout()
    if own:
        set_alt(fig, f"Bar chart of {clean(ylabel)} for {', '.join(map(str, values))}: "
                     f"mean over seeds with sd error bars and each seed as a dot"
                     + (", controls as dashed hollow bars." if control is not None else "."))
    return fig


def mixture_dose_response(alphas, r_a, r_b, *, name_a: str, name_b: str, ax=None,
                          ylabel: str = r"$R_{cos}(W^E, \phi^{next})$"):
    """Chapter 11: R_cos of models trained on mixtures ``alpha A + (1 - alpha) B`` against
    A's and B's signatures, as functions of ``alpha``; ``r_a``/``r_b`` are (seeds x alphas),
    drawn as mean +- sd bands."""
    import seaborn as sns
    import pandas as pd
    r_a, r_b = np.asarray(r_a, float), np.asarray(r_b, float)
    rows = [(float(a), v, f"signatures of {nm}")
            for R, nm in ((r_a, name_a), (r_b, name_b))
            for s in range(R.shape[0]) for a, v in zip(alphas, R[s])]
    df = pd.DataFrame(rows, columns=["alpha", "R", "against"])
    with styled():
        own = ax is None
        if ax is None:
            fig, ax = plt.subplots(figsize=(5.2, 3.6))
        else:
            fig = ax.figure
        sns.lineplot(data=df, x="alpha", y="R", hue="against", errorbar="sd", marker="o", ax=ax)
        ax.set_xlabel(rf"fraction $\alpha$ of training tokens from {name_a} (rest {name_b})")
        ax.set_ylabel(ylabel)
        ax.set_title(f"Mixtures of {name_a} and {name_b} (mean ± sd over seeds)")
        ax.legend(title=None)
        fig.tight_layout()
    if own:
        set_alt(fig, f"Line plot of {clean(ylabel)} against the fraction alpha of training "
                     f"tokens from {name_a} (the rest from {name_b}), measured against the "
                     f"signatures of {name_a} and of {name_b}, mean over seeds with a band of "
                     f"one sd.")
    return fig
