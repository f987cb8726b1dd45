r"""Does a corpus's signature predict a published model's embedding geometry? (``psbook align``)

The analysis of chapter 12, for any model and corpus:

1. :func:`corpus_documents` -- the text: a folder of ``.txt`` files, one text file, a
   :mod:`psbook.corpus` source name (``wikipedia``, ``code``, ``math``, ``local:NAME``, ...)
   or, online, a ``datasets`` name (``hf:NAME`` or ``NAME``; the ``text`` column, streamed).
2. :func:`count_corpus` -- tokenized with the model's own tokenizer and counted in one
   streaming pass with bounded memory (unigram, bigram and/or ±k window counts).
3. :func:`alignment` -- over a set of tokens (by default those ranked ``skip .. skip+top`` by
   frequency: the most frequent function words excluded), R_cos (Pearson and Spearman) of
   the embedding (``W_E``; ``W_U`` for the previous-token signature when the model has an
   untied one) against the weighted signature, with three controls:

   * **shuffled**: signature rows permuted at random among the tokens (seeded) -- R_cos ~ 0;
   * **frequency-matched shuffle**: rows permuted only among tokens of similar frequency --
     what frequency alone explains;
   * **frequency-controlled** R_cos: the partial correlation of the pair cosines after
     regressing both on the pair's log-frequencies (:func:`frequency_controlled_r_cos`);

   and the binned alignment (:func:`psbook.metrics.binned_alignment`).

:func:`align` runs all three steps; ``psbook align`` (:mod:`psbook.cli`) prints its table.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from ._validate import as_token_array, check_choice, check_positive_int
from .cooccurrence import (SIGNATURES, WEIGHTINGS, PairCounter, WindowSignatures,
                           add_unigram, weighted_signature)
from .metrics import BinnedAlignment, binned_alignment, correlation, cosine_matrix, pair_values
from .progress import progress_bar
from .signatures import NextTokenSignatures

__all__ = ["corpus_documents", "CorpusCounts", "count_corpus", "select_tokens",
           "frequency_matched_permutation", "frequency_controlled_r_cos", "AlignResult",
           "alignment", "align", "cached_counts", "alignment_over_seeds", "corpus_fingerprint"]

_BLOCK_CHARS = 1 << 20                      # a plain text file is read in ~1 MB documents
_WIKI_HEADING = re.compile(r"^ = [^=].* = $", re.MULTILINE)


# --------------------------------------------------------------------------------------
# 1. Text
# --------------------------------------------------------------------------------------


def _suggest_encoding(data: bytes) -> tuple[str, str | None]:
    """A guess at what bytes that are not UTF-8 are: (words, iconv encoding name or None)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32 (it starts with a UTF-32 byte-order mark)", "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 (it starts with a UTF-16 byte-order mark)", "utf-16"
    head = data[:4096]
    if b"\0" in head:
        if max(head[1::2].count(b"\0"), head[0::2].count(b"\0")) > len(head) // 4:
            return "UTF-16 (every other byte is 0)", "utf-16"
        return "a binary file, not text (it holds NUL bytes)", None
    return "Latin-1 / Windows-1252 text", "cp1252"


def _not_utf8(path: Path, exc: UnicodeDecodeError | None = None) -> ValueError:
    """The ValueError for a corpus file that is not UTF-8: which file, at which byte, and
    the encoding it probably is."""
    data = path.read_bytes()
    try:                             # the absolute offset of the first bad byte
        data.decode("utf-8")
        bad = exc.start if exc is not None else data.find(b"\0")
    except UnicodeDecodeError as e:
        bad = e.start
    guess, enc = _suggest_encoding(data)
    fix = (f"convert it (iconv -f {enc} -t utf-8 {path.name} > {path.stem}-utf8.txt) or "
           f"remove it" if enc else "remove it from the corpus")
    what = "a NUL byte" if data[bad] == 0 else f"undecodable byte 0x{data[bad]:02x}"
    return ValueError(f"corpus file {path} is not UTF-8 text: {what} at byte {bad}; it looks "
                      f"like {guess}: {fix}")


