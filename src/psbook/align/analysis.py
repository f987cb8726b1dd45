"""The alignment itself: :func:`alignment` (R_cos of a model against a corpus's signature,
with its controls), :func:`alignment_over_seeds` (spreads over token subsamples) and
:func:`align` (load, count, align: what ``psbook align`` runs)."""

from __future__ import annotations

import numpy as np

from .._validate import as_token_array, check_choice
from ..cooccurrence import SIGNATURES, WEIGHTINGS, weighted_signature
from ..metrics import binned_alignment, correlation, cosine_matrix, pair_values
from .counting import CorpusCounts, cached_counts, cached_window_counts, count_corpus
from .reading import corpus_documents
from .result import AlignResult
from .stats import (copula_null, frequency_controlled_r_cos, frequency_matched_permutation,
                    matched_count_signature, select_tokens, window_ppmi_rows)

__all__ = ["alignment", "alignment_over_seeds", "align", "alignment_grid", "grid_table",
           "disjoint_halves", "topical_placebo", "topical_margins", "group_null",
           "svd_baseline", "binned_null", "binned_table",
           "proxy_cost", "proxy_table", "online_alignment", "PYTHIA_STEPS", "sensitivity",
           "sensitivity_null", "sensitivity_table"]


def _matrix_for(model, signature: str) -> tuple[np.ndarray, str]:
    if signature == "pre" and model.W_U is not None and not model.tied:
        return model.W_U, "W_U"
    return model.W_E, "W_E"


def alignment(model, counts: CorpusCounts, signature: str = "window", weighting: str = "ppmi",
              *, alpha: float | None = 0.75, tokens=None, top: int = 1000, skip: int = 100,
              min_count: int = 5, subsample: float | None = None, seed: int = 0,
              bins: int = 8, Phi=None) -> AlignResult:
    """R_cos of ``model`` against ``counts``' weighted ``signature`` with its controls.

    ``tokens`` (ids) defaults to :func:`select_tokens` (ranks ``skip .. skip+top``);
    ``subsample`` (a fraction) keeps a random part of them (``seed``), for spreads over seeds.
    ``Phi`` may pass a precomputed :func:`~psbook.cooccurrence.weighted_signature`.
    """
    check_choice("signature", signature, set(SIGNATURES))
    check_choice("weighting", weighting, set(WEIGHTINGS))
    W, which = _matrix_for(model, signature)
    V = W.shape[0]
    if counts.unigram.size != V:
        raise ValueError(f"counts cover {counts.unigram.size} tokens but {model.name} has {V}; "
                         f"count with this model's tokenizer and vocab_size={V}")
    if tokens is None:
        tokens = select_tokens(counts.unigram, top, skip, min_count)
    t = as_token_array("tokens", tokens, V, ndim=1)
    rng = np.random.default_rng(seed)
    if subsample is not None:
        if not (0 < float(subsample) <= 1):
            raise ValueError(f"subsample must be a fraction in (0, 1]; got {subsample!r}")
        t = np.sort(rng.choice(t, size=max(3, int(round(subsample * t.size))), replace=False))
    if t.size < 3:
        raise ValueError(f"need at least 3 tokens to correlate pairs; got {t.size}")
    if Phi is None:
        Phi = weighted_signature(counts.signatures_for(signature), signature, weighting, alpha)
    S_emb = cosine_matrix(np.asarray(W[t], dtype=np.float64))
    S_sig = cosine_matrix(Phi[t])
    e, s = pair_values(S_emb), pair_values(S_sig)
    freq = counts.unigram[t].astype(np.float64)
    perm = rng.permutation(t.size)
    fperm = frequency_matched_permutation(freq, seed=seed + 1)
    ranks_all = np.argsort(np.argsort(-counts.unigram, kind="stable"), kind="stable")
    return AlignResult(
        model=model.name, corpus=counts.corpus, signature=signature, weighting=weighting,
        matrix=which, n_tokens=counts.n_tokens, n_used=int(t.size),
        ranks=(int(ranks_all[t].min()), int(ranks_all[t].max())),
        r_cos=correlation(e, s), r_cos_spearman=correlation(e, s, "spearman"),
        r_cos_control=correlation(e, pair_values(S_sig[np.ix_(perm, perm)])),
        r_cos_freq_shuffle=correlation(e, pair_values(S_sig[np.ix_(fperm, fperm)])),
        r_cos_freq_controlled=frequency_controlled_r_cos(e, s, freq),
        seed=int(seed), window=counts.window.window if signature == "window" else None,
        alpha=alpha if weighting == "ppmi" else None,
        binned=binned_alignment(e, s, bins), tokens=t)


