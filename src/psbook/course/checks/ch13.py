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


def _chains_held_out(n_keys, anchor_values):
    """The TA table's mistake: the task's default held-out test fraction kept."""
    from psbook.synthetic import tasks
    from psbook.metrics import cosine_matrix
    t = tasks.f_add_designed(n_keys=n_keys, anchor_values=anchor_values)
    C = cosine_matrix(t.signatures().dense("phi_y", t.ordered_tokens))
    return float(C[0, 1]), float(C[0, 2])


_HELD_OUT = ("a held-out test fraction: the predicted geometry is that of the full table "
             "(test_frac=0.0); a test split drops examples and changes the signatures")


def _chains_cases(ns):
    # the first design's two cosines are 0 whatever the split; the second's are not
    return {"another design (8 keys, anchors 0, 3, 6)": (8, (0, 3, 6)),
            "a third design (7 keys, anchors 0, 1, 3)": (7, (0, 1, 3))}


@exercise("ex-13-chains",
          answers={"my_chain_cosines": "your function (n_keys, anchor_values) -> (cos_01, cos_02)",
                   "cos_01": "predicted cosine of keys 0 and 1 (interleaved chains)",
                   "cos_02": "predicted cosine of keys 0 and 2 (interleaved chains)"},
          rtol=1e-6, atol=1e-6,
          compare={"my_chain_cosines": function_compare(
              _chains_cases, _chains_ref, "my_chain_cosines", rtol=1e-6, atol=1e-6,
              outputs=("cos_01", "cos_02"), variants={_HELD_OUT: _chains_held_out})},
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


_OTHER_TOKENS = ("the counts before and after are compared on different token sets (or in "
                 "different orders): count both with np.bincount(..., minlength=vocab_size), "
                 "so that entry t is token t in both")


def _share_other_tokens(docs, a, b, vocab_size, seed=0):
    """The TA table's mistake: the counts of the distinct tokens before (np.unique) against
    the counts of every token id after -- misaligned entries."""
    from psbook import interventions as iv
    from psbook.signatures import next_token_signatures
    new = iv.share_successors(docs, a, b, 1.0, seed=seed, vocab_size=vocab_size)
    before = np.unique(np.concatenate(docs), return_counts=True)[1]
    after = np.bincount(np.concatenate(new), minlength=vocab_size)[:before.size]
    return (int(np.abs(after - before).max()),
            iv.shared_signature_cosine(next_token_signatures(new, vocab_size), a, b))


def _count_change_compare(given, ref):
    from ._base import default_compare
    problem = default_compare(given, ref, 0, 0)
    if problem and ref == 0:
        return _OTHER_TOKENS + " (sharing only moves successors: no count can change)"
    return problem


@exercise("ex-13-share",
          answers={"my_share_effect": "your function (docs, a, b, vocab_size, seed) -> "
                                      "(count change, signature cosine)",
                   "count_change": "largest change of any token's count",
                   "sig_cos_p1": "cos(phi_a, phi_b) after sharing at p = 1"},
          rtol=1e-9, atol=1e-9,
          compare={"my_share_effect": function_compare(
              _share_cases, _share_ref, "my_share_effect", rtol=1e-9, atol=1e-9,
              outputs=("count change", "signature cosine"),
              variants={_OTHER_TOKENS: _share_other_tokens}),
              "count_change": _count_change_compare},
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
