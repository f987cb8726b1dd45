"""Throughput and memory of `psbook align`-style counting (tokenize + count).

1. Real text (WikiText-2 from $PSBOOK_DATA, valid+test): the tokenizer's own batch-encode
   throughput (the practical limit) side by side with end-to-end tokenize + count
   (``psbook.align.count_corpus``), for the next-token and the ±5 window signature, in tokens/s.
2. A synthetic stream of ``--stream-tokens`` tokens (default 100 M) over a 150k vocabulary
   (Zipf, exponent 1.1), fed in documents of 2 048 tokens: counting only; peak RSS measured.

    python benchmarks/bench_align.py [--model all-minilm-l6-v2] [--stream-tokens 100000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_text(model_name: str, repeats: int = 3) -> None:
    from psbook import pretrained
    from psbook.align import corpus_documents, count_corpus

    m = pretrained.load(model_name)
    _, docs = corpus_documents("wikipedia")
    docs = list(docs)
    chars = sum(map(len, docs))
    best_tok = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        n = sum(ids.size for ids in m.tokenizer.encode_batch(docs))
        best_tok = min(best_tok, time.perf_counter() - t)
    print(f"model {model_name}; WikiText-2 valid+test: {len(docs)} docs, {chars:,} chars, "
          f"{n:,} tokens")
    print(f"  {'what':38s} {'tokens/s':>12s}  ratio")
    print(f"  {'tokenizer encode_batch (limit)':38s} {n / best_tok:12,.0f}  1.00")
    for kinds in [("next",), ("window",)]:
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            c = count_corpus(m.tokenizer, iter(docs), m.vocab_size, kinds=kinds, window=5,
                             progress=False)
            best = min(best, time.perf_counter() - t)
        assert c.n_tokens == n
        print(f"  {'tokenize + count ' + kinds[0] + (' ±5' if kinds[0] == 'window' else ''):38s} "
              f"{n / best:12,.0f}  {best_tok / best:.2f}")
    count_only(m.tokenizer.encode_batch(docs), m.vocab_size, repeats)


def count_only(ids, V: int, repeats: int = 3, window: int = 5) -> None:
    """The pair counting alone on the same token ids, as count_corpus does it now and as it
    did before the sort path (pairs counted through scipy's COO -> CSR build, the bigrams and
    the offsets 2..window in two counters whose matrices are then added), rounds alternating."""
    import scipy.sparse as sp

    from psbook.cooccurrence import PairCounter
    from psbook.signatures import _count_keys

    class CooPairCounter(PairCounter):             # PairCounter.flush before the sort path
        def flush(self):
            if not self._a:
                return
            a = self._a[0] if len(self._a) == 1 else np.concatenate(self._a)
            b = self._b[0] if len(self._b) == 1 else np.concatenate(self._b)
            self._a, self._b, self._n = [], [], 0
            part = _count_keys(a, b, self.V, "coo")
            del a, b
            self._total = part if self._total is None else sp.csr_matrix(self._total + part)

    def run(counters):
        for d in ids:
            for c in counters:
                c.add(d)
        out = [c.counts() for c in counters]
        return out[0] if len(out) == 1 else sp.csr_matrix(out[0] + out[1])

    ways = {
        ("next", "before"): lambda: run([CooPairCounter(V, (1,))]),
        ("next", "now"): lambda: run([PairCounter(V, (1,))]),
        ("window", "before"): lambda: run([CooPairCounter(V, (1,)),
                                           CooPairCounter(V, range(2, window + 1))]),
        ("window", "now"): lambda: run([PairCounter(V, range(1, window + 1))]),
    }
    best = dict.fromkeys(ways, float("inf"))
    result = {}
    for _ in range(repeats):
        for key, f in ways.items():
            t = time.perf_counter()
            result[key] = f()
            best[key] = min(best[key], time.perf_counter() - t)
    n = sum(d.size for d in ids)
    print(f"  counting only, same ids ({n:,} tokens, V = {V:,}), best of {repeats}:")
    for kind in ("next", "window"):
        before, now = best[kind, "before"], best[kind, "now"]
        assert (result[kind, "before"] != result[kind, "now"]).nnz == 0
        print(f"    {kind:6s} before (COO -> CSR) {before * 1e3:7.1f} ms   now (sort) "
              f"{now * 1e3:7.1f} ms   {before / now:.1f}x; counts equal")


def stream(n_tokens: int, V: int = 150_000, doc_len: int = 2048, seed: int = 0) -> None:
    from psbook.align import count_corpus

    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1) ** 1.1
    cdf = np.cumsum(p / p.sum())

    class Synthetic:                      # a "tokenizer" whose documents are already ids
        name, vocab_size = "synthetic", V

        def encode_batch(self, texts):
            return [np.minimum(np.searchsorted(cdf, rng.random(doc_len)), V - 1)
                    for _ in texts]

    n_docs = n_tokens // doc_len
    base = _rss_mb()
    t = time.perf_counter()
    c = count_corpus(Synthetic(), iter([""] * n_docs), V, kinds=("next",), progress=False)
    dt = time.perf_counter() - t
    print(f"stream: {c.n_tokens:,} tokens, V = {V:,}, next-token counts: {c.next.counts.nnz:,} "
          f"distinct bigrams; {dt:.0f} s ({c.n_tokens / dt:,.0f} tokens/s incl. generating the "
          f"ids); peak RSS {_rss_mb():,.0f} MB (before: {base:,.0f} MB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all-minilm-l6-v2")
    ap.add_argument("--stream-tokens", type=int, default=100_000_000)
    ap.add_argument("--skip-real", action="store_true")
    a = ap.parse_args()
    print("load average %.2f %.2f %.2f at the start" % os.getloadavg())
    if not a.skip_real:
        real_text(a.model)
        if a.model != "glove-6b-50d":
            real_text("glove-6b-50d")
    if a.stream_tokens:
        stream(a.stream_tokens)
    print("load average %.2f %.2f %.2f at the end" % os.getloadavg())