def align(model, corpus, signature: str = "window", *, window: int = 5,
          weighting: str = "ppmi", alpha: float | None = 0.75, top: int = 1000,
          skip: int = 100, max_tokens: int | None = None, max_chars: int | None = None,
          seed: int = 0, progress: bool = True, revision: str | None = None) -> AlignResult:
    """Load ``model`` (:func:`psbook.pretrained.load`, or a loaded one), count ``corpus`` in its
    tokenizer, and return :func:`alignment` -- what ``psbook align`` prints."""
    from ..pretrained import Pretrained, load

    check_choice("signature", signature, set(SIGNATURES))
    check_choice("weighting", weighting, set(WEIGHTINGS))
    m = model if isinstance(model, Pretrained) else load(model, revision=revision)
    desc, docs = corpus_documents(corpus, max_chars)
    kind = "window" if signature == "window" else "next"
    counts = count_corpus(m.tokenizer, docs, m.vocab_size, kinds=(kind,), window=window,
                          max_tokens=max_tokens, corpus=desc, progress=progress)
    if counts.n_tokens == 0:
        raise ValueError(f"the tokenizer of {m.name} maps the corpus ({desc}) to no tokens at "
                         f"all: almost nothing of this text is in the model's vocabulary")
    return alignment(m, counts, signature, weighting, alpha=alpha, top=top, skip=skip, seed=seed)


