"""Checks of chapter 13's coding exercises (interventions on the data)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise, function_compare

__all__ = ["chains", "share", "which"]


def _chains_ref(n_keys, anchor_values):
    """The reference of ``my_chain_cosines``: the predicted (phi^y) cosines of keys 0-1, 0-2."""
    from psbook.synthetic import tasks
    from psbook.metrics import cosine_matrix
    t = tasks.f_add_designed(n_keys=n_keys, anchor_values=anchor_values, test_frac=0.0)
    C = cosine_matrix(t.signatures().dense("phi_y", t.ordered_tokens))
    return float(C[0, 1]), float(C[0, 2])


def _chains_cases(ns):
    return {"another design (8 keys, anchors 0, 3, 6)": (8, (0, 3, 6))}


@exercise("ex-13-chains",
          answers={"my_chain_cosines": "your function (n_keys, anchor_values) -> (cos_01, cos_02)",
                   "cos_01": "predicted cosine of keys 0 and 1 (interleaved chains)",
                   "cos_02": "predicted cosine of keys 0 and 2 (interleaved chains)"},
          rtol=1e-6, atol=1e-6,
          compare={"my_chain_cosines": function_compare(
              _chains_cases, _chains_ref, "my_chain_cosines", rtol=1e-6, atol=1e-6,
              outputs=("cos_01", "cos_02"))},
          hint=["the predicted geometry is the cosine geometry of the keys' label signatures",
                "tasks.f_add_designed builds the task (keep every example: no held-out test "
                "set); then the cosine matrix of its phi^y rows over the keys"])
def chains(ns):
    preset = ns["preset"]
    c01, c02 = _chains_ref(preset.synthetic["f_add"]["n_keys"],
                           preset.interventions["chains_anchors"])
    return {"my_chain_cosines": _chains_ref, "cos_01": c01, "cos_02": c02}


def _share_ref(docs, a, b, vocab_size, seed=0):
    """The reference of ``my_share_effect``: (largest count change, cos of the pair's
    phi^next) after share_successors at p = 1."""
    from psbook import interventions as iv
    from psbook.signatures import next_token_signatures
    new = iv.share_successors(docs, a, b, 1.0, seed=seed, vocab_size=vocab_size)
    before = np.bincount(np.concatenate(docs), minlength=vocab_size)
    after = np.bincount(np.concatenate(new), minlength=vocab_size)
    return (int(np.abs(after - before).max()),
            iv.shared_signature_cosine(next_token_signatures(new, vocab_size), a, b))


def _share_cases(ns):
    """Another corpus slice (every other document) and, where there is one, another pair."""
    docs, V = ns["docs"], ns["tok"].vocab_size
    pair = ns["treated"][1] if len(ns["treated"]) > 1 else ns["treated"][0]
    a, b = (int(x) for x in pair)
    return {"another slice of the corpus (every other document), another treated pair, "
            "seed 1": (docs[::2], a, b, V, 1)}


@exercise("ex-13-share",
          answers={"my_share_effect": "your function (docs, a, b, vocab_size, seed) -> "
                                      "(count change, signature cosine)",
                   "count_change": "largest change of any token's count",
                   "sig_cos_p1": "cos(phi_a, phi_b) after sharing at p = 1"},
          rtol=1e-9, atol=1e-9,
          compare={"my_share_effect": function_compare(
              _share_cases, _share_ref, "my_share_effect", rtol=1e-9, atol=1e-9,
              outputs=("count change", "signature cosine"))},
          hint=["sharing moves successors between two tokens: what can it change about how "
                "often each token occurs?",
                "count every token before and after (np.bincount over the concatenated "
                "documents); count phi^next of the new corpus with next_token_signatures"])
def share(ns):
    docs, V = ns["docs"], ns["tok"].vocab_size
    a, b = (int(x) for x in ns["treated"][0])
    change, cos = _share_ref(docs, a, b, V, 0)
    return {"my_share_effect": _share_ref, "count_change": change, "sig_cos_p1": cos}


@choice('ex-13-which', 'intervention_answer', 'your answer, one letter',
        right='b', wrong={
            'a': "sharing mixes only the successors of the two treated tokens; every other "
                 "token's phi^next is untouched",
            'c': 'swapping two tokens exchanges their identities, counts and signatures; it '
                 'destroys nothing'})
def which(ns):
    """(a) share_successors of one pair; (b) shuffle_successors; (c) swap_tokens."""
