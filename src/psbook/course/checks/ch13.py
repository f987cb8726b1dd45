"""Checks of chapter 13's coding exercises (interventions on the data)."""

from __future__ import annotations

import numpy as np

from ._base import choice, exercise

__all__ = ["chains", "share", "which"]


@exercise("ex-13-chains",
          answers={"cos_01": "predicted cosine of keys 0 and 1 (interleaved chains)",
                   "cos_02": "predicted cosine of keys 0 and 2 (interleaved chains)"},
          rtol=1e-6, atol=1e-6,
          hint="build tasks.f_add_designed(n_keys=..., anchor_values=I['chains_anchors'], "
               "test_frac=0.0) and take cosine_matrix of its phi_y rows for the keys")
def chains(ns):
    from psbook.synthetic import tasks
    from psbook.metrics import cosine_matrix

    preset = ns["preset"]
    t = tasks.f_add_designed(n_keys=preset.synthetic["f_add"]["n_keys"],
                             anchor_values=preset.interventions["chains_anchors"],
                             test_frac=0.0)
    C = cosine_matrix(t.signatures().dense("phi_y", t.ordered_tokens))
    return {"cos_01": float(C[0, 1]), "cos_02": float(C[0, 2])}


@exercise("ex-13-share",
          answers={"count_change": "largest change of any token's count",
                   "sig_cos_p1": "cos(phi_a, phi_b) after sharing at p = 1"},
          rtol=1e-9, atol=1e-9,
          hint="use interventions.share_successors(docs, a, b, 1.0, seed=0, "
               "vocab_size=tok.vocab_size) with (a, b) = treated[0], then np.bincount and "
               "next_token_signatures")
def share(ns):
    from psbook import interventions as iv
    from psbook.signatures import next_token_signatures

    docs, V = ns["docs"], ns["tok"].vocab_size
    a, b = (int(x) for x in ns["treated"][0])
    new = iv.share_successors(docs, a, b, 1.0, seed=0, vocab_size=V)
    before = np.bincount(np.concatenate(docs), minlength=V)
    after = np.bincount(np.concatenate(new), minlength=V)
    sig = next_token_signatures(new, V)
    return {"count_change": int(np.abs(after - before).max()),
            "sig_cos_p1": iv.shared_signature_cosine(sig, a, b)}


@choice('ex-13-which', 'intervention_answer', 'your answer, one letter',
        right='b', wrong={
            'a': "sharing mixes only the successors of the two treated tokens; every other "
                 "token's phi^next is untouched",
            'c': 'swapping two tokens exchanges their identities, counts and signatures; it '
                 'destroys nothing'})
def which(ns):
    """(a) share_successors of one pair; (b) shuffle_successors; (c) swap_tokens."""