def _file_documents(path: Path) -> Iterator[str]:
    """A text file as documents: WikiText articles, else blocks of ~1 MB cut at line ends.
    The file must be UTF-8 (ValueError naming the file, the byte and a likely encoding)."""
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            head = f.read(20000)
            if "\0" in head:        # valid UTF-8 but not text: UTF-16 without a BOM, binary
                raise _not_utf8(path)
            f.seek(0)
            wiki = bool(_WIKI_HEADING.search(head))
            cur, size = [], 0
            for line in f:
                if wiki and _WIKI_HEADING.match(line.rstrip("\n")) and any(s.strip() for s in cur):
                    yield "".join(cur)
                    cur, size = [], 0
                cur.append(line)
                size += len(line)
                if not wiki and size >= _BLOCK_CHARS:
                    yield "".join(cur)
                    cur, size = [], 0
            if any(s.strip() for s in cur):
                yield "".join(cur)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _corpus_files(p: Path) -> list[Path]:
    """The non-empty ``.txt`` *files* of folder ``p`` (a folder named ``x.txt`` is not one:
    its own ``.txt`` files count, the folder itself is skipped)."""
    return sorted(f for f in p.rglob("*.txt") if f.is_file() and f.stat().st_size > 0)


def _files_fingerprint(files: list[Path], root: Path) -> str:
    """SHA-256 over the files' names, sizes and contents: editing, appending to or replacing a
    corpus file changes it (a cached count keyed on it is never stale)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() if f != root else f.name.encode())
        h.update(b"\0%d\0" % f.stat().st_size)
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def corpus_fingerprint(corpus) -> str:
    """What a cache key of counts of ``corpus`` must hold besides its description: a hash of
    the content of a file or folder corpus (see :func:`_files_fingerprint`), the names, sizes
    and dates of a ``local:`` corpus's files, or the description for a remote dataset."""
    from .corpus.streams import source_fingerprint
    name = str(corpus).strip()
    p = Path(name).expanduser()
    if p.is_dir():
        return _files_fingerprint(_corpus_files(p), p)
    if p.is_file():
        return _files_fingerprint([p], p)
    try:
        return source_fingerprint(name)
    except Exception:       # a datasets name: its description is all we have offline
        return name


def _hf_documents(name: str) -> Iterator[str]:
    import datasets

    ds = datasets.load_dataset(name, split="train", streaming=True)
    for row in ds:
        text = row.get("text") or ""
        if text.strip():
            yield text


def corpus_documents(corpus, max_chars: int | None = None) -> tuple[str, Iterator[str]]:
    """``(description, documents)`` of ``corpus`` (see the module docstring), at most
    ``max_chars`` characters in all. Raises ValueError naming what was expected."""
    from .corpus import sources
    from .corpus import is_online, network_reason

    if max_chars is not None:
        max_chars = check_positive_int("max_chars", max_chars)
    if not isinstance(corpus, (str, Path)) or not str(corpus).strip():
        raise TypeError(f"corpus must be a folder of .txt files, a text file, a psbook corpus "
                        f"name or a datasets name; got {corpus!r}")
    name = str(corpus).strip()
    p = Path(name).expanduser()
    if p.is_dir():
        files = _corpus_files(p)
        if not files:
            raise ValueError(f"corpus folder {p} holds no non-empty .txt file")
        desc = f"folder {p} ({len(files)} .txt file{'s' if len(files) != 1 else ''})"
        docs = itertools.chain.from_iterable(_file_documents(f) for f in files)
    elif p.is_file():
        if p.stat().st_size == 0:
            raise ValueError(f"corpus file {p} is empty")
        desc, docs = f"file {p}", _file_documents(p)
    elif name in sources.PILE_SUBSETS or name in ("stdlib", "arithmetic", "pydoc") or \
            name.startswith(("local:", "pile:")):
        return sources.describe_source(name), sources.documents(name, max_chars)
    else:
        hf = name[3:] if name.startswith("hf:") else name
        if "/" in name and not name.startswith("hf:") and (name.startswith((".", "/", "~"))):
            raise ValueError(f"corpus {name!r}: no such file or folder")
        if not is_online(verbose=False):
            raise ValueError(f"corpus {name!r} is not a file, a folder or a psbook corpus name "
                             f"({', '.join(sources.valid_sources())}), and a datasets name needs "
                             f"the network, which is off ({network_reason()})")
        try:
            import datasets  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"corpus {name!r} looks like a datasets name; that needs "
                             f"`datasets`: pip install 'psbook[online]'") from exc
        desc, docs = f"datasets {hf} (train split, streamed)", _hf_documents(hf)
    return desc, _limit(docs, max_chars)


def _limit(docs: Iterator[str], max_chars: int | None) -> Iterator[str]:
    total = 0
    for d in docs:
        if max_chars is not None and total + len(d) >= max_chars:
            if max_chars - total > 0:
                yield d[: max_chars - total]
            return
        total += len(d)
        yield d


