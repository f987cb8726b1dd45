r"""One-call synthetic experiments: the same call for a chapter, a widget, a test and a reader.

>>> from psbook import experiments
>>> res = experiments.run("f_add", model="linear", preset="tiny", gamma=0.8)
>>> res.test_accuracy, res.metrics["R_order"]

``name`` is a task (``"f_add"``, ``"f_add_tilde"``, ``"f_mod"``); sizes and training settings
come from ``preset.synthetic`` (see :mod:`psbook.presets`) and any keyword overrides them:
task parameters (``n_keys``, ``key_dist``, ``p``, ...) go to the task generator, the rest
(``gamma``, ``d``, ``hidden``, ``activation``, ``optimizer``, ``lr``, ``steps``, ...) to
:func:`psbook.synthetic.train.fit`. Results are cached by their full configuration.

The Fourier view of :math:`\phi^{X|y}` used for modular addition lives in
:mod:`psbook.signatures` (``fourier_signature``, ``fourier_power``, ...); it is re-exported
here for older code.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from . import tasks as _tasks
from .._validate import check_choice, check_positive_int
from ..display import Table, count, spread
from ..presets import Preset, get_preset
from ..signatures import TaskSignatures
from ..signatures import (dominant_frequencies, fourier_plane, fourier_power,  # noqa: F401
                         fourier_signature)
from . import ensemble
from .fitting import History
from .train import fit as _train_fit

__all__ = ["ExperimentResult", "run", "sweep", "fourier_signature", "fourier_power",
           "dominant_frequencies", "fourier_plane", "SeedRuns", "run_seeds", "run_over_seeds"]

_FIT_KEYS = set(inspect.signature(_train_fit).parameters) - {"task"}


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
    W_1: np.ndarray | None = None  # the FFN's final hidden layer (hidden x d); None otherwise

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

    def setup_table(self, seeds=None, *, caption: str = "") -> Table:
        """A :class:`psbook.display.Table` of what was trained: the task and its split,
        the model and its training settings (and the seeds, when given). Book: chapters
        05-08."""
        t, c = self.task, self.config
        rows = [("task", t.name),
                ("train / test rows", f"{t.X_train.shape[0]} / {t.X_test.shape[0]}"),
                ("model", self.model)]
        rows += [(k, c[k]) for k in ("d", "gamma", "optimizer", "lr", "steps") if k in c]
        if seeds is not None:
            rows.append(("seeds", ", ".join(str(s) for s in seeds)))
        return Table([{"setting": k, "value": v if isinstance(v, str) else f"{v:g}"}
                      for k, v in rows], caption=caption or "The run on this page")

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
        init_seed: int | None = None, **overrides) -> ExperimentResult:
    """Build the task ``name``, train ``model`` on it and return an :class:`ExperimentResult`.

    Defaults: ``preset.synthetic[name]`` (task sizes), ``preset.synthetic["model"]``
    (d, hidden, activation, gamma) and ``preset.synthetic["train"][name][model]``
    (optimiser, lr, steps). Keyword ``overrides`` replace any of them. ``seed`` is the
    task's (its data split); ``init_seed`` seeds the model's initialisation (default 0).
    Trains through :func:`psbook.synthetic.ensemble.fit`: alone here, and batched with the
    other seeds' runs when called inside :func:`run_seeds` / :func:`sweep`.
    """
    check_choice("name", name, set(_tasks.TASKS))
    check_choice("model", model, {"linear", "ffn"})
    preset = _preset(preset)
    syn = preset.synthetic
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
    if init_seed is not None:
        fit_kw["seed"] = check_positive_int("init_seed", init_seed, minimum=0)
    task = _tasks.make(name, **task_kw)
    fit_kw.setdefault("device", _preset(preset).device)
    res = ensemble.fit(task, model=model, progress=progress, **fit_kw)   # batched in run_seeds
    h = res.history
    return ExperimentResult(name=name, model=model, task=task, signatures=task.signatures(),
                            history=h, W_E=res.W_E, W_U=res.W_U,
                            test_accuracy=float(h.test_acc[-1]),
                            train_accuracy=float(h.train_acc[-1]), config=res.config,
                            W_1=getattr(res, "W_1", None))


def sweep(name: str, grid: dict, model: str = "linear", preset=None, *, batch: bool = True,
          **fixed) -> list:
    """Run every combination of ``grid`` (setting -> list of values); returns
    ``[(settings dict, ExperimentResult), ...]`` in grid order.

    With ``batch`` (default) the runs of the same shapes (e.g. a sweep over ``gamma`` or
    seeds) train together as one batched model (:mod:`psbook.synthetic.ensemble`); each result is
    the one its single :func:`run` gives, within floating-point tolerance, and is cached
    under the same key."""
    import itertools

    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict of setting -> list of values; got {grid!r}")
    keys = list(grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    preset = _preset(preset)

    def one(s):
        return s, run(name, model=model, preset=preset, **fixed, **s)
    return ensemble.batched_map(one, combos) if batch else [one(s) for s in combos]


# ----------------------------------------------------------------------------------------
# Claims over seeds (DESIGN §4: a number with its spread)
# ----------------------------------------------------------------------------------------

@dataclass
class SeedRuns:
    """What :func:`run_seeds` measured: one row per seed for every numeric value.

    ``values[name]`` has shape ``(n_seeds, ...)`` (a scalar metric gives ``(n_seeds,)``, a
    curve ``(n_seeds, n_steps)``); ``outputs`` holds each seed's full dict, non-numeric
    entries (e.g. an :class:`ExperimentResult`) included; ``beside`` what the ``beside``
    callables of :func:`run_seeds` returned (runs trained in the seeds' batches).
    """
    seeds: list
    values: dict
    outputs: list
    beside: list = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.values:
            raise KeyError(f"no value {name!r}; measured: {sorted(self.values)}")
        return self.values[name]

    def mean(self, name: str):
        """Mean over seeds (a float for a scalar metric, an array for a curve)."""
        m = self[name].mean(axis=0)
        return float(m) if np.ndim(m) == 0 else m

    def sd(self, name: str):
        """Sample standard deviation over seeds (ddof=1; 0 for a single seed)."""
        v = self[name]
        s = v.std(axis=0, ddof=1) if v.shape[0] > 1 else np.zeros_like(v[0], dtype=float)
        return float(s) if np.ndim(s) == 0 else s

    def summary(self) -> dict:
        """``{name: (mean, sd)}`` for every scalar value."""
        return {k: (self.mean(k), self.sd(k)) for k, v in self.values.items() if v.ndim == 1}

    def glue_values(self, prefix: str = "") -> dict:
        """``{prefix + name + "_mean": mean, prefix + name + "_sd": sd}`` for every scalar
        value, ready for :func:`psbook.notebook.glue_all`."""
        out = {}
        for k, (m, s) in self.summary().items():
            out[f"{prefix}{k}_mean"] = m
            out[f"{prefix}{k}_sd"] = s
        return out

    def glue_spreads(self, prefix: str = "") -> dict:
        """``{prefix + name + "_pm": "mean ± sd"}`` for every scalar value, written by
        :func:`psbook.display.spread` (the mean alone for a single seed). Book: chapters
        05-08."""
        one = len(self.seeds) == 1
        return {f"{prefix}{k}_pm": spread(m) if one or s <= 1e-9 * max(1.0, abs(m))
                else spread(m, s)
                for k, (m, s) in self.summary().items()}

    def curve(self, key: str, metric: str) -> np.ndarray:
        """``(n_seeds, n_steps)``: the logged curve ``metric`` of each seed's run stored
        under ``key`` in its output (``outputs[i][key].history[metric]``). Book: chapter 06.
        """
        return np.stack([np.asarray(o[key].history[metric], dtype=float)
                         for o in self.outputs])

    def table(self, names=None, *, caption: str = "", labels=None) -> Table:
        """A :class:`psbook.display.Table` of the scalar values: one row per value, its
        ``mean ± sd`` over the seeds (at the precision the sd needs; the mean alone for
        a single seed, or for a value every seed shares).

        ``names`` picks and orders the values (default: every scalar value); ``labels``
        maps a value's name to the text shown for it. Book: chapters 05-07.
        """
        summary = self.summary()
        names = list(summary) if names is None else list(names)
        unknown = [k for k in names if k not in summary]
        if unknown:
            raise KeyError(f"no scalar value {unknown}; measured: {sorted(summary)}")
        labels = dict(labels or {})
        n = len(self.seeds)
        def cell(m, s):  # the mean alone for one seed; a value every seed shares, once
            if n == 1:
                return m
            return (m, s) if s > 1e-9 * max(1.0, abs(m)) else f"{m:.4g} (every seed)"

        rows = [{"value": labels.get(k, k), "mean ± sd": cell(*summary[k])} for k in names]
        return Table(rows, caption=caption,
                     note=f"over {count(n, 'seed')} ({', '.join(map(str, self.seeds))})")

    def per_seed(self, names, *, caption: str = "", labels=None, formats=None) -> Table:
        """A :class:`psbook.display.Table` with one row per seed: the seed, then the scalar
        values ``names`` (``labels`` renames their columns, ``formats`` formats them by
        new name). Book: chapter 07."""
        labels = dict(labels or {})
        rows = [{"seed": s, **{labels.get(k, k): self[k][i] for k in names}}
                for i, s in enumerate(self.seeds)]
        return Table(rows, caption=caption, formats=formats)

    def __repr__(self) -> str:
        return f"SeedRuns(seeds={self.seeds}, values={sorted(self.values)})"


def _numeric(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return isinstance(v, np.ndarray) and v.dtype.kind in "iuf"


def run_seeds(fn, seeds=None, preset=None, *, batch: bool = True, beside=()) -> SeedRuns:
    """Call ``fn(seed)`` for every seed and collect what it returns.

    ``fn`` returns a dict ``{name: value}``; numeric values (numbers, numeric arrays of the
    same shape at every seed) are stacked into :attr:`SeedRuns.values`, everything is kept in
    :attr:`SeedRuns.outputs`. ``seeds`` defaults to ``preset.seeds()`` (``PSBOOK_SEED`` moves
    them; ``n_seeds`` of them). A number alone is stored as ``"value"``.

    With ``batch`` (default) the trainings ``fn`` starts (:func:`run` / :func:`psbook.synthetic.ensemble.fit`)
    are batched across seeds by :func:`psbook.synthetic.ensemble.batched_map`: the seeds' k-th runs train
    together as one ensemble, each member matching its single run within floating-point
    tolerance and cached under its single run's key. ``fn`` may then be called more than once
    per seed, so it must be free of side effects (``batch=False`` calls it once per seed).

    ``beside``: zero-argument callables (e.g. ``lambda: run(...)`` of a figure's extra state)
    whose fits train in the same batches as the seeds' (a run of the same shapes costs almost
    nothing there, alone a whole training); what they return is :attr:`SeedRuns.beside`.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(seed) -> dict; got {type(fn).__name__}")
    beside = list(beside)
    for i, b in enumerate(beside):
        if not callable(b):
            raise TypeError(f"beside[{i}] must be a callable taking no argument; got "
                            f"{type(b).__name__}")
    if seeds is None:
        seeds = _preset(preset).seeds()
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed; got an empty list")
    for s in seeds:
        check_positive_int("seeds[i]", s, minimum=0)
    outputs, values = [], {}
    items = [(fn, int(s)) for s in seeds] + [(b, None) for b in beside]

    def call(item):
        f, s = item
        return f() if s is None else f(s)
    raw = ensemble.batched_map(call, items) if batch else [call(it) for it in items]
    raw, extra = raw[:len(seeds)], raw[len(seeds):]
    for out in raw:
        if _numeric(out):
            out = {"value": out}
        if not isinstance(out, dict):
            raise TypeError(f"fn(seed) must return a dict of name -> value (or a number); "
                            f"got {type(out).__name__}")
        outputs.append(out)
    for k in outputs[0]:
        vals = [o.get(k) for o in outputs]
        if all(_numeric(v) for v in vals):
            arrs = [np.asarray(v, dtype=float) for v in vals]
            if len({a.shape for a in arrs}) != 1:
                raise ValueError(f"value {k!r} has different shapes across seeds: "
                                 f"{[a.shape for a in arrs]}")
            values[k] = np.stack(arrs)
    return SeedRuns(seeds=[int(s) for s in seeds], values=values, outputs=outputs,
                    beside=extra)


def run_over_seeds(name: str, model: str = "linear", preset=None, *, seeds=None,
                   metrics=None, batch: bool = True, beside=(), **overrides) -> SeedRuns:
    """:func:`run` at every seed (task split *and* initialisation) and collect ``metrics``.

    ``metrics(res) -> dict`` picks what to keep (default: every final curve value plus
    ``train_accuracy`` and ``test_accuracy``); the result itself is kept in each output
    under ``"result"``. With ``batch`` (default) the seeds train together as one ensemble
    (:mod:`psbook.synthetic.ensemble`; see :func:`run_seeds`, also for ``beside``).
    """
    if metrics is not None and not callable(metrics):
        raise TypeError(f"metrics must be callable as metrics(result) -> dict; got "
                        f"{type(metrics).__name__}")
    if "seed" in overrides or "init_seed" in overrides:
        raise ValueError("run_over_seeds sets seed and init_seed itself; pass seeds=[...]")

    def one(s):
        res = run(name, model=model, preset=preset, seed=s, init_seed=s, **overrides)
        m = metrics(res) if metrics is not None else {
            **res.metrics, "train_accuracy": res.train_accuracy,
            "test_accuracy": res.test_accuracy}
        return {**m, "result": res}

    return run_seeds(one, seeds=seeds, preset=preset, batch=batch, beside=beside)


# ----------------------------------------------------------------------------------------
# Chapters 06-08: separating signatures, frequency selection, regimes at matched loss
# ----------------------------------------------------------------------------------------

def partial_r_cos(W, Phi, control, tokens=None) -> float:
    r"""Partial correlation, over token pairs, of the embedding cosines with the cosines of
    ``Phi``, with the cosines of ``control`` regressed out of both:
    :math:`R_{cos}(W,\Phi\mid\Phi_c)`. Near 0 when ``Phi`` adds nothing to what ``control``
    already explains (chapter 06: :math:`\phi^X` given :math:`\phi^y`)."""
    from ..metrics import cosine_matrix, pair_values

    W, Phi, control = (np.asarray(a, dtype=float) for a in (W, Phi, control))
    if tokens is not None:
        t = np.asarray(tokens, dtype=np.int64)
        W = W[t]
    if not (W.shape[0] == Phi.shape[0] == control.shape[0]) or W.shape[0] < 4:
        raise ValueError(f"W, Phi and control must have the same number of rows (>= 4 tokens); "
                         f"got {W.shape[0]}, {Phi.shape[0]}, {control.shape[0]}")
    e, a, c = (pair_values(cosine_matrix(M)) for M in (W, Phi, control))
    X = np.stack([np.ones_like(c), c], axis=1)

    def resid(u):
        return u - X @ np.linalg.lstsq(X, u, rcond=None)[0]

    ru, rv = resid(e), resid(a)
    ru, rv = ru - ru.mean(), rv - rv.mean()
    nu, nv = np.linalg.norm(ru), np.linalg.norm(rv)
    # nothing left after removing the control (e.g. W's cosines are the control's): 0
    if nu <= 1e-9 * max(np.linalg.norm(e - e.mean()), 1e-300) or \
            nv <= 1e-9 * max(np.linalg.norm(a - a.mean()), 1e-300):
        return 0.0
    return float(ru @ rv / (nu * nv))


def onset_delays(runs: SeedRuns, threshold: float, *, slow: str = "tilde",
                 base: str = "add") -> tuple:
    """``(delays, largest null ratio)`` at an order threshold: per seed, the step at which
    R_order of the run ``outputs[i][slow]`` crosses ``threshold`` over that of
    ``outputs[i][base]`` (interpolated onsets), and the largest ratio of two ``base`` seeds'
    onsets (:func:`psbook.metrics.onset_ratio_null`). Book: chapter 06."""
    from ..metrics import crossing_step, onset_ratio_null

    on = {nm: np.array([crossing_step(o[nm].history.steps, o[nm].history["R_order"],
                                      threshold) for o in runs.outputs])
          for nm in (base, slow)}
    return on[slow] / np.maximum(on[base], 1), float(np.max(onset_ratio_null(on[base])))


def delay_table(sensitivity: dict, *, caption: str = "") -> Table:
    """A :class:`psbook.display.Table` of :func:`onset_delays` at several thresholds
    (``{threshold: (delays, largest null ratio)}``), one row per threshold. Book: chapter
    06."""
    rows = [{"threshold": t, "delay per seed": " ".join(f"{v:.2f}" for v in d),
             "largest null ratio": mx} for t, (d, mx) in sensitivity.items()]
    return Table(rows, caption=caption, formats={"threshold": ".2f",
                                                 "largest null ratio": ".2f"})


def at_matched_loss(history: History, loss: float, curve: str = "R_cos_phi_y") -> tuple:
    """``(step, value of curve)`` at the first logged step whose training loss is below
    ``loss``; ``(nan, nan)`` if the run never gets there."""
    if not isinstance(history, History):
        raise TypeError(f"history must be a psbook.synthetic.train.History; got {type(history).__name__}")
    if not np.isfinite(loss) or loss <= 0:
        raise ValueError(f"loss must be a positive number; got {loss!r}")
    hit = np.flatnonzero(np.asarray(history.loss) < loss)
    if not hit.size:
        return float("nan"), float("nan")
    return float(history.steps[hit[0]]), float(history[curve][hit[0]])


def value_at_step(history: History, step: int, curve: str) -> float:
    """``curve`` at the last logged step <= ``step``."""
    i = np.searchsorted(history.steps, step, side="right") - 1
    if i < 0:
        raise ValueError(f"step must be >= the first logged step {history.steps[0]}; got {step}")
    return float(history[curve][i])


def weight_movement(res: ExperimentResult) -> dict:
    r"""How far each layer moved from its initialisation, relative to its initial size:
    :math:`\|W(T)-W(0)\|_F/\|W(0)\|_F` for ``"W_E"`` and (FFN with a hidden layer) ``"W_1"``.

    The initial weights are rebuilt from the run's configuration (same seed, same draw)."""
    from .models import make_model

    if not isinstance(res, ExperimentResult):
        raise TypeError(f"res must be an ExperimentResult; got {type(res).__name__}")
    c = res.config
    kw = dict(d=c["d"], gamma=c["gamma"], seed=c["seed"])
    if res.model == "ffn":
        kw.update(hidden=c["hidden"], activation=c["activation"])
    m0 = make_model(res.model, res.task.vocab_size, res.task.label_size, **kw)
    E0 = m0.W_E.detach().double().numpy().T
    out = {"W_E": float(np.linalg.norm(res.W_E - E0) / np.linalg.norm(E0))}
    if res.W_1 is not None and getattr(m0, "W_1", None) is not None:
        H0 = m0.W_1.detach().double().numpy()
        out["W_1"] = float(np.linalg.norm(res.W_1 - H0) / np.linalg.norm(H0))
    return out


def init_scale_values(res: ExperimentResult, fixed: int, loss: float) -> dict:
    """Chapter 08's numbers of one run of the initialisation-scale sweep: ``R_cos(W^E,
    phi^y)`` and train accuracy at step ``fixed`` (``fixed``, ``fixed_acc``); the step and
    ``R_cos`` at the first step below the training ``loss`` (``matched_step``, ``matched``:
    :func:`at_matched_loss`); at the end ``R_cos``, training loss, train and test accuracy
    (``final``, ``final_loss``, ``final_acc``, ``test``); and each layer's relative movement
    (``move_W_E``, ``move_W_1``: :func:`weight_movement`). Book: chapter 08."""
    h = res.history
    out = {"fixed": value_at_step(h, fixed, "R_cos_phi_y"),
           "fixed_acc": value_at_step(h, fixed, "train_acc")}
    out["matched_step"], out["matched"] = at_matched_loss(h, loss)
    out["final"], out["final_loss"] = res.metrics["R_cos_phi_y"], float(h.loss[-1])
    out["final_acc"], out["test"] = res.train_accuracy, res.test_accuracy
    for layer, v in weight_movement(res).items():
        out[f"move_{layer}"] = v
    return out


def init_scale_table(runs: SeedRuns, gammas, fixed: int, loss: float, *,
                     values=("fixed", "matched", "final"), models=("linear", "ffn"),
                     caption: str = "") -> Table:
    """A :class:`psbook.display.Table` of the initialisation-scale sweep, one row per model
    and gamma, one column per value of :func:`init_scale_values` in ``values`` (``runs``
    keyed ``<model>_<gamma>_<value>``): ``mean ± sd`` over the seeds that have it (a run
    that never reached the matched ``loss`` has none; ``matched`` comes with how many seeds
    reached it). Book: chapter 08.
    """
    names = {"fixed": f"R_cos, step {fixed}", "matched": f"R_cos, loss {loss:g}",
             "final": "R_cos, end", "fixed_acc": f"train acc, step {fixed}",
             "final_acc": "train acc, end", "final_loss": "loss, end", "test": "test acc",
             "move_W_E": "W_E moved", "move_W_1": "W_1 moved"}
    unknown = [v for v in values if v not in names]
    if unknown:
        raise ValueError(f"values must be among {sorted(names)}; got {unknown}")

    def cell(v):
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return "n/a"
        if v.size == 1 or np.ptp(v) <= 1e-9 * max(1.0, float(np.abs(v).max())):
            return spread(float(v.mean())) + (" (every seed)" if v.size > 1 else "")
        return spread(v)

    n = len(runs.seeds)
    rows = []
    for m in models:
        for g in gammas:
            t = f"{m}_{g}_"
            row = {"model": m, "gamma": f"{g:g}"}
            for v in values:
                if f"{t}{v}" not in runs.values:
                    row[names[v]] = "n/a"   # e.g. W_1 of a model without a hidden layer
                    continue
                row[names[v]] = cell(runs[t + v])
                if v == "matched":
                    row["reached"] = f"{int(np.isfinite(runs[t + v]).sum())}/{n}"
            rows.append(row)
    return Table(rows, caption=caption, note=f"mean ± sd over {count(n, 'seed')}")


def frequency_selection(res: ExperimentResult, freq: int | None = None) -> dict:
    """For a modular-addition run: the frequency the *data* rank first (largest
    :func:`psbook.signatures.fourier_spectrum`, or ``freq`` when given), the embedding's
    dominant frequency, and the fraction of the embedding's energy on the data's frequency."""
    from ..signatures import fourier_spectrum

    if not isinstance(res, ExperimentResult):
        raise TypeError(f"res must be an ExperimentResult; got {type(res).__name__}")
    spec = fourier_spectrum(res.task)
    k = int(np.argmax(spec)) + 1 if freq is None else check_positive_int("freq", freq)
    pw = fourier_power(res.W_E)
    if k > pw.size:
        raise ValueError(f"freq must be in [1, {pw.size}]; got {k}")
    return {"data_freq": k, "emb_freq": int(np.argmax(pw)) + 1, "energy_at_data_freq":
            float(pw[k - 1]), "match": float(np.argmax(pw) + 1 == k), "chance": 1.0 / pw.size}


def noisy_frequency_values(ffn_n: ExperimentResult, lin_n: ExperimentResult,
                           ffn_clean: ExperimentResult, k: int) -> dict:
    r"""Chapter 07's numbers of one seed of frequency-selective label noise at frequency
    ``k``, each beside its control: the frequency the measured signature ranks first
    (``k_data``); the energy of ``W^E`` there and whether it dominates, for the FFN on the
    noisy data (``ffn_*``), the linear model on the same data (``lin_*``) and the FFN on
    clean data (``clean_*``); ``chance``; the two largest :math:`|\lambda_k|` and their gap
    (``spec_1``, ``spec_2``, ``spec_gap``; ``clean_spec_gap`` on clean data); the FFN's test
    accuracy and final training loss, and the loss of the Bayes predictor of the noisy
    labels, :math:`H(q)` (``bayes_loss``: the ceiling predicts :math:`(a+b)\bmod p` at
    cross-entropy :math:`H(q)`). Book: chapter 07."""
    from ..signatures import fourier_spectrum

    sel = frequency_selection(ffn_n)  # k* ranked first by the data
    ctl_lin = frequency_selection(lin_n)
    ctl_clean = frequency_selection(ffn_clean, freq=sel["data_freq"])
    p, rho = ffn_n.task.vocab_size, ffn_n.task.params["rho"]
    q = 1 + rho * np.cos(2 * np.pi * k * np.arange(p) / p)
    q = q[q > 0] / q.sum()  # the noise law of the labels
    spec = np.sort(fourier_spectrum(ffn_n.task))
    return {"k_data": sel["data_freq"], "ffn_energy": sel["energy_at_data_freq"],
            "ffn_match": sel["match"], "lin_energy": ctl_lin["energy_at_data_freq"],
            "lin_match": ctl_lin["match"], "clean_energy": ctl_clean["energy_at_data_freq"],
            "clean_match": ctl_clean["match"], "chance": sel["chance"],
            "spec_1": spec[-1], "spec_2": spec[-2], "spec_gap": np.diff(spec[-2:])[0],
            "clean_spec_gap": np.diff(np.sort(fourier_spectrum(ffn_clean.task))[-2:])[0],
            "ffn_test": ffn_n.test_accuracy, "ffn_loss": float(ffn_n.history.loss[-1]),
            "bayes_loss": float(-(q * np.log(q)).sum())}


def mantel_alignment(res: "ExperimentResult", n_perm: int = 999, seed: int = 0,
                     relabelled: bool = False) -> dict:
    r""":math:`R_{cos}(W^E,\phi^y-\mathbf u)` over the ordered tokens with its Mantel null
    (:func:`psbook.metrics.mantel_r_cos`: the signature's tokens relabelled, rows and columns
    together, ``n_perm`` times): ``{"R_cos": r, "null": the n_perm values, "p": p}``.

    ``relabelled=True`` is the placebo: the signature's keys are first relabelled once at
    random (seeded by ``seed + 1``) and that draw is tested as if it were the data -- its ``p``
    is uniform, so it passes a test at level ``1 / (1 + n_perm)`` by chance that often.

    Book: chapter 5 (negative controls)."""
    from ..metrics import mantel_r_cos

    if not isinstance(res, ExperimentResult):
        raise TypeError(f"res must be an ExperimentResult; got {type(res).__name__}")
    t = np.asarray(res.task.ordered_tokens)
    phi_c = res.signatures.dense("phi_y", t) - 1.0 / res.task.label_size
    if relabelled:
        phi_c = phi_c[np.random.default_rng(seed + 1).permutation(len(t))]
    r, null, p = mantel_r_cos(res.W_E[t], phi_c, n_perm=n_perm, seed=seed)
    return {"R_cos": r, "null": null, "p": p}


def mantel_table(by_seed: dict) -> Table:
    """One row per seed of :func:`mantel_alignment` results: R_cos, the null's 99th percentile
    and largest value, and p.

    Book: chapter 5 (negative controls)."""
    rows = [(s, m["R_cos"], float(np.quantile(m["null"], 0.99)), float(m["null"].max()),
             m["p"]) for s, m in by_seed.items()]
    n = len(next(iter(by_seed.values()))["null"]) if by_seed else 0
    return Table(rows, ["seed", "R_cos", "null, 99th pct", "null, largest", "p"],
                 caption=f"R_cos(W^E, φ^y − u) against {n} relabellings of the keys",
                 formats={"R_cos": "+.3f", "null, 99th pct": "+.3f", "null, largest": "+.3f",
                          "p": ".3f"})


__all__ += ["mantel_alignment", "mantel_table"]


def key_geometry(res: ExperimentResult, *, n_shuffles: int = 20, seed: int = 0,
                 order_threshold: float = -0.9) -> dict:
    r"""The chapter-05 numbers of one run, each beside its negative control.

    * ``R_cos_centred``: :math:`R_{cos}(W^E,\phi^y-\mathbf u)` over the ordered tokens -- the
      centred form that the leading term of the flow predicts; ``R_cos`` the uncentred one
      (the book's logged metric); ``R_cos_max`` the largest logged value along training.
    * ``R_cos_shuffled``: the mean of :func:`psbook.metrics.shuffled_r_cos` (centred
      signature dealt to the wrong tokens) -- the control.
    * ``R_order`` and ``R_order_shuffled`` (the same embedding with its tokens listed in a
      random order: the control).
    * ``onset``: first logged step with ``R_order < order_threshold`` (NaN: never).
    * ``R_cos_phi_y_curve`` / ``R_order_curve``: the logged curves (for a band over seeds).
    * ``phi_X_cos_min``: smallest cosine between two ordered tokens' :math:`\phi^X` -- how far
      the co-occurrence signatures are from being identical (split noise only in f_add).
    """
    from ..metrics import cosine_matrix, pair_values, r_cos, r_order, shuffled_r_cos, shuffled_rows

    if not isinstance(res, ExperimentResult):
        raise TypeError(f"res must be an ExperimentResult; got {type(res).__name__}")
    t = np.asarray(res.task.ordered_tokens)
    sig = res.signatures
    W = res.W_E[t]
    phi_c = sig.dense("phi_y", t) - 1.0 / res.task.label_size
    h = res.history
    return {
        "R_cos_centred": r_cos(W, phi_c),
        "R_cos": float(h["R_cos_phi_y"][-1]),
        "R_cos_max": float(np.max(h["R_cos_phi_y"])),
        "R_cos_init": float(h["R_cos_phi_y"][0]),
        "R_cos_shuffled": float(shuffled_r_cos(W, phi_c, n_shuffles=n_shuffles,
                                               seed=seed).mean()),
        "R_order": r_order(W),
        "R_order_init": float(h["R_order"][0]),
        "R_order_shuffled": float(np.mean([r_order(shuffled_rows(W, seed + i))
                                           for i in range(n_shuffles)])),
        "onset": float(h.first_step_below("R_order", order_threshold)),
        "R_cos_phi_X": float(h["R_cos_phi_X"][-1]),
        "phi_X_cos_min": float(pair_values(cosine_matrix(sig.dense("phi_X", t))).min()),
        "train_accuracy": res.train_accuracy,
        "test_accuracy": res.test_accuracy,
        "R_cos_phi_y_curve": np.asarray(h["R_cos_phi_y"], dtype=float),
        "R_order_curve": np.asarray(h["R_order"], dtype=float),
    }


def contrasts(**results) -> dict:
    """``{name + "_" + key: value}``: :func:`psbook.synthetic.tasks.signature_contrast` of
    each named run's task (``contrasts(tilde=r1, add=r2)``). Book: chapter 06."""
    return {f"{nm}_{k}": v for nm, r in results.items()
            for k, v in _tasks.signature_contrast(r.task).items()}


def contrast_labels(**names) -> dict:
    """Row labels for :func:`contrasts`' values: ``contrast_labels(tilde="f~_add")`` ->
    ``{"tilde_mean_cos_phi_y": "f~_add: mean cosine of phi^y", ...}``. Book: chapter 06."""
    what = {"mean_cos_phi_y": "mean cosine of phi^y", "r_order_phi_y": "R_order(phi^y)",
            "mean_cos_phi_X": "mean cosine of phi^X", "r_order_phi_X": "R_order(phi^X)"}
    return {f"{key}_{k}": f"{shown}: {w}" for key, shown in names.items()
            for k, w in what.items()}


#: the onset table of chapter 06, as its rows name the values
ONSET_LABELS = {"t_add": "onset of order, f_add", "t_tilde": "onset of order, f~_add",
                "final_add": "final R_order, f_add", "final_tilde": "final R_order, f~_add",
                "test_tilde": "test accuracy, f~_add", "delay": "delay, f~_add / f_add"}


#: what :func:`key_geometry`'s scalar values are, as a table row names them (chapter 05)
KEY_GEOMETRY_LABELS = {
    "R_cos_centred": "R_cos(W^E, phi^y - u), end",
    "R_cos": "R_cos(W^E, phi^y), end",
    "R_cos_max": "R_cos(W^E, phi^y), largest",
    "R_cos_init": "R_cos(W^E, phi^y), initial",
    "R_cos_shuffled": "control: phi^y - u shuffled",
    "R_order": "R_order(W^E), end",
    "R_order_init": "R_order(W^E), initial",
    "R_order_shuffled": "control: keys in random order",
    "onset": "first step with R_order < -0.9",
    "R_cos_phi_X": "R_cos(W^E, phi^X), end",
    "phi_X_cos_min": "smallest phi^X cosine",
    "train_accuracy": "train accuracy",
    "test_accuracy": "test accuracy",
}


__all__ += ["key_geometry", "KEY_GEOMETRY_LABELS", "contrasts", "contrast_labels",
            "ONSET_LABELS"]
#: how chapter 07's tables name the values of its runs (clean data, and
#: :func:`noisy_frequency_values`)
FREQUENCY_LABELS = {
    "lin_test": "linear: test accuracy", "lin_train": "linear: train accuracy",
    "ffn_test": "FFN: test accuracy", "chance": "chance",
    "k_true": "k* (noise frequency)", "k_data": "frequency ranked first",
    "ffn_energy": "FFN: energy at k*", "ffn_match": "FFN: k* dominant",
    "lin_energy": "linear: energy at k*", "lin_match": "linear: k* dominant",
    "clean_energy": "FFN, clean data: energy at k*",
    "clean_match": "FFN, clean data: k* dominant",
    "spec_1": "largest |lambda_k|", "spec_2": "second largest |lambda_k|",
    "spec_gap": "gap between the two", "clean_spec_gap": "the gap, clean data",
    "ffn_loss": "FFN: training loss", "bayes_loss": "Bayes predictor: loss H(q)",
}


__all__ += ["onset_delays", "delay_table", "noisy_frequency_values",
            "FREQUENCY_LABELS", "init_scale_values",
            "init_scale_table"]
__all__ += ["partial_r_cos", "at_matched_loss", "value_at_step", "weight_movement",
            "frequency_selection"]
