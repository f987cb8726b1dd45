"""Counting a corpus in a model's tokenizer: :class:`CorpusCounts`, :func:`count_corpus` (one
streaming pass, bounded memory) and :func:`cached_counts` (the same through the cache)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from .._validate import check_choice, check_positive_int
from ..cooccurrence import SIGNATURES, PairCounter, WindowSignatures, add_unigram
from ..progress import progress_bar
from ..signatures import NextTokenSignatures
from .reading import corpus_documents, corpus_fingerprint

__all__ = ["CorpusCounts", "count_corpus", "cached_counts", "count_sources", "count_windows",
           "cached_window_counts"]


@dataclass
class CorpusCounts:
    """What one streaming pass over a corpus counted (in a model's token ids)."""

    corpus: str
    tokenizer: str
    unigram: np.ndarray                           # occurrences of each token
    next: NextTokenSignatures | None = None       # bigram counts (next / pre / tied)
    window: WindowSignatures | None = None        # ±k window counts
    n_docs: int = 0

    @property
    def n_tokens(self) -> int:
        return int(self.unigram.sum())

    def signatures_for(self, signature: str):
        check_choice("signature", signature, set(SIGNATURES))
        got = self.window if signature == "window" else self.next
        if got is None:
            need = "'window'" if signature == "window" else "'next'"
            raise ValueError(f"signature {signature!r} needs counts of kind {need}; these counts "
                             f"hold {[k for k in ('next', 'window') if getattr(self, k)]}")
        return got



def count_corpus(tokenizer, docs: Iterable[str], vocab_size: int | None = None, *,
                 kinds=("next",), window: int = 5, max_tokens: int | None = None,
                 corpus: str = "", batch_docs: int = 64, chunk_pairs: int = 1 << 23,
                 progress: bool = True) -> CorpusCounts:
    """Tokenize ``docs`` with ``tokenizer`` (``encode_batch`` when it has one) and count them.

    ``kinds`` lists what to count: ``"next"`` (bigrams: the next / pre / tied signatures)
    and/or ``"window"`` (symmetric ±``window``). One pass, streaming: memory is the count
    matrices plus about ``chunk_pairs`` buffered pairs, whatever the corpus length.
    ``max_tokens`` stops after that many tokens (the last document cut).
    """
    kinds = tuple(kinds)
    if not kinds or any(k not in ("next", "window") for k in kinds):
        raise ValueError(f"kinds must be a non-empty subset of ('next', 'window'); got {kinds!r}")
    V = int(vocab_size if vocab_size is not None else tokenizer.vocab_size)
    V = check_positive_int("vocab_size", V)
    k = check_positive_int("window", window)
    budget = None if max_tokens is None else check_positive_int("max_tokens", max_tokens)
    # The bigram counts are the offset-1 part of the window counts: count them once. Without
    # "next", one counter takes every offset 1..k (one sort of the pairs, no matrix sum).
    first = 2 if "next" in kinds else 1
    bands = [(1,)] if "next" in kinds else []
    if "window" in kinds and k >= first:
        bands.append(range(first, k + 1))
    unigram, n_docs, got = _count_bands(tokenizer, docs, V, bands, budget=budget,
                                        batch_docs=batch_docs, chunk_pairs=chunk_pairs,
                                        progress=progress, corpus=corpus)
    B = got[0] if "next" in kinds else None
    out = CorpusCounts(corpus, getattr(tokenizer, "name", type(tokenizer).__name__), unigram,
                       n_docs=n_docs)
    if "next" in kinds:
        out.next = NextTokenSignatures(B)
    if "window" in kinds:
        rest = got[-1] if len(got) > ("next" in kinds) else None
        S = B if rest is None else rest if B is None else sp.csr_matrix(B + rest)
        out.window = WindowSignatures(S, unigram.copy(), k)
    return out


def count_windows(tokenizer, docs: Iterable[str], vocab_size: int | None = None, *,
                  windows=(2, 5, 10), corpus: str = "", batch_docs: int = 64,
                  chunk_pairs: int = 1 << 23, progress: bool = False) -> dict:
    """``{w: CorpusCounts}``: the symmetric ±``w`` window counts of ``docs`` for every ``w`` of
    ``windows``, from one tokenization and one pass (each band of offsets between two widths
    is counted once; a wider window adds the next band). Each entry equals
    ``count_corpus(..., kinds=("window",), window=w)``.

    Book: chapter 12 (the window width as an analyst's choice)."""
    ws = _window_list(windows)
    V = check_positive_int("vocab_size", int(vocab_size if vocab_size is not None
                                             else tokenizer.vocab_size))
    unigram, n_docs, got = _count_bands(
        tokenizer, docs, V, [range(lo + 1, hi + 1) for lo, hi in zip([0] + ws[:-1], ws)],
        batch_docs=batch_docs, chunk_pairs=chunk_pairs, progress=progress, corpus=corpus)
    name = getattr(tokenizer, "name", type(tokenizer).__name__)
    out, S = {}, None
    for w, band in zip(ws, got):
        S = band if S is None else sp.csr_matrix(S + band)
        out[w] = CorpusCounts(corpus, name, unigram, n_docs=n_docs,
                              window=WindowSignatures(S, unigram.copy(), w))
    return out


def _window_list(windows) -> list[int]:
    """The distinct widths of ``windows``, sorted; ValueError naming ``windows`` otherwise."""
    try:
        ws = sorted({int(w) for w in windows if float(w).is_integer()
                     and not isinstance(w, bool)})
        ok = bool(ws) and ws[0] >= 1 and len(ws) == len(set(windows))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"windows must list distinct positive ints; got {windows!r}")
    return ws