# --------------------------------------------------------------------------------------
# 2. Counting
# --------------------------------------------------------------------------------------


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
    encode = getattr(tokenizer, "encode_batch", None) or (
        lambda texts: [np.asarray(tokenizer(t)) for t in texts])
    # The bigram counts are the offset-1 part of the window counts: count them once. Without
    # "next", one counter takes every offset 1..k (one sort of the pairs, no matrix sum).
    c1 = PairCounter(V, (1,), chunk_pairs=chunk_pairs) if "next" in kinds else None
    first = 1 if c1 is None else 2
    crest = PairCounter(V, range(first, k + 1), chunk_pairs=chunk_pairs) \
        if "window" in kinds and k >= first else None
    unigram = np.zeros(V, dtype=np.int64)
    n_docs = 0
    bar = progress_bar(total=budget, desc=f"counting {corpus or 'corpus'}", unit="tok",
                       enabled=progress, unit_scale=True)
    try:
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
                if c1 is not None:
                    c1.add(ids)
                if crest is not None:
                    crest.add(ids)
                bar.update(ids.size)
                if budget is not None and budget <= 0:
                    break
    finally:
        bar.close()
    B = c1.counts() if c1 is not None else None
    out = CorpusCounts(corpus, getattr(tokenizer, "name", type(tokenizer).__name__), unigram,
                       n_docs=n_docs)
    if "next" in kinds:
        out.next = NextTokenSignatures(B)
    if "window" in kinds:
        if crest is None:
            S = B
        else:
            S = crest.counts() if B is None else sp.csr_matrix(B + crest.counts())
        out.window = WindowSignatures(S, unigram.copy(), k)
    return out


# --------------------------------------------------------------------------------------
# 3. Tokens, controls, the alignment
# --------------------------------------------------------------------------------------


def select_tokens(unigram, top: int = 1000, skip: int = 100, min_count: int = 5,
                  exclude=None) -> np.ndarray:
    """Ids of the tokens ranked ``skip .. skip+top-1`` by count (ties broken by id).

    Only tokens with at least ``min_count`` occurrences (and not in ``exclude``) are ranked.
    When fewer than ``skip + top`` qualify, ``skip`` shrinks first, then ``top``. Raises
    ValueError when fewer than 3 tokens qualify (a corpus the tokenizer maps to almost
    nothing).
    """
    u = np.asarray(unigram)
    top = check_positive_int("top", top)
    skip = check_positive_int("skip", skip, minimum=0)
    min_count = check_positive_int("min_count", min_count)
    ok = u >= min_count
    if exclude is not None:
        ok[as_token_array("exclude", list(exclude), u.size, ndim=1, allow_empty=True)] = False
    cand = np.flatnonzero(ok)
    if cand.size < 3:
        raise ValueError(f"only {cand.size} token(s) occur at least min_count={min_count} times "
                         f"in the corpus ({int(u.sum())} tokens counted); the tokenizer maps "
                         f"this text to almost nothing -- use a larger corpus or one in the "
                         f"model's language")
    order = cand[np.lexsort((cand, -u[cand]))]
    s = min(skip, max(0, order.size - top))
    return np.sort(order[s: s + top])


def frequency_matched_permutation(freq, n_bins: int = 10, seed: int = 0) -> np.ndarray:
    """A permutation of ``range(len(freq))`` that moves each item only within its bin of
    similar frequency (``n_bins`` equal-count bins of log-frequency)."""
    f = np.asarray(freq, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"freq must be a 1-D array of at least 2 frequencies; got shape {f.shape}")
    n_bins = check_positive_int("n_bins", n_bins)
    rng = np.random.default_rng(seed)
    order = np.argsort(np.log(np.maximum(f, 1e-300)), kind="stable")
    perm = np.arange(f.size)
    for chunk in np.array_split(order, min(n_bins, f.size)):
        perm[chunk] = rng.permutation(chunk)
    return perm


def _pair_covariates(freq) -> np.ndarray:
    lf = np.log(np.maximum(np.asarray(freq, dtype=np.float64), 1e-300))
    iu = np.triu_indices(lf.size, k=1)
    a, b = lf[iu[0]], lf[iu[1]]
    return np.column_stack([np.ones(a.size), a + b, np.abs(a - b)])


