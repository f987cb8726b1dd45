"""Token streams of a corpus and their next-token signatures, counted in shards.

* :func:`token_stream` -- one int64 array of token ids per document, ``max_tokens`` in all.
* :func:`count_signatures` -- :class:`~psbook.signatures.NextTokenSignatures` of a corpus,
  counted shard by shard (documents never straddle a shard, so the merge is exact) with
  bounded memory; cached through :func:`psbook.cache.load_or_compute`.
* :func:`named_token_sets` -- the digits, months and weekdays the tokenizer has as tokens.
* :func:`top_next` -- the most probable next tokens of a token, readable.
"""

from __future__ import annotations

import math
import time
from typing import Iterator

import numpy as np

from .._validate import check_choice, check_positive_int
from ..cache import load_or_compute
from ..progress import progress_bar
from ..signatures import NextTokenSignatures, next_token_signatures
from .arithmetic import MONTHS, WEEKDAYS
from .sources import describe_source, documents, source_key

__all__ = ["token_stream", "iter_token_docs", "count_signatures", "split_signatures",
           "named_token_sets",
           "top_next", "frequent_tokens", "DIGITS", "MONTHS", "WEEKDAYS"]

DIGITS = [str(d) for d in range(10)]
_BATCH_DOCS = 32


def _check_tokenizer(tokenizer) -> None:
    for attr in ("encode", "vocab_size", "name"):
        if not hasattr(tokenizer, attr):
            raise TypeError(f"tokenizer must have encode(), vocab_size and name (see "
                            f"psbook.corpus.get_tokenizer); got {type(tokenizer).__name__} "
                            f"without {attr!r}")


