"""Figures of chapter 13 (interventions on the data, and the gradient flow along training).

Every function takes computed results (from :mod:`psbook.interventions` and
:mod:`psbook.trajectory`) and returns a matplotlib figure; nothing here trains.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .core import styled, cosine_heatmap, set_alt

__all__ = ["designed_prediction", "designed_result", "dose_response", "ablation_swap",
           "dose_knob", "trajectory_panels"]


def designed_prediction(phi_designed, phi_plain, labels=None, *, m: int | None = None):
    """Side by side: the cosine matrix of the designed signatures (the prediction, made before
    any training) and that of plain f_add (what "numbers are ordered" predicts)."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.8), constrained_layout=True)
        t = f"designed anchors (period {m})" if m else "designed anchors"
        cosine_heatmap(phi_designed, labels=labels, ax=axes[0],
                       title=f"predicted: cos of $\\phi^y$, {t}")
        cosine_heatmap(phi_plain, labels=labels, ax=axes[1],
                       title="control: cos of $\\phi^y$, plain $f_{add}$")
        for ax in axes:
            ax.set_xlabel("key")
            ax.set_ylabel("key")
    return set_alt(fig, f"Two cosine-similarity heatmaps of the keys' label signatures: "
                        f"predicted from the {t} before any training, and for plain f_add "
                        f"(the control).")


def designed_result(results: dict, W_example=None, labels=None):
    """``results``: model name -> :func:`psbook.interventions.designed_vs_plain` output.
    Left: the trained key-embedding cosine matrix of one run (``W_example``). Middle: R_cos of
    the designed-trained keys with the designed and with the plain signature against the
    training step. Right: the period contrast of the designed-trained and of the plain-trained
    keys. Lines: mean over seeds (one line style per model), bands: ± sd."""
    with styled():
        n = 2 + (W_example is not None)
        fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 3.7), constrained_layout=True)
        axes = np.atleast_1d(axes)
        k = 0
        if W_example is not None:
            cosine_heatmap(W_example, labels=labels, ax=axes[0], axis_label="key",
                           title="trained: cos of $W^E$ (designed task)")
            k = 1
        panels = [(("R_designed", "C0", "vs designed $\\phi^y$"),
                   ("R_plain", "C7", "vs plain $\\phi^y$ (control)"),
                   "$R_{cos}$ of the designed-trained keys"),
                  (("contrast", "C0", "trained on designed task"),
                   ("contrast_plain", "C7", "trained on plain $f_{add}$ (control)"),
                   "cos(z, z+m) − cos(z, z+1)")]
        for ax, (*series, ylabel) in zip(axes[k:], panels):
            for ls, (model, r) in zip(("-", "--", ":"), results.items()):
                x = np.asarray(r["steps"], dtype=float)
                for key, col, lab in series:
                    v = np.asarray(r[key])
                    mu, sd = v.mean(0), v.std(0)
                    ax.plot(x, mu, ls, color=col, lw=1.8, label=f"{model}: {lab}")
                    ax.fill_between(x, mu - sd, mu + sd, color=col, alpha=0.2)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(0, x.max() * 1.3)
            ax.set_xlabel("training step")
            ax.set_ylabel(ylabel)
            ax.legend(loc="best")
    return set_alt(fig, ("A heatmap of the trained key-embedding cosines on the designed task, "
                         if W_example is not None else "")
                   + "line plots over training steps of R_cos of the designed-trained keys "
                     "against the designed and the plain signature, and of the period contrast "
                     "cos(z, z+m) - cos(z, z+1) for the designed- and the plain-trained keys, "
                     f"mean over seeds with sd bands, for {', '.join(map(str, results))}.")