def _residual(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ coef


def frequency_controlled_r_cos(S_emb, S_sig, freq, method: str = "pearson") -> float:
    """R_cos with frequency partialled out.

    ``S_emb``, ``S_sig``: cosine matrices over the same tokens (or their pair values);
    ``freq``: the tokens' corpus frequencies. Both pair-cosine vectors are regressed on the
    pair covariates ``(1, log f_a + log f_b, |log f_a - log f_b|)``; the correlation of the
    residuals (ranks first for ``spearman``) is returned. Frequency alone can make pairs of
    frequent tokens similar in both geometries; this value is what is left without it.
    """
    check_choice("method", method, {"pearson", "spearman"})
    e, s = np.asarray(S_emb, dtype=np.float64), np.asarray(S_sig, dtype=np.float64)
    e = pair_values(e) if e.ndim == 2 else e
    s = pair_values(s) if s.ndim == 2 else s
    f = np.asarray(freq, dtype=np.float64)
    if e.shape != s.shape or e.size != f.size * (f.size - 1) // 2:
        raise ValueError(f"S_emb, S_sig and freq must describe the same tokens; got {e.size} and "
                         f"{s.size} pairs for {f.size} frequencies")
    if method == "spearman":
        from scipy.stats import rankdata
        e, s = rankdata(e), rankdata(s)
    X = _pair_covariates(f)
    return correlation(_residual(e, X), _residual(s, X), "pearson")


@dataclass
class AlignResult:
    """One row of the alignment table (see :func:`alignment`)."""

    model: str
    corpus: str
    signature: str
    weighting: str
    matrix: str                  # which embedding was compared: "W_E" or "W_U"
    n_tokens: int                # corpus tokens counted
    n_used: int                  # tokens in the analysed set
    ranks: tuple                 # frequency ranks analysed (first, last)
    r_cos: float                 # Pearson R_cos
    r_cos_spearman: float
    r_cos_control: float         # shuffled signature rows
    r_cos_freq_shuffle: float    # rows shuffled among tokens of similar frequency
    r_cos_freq_controlled: float  # partial correlation on log-frequency
    seed: int = 0
    window: int | None = None
    alpha: float | None = None
    binned: BinnedAlignment | None = field(default=None, repr=False)
    tokens: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("binned", "tokens")}
        d["ranks"] = list(self.ranks)
        if self.binned is not None:
            b = self.binned
            d["binned"] = {"edges": b.edges.tolist(), "count": b.count.tolist(),
                           "corr": [None if np.isnan(x) else float(x) for x in b.corr],
                           "mean_emb": [None if np.isnan(x) else float(x) for x in b.mean_emb],
                           "mean_sig": [None if np.isnan(x) else float(x) for x in b.mean_sig]}
        for k, v in list(d.items()):
            if isinstance(v, float) and np.isnan(v):
                d[k] = None
        return d

    def table(self) -> str:
        sig = self.signature + (f" ±{self.window}" if self.signature == "window" else "")
        w = self.weighting + (f" (alpha {self.alpha:g})" if self.weighting == "ppmi"
                              and self.alpha is not None else "")
        rows = [
            ("model", self.model), ("corpus", self.corpus), ("signature", f"{sig}, {w}"),
            ("embedding", self.matrix),
            ("corpus tokens counted", f"{self.n_tokens:,}"),
            ("tokens analysed", f"{self.n_used} (frequency ranks {self.ranks[0]}-{self.ranks[1]})"),
            ("R_cos (Pearson)", f"{self.r_cos:+.3f}"),
            ("R_cos (Spearman)", f"{self.r_cos_spearman:+.3f}"),
            ("shuffled control", f"{self.r_cos_control:+.3f}   (signature rows permuted, "
                                 f"seed {self.seed})"),
            ("frequency-matched shuffle", f"{self.r_cos_freq_shuffle:+.3f}   (what frequency "
                                          f"alone gives)"),
            ("frequency-controlled R_cos", f"{self.r_cos_freq_controlled:+.3f}   (partial on "
                                           f"log-frequency)"),
        ]
        width = max(len(k) for k, _ in rows)
        out = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.binned is not None:
            out += ["binned alignment (pairs grouped by embedding cosine):", self.binned.table()]
        return "\n".join(out)


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