def _tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what the tokenizer maps text to: its ``fingerprint`` attribute (psbook's
    tokenizers hash their vocabulary and merges), else its vocabulary list, else -- weakest --
    the ids it gives a fixed probe text. Two tokenizers with the same ``name`` but other
    files get different keys."""
    from ..cache import fingerprint
    fp = getattr(tokenizer, "fingerprint", None)
    if isinstance(fp, str) and fp:
        return fp
    vocab = getattr(tokenizer, "id_to_token", None)
    if isinstance(vocab, (list, tuple)):
        return fingerprint([str(t) for t in vocab])
    probe = "The 12 months: January, February; 3 + 4 = 7. def f(x): return x\n"
    return fingerprint([int(tokenizer.vocab_size), np.asarray(tokenizer.encode(probe))])


def source_fingerprint(source: str) -> str:
    """``describe_source(source)`` plus, for a local folder, the name, size and modification
    time of each of its ``.txt`` files: editing or replacing the corpus changes the key."""
    import re
    from pathlib import Path
    from ..cache import fingerprint
    desc = source_key(source)
    m = re.search(r"local folder (.+?) \(\d+ \.txt file", desc)
    files = []
    if m and Path(m.group(1)).is_dir():
        root = Path(m.group(1))
        for p in sorted(root.rglob("*.txt")):
            st = p.stat()
            files.append([p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return fingerprint([desc, files])


_source_fingerprint = source_fingerprint   # the name used inside psbook.corpus


def iter_token_docs(source: str, tokenizer, max_tokens: int) -> Iterator[np.ndarray]:
    """Stream the token ids of ``source``'s documents, ``max_tokens`` in all (the last
    document is cut). Empty documents are skipped."""
    _check_tokenizer(tokenizer)
    budget = check_positive_int("max_tokens", max_tokens)
    encode = getattr(tokenizer, "encode_batch", None) or (
        lambda texts: [tokenizer.encode(t) for t in texts])

    def encoded_batches(docs):
        """Documents encoded _BATCH_DOCS at a time (the fast batch path of HF tokenizers)."""
        batch: list[str] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) == _BATCH_DOCS:
                yield encode(batch)
                batch = []
        if batch:
            yield encode(batch)

    docs = documents(source)
    try:
        for encoded in encoded_batches(docs):
            for ids in encoded:
                if ids.size:
                    ids = ids[:budget]
                    budget -= ids.size
                    yield ids
                if budget <= 0:
                    return
    finally:
        docs.close()


def token_stream(source: str, tokenizer, max_tokens: int) -> list[np.ndarray]:
    """Token ids of ``source`` (one array per document), at most ``max_tokens`` in all.

    Cached by (the corpus actually used, tokenizer name, max_tokens). Fewer tokens come back
    when the corpus is shorter.
    """
    _check_tokenizer(tokenizer)
    check_positive_int("max_tokens", max_tokens)
    cfg = {"source": source_key(source), "tokenizer": tokenizer.name,
           "max_tokens": int(max_tokens), "data": source_fingerprint(source),
           "tokenizer_fingerprint": _tokenizer_fingerprint(tokenizer)}
    return load_or_compute("token_stream", cfg,
                           lambda: list(iter_token_docs(source, tokenizer, max_tokens)))


def count_signatures(source: str, tokenizer, max_tokens: int, shards: int = 4, *,
                     verbose: bool = True) -> NextTokenSignatures:
    """Next-token signatures of the first ``max_tokens`` tokens of ``source``.

    The stream is cut into ``shards`` shards of about ``max_tokens / shards`` tokens (at
    document boundaries), each counted with :func:`psbook.signatures.next_token_signatures`
    and merged with :meth:`NextTokenSignatures.merge`; memory holds one shard at a time.
    The result carries ``n_tokens``, ``n_docs``, ``seconds`` (time to count) and ``source``
    (the corpus actually used). Cached by the full configuration.
    """
    _check_tokenizer(tokenizer)
    max_tokens = check_positive_int("max_tokens", max_tokens)
    shards = check_positive_int("shards", shards)
    cfg = {"source": source_key(source), "tokenizer": tokenizer.name,
           "vocab_size": tokenizer.vocab_size, "max_tokens": max_tokens, "shards": shards, "data": source_fingerprint(source),
           "tokenizer_fingerprint": _tokenizer_fingerprint(tokenizer)}

    def compute():
        t0 = time.perf_counter()
        V = int(tokenizer.vocab_size)
        shard_size = math.ceil(max_tokens / shards)
        total, buf, n_buf, n_tok, n_docs = None, [], 0, 0, 0
        bar = progress_bar(total=max_tokens, desc=f"counting {source}", unit="tok",
                           enabled=verbose)
        for ids in iter_token_docs(source, tokenizer, max_tokens):
            buf.append(ids)
            n_buf += ids.size
            n_tok += ids.size
            n_docs += 1
            bar.update(ids.size)
            if n_buf >= shard_size:
                part = next_token_signatures(buf, V)
                total = part if total is None else total.merge(part)
                buf, n_buf = [], 0
        if buf:
            part = next_token_signatures(buf, V)
            total = part if total is None else total.merge(part)
        bar.close()
        if total is None:
            raise ValueError(f"source {source!r} produced no tokens")
        return {"counts": total.counts, "n_tokens": n_tok, "n_docs": n_docs,
                "seconds": time.perf_counter() - t0}

    out = load_or_compute("corpus_signatures", cfg, compute, verbose=verbose)
    sigs = NextTokenSignatures(out["counts"])
    sigs.n_tokens, sigs.n_docs, sigs.seconds, sigs.source = (
        out["n_tokens"], out["n_docs"], out["seconds"], describe_source(source))
    return sigs


def signature_table(sigs_by_source: dict):
    """A :class:`psbook.display.Table` of what :func:`count_signatures` counted for each
    source: tokens, documents, distinct bigrams and the counting time.

    Book: chapter 09 (next-token signatures)."""
    from ..display import Table
    rows = [{"corpus": src, "tokens": s.n_tokens, "documents": s.n_docs,
             "distinct bigrams": s.counts.nnz, "counting time (s)": float(s.seconds)}
            for src, s in sigs_by_source.items()]
    return Table(rows, caption="Bigram counts of each corpus",
                 formats={"tokens": ",d", "documents": ",d", "distinct bigrams": ",d",
                          "counting time (s)": ".1f"},
                 note="counting time: as measured when the counts were made (they are cached)")


def split_signatures(source: str, tokenizer, max_tokens: int, parts: int = 2, *,
                     verbose: bool = True) -> list[NextTokenSignatures]:
    """Signatures of ``parts`` disjoint halves (thirds, ...) of the same ``max_tokens`` tokens:
    document ``k`` goes to part ``k % parts``. Comparing the parts measures how much of a
    difference between two corpora is mere sampling noise. Cached."""
    _check_tokenizer(tokenizer)
    max_tokens = check_positive_int("max_tokens", max_tokens)
    parts = check_positive_int("parts", parts, minimum=2)
    cfg = {"source": source_key(source), "tokenizer": tokenizer.name,
           "vocab_size": tokenizer.vocab_size, "max_tokens": max_tokens, "parts": parts,
           "data": source_fingerprint(source),
           "tokenizer_fingerprint": _tokenizer_fingerprint(tokenizer)}

    def compute():
        V = int(tokenizer.vocab_size)
        flush_at = max(1, max_tokens // (4 * parts))
        totals = [None] * parts
        bufs = [[] for _ in range(parts)]
        sizes = [0] * parts

        def flush(j):
            if bufs[j]:
                part = next_token_signatures(bufs[j], V)
                totals[j] = part if totals[j] is None else totals[j].merge(part)
                bufs[j], sizes[j] = [], 0

        for k, ids in enumerate(iter_token_docs(source, tokenizer, max_tokens)):
            j = k % parts
            bufs[j].append(ids)
            sizes[j] += ids.size
            if sizes[j] >= flush_at:
                flush(j)
        for j in range(parts):
            flush(j)
        if any(t is None for t in totals):
            raise ValueError(f"source {source!r} has fewer than parts={parts} documents within "
                             f"max_tokens={max_tokens}")
        return [t.counts for t in totals]

    counts = load_or_compute("corpus_split_signatures", cfg, compute, verbose=verbose)
    return [NextTokenSignatures(c) for c in counts]


def _single_token(tokenizer, form: str) -> int | None:
    ids = tokenizer.encode(form)
    if ids.size != 1:
        return None
    unk = getattr(tokenizer, "unk_id", None)
    if unk is not None and int(ids[0]) == unk:
        return None
    return int(ids[0])


def named_token_sets(tokenizer) -> dict[str, list[int]]:
    """Token ids of ``"digits"`` (0-9), ``"months"`` and ``"weekdays"``, in natural order.

    A word is kept when one of its forms is a single token. Forms tried, first match wins:
    for months and weekdays the **leading-space form** ``" January"`` (how a word appears
    inside a sentence in byte-level BPE), then the bare ``"January"``; for digits the
    **bare form** ``"7"`` first (Qwen2.5's pre-tokeniser, and our BPE's, split every number
    into single digits and the space into its own token), then ``" 7"``. For the word-level
    tokenizer both forms are the same word. Words with no single-token form are skipped,
    so a list may be shorter than 10 / 12 / 7; :func:`named_token_labels`-style readable
    labels are ``tokenizer.id_to_token(i)``.
    """
    _check_tokenizer(tokenizer)
    out = {}
    for key, words, space_first in (("digits", DIGITS, False), ("months", MONTHS, True),
                                    ("weekdays", WEEKDAYS, True)):
        ids = []
        for w in words:
            forms = [" " + w, w] if space_first else [w, " " + w]
            for f in forms:
                t = _single_token(tokenizer, f)
                if t is not None:
                    ids.append(t)
                    break
        out[key] = ids
    return out


def top_next(sigs: NextTokenSignatures, tokenizer, token: int, k: int = 5,
             which: str = "phi_next") -> list[tuple[str, float]]:
    """The ``k`` largest entries of row ``token`` of ``sigs.<which>`` as (readable token, prob)."""
    check_choice("which", which, {"phi_next", "varphi_pre", "tied"})
    k = check_positive_int("k", k)
    row = sigs.dense(which, [int(token)])[0]
    idx = np.argsort(-row, kind="stable")[:k]
    return [(tokenizer.id_to_token(int(i)), float(row[i])) for i in idx if row[i] > 0]


def frequent_tokens(sigs: NextTokenSignatures, k: int) -> np.ndarray:
    """Ids of the ``k`` most frequent tokens (as the first token of a bigram)."""
    k = check_positive_int("k", k)
    return np.argsort(-sigs.r_in, kind="stable")[: min(k, int((sigs.r_in > 0).sum()))]
