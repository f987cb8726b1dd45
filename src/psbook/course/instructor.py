"""The instructor's answer key of the problem sets (course/assessment.md), computed, not stored.

``python -m psbook.course instructor`` (``make course-instructor``) writes
``_build/course-instructor/answer-key.md``: the numbers a correct hand-in reaches, computed by
psbook from the problem sets' own variants (the squared loss, softplus, the four task variants of
problem set 2). ``_build/`` is not committed and the public student and solution notebooks
never contain these answers; the book answers none of the problem sets' questions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["softplus_coefficients", "squared_loss_check", "ps2_signatures", "answer_key",
           "write"]


def softplus_coefficients(h: float = 1e-3) -> tuple[float, float]:
    """C_1, C_2 of sigma(z) = log(1 + e^z) - log 2, by central differences (1/2 and 1/8)."""
    s = lambda z: math.log1p(math.exp(z)) - math.log(2.0)  # noqa: E731
    return (s(h) - s(-h)) / (2 * h), (s(h) - 2 * s(0.0) + s(-h)) / (2 * h * h)


def squared_loss_check(gammas=(0.6, 0.9, 1.2, 1.5), seeds=(0, 1, 2), d: int = 16) -> dict:
    """Problem set 1, item 3: the relative residual of the order-1 squared-loss prediction
    ``r_x W_U^T phi^y_x`` (no centring) and of the cross-entropy one (the control), against
    autograd on the squared loss, per gamma (mean over ``seeds``), and the log-log slopes."""
    import torch

    from ..synthetic import tasks
    from ..synthetic.models import LinearModel
    t = tasks.f_add(n_keys=12, n_anchors=4, test_frac=0.0)
    sig = t.signatures()
    phi = np.asarray(sig.phi_y.todense() if hasattr(sig.phi_y, "todense") else sig.phi_y)
    r = np.asarray(sig.r_in)
    X, y = torch.from_numpy(t.X_train), torch.from_numpy(t.y_train)
    out = {"squared": [], "cross-entropy": [], "gamma": list(gammas)}
    for g in gammas:
        res = {"squared": [], "cross-entropy": []}
        for s in seeds:
            m = LinearModel(t.vocab_size, t.label_size, d=d, gamma=g, seed=s).double()
            m.zero_grad()
            target = torch.nn.functional.one_hot(y, t.label_size).double()
            loss = 0.5 * ((m(X) - target) ** 2).sum(dim=1).mean()
            loss.backward()
            v = -m.W_E.grad.numpy()
            W_U = m.W_U.detach().numpy()
            for name, sig_x in (("squared", phi), ("cross-entropy", phi - 1.0 / phi.shape[1])):
                pred = W_U.T @ (r[:, None] * sig_x).T
                res[name].append(np.linalg.norm(pred - v) / np.linalg.norm(v))
        for name in res:
            out[name].append(float(np.mean(res[name])))
    sigma = [d ** -g for g in gammas]
    for name in ("squared", "cross-entropy"):
        out[f"slope {name}"] = float(np.polyfit(np.log(sigma), np.log(out[name]), 1)[0])
    return out


PS2_TASKS = {
    "f_add(n_keys=16, n_slots=3)": ("f_add", dict(n_keys=16, n_slots=3)),
    "f_mod(p=19, dist='zipf', zipf=1.2, n_samples=3000)":
        ("f_mod", dict(p=19, dist="zipf", zipf=1.2, n_samples=3000)),
    "f_add_flat()": ("f_add_flat", {}),
    "f_mod_noisy(p=19, freq=3, rho=0.5)": ("f_mod_noisy", dict(p=19, freq=3, rho=0.5)),
}


def ps2_signatures() -> dict:
    """Problem set 2, item 1: R_order of the keys' phi^y and phi^X, and whether phi^y is
    uniform given each key, for the four variants."""
    from ..synthetic import tasks
    from ..metrics import r_order
    out = {}
    for label, (name, kw) in PS2_TASKS.items():
        t = getattr(tasks, name)(**kw)
        s = t.signatures()
        k = list(t.ordered_tokens)
        py = s.dense("phi_y", k)
        out[label] = {"R_order phi_y": float(r_order(py)),
                      "R_order phi_X": float(r_order(s.dense("phi_X", k))),
                      "phi_y uniform": bool(np.allclose(py, 1.0 / py.shape[1], atol=1e-3))}
    return out


def answer_key() -> str:
    c1, c2 = softplus_coefficients()
    sq = squared_loss_check()
    lines = ["# Answer key of the problem sets (instructors only; generated, not committed)", "",
             "## Problem set 1", "",
             "1. Squared loss: at small initialisation the residual is -e_y, so "
             "dW^E_x/dt = r_x W_U^T phi^y_x -- no centring: the embedding copies the cosine "
             "geometry of the *uncentred* label signatures.",
             f"2. softplus - log 2: C_1 = {c1:.4f} (1/2), C_2 = {c2:.4f} (1/8): phi^y at order 1, "
             "phi^{X|y} at order 2 (C_2 != 0). sigma(z) = z^2: C_1 = 0, the order-1 flow "
             "vanishes; the first term is the order-2 one.", "",
             "3. Relative residual against autograd on the squared loss, mean of 3 draws:", "",
             "| gamma | squared-loss prediction | cross-entropy prediction (control) |",
             "|---|---|---|"]
    for g, a, b in zip(sq["gamma"], sq["squared"], sq["cross-entropy"]):
        lines.append(f"| {g} | {a:.3g} | {b:.3g} |")
    lines += ["", f"Log-log slopes against sigma = d^-gamma: squared {sq['slope squared']:.2f}, "
              f"cross-entropy {sq['slope cross-entropy']:.2f}.", "", "## Problem set 2", "",
              "| task | R_order phi^y | R_order phi^X | phi^y uniform |", "|---|---|---|---|"]
    for label, v in ps2_signatures().items():
        lines.append(f"| `{label}` | {v['R_order phi_y']:+.3f} | {v['R_order phi_X']:+.3f} | "
                     f"{'yes' if v['phi_y uniform'] else 'no'} |")
    lines += ["", "Training outcomes (items 3-5) depend on the preset: run each task with "
              "`experiments.run(name, model, preset=preset, **params)` over `preset.seeds()`."]
    return "\n".join(lines) + "\n"


def write(root: Path, out: Path | None = None) -> Path:
    """Write the answer key under ``_build/course-instructor/`` (never into the repository's
    tracked folders)."""
    out = Path(out) if out is not None else Path(root) / "_build" / "course-instructor"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "answer-key.md"
    path.write_text(answer_key())
    return path
