"""Small measurements on corpus signatures used by chapter 09 (and reusable on any corpus).

* :func:`set_similarity` -- that mean for named token sets against a random-pair baseline.
* :func:`structure_agreement` -- Pearson correlation, over the pairs of one token set, of the
  cosine matrices computed from two signature matrices (e.g. two corpora).
"""

from __future__ import annotations

import numpy as np

from .._validate import as_token_array, check_choice, check_positive_int
from ..metrics import correlation, cosine_matrix, group_similarity, pair_values
from ..signatures import NextTokenSignatures
from .streams import frequent_tokens

__all__ = ["set_similarity", "structure_agreement", "SIGNATURE_NAMES"]

SIGNATURE_NAMES = ("phi_next", "varphi_pre", "tied")


def _matrix(sigs: NextTokenSignatures, name: str):
    if not isinstance(sigs, NextTokenSignatures):
        raise TypeError(f"sigs must be NextTokenSignatures; got {type(sigs).__name__}")
    check_choice("name", name, set(SIGNATURE_NAMES))
    return getattr(sigs, name)


def set_similarity(sigs: NextTokenSignatures, sets: dict, name: str = "phi_next",
                   baseline_k: int = 300) -> dict[str, float]:
    """Mean pair cosine within each named token set, plus ``"random pairs"``: the mean over
    all pairs of the ``baseline_k`` most frequent tokens (the baseline a set must beat).
    A thin corpus-level wrapper of :func:`psbook.metrics.group_similarity`."""
    baseline_k = check_positive_int("baseline_k", baseline_k, minimum=2)
    out = group_similarity(_matrix(sigs, name), sets,
                           baseline_tokens=frequent_tokens(sigs, baseline_k))
    out.pop("between groups", None)
    return out


def structure_agreement(sigs_a: NextTokenSignatures, sigs_b: NextTokenSignatures, tokens,
                        name: str = "phi_next") -> float:
    """Pearson correlation, over pairs of ``tokens``, of the cosine similarities computed from
    ``sigs_a`` and from ``sigs_b``: 1 when the two corpora arrange the tokens alike."""
    Ma, Mb = _matrix(sigs_a, name), _matrix(sigs_b, name)
    if sigs_a.vocab_size != sigs_b.vocab_size:
        raise ValueError(f"sigs_a and sigs_b must share one vocabulary (token ids mean the same "
                         f"token in both); got vocab_size {sigs_a.vocab_size} and "
                         f"{sigs_b.vocab_size} -- count both with the same tokenizer")
    tokens = as_token_array("tokens", tokens, sigs_a.vocab_size, ndim=1)
    if tokens.size < 3:
        raise ValueError(f"tokens must hold at least 3 token ids; got {tokens.size}")
    del Ma, Mb
    Sa = pair_values(cosine_matrix(_matrix(sigs_a, name), tokens))
    Sb = pair_values(cosine_matrix(_matrix(sigs_b, name), tokens))
    return float(correlation(Sa, Sb))
