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

:func:`align` runs all three steps; ``psbook align`` (:mod:`psbook.align.cli`) prints its table.

The package, by job:

* :mod:`~psbook.align.reading` -- which text a corpus argument names (reading the files:
  :mod:`psbook.corpus.textfiles`);
* :mod:`~psbook.align.counting` -- counting it in a model's tokenizer (and the cached counts);
* :mod:`~psbook.align.stats` -- token selection, frequency controls, the copula null,
  matched-count signatures;
* :mod:`~psbook.align.result` -- :class:`AlignResult`;
* :mod:`~psbook.align.analysis` -- :func:`alignment`, :func:`alignment_over_seeds`, :func:`align`;
* :mod:`~psbook.align.cli` -- the ``psbook align`` command.

Every public name is importable from ``psbook.align`` as before the split.
"""

from __future__ import annotations

from .analysis import (PYTHIA_STEPS, align, alignment, alignment_grid, alignment_over_seeds,
                       sensitivity, sensitivity_null, sensitivity_table,
                       binned_null, binned_table, disjoint_halves, grid_table, online_alignment,
                       proxy_cost, proxy_table, svd_baseline, topical_placebo,
                       topical_margins, group_null)
from .counting import (CorpusCounts, cached_counts, cached_window_counts, count_corpus,
                       count_sources, count_windows)
from .reading import (check_corpus, corpus_documents, corpus_fingerprint,
                      shuffled_within_articles, source_table)
from .result import AlignResult
from .stats import (copula_null, frequency_controlled_r_cos, frequency_matched_groups,
                    frequency_matched_permutation,
                    frequency_only_signature, matched_count_signature, select_tokens)

__all__ = ["corpus_documents", "CorpusCounts", "count_corpus", "select_tokens",
           "frequency_matched_permutation", "frequency_controlled_r_cos", "AlignResult",
           "alignment", "align", "cached_counts", "alignment_over_seeds", "corpus_fingerprint",
           "copula_null", "matched_count_signature", "check_corpus", "count_sources",
           "source_table", "shuffled_within_articles", "frequency_only_signature",
           "alignment_grid", "grid_table", "disjoint_halves", "topical_placebo", "sensitivity",
           "sensitivity_null", "sensitivity_table", "count_windows", "cached_window_counts",
           "svd_baseline", "binned_null", "binned_table", "proxy_cost", "proxy_table",
           "online_alignment", "PYTHIA_STEPS", "topical_margins", "group_null",
           "frequency_matched_groups"]