def _count_bands(tokenizer, docs, V: int, bands, *, budget: int | None = None,
                 batch_docs: int = 64, chunk_pairs: int = 1 << 23, progress: bool = False,
                 corpus: str = "") -> tuple:
    """``(unigram, n_docs, counts)``: one streaming pass of :func:`_count_stream` over
    ``docs`` with one :class:`~psbook.cooccurrence.PairCounter` per entry of ``bands`` (each an
    iterable of offsets); ``counts[i]`` is the count matrix of the offsets ``bands[i]``. The
    one loop behind :func:`count_corpus` and :func:`count_windows`."""
    counters = [PairCounter(V, offs, chunk_pairs=chunk_pairs) for offs in bands]
    unigram = np.zeros(V, dtype=np.int64)
    bar = progress_bar(total=budget, desc=f"counting {corpus or 'corpus'}", unit="tok",
                       enabled=progress, unit_scale=True)
    try:
        n_docs = _count_stream(tokenizer, docs, V, budget, batch_docs, unigram, counters, bar)
    finally:
        bar.close()
    return unigram, n_docs, [c.counts() for c in counters]


def _count_stream(tokenizer, docs, V: int, budget: int | None, batch_docs: int,
                  unigram: np.ndarray, counters: list, bar) -> int:
    """The pass of :func:`count_corpus`: tokenize ``docs`` ``batch_docs`` at a time, add each
    document's ids to ``unigram`` and every pair counter, stop after ``budget`` tokens.
    Returns the number of documents counted."""
    encode = getattr(tokenizer, "encode_batch", None) or (
        lambda texts: [np.asarray(tokenizer(t)) for t in texts])
    n_docs = 0
    docs = iter(docs)
    while budget is None or budget > 0:
        batch = list(itertools.islice(docs, batch_docs))
        if not batch:
            break
        for ids in encode(batch):
            ids = np.asarray(ids, dtype=np.int64)
            if budget is not None:
                ids = ids[:budget]
                budget -= ids.size
            if ids.size == 0:
                continue
            if ids.min() < 0 or ids.max() >= V:
                raise ValueError(f"the tokenizer returned ids outside [0, {V}); is "
                                 f"vocab_size={V} the model's embedding size?")
            n_docs += 1
            add_unigram(unigram, ids)
            for c in counters:
                c.add(ids)
            bar.update(ids.size)
            if budget is not None and budget <= 0:
                break
    return n_docs