def dose_response(out: dict, names=None):
    """Left: cos(W^E_a, W^E_b) against the fraction p of shared successors, treated pairs
    (colours, mean ± sd over seeds as a band) and untouched control pairs (grey). Right: the
    same cosine against the measured signature cosine of the pair, every run a dot."""
    p = np.asarray(out["p"])
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), constrained_layout=True)
        for grp, base in (("treated", None), ("control", "0.6")):
            C = np.asarray(out[f"cos_E_{grp}"])         # [p, seed, pair]
            S = np.asarray(out[f"sig_cos_{grp}"])
            for j in range(C.shape[2]):
                col = base or f"C{j % 10}"
                lab = (names[grp][j] if names else f"{grp} {j}") if base is None else \
                    ("control pairs (untouched)" if j == 0 else None)
                m, s = C[:, :, j].mean(1), C[:, :, j].std(1)
                axes[0].plot(p, m, "-o", color=col, ms=4, label=lab,
                             lw=1.2 if base else 1.8)
                axes[0].fill_between(p, m - s, m + s, color=col, alpha=0.15)
                axes[1].scatter(S[:, :, j].ravel(), C[:, :, j].ravel(), color=col, s=14,
                                alpha=0.8)
        axes[0].set_xlabel("fraction p of successors shared")
        axes[0].set_ylabel("cos($W^E_a$, $W^E_b$) after training")
        axes[0].legend(loc="best")
        axes[1].set_xlabel("measured cos($\\phi^{next}_a$, $\\phi^{next}_b$) of the corpus")
        axes[1].set_ylabel("cos($W^E_a$, $W^E_b$) after training")
        for ax in axes:
            ax.axhline(0, color="0.8", lw=0.8)
    return set_alt(fig, "Left, line plot of the cosine of the two embeddings of each treated "
                        "pair after training against the fraction p of shared successors, "
                        "mean with sd band over seeds, untouched control pairs in grey; right, "
                        "scatter of the same cosine against the pair's measured signature "
                        "cosine, one dot per run.")


def dose_knob(dose: dict, sham: dict):
    """The kernel-free knob over the dose ``p`` (:func:`psbook.plots.knobs.sweep_knob`): the
    mean embedding cosine of the treated pairs, the sham and the untouched controls per seed,
    with that dose's numbers above the picture.

    Book: chapter 13 (turn the dose)."""
    from . import knobs

    def pair_mean(C):  # [p, seed, pair] -> [seed, p]: mean over the pairs
        return np.asarray(C).mean(axis=2).T

    states = [{"cos(W^E_a, W^E_b), treated": np.mean(dose["cos_E_treated"][k]),
               "cos(W^E_a, W^E_b), sham": np.mean(sham["cos_E_treated"][k]),
               "cos(W^E_a, W^E_b), control": np.mean(dose["cos_E_control"][k]),
               "cos(φ^next_a, φ^next_b), treated": np.mean(dose["sig_cos_treated"][k])}
              for k in range(len(dose["p"]))]
    return knobs.sweep_knob(
        dose["p"], {"treated pairs": pair_mean(dose["cos_E_treated"]),
                    "sham (same mass moved, no sharing)": pair_mean(sham["cos_E_treated"]),
                    "control pairs (untouched)": pair_mean(dose["cos_E_control"])},
        states, name="c13-dose", control="p", label="dose p (share of successors shared)",
        title="Embedding cosine of the treated pairs by dose",
        y_label="cos(W^E_a, W^E_b) after training")