def copula_null(S_emb, S_sig, draws: int = 20, seed: int = 0) -> np.ndarray:
    """Restriction-of-range null for a binned alignment: pair values with the *same marginals*
    as the data and the same overall dependence, but nothing else -- a Gaussian copula.

    The embedding cosines are kept as they are; each draw gives every pair a signature cosine
    taken from the observed ones (the same multiset) by the rank of ``rho z + sqrt(1 - rho^2)
    eps``, with ``z`` the normal scores of the embedding cosines and ``rho`` the correlation of
    the two normal scores (the copula's parameter; the Pearson correlation of the draws matches
    the data's up to the shape of the marginals). Binned like the data
    (:func:`psbook.metrics.binned_alignment` on ``(S_emb, draw)``), it shows what grouping
    pairs by embedding cosine produces from the marginals alone. ``S_emb``, ``S_sig``: square
    cosine matrices or 1-D pair vectors. Returns ``(draws, n_pairs)``.
    """
    from scipy.stats import norm, rankdata

    e, s = pair_values(S_emb) if np.ndim(S_emb) == 2 else np.asarray(S_emb, dtype=np.float64), \
        pair_values(S_sig) if np.ndim(S_sig) == 2 else np.asarray(S_sig, dtype=np.float64)
    if e.shape != s.shape or e.ndim != 1 or e.size < 3:
        raise ValueError(f"S_emb and S_sig must cover the same pairs (at least 3); got "
                         f"{e.shape} and {s.shape}")
    draws = check_positive_int("draws", draws)
    n = e.size
    z_e = norm.ppf(rankdata(e) / (n + 1))
    z_s = norm.ppf(rankdata(s) / (n + 1))
    rho = float(np.corrcoef(z_e, z_s)[0, 1])
    s_sorted = np.sort(s)
    rng = np.random.default_rng(seed)
    out = np.empty((draws, n))
    for k in range(draws):
        z2 = rho * z_e + np.sqrt(max(0.0, 1 - rho ** 2)) * rng.standard_normal(n)
        out[k] = s_sorted[np.argsort(np.argsort(z2, kind="stable"), kind="stable")]
    return out


def matched_count_signature(counts: CorpusCounts, other: CorpusCounts, tokens,
                            signature: str = "window", weighting: str = "ppmi", *,
                            alpha: float | None = 0.75, seed: int = 0):
    """``counts``' weighted ``signature`` with the rows of ``tokens`` thinned to the counts the
    ``other`` corpus has for them: each row of the count matrix is subsampled without
    replacement to ``other``'s row total (rows where ``other`` has more are kept whole).

    It separates the two costs of a proxy: a signature from a corpus with fewer occurrences is
    noisier (count sparsity) *and* may describe another usage (domain). The matched-count
    signature has the first cost and not the second. Returns the weighted matrix (sparse, rows
    = tokens), like :func:`psbook.cooccurrence.weighted_signature`.
    """
    from .cooccurrence import ppmi, row_normalize, signature_counts

    check_choice("signature", signature, {"next", "pre", "window"})
    check_choice("weighting", weighting, set(WEIGHTINGS))
    C = sp.csr_matrix(signature_counts(counts.signatures_for(signature), signature), copy=True)
    C_o = signature_counts(other.signatures_for(signature), signature)
    t = np.asarray(tokens, dtype=np.int64)
    if C.shape != C_o.shape:
        raise ValueError(f"counts and other must be counted in one tokenizer; got count matrices "
                         f"{C.shape} and {C_o.shape}")
    want = np.asarray(C_o[t].sum(axis=1)).ravel().astype(np.int64)
    rng = np.random.default_rng(seed)
    C.sort_indices()
    for tok, n in zip(t, want):
        lo, hi = C.indptr[tok], C.indptr[tok + 1]
        vals = np.asarray(C.data[lo:hi], dtype=np.int64)
        if vals.sum() > n:
            C.data[lo:hi] = rng.multivariate_hypergeometric(vals, int(n))
    C.eliminate_zeros()
    return row_normalize(C) if weighting == "raw" else ppmi(C, alpha)


def align(model, corpus, signature: str = "window", *, window: int = 5,
          weighting: str = "ppmi", alpha: float | None = 0.75, top: int = 1000,
          skip: int = 100, max_tokens: int | None = None, max_chars: int | None = None,
          seed: int = 0, progress: bool = True, revision: str | None = None) -> AlignResult:
    """Load ``model`` (:func:`psbook.pretrained.load`, or a loaded one), count ``corpus`` in its
    tokenizer, and return :func:`alignment` -- what ``psbook align`` prints."""
    from .pretrained import Pretrained, load

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


def cached_counts(model, corpus, *, kinds=("next", "window"), window: int = 5,
                  max_chars: int | None = None, max_tokens: int | None = None,
                  progress: bool = True, verbose: bool = False, part=None) -> CorpusCounts:
    """:func:`count_corpus` of ``corpus`` in ``model``'s tokenizer, through
    :func:`psbook.cache.load_or_compute` (keyed by model, the corpus actually used and a hash
    of its content, sizes).
    ``part=(i, n)`` counts only the documents whose index is ``i`` modulo ``n`` (of the same
    ``max_chars`` of text): ``(0, 2)`` and ``(1, 2)`` split the corpus into disjoint halves."""
    from .cache import load_or_compute

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
