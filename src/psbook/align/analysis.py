"""The alignment itself: :func:`alignment` (R_cos of a model against a corpus's signature,
with its controls), :func:`alignment_over_seeds` (spreads over token subsamples) and
:func:`align` (load, count, align: what ``psbook align`` runs)."""

from __future__ import annotations

import numpy as np

from .._validate import as_token_array, check_choice
from ..cooccurrence import SIGNATURES, WEIGHTINGS, weighted_signature
from ..metrics import binned_alignment, correlation, cosine_matrix, pair_values
from .counting import CorpusCounts, count_corpus
from .reading import corpus_documents
from .result import AlignResult
from .stats import frequency_controlled_r_cos, frequency_matched_permutation, select_tokens

__all__ = ["alignment", "alignment_over_seeds", "align"]


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
                         top: int = 1000, skip: int = 100) -> dict:
    """:func:`alignment` on a random ``subsample`` of the tokens for each seed of ``seeds``.

    Returns ``{field: (mean, sd)}`` for ``r_cos``, ``r_cos_spearman``, ``r_cos_control``,
    ``r_cos_freq_shuffle``, ``r_cos_freq_controlled``, plus ``"runs"``: the AlignResults.
    The weighted signature is computed once.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed")
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