def ablation_swap(r_intact, r_shuffled, null, swap: dict, *, labels=("intact", "shuffled")):
    """Left: R_cos(W^E, φ^next of the original corpus) after training on the intact and on the
    successor-shuffled corpus (dots per seed or one value), with the null band (mean ± 2 sd of
    R_cos with token-permuted signatures). Right: after swapping two tokens, the
    cosine of each token's displacement with the *other* token's old one (exchanged) and with
    its own (same), from :func:`psbook.interventions.swap_exchange`."""
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.4), constrained_layout=True)
        ax = axes[0]
        null = np.asarray(null, dtype=float)
        ax.axhspan(null.mean() - 2 * null.std(), null.mean() + 2 * null.std(), color="0.85",
                   label="null (permuted signatures), ±2 sd")
        for i, v in enumerate((r_intact, r_shuffled)):
            v = np.atleast_1d(np.asarray(v, dtype=float))
            ax.scatter(np.full(v.size, i), v, color=f"C{i}", s=30, zorder=3)
        ax.set_xticks([0, 1], [f"trained on {labels[0]}", f"trained on {labels[1]}"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_ylabel("$R_{cos}(W^E, \\phi^{next}_{original})$")
        ax.legend(loc="center right")
        ax = axes[1]
        ax.bar([0, 1], [swap["exchanged"], swap["same"]], color=["C2", "C7"], width=0.6)
        ax.set_xticks([0, 1], ["with the other token's\nold displacement",
                               "with its own\nold displacement"])
        ax.set_ylabel("cosine of $W^E - W^E_0$ rows")
        ax.set_ylim(min(-0.1, swap["same"] - 0.1), 1.0)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title("after swapping the two tokens")
    return set_alt(fig, f"Left, R_cos with the original corpus's signature after training on "
                        f"the {labels[0]} and on the {labels[1]} corpus, one dot per seed, "
                        f"over a grey null band; right, bars of the cosine of each swapped "
                        f"token's displacement with the other token's old displacement "
                        f"({swap['exchanged']:.2f}) and with its own ({swap['same']:.2f}).")


def trajectory_panels(rows: dict, threshold: float = 0.9):
    """``rows``: label -> ``(result, key, stop)`` with ``result`` from
    :mod:`psbook.trajectory`, ``key`` the entry holding median/q1/q3 (e.g. ``"order1"``, ``"E"``)
    and ``stop`` from :func:`psbook.trajectory.holds_until`. One row of two panels per label:
    per-token cosine of predicted and actual embedding velocity (median, quartile band)
    against the training step and against the loss; the dotted line marks where the median
    first falls below ``threshold``."""
    with styled():
        n = len(rows)
        fig, axes = plt.subplots(n, 2, figsize=(9.6, 2.5 * n), constrained_layout=True,
                                 squeeze=False)
        for i, (label, (res, key, stop)) in enumerate(rows.items()):
            steps = np.asarray(res["steps"], dtype=float)
            loss = np.asarray(res["loss"], dtype=float)
            r = res[key]
            for ax, x in ((axes[i, 0], steps), (axes[i, 1], loss)):
                ax.fill_between(x, r["q1"], r["q3"], color="C0", alpha=0.25,
                                label="quartiles over tokens")
                ax.plot(x, r["median"], "-o", color="C0", ms=3.5, label="median")
                ax.axhline(threshold, color="C3", lw=0.8, ls="--", label=f"{threshold:g}")
                ax.set_ylim(-1.05, 1.05)
                ax.set_ylabel("cos(predicted, actual)")
                if stop["index"] is not None:
                    xv = stop["step"] if x is steps else stop["loss"]
                    ax.axvline(xv, color="C3", ls=":", lw=1.5,
                               label="prediction stops holding")
            axes[i, 0].set_xscale("symlog", linthresh=1)
            axes[i, 0].set_xlim(0, steps.max() * 1.3)
            axes[i, 0].set_xlabel("training step")
            axes[i, 1].set_xlabel("training loss (decreasing →)")
            axes[i, 1].invert_xaxis()
            axes[i, 0].set_title(label, loc="left")
            if i == 0:
                from matplotlib.lines import Line2D
                h, lab = axes[i, 1].get_legend_handles_labels()
                if "prediction stops holding" not in lab:
                    h.append(Line2D([], [], color="C3", ls=":", lw=1.5))
                    lab.append("prediction stops holding")
                axes[i, 1].legend(h, lab, loc="lower left")
    return set_alt(fig, f"One row per case ({'; '.join(map(str, rows))}): the per-token "
                        f"cosine of the predicted and the actual embedding velocity, median "
                        f"with a quartile band, against the training step (left) and the "
                        f"loss (right), a dotted line where the median first falls below "
                        f"{threshold:g}.")