def alignment_over_seeds(model, counts: CorpusCounts, signature: str, weighting: str, seeds,
                         *, subsample: float = 0.8, alpha: float | None = 0.75, tokens=None,
                         top: int = 1000, skip: int = 100, Phi=None) -> dict:
    """:func:`alignment` on a random ``subsample`` of the tokens for each seed of ``seeds``.

    Returns ``{field: (mean, sd)}`` for ``r_cos``, ``r_cos_spearman``, ``r_cos_control``,
    ``r_cos_freq_shuffle``, ``r_cos_freq_controlled``, plus ``"runs"``: the AlignResults.
    The weighted signature is computed once (or passed as ``Phi``).
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    if Phi is None:
        Phi = weighted_signature(counts.signatures_for(signature), signature, weighting, alpha)
    if tokens is None:
        tokens = select_tokens(counts.unigram, top, skip)
    runs = [alignment(model, counts, signature, weighting, alpha=alpha, tokens=tokens,
                      subsample=subsample, seed=s, Phi=Phi) for s in seeds]
    out = {"runs": runs}
    for f in ("r_cos", "r_cos_spearman", "r_cos_control", "r_cos_freq_shuffle",
              "r_cos_freq_controlled"):
        v = np.array([getattr(r, f) for r in runs])
        out[f] = (float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0)
    return out


# --------------------------------------------------------------------------------------
# Chapter 12's analyses, one call each (the page shows the call and its table)
# --------------------------------------------------------------------------------------

def alignment_grid(models: dict, counts: dict, signatures, seeds, *, top: int,
                   skip: int = 100, source: str = "wikipedia",
                   weightings=("raw", "ppmi")) -> dict:
    """``{(label, signature, weighting): alignment_over_seeds(...)}`` for every model of
    ``models`` (``{label: Pretrained}``) against ``counts[(label, source)]``, on the tokens
    ranked ``skip .. skip+top`` there.

    Book: chapter 12 (which signature, which weighting)."""
    grid = {}
    for name, m in models.items():
        c = counts[(name, source)]
        toks = select_tokens(c.unigram, top=top, skip=skip)
        for sig in signatures:
            for w in weightings:
                grid[(name, sig, w)] = alignment_over_seeds(m, c, sig, w, seeds, tokens=toks)
    return grid


def grid_table(grid: dict):
    """The :class:`psbook.display.Table` of an :func:`alignment_grid`: R_cos (mean ± sd over
    subsamples) beside its three controls (means).

    Book: chapter 12."""
    from ..display import Table

    rows = [{"model": n, "signature": s, "weight": w, "R_cos": t["r_cos"],
             "shuffled": t["r_cos_control"][0], "freq-shuf": t["r_cos_freq_shuffle"][0],
             "freq-ctrl": t["r_cos_freq_controlled"][0]} for (n, s, w), t in grid.items()]
    f = "+.3f"
    return Table(rows, caption="R_cos of each model with each signature, and its controls.",
                 formats={"R_cos": f, "shuffled": f, "freq-shuf": f, "freq-ctrl": f},
                 note="R_cos: mean ± sd over token subsamples; controls: means. freq-shuf: "
                      "frequency-matched shuffle; freq-ctrl: frequency-controlled R_cos.")


def sensitivity(models: dict, counts: dict, seeds, *, tops, alphas=(0.75, 1.0),
                windows=(5,), max_chars: int | None = None, shuffles: int = 0,
                shuffle_seed: int = 0, skip: int = 100, source: str = "wikipedia") -> list[dict]:
    """The window-PPMI alignment under the analyst's choices that the page fixes: how many
    tokens (``tops``: ranks ``skip .. skip + top``), the context smoothing ``alpha`` of PPMI
    (``1.0``: none) and the window width (``windows``: ±w, counted again on the same first
    ``max_chars`` characters of ``source``, cached: :func:`cached_window_counts`).

    One row per model and setting: ``R_cos`` (mean, sd over the token subsamples ``seeds``,
    the subsamples :func:`alignment_over_seeds` draws) and the frequency-matched shuffle
    (mean). With
    ``shuffles`` > 0 the strongest placebo too: the same window counted on ``shuffles`` copies
    of the text with the words shuffled within each document (seeds ``shuffle_seed``, +1, ...),
    each compared on all the tokens (``topical``: their R_cos), ``margin`` = R_cos of the real
    text on all the tokens minus the largest of them, and ``sham``: |difference| of every two
    shuffled copies -- what a margin is between two draws of the placebo
    (:func:`sensitivity_null`).

    Book: chapter 12 (how much the choices matter)."""
    if isinstance(shuffles, bool) or not isinstance(shuffles, (int, np.integer)) or shuffles < 0:
        raise ValueError(f"shuffles must be a non-negative int; got {shuffles!r}")
    if shuffles == 1:
        raise ValueError("shuffles must be 0 or at least 2 (the sham null compares two copies)")
    rows = []
    for name, m in models.items():
        base = counts[(name, source)]
        real = cached_window_counts(m, source, windows=windows, max_chars=max_chars)
        shuf = [cached_window_counts(m, source, windows=windows, max_chars=max_chars,
                                     shuffle_seed=shuffle_seed + j) for j in range(shuffles)]
        token_sets = [select_tokens(base.unigram, top=top, skip=skip) for top in tops]
        T = np.unique(np.concatenate(token_sets))       # every token of every setting, once
        E = cosine_matrix(np.asarray(m.W_E[T], dtype=np.float64))
        for w in sorted(real):
            for a in alphas:
                # the signature's cosines on T, once per text; each setting reads a block
                S = [cosine_matrix(window_ppmi_rows(c[w].window, T, a)) for c in [real] + shuf]
                for toks in token_sets:
                    pos = np.searchsorted(T, toks)
                    runs = np.array([_subsample_r_cos(E, S[0], pos, base.unigram[T], s)
                                     for s in seeds])
                    sd = float(runs[:, 0].std(ddof=1)) if len(seeds) > 1 else 0.0
                    row = {"model": name, "window": w, "tokens": len(toks), "alpha": a,
                           "R_cos": (float(runs[:, 0].mean()), sd),
                           "freq-shuf": float(runs[:, 1].mean())}
                    if shuffles:
                        e = pair_values(E[np.ix_(pos, pos)])
                        r = [correlation(e, pair_values(Sk[np.ix_(pos, pos)])) for Sk in S]
                        row.update(topical=r[1:], margin=r[0] - max(r[1:]),
                                   sham=[abs(x - y) for i, x in enumerate(r[1:])
                                         for y in r[i + 2:]])
                    rows.append(row)
    return rows


def _subsample_r_cos(E, S, pos, freq, seed: int, subsample: float = 0.8) -> tuple:
    """``(R_cos, frequency-matched shuffle)`` on the subsample of the tokens at ``pos`` that
    :func:`alignment` draws for ``seed``, read from the cosine matrices ``E`` and ``S`` of all
    the tokens (``freq``: their counts, in the same order)."""
    rng = np.random.default_rng(seed)
    k = rng.choice(pos.size, size=max(3, int(round(subsample * pos.size))), replace=False)
    p = np.sort(pos[k])     # alignment() sorts the token ids; T is sorted, so positions follow
    e = pair_values(E[np.ix_(p, p)])
    fperm = frequency_matched_permutation(np.asarray(freq, dtype=np.float64)[p], seed=seed + 1)
    Ss = S[np.ix_(p, p)]
    return (correlation(e, pair_values(Ss)),
            correlation(e, pair_values(Ss[np.ix_(fperm, fperm)])))


def sensitivity_null(rows: list[dict], q: float = 0.99) -> dict:
    """The null of :func:`sensitivity`'s ``margin``: every ``sham`` value (the |difference|
    between two within-document shuffles of the text, at every setting and model) pooled.
    Returns ``values``, ``q``, ``threshold`` (their ``q`` quantile) and ``max``.

    Book: chapter 12 (the margin's threshold, from a null computed on the page)."""
    if not 0 < float(q) < 1:
        raise ValueError(f"q must be a quantile in (0, 1); got {q!r}")
    vals = np.array([v for r in rows for v in r.get("sham", ())], dtype=float)
    if vals.size < 2:
        raise ValueError("rows carry fewer than 2 sham values: run sensitivity with shuffles >= 2")
    return {"values": vals, "q": float(q), "threshold": float(np.quantile(vals, q)),
            "max": float(vals.max())}


def sensitivity_table(rows: list[dict], *, long: bool = False):
    """The :class:`psbook.display.Table` of :func:`sensitivity`: one row per model, window
    and ``alpha``, with R_cos (mean ± sd over the token subsamples) at the middle number of
    tokens and, where the rows carry the placebo, the margin over the within-article shuffle at
    each number of tokens (``long=True``: one row per setting with every column).

    Book: chapter 12."""
    from ..display import Table

    f = "+.3f"
    if long or "margin" not in rows[0]:
        keep = ("model", "window", "tokens", "alpha", "R_cos", "freq-shuf", "topical", "margin")
        shown = [{k: (max(r[k]) if k == "topical" else r[k]) for k in keep if k in r}
                 for r in rows]
        for r in shown:
            r["window"] = f"±{r['window']}"
        return Table(shown, caption="R_cos (window PPMI) by window, number of tokens and "
                                    "smoothing alpha.",
                     formats={k: v for k, v in {"alpha": ".2f", "R_cos": f, "freq-shuf": f,
                                                "topical": f, "margin": f}.items()
                              if k in shown[0]},
                     note="R_cos: mean ± sd over token subsamples; freq-shuf: mean." + (
                         " topical: the largest R_cos of the text with words shuffled within "
                         "articles; margin: R_cos minus it, both on all the tokens."
                         if "margin" in shown[0] else ""))
    sizes = sorted({r["tokens"] for r in rows})
    mid = sizes[len(sizes) // 2]
    groups: dict = {}
    for r in rows:
        g = groups.setdefault((r["model"], r["window"], r["alpha"]),
                              {"model": r["model"], "window": f"±{r['window']}",
                               "alpha": r["alpha"]})
        if r["tokens"] == mid:
            g[f"R_cos, {mid}"] = r["R_cos"]
        g[f"margin, {r['tokens']}"] = r["margin"]
    columns = ["model", "window", "alpha", f"R_cos, {mid}", *(f"margin, {n}" for n in sizes)]
    return Table(list(groups.values()), columns, caption="The window-PPMI alignment's margin over the text shuffled "
                                "within articles, by window, smoothing alpha and number of "
                                "tokens.",
                 formats={"alpha": ".2f", f"R_cos, {mid}": f,
                          **{f"margin, {n}": f for n in sizes}},
                 note=f"R_cos at {mid} tokens: mean ± sd over token subsamples; margin: "
                      "R_cos on all the tokens minus the larger R_cos of two shuffled "
                      "copies of the text. Every column: sensitivity_table(choices, long=True).")


def disjoint_halves(models: dict, counts: dict, *, top: int, max_chars: int | None,
                    seed: int = 0, source: str = "wikipedia") -> tuple[dict, dict]:
    """``(halves, half_counts)``: for each model the window-PPMI alignment on each of two
    disjoint halves of ``source`` (alternate documents) -- ``halves[label]`` is a list of two
    ``(R_cos, frequency-matched shuffle)`` pairs, ``half_counts[label]`` the two counts -- on
    the tokens ranked 100 .. 100 + ``top`` of the whole corpus.

    Book: chapter 12 (two independent estimates)."""
    halves, half_counts = {}, {}
    for name, m in models.items():
        toks = select_tokens(counts[(name, source)].unigram, top=top, skip=100)
        halves[name], half_counts[name] = [], []
        for i in (0, 1):
            c_half = cached_counts(m, source, kinds=("window",), window=5, max_chars=max_chars,
                                   progress=False, part=(i, 2))
            r = alignment(m, c_half, "window", "ppmi", tokens=toks, seed=seed)
            halves[name].append((r.r_cos, r.r_cos_freq_shuffle))
            half_counts[name].append(c_half)
    return halves, half_counts


def topical_placebo(models: dict, counts: dict, *, top: int, max_chars: int | None,
                    seed: int = 0, source: str = "wikipedia", windows=(2, 5, 10)) -> dict:
    """``{label: R_cos}`` of each model with the ±5 window-PPMI signature counted on ``source``
    with the words shuffled within each document (:func:`shuffled_within_articles`): topic
    kept, word order gone. ``windows``: the widths counted in the same pass (those of
    :func:`sensitivity`, so that one cached counting serves both).

    Book: chapter 12 (the topical placebo)."""
    out = {}
    for name, m in models.items():
        toks = select_tokens(counts[(name, source)].unigram, top=top, skip=100)
        c_sh = cached_window_counts(m, source, windows=windows, max_chars=max_chars,
                                    shuffle_seed=seed)[5]
        out[name] = alignment(m, c_sh, "window", "ppmi", tokens=toks, seed=seed).r_cos
    return out


def topical_margins(models: dict, counts: dict, grid: dict, halves: dict, seeds, *, top: int,
                    max_chars: int | None, seed: int = 0, copies: int = 2,
                    source: str = "wikipedia", windows=(2, 5, 10), n_perm: int = 200,
                    q: float = 0.99) -> dict:
    """What each model's ±5 window-PPMI alignment beats, per subsample and half: for each
    label, ``values`` (R_cos in the subsamples of ``grid`` (:func:`alignment_grid`), then in
    the two ``halves`` (:func:`disjoint_halves`)), ``topical`` (the largest R_cos of
    ``copies`` within-article shuffles of the text, shuffle seeds ``seed``, +1, ..., on the
    same tokens: the same subsample; for a half, all the tokens of the whole shuffled text),
    ``margin`` = ``values - topical``, ``copy`` (the first copy's R_cos, read as if it were
    the text) and ``sham`` = ``copy`` minus the largest other copy (NaN for one copy): the
    placebo put through the same check; ``mantel`` = the ``q`` quantile of |R_cos| under a
    Mantel token permutation (rows and columns together, ``n_perm`` relabellings,
    :func:`psbook.metrics.mantel_r_cos`) on the first subsample's tokens.

    Book: chapter 12 (the alignment claim's nulls)."""
    from ..metrics import mantel_r_cos

    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
        raise ValueError(f"copies must be a positive int; got {copies!r}")
    if not 0 < float(q) < 1:
        raise ValueError(f"q must be a quantile in (0, 1); got {q!r}")
    seeds = list(seeds)
    out = {}
    for name, m in models.items():
        toks = select_tokens(counts[(name, source)].unigram, top=top, skip=100)
        runs = grid[(name, "window", "ppmi")]["runs"]
        # R_cos only, on the subsamples alignment() draws (_subsample_r_cos), from the cosine
        # matrices of the analysed rows: no full AlignResult per copy and subsample
        E, pos = cosine_matrix(np.asarray(m.W_E[toks], dtype=np.float64)), np.arange(toks.size)
        freq = counts[(name, source)].unigram[toks]
        sub, whole = [], []
        for j in range(copies):
            c = cached_window_counts(m, source, windows=windows, max_chars=max_chars,
                                     shuffle_seed=seed + j)[5]
            S = cosine_matrix(window_ppmi_rows(c.window, toks))
            sub.append([_subsample_r_cos(E, S, pos, freq, s)[0] for s in seeds])
            whole.append(correlation(pair_values(E), pair_values(S)))
        top_sub, top_all = np.max(sub, axis=0), max(whole)
        values = np.array([r.r_cos for r in runs] + [h[0] for h in halves[name]])
        nh = len(halves[name])
        topical = np.concatenate([top_sub, [top_all] * nh])
        copy = np.concatenate([sub[0], [whole[0]] * nh])
        others = (np.concatenate([np.max(sub[1:], axis=0), [max(whole[1:])] * nh])
                  if copies > 1 else np.full(copy.size, np.nan))
        t0 = runs[0].tokens     # the rows only: no copy of the whole vocabulary's matrices
        _, null, _ = mantel_r_cos(np.asarray(m.W_E[t0], dtype=np.float64),
                                  window_ppmi_rows(counts[(name, source)].window, t0),
                                  n_perm=n_perm, seed=seed)
        out[name] = dict(values=values, topical=topical, margin=values - topical,
                         copy=copy, sham=copy - others,
                         mantel=float(np.quantile(np.abs(null), q)))
    return out


def group_null(W, Phi, unigram, groups: dict, *, draws: int = 200, seed: int = 0,
               q: float = 0.99) -> dict:
    """The word-group check and its null. For the words of ``groups`` (``{name: ids}``):
    ``real[kind]`` = (frequency-controlled R_cos of ``W`` with the signature, the signature's
    group margin: mean within-group cosine minus between-group cosine) for ``kind``
    ``"signature"`` (``Phi``, rows = token ids) and ``"frequency-only"``
    (:func:`frequency_only_signature` of the same words); ``null[kind]``: the same two numbers
    for ``draws`` random groups of frequency-matched tokens
    (:func:`frequency_matched_groups`); ``threshold[kind]``: their ``q`` quantiles.

    Book: chapter 12 (a token group you can see)."""
    from .stats import frequency_matched_groups, frequency_only_signature

    if not 0 < float(q) < 1:
        raise ValueError(f"q must be a quantile in (0, 1); got {q!r}")
    u = np.asarray(unigram)

    def stats(g: dict) -> dict:
        ids = np.concatenate([np.asarray(v, dtype=np.int64) for v in g.values()])
        lab = np.repeat(np.arange(len(g)), [len(v) for v in g.values()])
        same = lab[:, None] == lab[None, :]
        e = pair_values(cosine_matrix(np.asarray(W[ids], dtype=np.float64)))
        rows = {"signature": Phi[ids],
                "frequency-only": frequency_only_signature(u[ids], np.arange(ids.size),
                                                           ids.size)}
        got = {}
        for kind, R in rows.items():
            S = cosine_matrix(R)
            within = [pair_values(S[np.ix_(lab == k, lab == k)]).mean() for k in range(len(g))]
            got[kind] = (frequency_controlled_r_cos(e, pair_values(S), u[ids].astype(float)),
                         float(np.mean(within) - S[~same].mean()))
        return got

    real = stats(groups)
    fake = [stats(g) for g in frequency_matched_groups(u, groups, draws=draws, seed=seed)]
    null = {kind: np.array([f[kind] for f in fake]) for kind in real}
    return dict(real=real, null=null, q=float(q),
                threshold={k: tuple(np.quantile(v, q, axis=0)) for k, v in null.items()})


def svd_baseline(model, counts: CorpusCounts, tokens, seed: int = 0) -> dict:
    """The count-factorisation baseline: the truncated SVD of the window-PPMI rows of
    ``tokens`` at the model's width. Returns ``d`` (the width used), ``svd_sig``
    (R_cos(SVD, PPMI)), ``emb_sig`` (R_cos(W_E, PPMI)) and ``emb_svd`` (R_cos(W_E, SVD)).

    Book: chapter 12 (the baseline a reviewer asks for first)."""
    from ..cooccurrence import svd_embedding
    from ..metrics import r_cos

    M = weighted_signature(counts.window, "window", "ppmi")[tokens]
    W = np.asarray(model.W_E[tokens], dtype=np.float64)
    k = min(W.shape[1], M.shape[0] - 1, M.shape[1] - 1)
    E = svd_embedding(M, k, seed=seed)
    return dict(d=k, svd_sig=r_cos(E, M), emb_sig=r_cos(W, M), emb_svd=r_cos(W, E))


def binned_null(model, counts: CorpusCounts, result: AlignResult, seed: int = 0,
                draws: int = 20) -> dict:
    """The Gaussian-copula null of ``result``'s binned alignment (window PPMI of ``counts``
    on ``result.tokens``): ``corr`` (draws x bins within-bin correlations) and ``r`` (the
    draws' mean overall correlation).

    Book: chapter 12 (where the alignment lives)."""
    Phi_w = weighted_signature(counts.window, "window", "ppmi")
    e = pair_values(cosine_matrix(np.asarray(model.W_E[result.tokens], dtype=np.float64)))
    s = pair_values(cosine_matrix(Phi_w[result.tokens]))
    nb = result.binned.corr.size
    sims = copula_null(e, s, draws=draws, seed=seed)
    corr = np.array([binned_alignment(e, d, nb).corr for d in sims])
    return dict(corr=corr, r=np.mean([np.corrcoef(e, d)[0, 1] for d in sims]))


def binned_table(results: dict, nulls: dict):
    """A :class:`psbook.display.Table`: per bin of rising embedding cosine, each model's
    within-bin correlation (``results[label]``, an AlignResult) and its null's mean
    (``nulls[label]`` from :func:`binned_null`).

    Book: chapter 12."""
    from ..display import Table

    nb = min(r.binned.corr.size for r in results.values())
    rows = []
    for b in range(nb):
        row = {"bin": b + 1}
        for name, r in results.items():
            row[f"{name} data"] = float(r.binned.corr[b])
            row[f"{name} null"] = float(nulls[name]["corr"][:, b].mean())
        rows.append(row)
    sd = max(float(n["corr"].std(0).max()) for n in nulls.values())
    overall = "; ".join(f"{k} {r.r_cos:+.2f} (null {nulls[k]['r']:+.2f})"
                        for k, r in results.items())
    return Table(rows, caption="Within-bin correlation, bins of rising embedding cosine.",
                 formats={c: "+.2f" for c in rows[0] if c != "bin"},
                 note=f"Null: Gaussian copula, sd <= {sd:.3f}. Overall r: {overall}.")


def proxy_cost(model, counts: dict, name: str, proxy: str, seeds, *, top: int,
               source: str = "wikipedia", min_count: int = 5) -> dict | None:
    """What the mismatched ``proxy`` corpus costs ``model`` (label ``name`` in ``counts``)
    on the tokens of ``source``'s set (ranks 100 .. 100 + ``top``) seen ``min_count`` times
    in the proxy too; None when fewer than 10 are.

    Returns ``n`` (shared tokens), ``matched`` / ``mismatched`` ((mean, sd) of R_cos with the
    source's / the proxy's window PPMI over subsamples), ``thinned`` (per seed: the source's
    signature thinned to the proxy's counts, :func:`matched_count_signature`),
    ``full_runs`` / ``mis_runs`` (per-seed R_cos), ``control`` (the proxy's shuffled
    control) and ``control_q99``: the 99th percentile of |R_cos| under a Mantel token
    permutation of the proxy's signature on the shared tokens (200 relabellings,
    :func:`psbook.metrics.mantel_r_cos`) -- how far from 0 a shuffle may land by chance with
    this few tokens.

    Book: chapter 12 (proxy mismatch)."""
    from ..metrics import mantel_r_cos

    wiki, other = counts[(name, source)], counts[(name, proxy)]
    base = select_tokens(wiki.unigram, top=top, skip=100)
    shared = base[other.unigram[base] >= min_count]
    if shared.size < 10:
        return None
    res = {s: alignment_over_seeds(model, counts[(name, s)], "window", "ppmi", seeds,
                                   tokens=shared) for s in [source, proxy]}
    thin = np.array([alignment(model, wiki, "window", "ppmi", tokens=shared, subsample=0.8,
                               seed=sd, Phi=matched_count_signature(wiki, other, shared, seed=sd)
                               ).r_cos for sd in seeds])
    _, null, _ = mantel_r_cos(np.asarray(model.W_E[shared], dtype=np.float64),
                              window_ppmi_rows(other.window, shared), n_perm=200,
                              seed=int(list(seeds)[0]))
    return dict(n=int(shared.size), matched=res[source]["r_cos"],
                mismatched=res[proxy]["r_cos"], thinned=thin,
                full_runs=np.array([r.r_cos for r in res[source]["runs"]]),
                mis_runs=np.array([r.r_cos for r in res[proxy]["runs"]]),
                control=res[proxy]["r_cos_control"][0],
                control_q99=float(np.quantile(np.abs(null), 0.99)))


def proxy_table(proxy: dict):
    """A :class:`psbook.display.Table` of ``{(label, proxy): proxy_cost(...)}``.

    Book: chapter 12."""
    from ..display import Table

    rows = [{"model": n, "proxy": s, "tokens": p["n"], "book": p["full_runs"].mean(),
             "thinned": p["thinned"], "proxy R_cos": p["mis_runs"], "shuffled": p["control"]}
            for (n, s), p in proxy.items() if p is not None]
    f = "+.3f"
    return Table(rows, caption="R_cos on the shared tokens: book corpus, thinned, proxy.",
                 formats={"book": f, "thinned": f, "proxy R_cos": f, "shuffled": f},
                 note="thinned: the book corpus thinned to the proxy's counts; ± sd over "
                      "subsamples; shuffled: the proxy's shuffled control.")


#: the Pythia checkpoints chapter 12 follows online
PYTHIA_STEPS = ("step0", "step512", "step2000", "step8000", "step32000", "step143000")


def online_alignment(sources, *, max_chars: int | None, top: int, steps=PYTHIA_STEPS):
    """Chapter 12's online section, or None without a network (nothing is downloaded).

    Online: R_cos of ``EleutherAI/pythia-70m-deduped`` at each checkpoint of ``steps`` with
    the next- and previous-token signatures (raw, PPMI) of ``NeelNanda/pile-10k`` (its matched
    corpus, ``10 * max_chars`` characters), then GPT-2 and Qwen2.5-0.5B (tied embeddings)
    against the tied PPMI signature of each of ``sources``. Returns one
    :class:`psbook.display.Table` of both.

    Book: chapter 12 (Pythia over its training, GPT-2 and Qwen2.5 against proxies)."""
    from ..corpus import is_online
    from ..display import Table
    from ..pretrained import load

    if not is_online(verbose=False):
        return None
    pythia = "EleutherAI/pythia-70m-deduped"
    p0 = load(pythia, revision=steps[-1])
    desc, docs = corpus_documents("hf:NeelNanda/pile-10k", max_chars=10 * max_chars
                                  if max_chars else None)
    pile = count_corpus(p0.tokenizer, docs, p0.vocab_size, kinds=("next",), corpus=desc)
    toks = select_tokens(pile.unigram, top=top, skip=100)
    rows = []
    for step in steps:
        p = load(pythia, revision=step)
        for s in ("next", "pre"):
            for w in ("raw", "ppmi"):
                rows.append({"model": "pythia-70m", "data": f"pile-10k, {step}",
                             "signature": f"{s}/{w}",
                             "R_cos": alignment(p, pile, s, w, tokens=toks).r_cos,
                             "shuffled": None})
    for name in ("gpt2", "Qwen/Qwen2.5-0.5B"):
        m = load(name)
        for src in sources:
            c = cached_counts(m, src, kinds=("next",), max_chars=max_chars)
            r = alignment(m, c, "tied", "ppmi", top=top, skip=100)
            rows.append({"model": name.split("/")[-1], "data": src, "signature": "tied/ppmi",
                         "R_cos": r.r_cos, "shuffled": r.r_cos_control})
    return Table(rows, caption="Online: Pythia over its training; tied models against proxies.",
                 formats={"R_cos": "+.3f", "shuffled": "+.3f"})
