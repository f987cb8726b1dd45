"""Corpora, tokenizers and token streams for the language-model chapters (09-11).

Data flows one way: :func:`documents` (text) -> a tokenizer (:func:`get_tokenizer`) ->
:func:`token_stream` / :func:`count_signatures` (next-token signatures).

Modules: :mod:`~psbook.corpus.sources` (text sources, online Pile or offline fallbacks),
:mod:`~psbook.corpus.arithmetic` (generated math text), :mod:`~psbook.corpus.tokenizer`
(Qwen2.5 / trained BPE / word-level), :mod:`~psbook.corpus.streams` (token streams, sharded
signature counts, named token sets), :mod:`~psbook.corpus._network` (the online decision).
"""

from ._network import is_online, network_reason, reset_network_cache
from .arithmetic import MONTHS, WEEKDAYS, arithmetic_documents
from .sources import (CORPUS_ENV, DEFAULT_MAX_CHARS, PILE_SUBSETS, book_corpus, data_dir,
                      describe_source, documents, list_local_corpora, source_key,
                      source_table, valid_sources)
from .streams import (DIGITS, count_signatures, split_signatures, frequent_tokens, iter_token_docs,
                      named_token_sets, signature_table, token_stream, top_next)
from .compare import (SIGNATURE_NAMES, agreement_matrix, set_similarity,
                      structure_agreement)
from .compare import (MIN_COUNT, matched_baseline, matched_similarity, matched_table,
                      testable_sets)
from .tokenizer import HFTokenizer, WordTokenizer, get_tokenizer, load_qwen_tokenizer, train_bpe

__all__ = [
    "documents", "describe_source", "source_key", "source_table", "signature_table",
    "agreement_matrix", "matched_similarity", "matched_table", "book_corpus", "CORPUS_ENV", "data_dir", "list_local_corpora", "valid_sources",
    "PILE_SUBSETS", "DEFAULT_MAX_CHARS", "arithmetic_documents", "MONTHS", "WEEKDAYS", "DIGITS",
    "WordTokenizer", "HFTokenizer", "get_tokenizer", "load_qwen_tokenizer", "train_bpe",
    "token_stream", "iter_token_docs", "count_signatures", "split_signatures", "named_token_sets", "top_next",
    "frequent_tokens", "set_similarity", "structure_agreement",
    "SIGNATURE_NAMES", "MIN_COUNT", "matched_baseline", "testable_sets", "is_online", "network_reason", "reset_network_cache",
]
