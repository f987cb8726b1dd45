r"""Analysis of the small language model: the leading-order gradient, token sets, binned
alignment and the cross-domain matrix of chapter 11. (Its configuration from a preset is in
:mod:`psbook.lm.config`, cached and parallel training runs in :mod:`psbook.lm.runs`.)

Leading-order flow (DESIGN §3, paper-notes §5.4). At small initialisation the final residual
stream at position ``s`` is dominated by the embedding of the current token,
:math:`h_s \approx \mathbf W^E_{x_s}`, and the softmax is nearly uniform, :math:`p \approx u`.
Then, with :math:`S` the number of predicted positions, :math:`n_a` the count of token
``a`` as input and :math:`N(h) = g\odot h/\mathrm{rms}(h)` the final RMSNorm,

.. math::

   -\partial L/\partial \mathbf W^E_a \approx \tfrac{n_a}{S}\, J_N(\mathbf W^E_a)^\top
       \mathbf W^{U\top}(\phi^{next}_a - u), \qquad
   -\partial L/\partial \mathbf W^U_\nu \approx \tfrac1S \sum_\alpha
       \big(B_{\alpha\nu} - \tfrac{n_\alpha}{V}\big) N(\mathbf W^E_\alpha),

where :math:`J_N(h)^\top v = \mathrm{rms}(h)^{-1}(I - \hat h\hat h^\top)(g\odot v)` only rescales
and removes one direction. :func:`predicted_gradients` computes both (with and without the
norm's Jacobian) next to the autograd gradient of the same batch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .._validate import check_positive_int
from ..metrics import binned_alignment, cosine_matrix, r_cos
from ..signatures import NextTokenSignatures
from .model import LMConfig, QwenLM

__all__ = ["derangements", "own_corpus_gap", "own_corpus_nulls", "top_tokens", "shared_top_tokens", "predicted_gradients", "gradient_check", "binned",
           "gradient_check_table", "flow_by_seed", "binned_runs", "binned_table", "BINNED_PANELS",
           "cross_domain_matrix", "cross_domain_by_seed", "mismatch_costs"]

def top_tokens(signatures: NextTokenSignatures, k: int, *, min_count: int = 2) -> np.ndarray:
    """The ``k`` most frequent tokens (as inputs of a bigram) seen at least ``min_count``
    times, most frequent first."""
    if not isinstance(signatures, NextTokenSignatures):
        raise TypeError(f"signatures must be NextTokenSignatures; got {type(signatures).__name__}")
    k = check_positive_int("k", k)
    min_count = check_positive_int("min_count", min_count, minimum=0)
    n = np.asarray(signatures.counts.sum(axis=1)).ravel()
    order = np.argsort(-n, kind="stable")
    order = order[n[order] >= min_count]
    return order[:k].astype(np.int64)


def shared_top_tokens(signatures: list, k: int, *, min_count: int = 2) -> np.ndarray:
    """``k`` tokens frequent in *every* corpus: ranked by their smallest relative frequency
    across ``signatures`` (all over one vocabulary)."""
    if not signatures or not all(isinstance(s, NextTokenSignatures) for s in signatures):
        raise TypeError("signatures must be a non-empty list of NextTokenSignatures")
    V = {s.vocab_size for s in signatures}
    if len(V) != 1:
        raise ValueError(f"signatures must share one vocabulary; got sizes {sorted(V)}")
    counts = np.stack([np.asarray(s.counts.sum(axis=1)).ravel() for s in signatures])
    rel = counts / counts.sum(axis=1, keepdims=True)
    score = np.where((counts >= min_count).all(axis=0), rel.min(axis=0), -1.0)
    order = np.argsort(-score, kind="stable")
    return order[score[order] > 0][:check_positive_int("k", k)].astype(np.int64)


def _rms_norm_rows(W: torch.Tensor, g: torch.Tensor, eps: float):
    rms = torch.sqrt(W.pow(2).mean(-1, keepdim=True) + eps)
    return g * W / rms, rms


@torch.no_grad()
def _predicted(model: QwenLM, ids: torch.Tensor) -> dict:
    cfg = model.cfg
    V = cfg.vocab_size
    x, y = ids[:, :-1].reshape(-1).cpu().numpy(), ids[:, 1:].reshape(-1).cpu().numpy()
    S = x.size
    B = sp.csr_matrix((np.ones(S), (x, y)), shape=(V, V))      # duplicates are summed
    n_in = np.asarray(B.sum(axis=1)).ravel()
    n_out = np.asarray(B.sum(axis=0)).ravel()
    WE = model.W_E.detach().double().cpu()
    WU = model.W_U.detach().double().cpu()
    g = model.norm.weight.detach().double().cpu()
    # input (embedding) term: (n_a / S) W^U^T (phi_a - u), phi_a = B[a] / n_a
    BWU = torch.from_numpy(np.asarray(B @ WU.numpy()))                   # sum_nu B[a,nu] W^U_nu
    bare = (BWU - torch.from_numpy(n_in)[:, None] * WU.mean(0)) / S
    N, rms = _rms_norm_rows(WE, g, cfg.rms_eps)
    v = g * bare
    hhat = WE / WE.norm(dim=1, keepdim=True).clamp_min(1e-30)
    jac = (v - hhat * (hhat * v).sum(1, keepdim=True)) / rms
    # output (unembedding) term: (1/S) sum_a (B[a,nu] - n_a / V) N(W^E_a)
    BTN = torch.from_numpy(np.asarray(B.T @ N.numpy()))
    out = (BTN - (torch.from_numpy(n_in) @ N)[None, :] / V) / S
    return {"E_bare": bare, "E": jac, "U": out, "n_in": n_in, "n_out": n_out}


def _row_cos(A: torch.Tensor, Bm: torch.Tensor) -> np.ndarray:
    num = (A * Bm).sum(1)
    den = A.norm(dim=1) * Bm.norm(dim=1)
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num)).numpy()


def predicted_gradients(model: QwenLM, ids: torch.Tensor, *, min_count: int = 5) -> dict:
    """Per-token cosine between the leading-order prediction and the autograd gradient.

    ``ids``: a batch of windows (batch, T + 1). Returns a dict with, for the tokens seen at
    least ``min_count`` times in the batch (as input for W^E, as target for W^U):
    ``cos_E`` (prediction with the final norm's Jacobian), ``cos_E_bare`` (the bare
    :math:`r_a\\mathbf W^{U\\top}(\\phi^{next}_a-u)`), ``cos_U`` (untied unembedding) or, for a
    tied model, ``cos_W`` (sum of the input and output terms); plus the token ids and counts.
    """
    if not isinstance(model, QwenLM):
        raise TypeError(f"model must be a QwenLM; got {type(model).__name__}")
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must be a 2-D tensor of windows (batch, T + 1) with T >= 1; got "
                         f"{tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids)}")
    model.check_ids(ids[:, 1:])
    model.check_ids(ids[:, :-1])
    model.zero_grad(set_to_none=True)
    model.loss(ids).backward()
    gE = -model.embed_tokens.weight.grad.detach().double().cpu()
    gU = -model.lm_head.weight.grad.detach().double().cpu()
    model.zero_grad(set_to_none=True)
    p = _predicted(model, ids)
    tok_in = np.flatnonzero(p["n_in"] >= min_count)
    out = {"tokens_E": tok_in, "count_E": p["n_in"][tok_in]}
    if model.cfg.tie_embeddings:
        tok = np.flatnonzero((p["n_in"] + p["n_out"]) >= min_count)
        out.update(tokens_W=tok, count_W=(p["n_in"] + p["n_out"])[tok],
                   cos_W=_row_cos((p["E"] + p["U"])[tok], gE[tok]),
                   cos_E=_row_cos(p["E"][tok_in], gE[tok_in]))
    else:
        tok_out = np.flatnonzero(p["n_out"] >= min_count)
        out.update(cos_E=_row_cos(p["E"][tok_in], gE[tok_in]),
                   cos_E_bare=_row_cos(p["E_bare"][tok_in], gE[tok_in]),
                   tokens_U=tok_out, count_U=p["n_out"][tok_out],
                   cos_U=_row_cos(p["U"][tok_out], gU[tok_out]))
    return out


def gradient_check(model_cfg: LMConfig, ids: torch.Tensor, gammas, *, seed: int = 0,
                   min_count: int = 5, device: str = "cpu") -> dict:
    """:func:`predicted_gradients` at initialisation for each init scale in ``gammas``.

    Returns ``{gamma: result}``; each model is freshly initialised with that ``gamma`` (the
    same seed) and run on ``device``.
    """
    from dataclasses import replace
    out = {}
    for gmm in gammas:
        m = QwenLM(replace(model_cfg, gamma=float(gmm)), seed=seed).to(device)
        out[float(gmm)] = predicted_gradients(m, ids.to(device), min_count=min_count)
    return out


def gradient_check_table(results: dict, *, note: str = ""):
    """A :class:`psbook.display.Table` of :func:`gradient_check`: per init scale, the median
    cosine between the predicted flow and autograd for W^E (with and without the norm's
    Jacobian, "bare") and W^U, and over how many tokens.

    Book: chapter 10 (the leading-order flow)."""
    from ..display import Table
    rows = [{"γ": g, "W^E": float(np.median(r["cos_E"])),
             "W^E, bare formula": float(np.median(r["cos_E_bare"])),
             "W^U": float(np.median(r["cos_U"])),
             "tokens (W^E / W^U)": f"{r['cos_E'].size} / {r['cos_U'].size}"}
            for g, r in results.items()]
    return Table(rows, caption="Median cosine between the predicted flow and autograd",
                 formats={"γ": ".2f", "W^E": "+.3f", "W^E, bare formula": "+.3f",
                          "W^U": "+.3f"}, note=note)


def flow_by_seed(model_cfg: LMConfig, ids: torch.Tensor, seeds, *, gamma: float,
                 device: str = "cpu") -> list:
    """``cos_E`` of :func:`gradient_check` at one init scale ``gamma``, one array per seed of
    ``seeds`` (each a fresh initialisation of ``model_cfg``).

    Book: chapter 10 (the ablation)."""
    return [gradient_check(model_cfg, ids, [gamma], seed=s, device=device)[float(gamma)]["cos_E"]
            for s in seeds]


def binned(W, Phi, tokens, bins=5, *, null_draws: int = 0, seed: int = 0):
    """:func:`psbook.metrics.binned_alignment` of token vectors ``W`` (rows) against
    signatures ``Phi`` over ``tokens``: pairs grouped by embedding cosine (quantile bins).

    With ``null_draws > 0`` also returns the within-bin correlations expected if the
    relation were *equally strong everywhere*: a Gaussian-copula null that keeps the pairs'
    embedding cosines, the distribution of the signature cosines and the overall
    (normal-score) correlation between the two, averaged over ``null_draws`` draws. A bin is only "more aligned" than the rest
    if it beats this null, since a wide bin (the tails) shows a larger correlation than a
    narrow one even when the relation is uniform (restriction of range).
    """
    from scipy.stats import norm, rankdata
    from ..metrics import pair_values
    null_draws = check_positive_int("null_draws", null_draws, minimum=0)
    e = pair_values(cosine_matrix(W, tokens))
    s = pair_values(cosine_matrix(Phi, tokens))
    res = binned_alignment(e, s, bins)
    if not null_draws:
        return res
    for nm, v in (("W", e), ("Phi", s)):
        if np.all(v == v[0]):
            raise ValueError(f"{nm} gives the same cosine for every pair of tokens (a constant "
                             f"matrix?), so there is no relation to compare with a null")
    ze = norm.ppf(rankdata(e) / (e.size + 1))
    zs = norm.ppf(rankdata(s) / (s.size + 1))
    rho = float(np.corrcoef(ze, zs)[0, 1])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(check_positive_int("null_draws", null_draws)):
        z = rho * ze + np.sqrt(max(0.0, 1 - rho ** 2)) * rng.standard_normal(e.size)
        s_null = np.quantile(s, norm.cdf(z))      # same marginal as the signature cosines
        draws.append(binned_alignment(e, s_null, res.edges).corr)
    return res, np.nanmean(np.stack(draws), axis=0)


#: the three comparisons of chapter 10's binned alignment: label -> (runs, matrix, signature)
BINNED_PANELS = {r"untied $W^E$ vs $\phi^{next}$": ("untied", "W_E", "phi_next"),
                 r"untied $W^U$ vs $\varphi^{pre}$": ("untied", "W_U", "varphi_pre"),
                 r"tied $W$ vs $\tilde\phi$": ("tied", "W_E", "tied")}


def binned_runs(runs: dict, signatures: NextTokenSignatures, tokens, bins: int, *,
                null_draws: int = 20) -> dict:
    """:func:`binned` (with its copula null) for every seed of each of
    :data:`BINNED_PANELS`' comparisons: ``{label: [(result, null) per seed]}``; ``runs`` maps
    ``"untied"`` and ``"tied"`` to lists of trained results.

    Book: chapter 10 (where do embeddings and signatures agree?)."""
    return {label: [binned(getattr(r, mat), getattr(signatures, sig), tokens, bins,
                           null_draws=null_draws) for r in runs[which]]
            for label, (which, mat, sig) in BINNED_PANELS.items()}


def order_null(matrices, tokens, orders) -> np.ndarray:
    """The seed mean of :func:`psbook.metrics.r_order` of ``matrices`` (one token-vector
    matrix per seed) with ``tokens`` listed in each of ``orders`` (permutations of
    ``range(len(tokens))``): one value per order -- the random-listing null of chapter 10's
    digit order, ``[np.mean([r_order(W, tokens[p]) for W in matrices]) for p in orders]``.

    Computed at once: a listing only moves the pairs' cosines between pairs, so their ranks
    are computed once per matrix (the loop spent 7,500 rank computations in the cpu preset).

    Book: chapter 10 (are the digits ordered?)."""
    from scipy.stats import rankdata
    from ..metrics import pair_values
    t = np.asarray(tokens, dtype=np.int64).ravel()
    k = t.size
    if k < 3:
        raise ValueError(f"tokens must name at least 3 tokens; got {k}")
    P = np.asarray(orders)
    if P.ndim != 2 or P.shape[1] != k or not np.all(np.sort(P, axis=1) == np.arange(k)):
        raise ValueError(f"orders must be permutations of range({k}), one per row; got an "
                         f"array of shape {P.shape}")
    mats = list(matrices)
    if not mats:
        raise ValueError("matrices must hold at least one matrix (one per seed)")
    iu = np.triu_indices(k, 1)
    rd = rankdata(np.abs(iu[0] - iu[1])).astype(float)
    rd -= rd.mean()
    out = np.zeros(len(P))
    for W in mats:
        vals = np.round(pair_values(cosine_matrix(W, t)), 12)  # as r_order rounds them
        if np.all(vals == vals[0]):
            return np.full(len(P), np.nan)
        R = np.zeros((k, k))
        R[iu] = rankdata(vals)
        R = R + R.T
        X = R[P[:, iu[0]], P[:, iu[1]]]
        X = X - X.mean(axis=1, keepdims=True)
        out += (X @ rd) / np.sqrt((X * X).sum(axis=1) * (rd * rd).sum())
    return out / len(mats)


def _plain(label: str) -> str:
    """A figure label's TeX as plain text: ``untied $W^E$ vs $\\phi^{next}$`` ->
    ``untied W^E vs φ^next``."""
    for tex, txt in ((r"\tilde\phi", "φ̃"), (r"\varphi", "φ"), (r"\phi", "φ"), ("$", ""),
                     ("{", ""), ("}", "")):
        label = label.replace(tex, txt)
    return label


def binned_table(binned_by_label: dict):
    """A :class:`psbook.display.Table` of :func:`binned_runs`: per comparison, the top bin's
    within-bin correlation (seed mean ± sd), its copula null (seed mean) and the best other
    bin (the largest seed mean).

    Book: chapter 10 (where do embeddings and signatures agree?)."""
    from ..display import Table
    rows = []
    for label, bs in binned_by_label.items():
        c = np.array([b.corr for b, _ in bs])
        nl = np.array([n for _, n in bs])
        rows.append({"comparison": _plain(label), "top bin": c[:, -1],
                     "its null": float(nl[:, -1].mean()),
                     "best other bin": float(np.nanmax(c[:, :-1].mean(0)))})
    return Table(rows, caption="Within-bin correlation: the most similar pairs against the rest",
                 formats={"top bin": "+", "its null": "+.3f", "best other bin": "+.3f"},
                 note="top bin: mean ± sd over seeds; the others: seed means")


def cross_domain_matrix(embeddings: dict, signatures: dict, tokens, *,
                        attr: str = "phi_next", method: str = "pearson") -> np.ndarray:
    """``M[i, j] = R_cos(embedding of model i, signature attr of corpus j)`` over ``tokens``.

    ``embeddings`` maps model name -> V x d token vectors; ``signatures`` maps corpus name ->
    :class:`NextTokenSignatures` (one shared vocabulary). Rows follow ``embeddings``' order,
    columns ``signatures``' order.
    """
    if attr not in ("phi_next", "varphi_pre", "tied"):
        raise ValueError(f"attr must be 'phi_next', 'varphi_pre' or 'tied'; got {attr!r}")
    for nm, d in (("embeddings", embeddings), ("signatures", signatures)):
        if not isinstance(d, dict) or not d:
            raise TypeError(f"{nm} must be a non-empty dict of name -> "
                            f"{'token vectors' if nm == 'embeddings' else 'NextTokenSignatures'}; "
                            f"got {type(d).__name__}")
    for c, s_ in signatures.items():
        if not isinstance(s_, NextTokenSignatures):
            raise TypeError(f"signatures[{c!r}] must be NextTokenSignatures; got "
                            f"{type(s_).__name__}")
    M = np.zeros((len(embeddings), len(signatures)))
    for i, W in enumerate(embeddings.values()):
        for j, s in enumerate(signatures.values()):
            M[i, j] = r_cos(W, getattr(s, attr), tokens, method=method)
    return M


def cross_domain_by_seed(runs: dict, signatures: dict, tokens, *, attr: str = "phi_next",
                        which: str = "W_E") -> np.ndarray:
    """:func:`cross_domain_matrix` for each seed: ``runs`` maps a corpus to its trained results
    (one per seed, the same seeds for every corpus); ``which`` names the matrix of each result
    (``"W_E"``, ``"W_U"``, ``"W_E0"`` at initialisation). Returns seeds x models x signatures.

    Book: chapter 11 (the cross-domain matrix)."""
    n_seeds = len(next(iter(runs.values())))
    return np.stack([cross_domain_matrix({d: getattr(rs[i], which) for d, rs in runs.items()},
                                         signatures, tokens, attr=attr)
                     for i in range(n_seeds)])


def own_corpus_gap(M, assignment=None) -> np.ndarray:
    """Per seed, the mean over models of R_cos against the corpus each model is *assigned*
    minus the mean against the other corpora; ``M``: seeds x models x signatures
    (:func:`cross_domain_by_seed`). ``assignment[i]`` is the corpus model ``i`` is read against
    (default: its own, ``i``); a derangement gives the permuted-label null of
    :func:`own_corpus_nulls`.

    Book: chapter 11 (which corpus a model reflects)."""
    M = np.asarray(M, dtype=float)
    if M.ndim != 3 or M.shape[1] != M.shape[2]:
        raise ValueError(f"M must be seeds x models x signatures with as many models as "
                         f"signatures; got shape {M.shape}")
    n = M.shape[1]
    a = np.arange(n) if assignment is None else np.asarray(assignment)
    if sorted(a.tolist()) != list(range(n)):
        raise ValueError(f"assignment must be a permutation of 0..{n - 1}; got {a.tolist()}")
    mine = M[:, np.arange(n), a]
    return (mine - (M.sum(2) - mine) / (n - 1)).mean(1)


def derangements(n: int) -> list[tuple]:
    """Every permutation of ``0..n-1`` that moves every index: the wrong pairings of ``n``
    models with ``n`` corpora.

    Book: chapter 11 (the permuted-label placebo)."""
    from itertools import permutations

    return [p for p in permutations(range(n)) if all(i != j for i, j in enumerate(p))]


def own_corpus_nulls(M, runs: dict, signatures: dict, tokens, *, attr: str = "phi_next",
                     seed: int = 0) -> dict:
    """Two placebos for "each model matches its own corpus best", one gap
    (:func:`own_corpus_gap`) per seed each:

    * ``"permuted"``: the trained matrices ``M`` (seeds x models x signatures) read with the
      corpus labels permuted -- per seed the largest gap over every derangement: the statistic
      when models and corpora are paired wrongly;
    * ``"random init"``: untrained embeddings, a *fresh random draw per corpus* (Gaussian at
      the scale of each run's initial ``W_E0``, seeded by ``seed``), against the same
      signatures. The models of one seed share their initialisation, so their untrained
      matrices have equal rows and a gap of exactly zero by construction -- a placebo that can
      neither pass nor fail; independent draws give one that can.

    ``runs``, ``signatures``, ``tokens``, ``attr``: as for :func:`cross_domain_by_seed`.
    Returns ``{"permuted": gaps, "random init": gaps, "random init matrix": the drawn
    embeddings' seeds x models x signatures matrix}`` (to apply the claim's own verdict).

    Book: chapter 11 (which corpus a model reflects)."""
    M = np.asarray(M, dtype=float)
    permuted = np.max([own_corpus_gap(M, p) for p in derangements(M.shape[1])], axis=0)
    rng = np.random.default_rng(seed)
    n_seeds = len(next(iter(runs.values())))
    drawn = np.stack([
        cross_domain_matrix({d: rng.standard_normal(rs[i].W_E0.shape) * float(rs[i].W_E0.std())
                             for d, rs in runs.items()}, signatures, tokens, attr=attr)
        for i in range(n_seeds)])
    return {"permuted": permuted, "random init": own_corpus_gap(drawn),
            "random init matrix": drawn}


def mismatch_costs(M, names) -> tuple[list[str], np.ndarray]:
    """For each pair of corpora (i < j) of a cross-domain matrix ``M`` (rows: models, columns:
    signatures, same order), the mean drop in R_cos when a model is compared with the other
    corpus's signatures instead of its own: ``((M_ii - M_ij) + (M_jj - M_ji)) / 2``.

    Returns ``(pair labels "A/B", costs)``.
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] != len(names):
        raise ValueError(f"M must be a square matrix with one row per name ({len(names)}); "
                         f"got shape {M.shape}")
    iu = np.triu_indices(len(names), 1)
    pairs = [f"{names[i]}/{names[j]}" for i, j in zip(*iu)]
    cost = np.array([((M[i, i] - M[i, j]) + (M[j, j] - M[j, i])) / 2 for i, j in zip(*iu)])
    return pairs, cost