def cached_counts(model, corpus, *, kinds=("next", "window"), window: int = 5,
                  max_chars: int | None = None, max_tokens: int | None = None,
                  progress: bool = True, verbose: bool = False, part=None) -> CorpusCounts:
    """:func:`count_corpus` of ``corpus`` in ``model``'s tokenizer, through
    :func:`psbook.cache.load_or_compute` (keyed by model, the corpus actually used and a hash
    of its content, sizes).
    ``part=(i, n)`` counts only the documents whose index is ``i`` modulo ``n`` (of the same
    ``max_chars`` of text): ``(0, 2)`` and ``(1, 2)`` split the corpus into disjoint halves."""
    from ..cache import load_or_compute

    desc, docs = corpus_documents(corpus, max_chars)
    if part is not None:
        try:
            i, n = (int(x) for x in part)
        except (TypeError, ValueError):
            raise ValueError(f"part must be a pair (i, n) with 0 <= i < n; got {part!r}") from None
        if not 0 <= i < n:
            raise ValueError(f"part must be a pair (i, n) with 0 <= i < n; got {part!r}")
        docs = (d for k, d in enumerate(docs) if k % n == i)
        desc = f"{desc} [documents {i} mod {n}]"
    # keyed on the corpus's *content*, not only its description: an edited file is recounted
    cfg = dict(model=model.name, vocab=model.vocab_size, corpus=desc, kinds=list(kinds),
               window=window, max_chars=max_chars, max_tokens=max_tokens,
               data=corpus_fingerprint(corpus))

    def compute():
        return count_corpus(model.tokenizer, docs, model.vocab_size, kinds=kinds, window=window,
                            max_tokens=max_tokens, corpus=desc, progress=progress)

    return load_or_compute("align_counts", cfg, compute, verbose=verbose)



def cached_window_counts(model, corpus, *, windows=(2, 5, 10), max_chars: int | None = None,
                         shuffle_seed: int | None = None) -> dict:
    """``{w: CorpusCounts}``: :func:`count_windows` of ``corpus`` (its first ``max_chars``
    characters) in ``model``'s tokenizer, through :func:`psbook.cache.load_or_compute`.
    ``shuffle_seed``: count instead each document with its words shuffled
    (:func:`~psbook.align.reading.shuffled_within_articles`, the topical placebo).

    Book: chapter 12 (the window width, and the within-article shuffle at each width)."""
    from ..cache import load_or_compute
    from .reading import shuffled_within_articles

    if shuffle_seed is not None and (isinstance(shuffle_seed, bool)
                                     or not isinstance(shuffle_seed, (int, np.integer))):
        raise ValueError(f"shuffle_seed must be an int or None; got {shuffle_seed!r}")
    ws = _window_list(windows)
    desc, docs = corpus_documents(corpus, max_chars)
    if shuffle_seed is not None:
        docs = shuffled_within_articles(docs, int(shuffle_seed))
        desc = f"{desc} [words shuffled within documents, seed {int(shuffle_seed)}]"
    cfg = dict(model=model.name, vocab=model.vocab_size, corpus=desc, windows=ws,
               max_chars=max_chars, data=corpus_fingerprint(corpus))

    def compute():
        got = count_windows(model.tokenizer, docs, model.vocab_size, windows=ws, corpus=desc)
        return {str(w): c for w, c in got.items()}

    got = load_or_compute("align_counts", cfg, compute, verbose=False)
    return {int(w): c for w, c in got.items()}


def count_sources(models: dict, sources, *, max_chars: int | None = None,
                  kinds=("next", "window"), window: int = 5) -> dict:
    """``{(label, source): CorpusCounts}``: :func:`cached_counts` of every source in every
    model's tokenizer (``models``: ``{label: Pretrained}``), without progress bars.

    Book: chapter 12 (signatures counted in each model's own tokenizer)."""
    return {(name, src): cached_counts(m, src, kinds=kinds, window=window,
                                       max_chars=max_chars, progress=False)
            for name, m in models.items() for src in sources}
