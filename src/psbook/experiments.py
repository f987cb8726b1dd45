r"""One-call synthetic experiments: the same call for a chapter, a widget, a test and a reader.

>>> from psbook import experiments
>>> res = experiments.run("f_add", model="linear", preset="tiny", gamma=0.8)
>>> res.test_accuracy, res.metrics["R_order"]

``name`` is a task (``"f_add"``, ``"f_add_tilde"``, ``"f_mod"``); sizes and training settings
come from ``preset.synthetic`` (see :mod:`psbook.presets`) and any keyword overrides them:
task parameters (``n_keys``, ``key_dist``, ``p``, ...) go to the task generator, the rest
(``gamma``, ``d``, ``hidden``, ``activation``, ``optimizer``, ``lr``, ``steps``, ...) to
:func:`psbook.train.fit`. Results are cached by their full configuration.

Also here: the Fourier view of :math:`\phi^{X|y}` used for modular addition
(:func:`fourier_signature`, :func:`fourier_power`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from . import tasks as _tasks
from ._validate import check_choice, check_positive_int
from .presets import Preset, get_preset
from .signatures import TaskSignatures
from .train import History, fit

__all__ = ["ExperimentResult", "run", "sweep", "fourier_signature", "fourier_power",
           "dominant_frequencies", "fourier_plane"]

_FIT_KEYS = set(inspect.signature(fit).parameters) - {"task"}


@dataclass
class ExperimentResult:
    name: str
    model: str
    task: _tasks.Task
    signatures: TaskSignatures
    history: History
    W_E: np.ndarray               # final embeddings, one row per token (V x d)
    W_U: np.ndarray               # final unembedding (V_out x width)
    test_accuracy: float
    train_accuracy: float
    config: dict

    @property
    def metrics(self) -> dict:
        """Final value of every logged curve (R_cos_phi_y, R_order, ...)."""
        return {k: float(v[-1]) for k, v in self.history.curves.items()}

    def snapshot(self, step: int) -> np.ndarray:
        """W_E (V x d) stored at ``step`` (see ``snapshot_steps``)."""
        snaps = self.history.snapshots
        if step not in snaps:
            raise KeyError(f"no snapshot at step {step}; stored: {sorted(snaps)} (pass "
                           f"snapshot_steps=[...] to run)")
        return snaps[step]["W_E"]

    def __repr__(self) -> str:
        m = self.metrics
        return (f"ExperimentResult({self.name}, {self.model}: train acc {self.train_accuracy:.2f}, "
                f"test acc {self.test_accuracy:.2f}, R_cos(W^E, phi^y) "
                f"{m['R_cos_phi_y']:+.3f}, R_order {m['R_order']:+.3f})")


def _preset(preset) -> Preset:
    if preset is None or isinstance(preset, str):
        return get_preset(preset)
    if isinstance(preset, Preset):
        return preset
    raise TypeError(f"preset must be None, a preset name or a Preset; got {type(preset).__name__}")


def run(name: str, model: str = "linear", preset=None, *, progress: bool = False,
        **overrides) -> ExperimentResult:
    """Build the task ``name``, train ``model`` on it and return an :class:`ExperimentResult`.

    Defaults: ``preset.synthetic[name]`` (task sizes), ``preset.synthetic["model"]``
    (d, hidden, activation, gamma) and ``preset.synthetic["train"][name][model]``
    (optimiser, lr, steps). Keyword ``overrides`` replace any of them.
    """
    check_choice("name", name, set(_tasks.TASKS))
    check_choice("model", model, {"linear", "ffn"})
    syn = _preset(preset).synthetic
    if not syn:
        raise ValueError("preset.synthetic is empty; use a psbook preset (tiny, cpu, gpu)")
    task_kw = dict(syn.get(name, {}))
    fit_kw = dict(syn.get("model", {}))
    fit_kw.update(syn.get("train", {}).get(name, {}).get(model, {}))
    task_params = set(inspect.signature(_tasks.TASKS[name]).parameters)
    for k, v in overrides.items():
        if k in task_params:
            task_kw[k] = v
        elif k in _FIT_KEYS:
            fit_kw[k] = v
        else:
            raise ValueError(f"unknown setting {k!r} for run({name!r}); task settings: "
                             f"{sorted(task_params)}; training settings: {sorted(_FIT_KEYS)}")
    task = _tasks.make(name, **task_kw)
    res = fit(task, model=model, progress=progress, **fit_kw)
    h = res.history
    return ExperimentResult(name=name, model=model, task=task, signatures=task.signatures(),
                            history=h, W_E=res.W_E, W_U=res.W_U,
                            test_accuracy=float(h.test_acc[-1]),
                            train_accuracy=float(h.train_acc[-1]), config=res.config)


def sweep(name: str, grid: dict, model: str = "linear", preset=None, **fixed) -> list:
    """Run every combination of ``grid`` (setting -> list of values); returns
    ``[(settings dict, ExperimentResult), ...]`` in grid order."""
    import itertools

    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict of setting -> list of values; got {grid!r}")
    keys = list(grid)
    out = []
    for vals in itertools.product(*(grid[k] for k in keys)):
        s = dict(zip(keys, vals))
        out.append((s, run(name, model=model, preset=preset, **fixed, **s)))
    return out


# ----------------------------------------------------------------------------------------
# Fourier view of phi^{X|y} (modular addition)
# ----------------------------------------------------------------------------------------

def fourier_signature(task: _tasks.Task, k: int) -> np.ndarray:
    r"""Per-token coordinates ``(Re, Im)`` of :math:`\lambda_k(x)=\sum_{\beta,\nu}
    \phi^{X|y}_x(\beta,\nu)\,e^{2\pi i k(\nu-\beta)/p}`, shape ``(p, 2)``.

    For :math:`(a+b) \bmod p` every :math:`\phi^{X|y}_x` is :math:`\tfrac1p` times the shift
    matrix :math:`\nu = x + \beta`; these matrices commute and share the Fourier eigenvectors,
    and :math:`\lambda_k(x)` (normalised by the mass of :math:`\phi^{X|y}_x`) is the
    eigenvalue of token ``x``'s signature on frequency ``k``: :math:`e^{2\pi i kx/p}` for the
    full table. Computed from the training data, so held-out pairs perturb it.
    """
    if not isinstance(task, _tasks.Task):
        raise TypeError(f"task must be a psbook.tasks.Task (e.g. tasks.f_mod()); got "
                        f"{type(task).__name__}")
    p = task.vocab_size
    if task.label_size != p:
        raise ValueError(f"fourier_signature needs a task with as many labels as input tokens "
                         f"(modular addition); got V={p}, V_out={task.label_size}")
    k = check_positive_int("k", k, minimum=0)
    sig = task.signatures()
    beta = np.arange(p)[:, None]
    nu = np.arange(p)[None, :]
    phase = np.exp(2j * np.pi * k * (nu - beta) / p)
    out = np.zeros((p, 2))
    for x in range(p):
        M = sig.phi_X_given_y(x)
        mass = M.sum()
        lam = (M * phase).sum() / mass if mass > 0 else 0.0
        out[x] = lam.real, lam.imag
    return out


def fourier_power(W: np.ndarray, tokens=None) -> np.ndarray:
    """Fraction of the (centred) embedding's energy on each frequency ``k = 1 .. p//2`` of the
    cyclic group of the listed tokens (rows of ``W`` in the group's order)."""
    W = np.asarray(W, dtype=float)
    if tokens is not None:
        W = W[np.asarray(tokens)]
    F = np.fft.rfft(W - W.mean(axis=0), axis=0)
    pw = (np.abs(F) ** 2).sum(axis=1)[1:]
    return pw / pw.sum() if pw.sum() > 0 else pw


def dominant_frequencies(W: np.ndarray, n: int = 1) -> np.ndarray:
    """The ``n`` frequencies carrying most of ``W``'s energy (largest first)."""
    return np.argsort(fourier_power(W))[::-1][:n] + 1


def fourier_plane(W: np.ndarray, k: int) -> np.ndarray:
    """Coordinates ``(p, 2)`` of the centred rows of ``W`` in the plane spanned by the real and
    imaginary parts of their discrete Fourier coefficient at frequency ``k``."""
    W = np.asarray(W, dtype=float)
    k = check_positive_int("k", k)
    p = W.shape[0]
    C = W - W.mean(axis=0)
    F = np.exp(-2j * np.pi * k * np.arange(p) / p) @ C
    Q, _ = np.linalg.qr(np.stack([F.real, F.imag], axis=1))
    return C @ Q
