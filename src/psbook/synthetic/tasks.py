r"""Synthetic tasks of the book's Part II (paper §5; a reconstruction, see paper-notes §6, §9).

Three generators, each returning a :class:`Task` (train/test data + token bookkeeping):

* :func:`f_add` -- composite addition. ``form="composite"``: ``X = (z, a_1, .., a_q)`` with a
  *key* ``z`` and ``q`` *anchors*, ``y = z + a_1 + .. + a_q``; keys and anchors are different
  tokens. ``form="pair"``: ``X = (a, b)`` from one set of number tokens, ``y = a + b``.
* :func:`f_add_tilde` -- the same rule, but the anchors are drawn *given the key* so that the
  sum stays near a target ``c``: :math:`P(\mathbf a \mid z) \propto
  \exp(-(z + \sum a - c)^2 / 2w^2)`. Then every key's label signature :math:`\phi^y_z` is
  nearly the same bump around ``c`` (they differ only weakly), while its co-occurrence
  signature :math:`\phi^X_z` (which anchors it meets, centred on ``c - z``) differs strongly
  and is ordered by ``z``. See :func:`signature_contrast`.
* :func:`f_mod` -- ``X = (a, b)``, ``y = (a + b) mod p``: every token's :math:`\phi^y` is
  uniform, so the label signature carries no structure at all.

Data distributions: ``"uniform"`` or ``"zipf"`` (probability of value rank ``k`` proportional
to ``(k + 1)^{-s}``, small values most frequent) over keys and over anchors independently;
a fraction ``test_frac`` of the input *combinations* (or an explicit ``holdout`` list) is
held out and forms the test set (each held-out combination once). The training set is the
table of the remaining combinations, each once (``n_samples=None``, only for uniform
distributions), or ``n_samples`` i.i.d. draws from the distribution restricted to them.

Token ids: keys (numbers) first, ``0 .. n_keys-1`` in natural order, then anchors. Label id =
the label's value (sums start at 0). ``Task.ordered_tokens`` lists the tokens whose natural
order the task defines (the keys / numbers).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_choice, check_positive_float, check_positive_int, check_size
from ..signatures import TaskSignatures, task_signatures

__all__ = ["Task", "f_add", "f_add_tilde", "f_mod", "f_add_flat", "f_mod_noisy", "f_add_designed",
           "value_weights", "make", "TASKS", "signature_contrast"]

DISTRIBUTIONS = ("uniform", "zipf")


@dataclass
class Task:
    """A labelled synthetic task: int64 arrays ``X_* (N, L)`` and ``y_* (N,)``."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    vocab_size: int
    label_size: int
    ordered_tokens: np.ndarray
    token_names: list
    label_names: list
    params: dict
    groups: dict = field(default_factory=dict)   # e.g. {"keys": ids, "anchors": ids}
    _sig: TaskSignatures | None = field(default=None, repr=False, compare=False)

    def signatures(self) -> TaskSignatures:
        """Probability signatures of the *training* data (computed once, then reused)."""
        if self._sig is None:
            self._sig = task_signatures(self.X_train, self.y_train, self.vocab_size,
                                        self.label_size)
        return self._sig

    @property
    def seq_len(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def chance_accuracy(self) -> float:
        """Accuracy of always predicting the most frequent training label, on the test set."""
        if self.y_test.size == 0:
            return float("nan")
        top = np.bincount(self.y_train, minlength=self.label_size).argmax()
        return float(np.mean(self.y_test == top))

    def config(self) -> dict:
        """Everything that determines the data (for cache keys): the generator's parameters
        and a fingerprint of the arrays themselves (so an edited ``y_train`` is a new key)."""
        from ..cache import fingerprint
        data = fingerprint([self.X_train, self.y_train, self.X_test, self.y_test,
                            self.ordered_tokens, int(self.vocab_size), int(self.label_size)])
        return {"name": self.name, **self.params, "data": data}

    def __repr__(self) -> str:
        return (f"Task({self.name}: {self.X_train.shape[0]} train / {self.X_test.shape[0]} test "
                f"rows, L={self.seq_len}, V={self.vocab_size}, V_out={self.label_size}, "
                f"params={self.params})")


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------

def value_weights(n: int, dist: str = "uniform", exponent: float = 1.0) -> np.ndarray:
    """Probabilities of ``n`` values: uniform, or Zipf ``(k+1)^-exponent`` (value 0 most likely)."""
    n = check_positive_int("n", n)
    check_choice("dist", dist, DISTRIBUTIONS)
    if dist == "uniform":
        return np.full(n, 1.0 / n)
    s = check_positive_float("exponent", exponent, allow_zero=True)
    w = (np.arange(n) + 1.0) ** (-s)
    return w / w.sum()


def _check_frac(test_frac) -> float:
    f = check_positive_float("test_frac", test_frac, allow_zero=True)
    if f >= 1:
        raise ValueError(f"test_frac must be in [0, 1); got {test_frac}")
    return f


def _split(combos: np.ndarray, prob: np.ndarray, test_frac: float, holdout, n_samples,
           seed: int, uniform: bool, n_tokens_check, label_fn, what: str):
    """Split combination table into train rows (table or samples) and test rows (table)."""
    rng = np.random.default_rng(seed)
    n = combos.shape[0]
    support = prob > 0
    if not support.any():
        raise ValueError(f"{what}: the data distribution puts no mass on any combination")
    if holdout is not None:
        hold = np.asarray(holdout)         # ints beyond int64 come back as dtype=object
        if hold.size and hold.dtype.kind not in "iu":   # never truncate 0.7 -> 0 or wrap
            raise TypeError(f"holdout must hold integer values; got an array of dtype "
                            f"{hold.dtype}: {np.asarray(holdout).ravel()[:4].tolist()}")
        hold = hold.astype(np.int64)
        if hold.ndim != 2 or hold.shape[1] != combos.shape[1]:
            raise ValueError(f"holdout must be a list of {combos.shape[1]}-tuples of values; "
                             f"got an array of shape {hold.shape}")
        check_size("holdout", 8.0 * n * max(len(hold), 1), "matching the held-out rows")
        match = (combos[:, None, :] == hold[None, :, :]).all(-1)
        found = match.any(0)
        if not found.all():
            bad = hold[int(np.flatnonzero(~found)[0])].tolist()
            raise ValueError(f"holdout must list combinations of the task's values; {bad} is not "
                             f"one (out of range of the keys / anchors?)")
        test_mask = match.any(1)
    else:
        test_mask = np.zeros(n, dtype=bool)
        n_test = int(round(test_frac * support.sum()))
        for _ in range(50):   # redraw until every token still occurs in training
            test_mask[:] = False
            idx = rng.choice(np.flatnonzero(support), size=n_test, replace=False)
            test_mask[idx] = True
            if n_tokens_check(combos[~test_mask & support]):
                break
        else:
            raise ValueError(f"test_frac={test_frac} holds out so many combinations that some "
                             f"token never occurs in training; use a smaller test_frac")
    train_mask = support & ~test_mask
    if not train_mask.any():
        raise ValueError(f"{what}: no training combination left (empty training distribution)")
    if n_samples is None:
        if not uniform:
            raise ValueError("n_samples must be given (an integer) for a non-uniform data "
                             "distribution; n_samples=None means 'each combination once', "
                             "which is only the distribution when it is uniform")
        tr = combos[train_mask]
    else:
        n_samples = check_positive_int("n_samples", n_samples)
        p = np.where(train_mask, prob, 0.0)
        tr = combos[rng.choice(n, size=n_samples, p=p / p.sum())]
    te = combos[test_mask]
    return tr, label_fn(tr), te, label_fn(te)


def _arr(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


# ----------------------------------------------------------------------------------------
# f_add
# ----------------------------------------------------------------------------------------

def _guard_combinations(names: str, n_combos: int, width: int) -> None:
    """Refuse a table of ``n_combos`` rows of ``width`` values before it is built (the table,
    its probabilities, masks and the train/test copies: about 4 copies of it)."""
    check_size(names, float(n_combos) * (4 * 8 * width + 6 * 8),
               f"a table of {n_combos:,} input combinations")


def _product(*sizes) -> np.ndarray:
    """``np.array(list(itertools.product(*map(range, sizes))))`` without Python tuples."""
    return np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1).T.copy()


def _addition(name, n_keys, n_anchors, n_slots, form, key_p, anchor_p, joint_fn, test_frac,
              holdout, n_samples, seed, uniform, params):
    if form == "pair":
        _guard_combinations(f"n_keys={n_keys}", n_keys ** 2, 2)
        vals = _product(n_keys, n_keys)
        prob = key_p[vals[:, 0]] * key_p[vals[:, 1]]
        if joint_fn is not None:
            prob = prob * joint_fn(vals[:, 0], vals[:, 1])
        V = n_keys
        to_tokens = lambda v: v  # noqa: E731
        names = [str(i) for i in range(n_keys)]
        groups = {"keys": np.arange(n_keys)}
        label_size = 2 * n_keys - 1
    else:
        _guard_combinations(f"n_keys={n_keys}, n_anchors={n_anchors}, n_slots={n_slots}",
                            n_keys * n_anchors ** n_slots, 1 + n_slots)
        vals = _product(n_keys, *[n_anchors] * n_slots)
        prob = key_p[vals[:, 0]] * np.prod(anchor_p[vals[:, 1:]], axis=1)
        if joint_fn is not None:
            prob = prob * joint_fn(vals[:, 0], vals[:, 1:].sum(1))
        V = n_keys + n_anchors
        to_tokens = lambda v: np.concatenate([v[:, :1], v[:, 1:] + n_keys], axis=1)  # noqa: E731
        names = [str(i) for i in range(n_keys)] + [f"+{j}" for j in range(n_anchors)]
        groups = {"keys": np.arange(n_keys), "anchors": np.arange(n_keys, V)}
        label_size = n_keys + n_slots * (n_anchors - 1)

    def all_tokens_seen(v):
        return np.unique(to_tokens(v)).size == V if v.size else False

    tr, ytr, te, yte = _split(vals, prob / prob.sum(), test_frac, holdout, n_samples, seed,
                              uniform, all_tokens_seen, lambda v: v.sum(axis=1), name)
    return Task(name=name, X_train=_arr(to_tokens(tr)), y_train=_arr(ytr),
                X_test=_arr(to_tokens(te)) if te.size else np.zeros((0, vals.shape[1]), np.int64),
                y_test=_arr(yte), vocab_size=V, label_size=label_size,
                ordered_tokens=np.arange(n_keys, dtype=np.int64), token_names=names,
                label_names=[str(i) for i in range(label_size)], params=params, groups=groups)


def _common(n_keys, n_anchors, n_slots, form, seed):
    n_keys = check_positive_int("n_keys", n_keys, minimum=3)
    check_choice("form", form, {"composite", "pair"})
    n_anchors = check_positive_int("n_anchors", n_anchors, minimum=1)
    n_slots = check_positive_int("n_slots", n_slots, minimum=1)
    check_positive_int("seed", seed, minimum=0)
    return n_keys, n_anchors, n_slots


def f_add(*, n_keys: int = 20, n_anchors: int = 5, n_slots: int = 2, form: str = "composite",
          key_dist: str = "uniform", key_zipf: float = 1.0, anchor_dist: str = "uniform",
          anchor_zipf: float = 1.0, test_frac: float = 0.2, holdout=None,
          n_samples: int | None = None, seed: int = 0) -> Task:
    """Composite addition ``y = z + a_1 + .. + a_q`` (``form="composite"``) or ``y = a + b``
    (``form="pair"``, both from the ``n_keys`` number tokens; anchors unused).

    Keys take values ``0 .. n_keys-1``, anchors ``0 .. n_anchors-1`` (token names ``"+j"``).
    ``key_dist``/``anchor_dist``: ``"uniform"`` or ``"zipf"`` with exponents
    ``key_zipf``/``anchor_zipf``. ``holdout``: explicit value tuples for the test set
    (overrides ``test_frac``).
    """
    n_keys, n_anchors, n_slots = _common(n_keys, n_anchors, n_slots, form, seed)
    test_frac = _check_frac(test_frac)
    key_p = value_weights(n_keys, key_dist, key_zipf)
    anchor_p = value_weights(n_anchors, anchor_dist, anchor_zipf)
    params = dict(n_keys=n_keys, n_anchors=n_anchors, n_slots=n_slots, form=form,
                  key_dist=key_dist, key_zipf=float(key_zipf), anchor_dist=anchor_dist,
                  anchor_zipf=float(anchor_zipf), test_frac=test_frac,
                  holdout=None if holdout is None else [list(h) for h in holdout],
                  n_samples=n_samples, seed=seed)
    uniform = key_dist == "uniform" and (anchor_dist == "uniform" or form == "pair")
    return _addition("f_add", n_keys, n_anchors, n_slots, form, key_p, anchor_p, None,
                     test_frac, holdout, n_samples, seed, uniform, params)


def f_add_tilde(*, n_keys: int = 20, n_anchors: int = 11, n_slots: int = 2,
                form: str = "composite", width: float = 1.0, target: float | None = None,
                key_dist: str = "uniform", key_zipf: float = 1.0, test_frac: float = 0.2,
                holdout=None, n_samples: int | None = 20_000, seed: int = 0) -> Task:
    r"""Addition whose anchors *compensate* the key: :math:`P(\mathbf a\mid z)\propto
    \exp(-(z+\sum_j a_j-c)^2/2w^2)` with ``c = target`` (default: the middle of the label
    range) and ``w = width``.

    The labels then all lie near ``c``: the keys' label signatures :math:`\phi^y_z` nearly
    coincide, while their co-occurrence signatures :math:`\phi^X_z` are bumps at ``c - z``,
    far apart and ordered. A large ``width`` turns the task back into :func:`f_add`.
    ``form="pair"`` uses ``X = (a, b)`` from one number set with the same coupling.
    """
    n_keys, n_anchors, n_slots = _common(n_keys, n_anchors, n_slots, form, seed)
    width = check_positive_float("width", width)
    test_frac = _check_frac(test_frac)
    max_sum = (n_keys - 1) + (n_keys - 1 if form == "pair" else n_slots * (n_anchors - 1))
    c = max_sum / 2 if target is None else float(target)
    if not 0 <= c <= max_sum:
        raise ValueError(f"target must lie in the label range [0, {max_sum}]; got {target}")
    key_p = value_weights(n_keys, key_dist, key_zipf)
    anchor_p = value_weights(n_anchors)
    params = dict(n_keys=n_keys, n_anchors=n_anchors, n_slots=n_slots, form=form,
                  width=width, target=c, key_dist=key_dist, key_zipf=float(key_zipf),
                  test_frac=test_frac,
                  holdout=None if holdout is None else [list(h) for h in holdout],
                  n_samples=n_samples, seed=seed)

    def joint(z, rest):
        # P(rest | z) proportional to the bump; normalised per key so the key marginal stays
        w = np.exp(-((z + rest - c) ** 2) / (2 * width ** 2))
        norm = np.bincount(z, weights=w * (anchor_p[0] ** n_slots if form != "pair" else
                                           key_p[rest.clip(0, n_keys - 1)]), minlength=n_keys)
        return w / norm[z]

    return _addition("f_add_tilde", n_keys, n_anchors, n_slots, form, key_p, anchor_p, joint,
                     test_frac, holdout, n_samples, seed, False, params)


# ----------------------------------------------------------------------------------------
# f_mod
# ----------------------------------------------------------------------------------------

def f_mod(*, p: int = 23, dist: str = "uniform", zipf: float = 1.0, test_frac: float = 0.2,
          holdout=None, n_samples: int | None = None, seed: int = 0) -> Task:
    """Modular addition ``X = (a, b)``, ``y = (a + b) mod p`` over tokens ``0 .. p-1``.

    ``dist``: ``"uniform"`` or ``"zipf"`` (exponent ``zipf``) over both operands.
    """
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise TypeError(f"p must be an integer modulus >= 2; got {type(p).__name__} {p!r}")
    if p < 2:
        raise ValueError(f"p must be an integer modulus >= 2; got {p}")
    p = int(p)
    check_positive_int("seed", seed, minimum=0)
    test_frac = _check_frac(test_frac)
    _guard_combinations(f"p={p}", p * p, 2)
    w = value_weights(p, dist, zipf)
    vals = _product(p, p)
    prob = w[vals[:, 0]] * w[vals[:, 1]]
    params = dict(p=p, dist=dist, zipf=float(zipf), test_frac=test_frac,
                  holdout=None if holdout is None else [list(h) for h in holdout],
                  n_samples=n_samples, seed=seed)
    tr, ytr, te, yte = _split(vals, prob / prob.sum(), test_frac, holdout, n_samples, seed,
                              dist == "uniform", lambda v: np.unique(v).size == p,
                              lambda v: v.sum(axis=1) % p, "f_mod")
    return Task(name="f_mod", X_train=_arr(tr), y_train=_arr(ytr),
                X_test=_arr(te) if te.size else np.zeros((0, 2), np.int64), y_test=_arr(yte),
                vocab_size=p, label_size=p, ordered_tokens=np.arange(p, dtype=np.int64),
                token_names=[str(i) for i in range(p)], label_names=[str(i) for i in range(p)],
                params=params, groups={"keys": np.arange(p)})


def make(name: str, **params) -> Task:
    """``make("f_add", n_keys=10)`` -- a task by name (one of :data:`TASKS`)."""
    check_choice("name", name, set(TASKS))
    return TASKS[name](**params)


def signature_contrast(task: Task, tokens=None) -> dict:
    """How much the tokens' label and co-occurrence signatures differ.

    Returns, over pairs of ``tokens`` (default ``task.ordered_tokens``), the mean cosine
    similarity of ``phi_y`` rows and of ``phi_X`` rows (1 = identical for all tokens) and
    their :func:`psbook.metrics.r_order` (-1 = ordered like the tokens).
    """
    from .._validate import as_token_array
    from ..metrics import cosine_matrix, pair_values, r_order

    if not isinstance(task, Task):
        raise TypeError(f"task must be a psbook.synthetic.tasks.Task; got {type(task).__name__}")
    t = task.ordered_tokens if tokens is None else as_token_array("tokens", tokens,
                                                                  task.vocab_size, ndim=1)
    sig = task.signatures()
    out = {}
    for nm in ("phi_y", "phi_X"):
        M = sig.dense(nm, t)
        out[f"mean_cos_{nm}"] = float(pair_values(cosine_matrix(M)).mean())
        out[f"r_order_{nm}"] = r_order(M)
    return out


# ----------------------------------------------------------------------------------------
# variants for chapters 06-07: a key-independent label signature; frequency-selective noise
# ----------------------------------------------------------------------------------------

def f_add_flat(*, n_keys: int = 14, n_anchors: int = 12, n_slots: int = 2,
               test_frac: float = 0.2, holdout=None, n_samples: int | None = 20_000,
               seed: int = 0) -> Task:
    r"""Composite addition whose keys all have the *same* label signature.

    The label is drawn uniformly from the window :math:`W=[K-1,\;q(A-1)]` (``K = n_keys``,
    ``A = n_anchors``, ``q = n_slots``) whatever the key, and the anchors are then drawn
    uniformly among the tuples that sum to :math:`y-z`. So :math:`P(y\mid z)` is uniform on
    :math:`W` for every key (:math:`\phi^y_z` identical in the population; in a sample it
    differs only by sampling noise, with no order), while :math:`\phi^X_z` (anchors summing to
    :math:`y-z`) moves with ``z``: only the co-occurrence signature can order the keys.
    Needs :math:`q(A-1)\ge K+1` (a window of at least three labels).
    """
    n_keys, n_anchors, n_slots = _common(n_keys, n_anchors, n_slots, "composite", seed)
    lo, hi = n_keys - 1, n_slots * (n_anchors - 1)
    if hi - lo < 2:
        raise ValueError(f"f_add_flat needs n_slots * (n_anchors - 1) >= n_keys + 1 so that every "
                         f"key can reach the same labels; got n_keys={n_keys}, "
                         f"n_anchors={n_anchors}, n_slots={n_slots}")
    test_frac = _check_frac(test_frac)
    key_p = value_weights(n_keys)
    anchor_p = value_weights(n_anchors)
    # number of anchor tuples with each sum
    count = np.ones(1)
    for _ in range(n_slots):
        count = np.convolve(count, np.ones(n_anchors))
    params = dict(n_keys=n_keys, n_anchors=n_anchors, n_slots=n_slots, window=[lo, hi],
                  test_frac=test_frac,
                  holdout=None if holdout is None else [list(h) for h in holdout],
                  n_samples=n_samples, seed=seed, kind="flat")

    def joint(z, rest):
        y = z + rest
        inside = (y >= lo) & (y <= hi)
        return np.where(inside, 1.0 / count[rest], 0.0)

    task = _addition("f_add_flat", n_keys, n_anchors, n_slots, "composite", key_p, anchor_p,
                     joint, test_frac, holdout, n_samples, seed, False, params)
    return task


def f_mod_noisy(*, p: int = 17, freq: int = 1, rho: float = 1.0, n_per_pair: int = 20,
                test_frac: float = 0.3, seed: int = 0) -> Task:
    r"""Modular addition with label noise that singles out one Fourier frequency.

    Training labels are :math:`y=(a+b+\delta)\bmod p` with :math:`\delta\sim q`,
    :math:`q(\delta)\propto 1+\rho\cos(2\pi\,\mathrm{freq}\,\delta/p)`, ``n_per_pair`` draws
    per training pair; test labels are clean, :math:`(a+b)\bmod p` (the most likely label).
    Then the joint signature's Fourier eigenvalues have modulus
    :math:`|\hat q(k)|=\tfrac{\rho}{2}` at ``k = freq`` and 0 at every other frequency
    (:func:`psbook.signatures.fourier_spectrum` measures it): the data decide which frequency
    an embedding should use.
    """
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 5:
        raise ValueError(f"p must be an integer modulus >= 5; got {p!r}")
    p = int(p)
    if isinstance(freq, bool) or not isinstance(freq, (int, np.integer)) \
            or not 1 <= freq <= p // 2:
        raise ValueError(f"freq must be an integer frequency in [1, p//2 = {p // 2}]; got {freq!r}")
    rho = check_positive_float("rho", rho)
    if rho > 1:
        raise ValueError(f"rho must be in (0, 1] (q must stay a distribution); got {rho}")
    n_per_pair = check_positive_int("n_per_pair", n_per_pair)
    check_positive_int("seed", seed, minimum=0)
    test_frac = _check_frac(test_frac)
    vals = np.array(list(itertools.product(range(p), repeat=2)), dtype=np.int64)
    tr, _, te, yte = _split(vals, np.full(len(vals), 1.0 / len(vals)), test_frac, None, None,
                            seed, True, lambda v: np.unique(v).size == p,
                            lambda v: v.sum(axis=1) % p, "f_mod_noisy")
    q = 1 + rho * np.cos(2 * np.pi * int(freq) * np.arange(p) / p)
    q /= q.sum()
    rng = np.random.default_rng([seed, 7])
    X = np.repeat(tr, n_per_pair, axis=0)
    y = (X.sum(axis=1) + rng.choice(p, size=len(X), p=q)) % p
    params = dict(p=p, freq=int(freq), rho=float(rho), n_per_pair=n_per_pair,
                  test_frac=test_frac, seed=seed)
    return Task(name="f_mod_noisy", X_train=_arr(X), y_train=_arr(y),
                X_test=_arr(te) if te.size else np.zeros((0, 2), np.int64), y_test=_arr(yte),
                vocab_size=p, label_size=p, ordered_tokens=np.arange(p, dtype=np.int64),
                token_names=[str(i) for i in range(p)], label_names=[str(i) for i in range(p)],
                params=params, groups={"keys": np.arange(p)})



# ----------------------------------------------------------------------------------------
# designed geometry (chapter 13): f_add with a restricted set of anchor values
# ----------------------------------------------------------------------------------------

def f_add_designed(*, n_keys: int = 20, anchor_values=(0, 5), n_slots: int = 2,
                   test_frac: float = 0.2, holdout=None, seed: int = 0) -> Task:
    r"""Composite addition ``y = z + a_1 + .. + a_q`` whose anchors take only the values in
    ``anchor_values`` (one anchor token per value, named ``"+v"``), uniform over the table.

    The label signature :math:`\phi^y_z` is then supported on ``z + {sums of q anchor values}``,
    so two keys share labels only when their difference is a difference of such sums. With
    ``anchor_values=(0, m)`` the keys ``z`` and ``z + m`` are similar and ``z``, ``z + 1`` are
    orthogonal (a period-``m`` geometry); with even values ``(0, 2, 4, ..)`` the keys form two
    interleaved ordered chains (even and odd). Token ids: keys ``0 .. n_keys-1``, then the
    anchors in the order given; label id = the sum's value.
    """
    n_keys, _, n_slots = _common(n_keys, 1, n_slots, "composite", seed)
    vals = np.asarray(anchor_values)
    if vals.ndim != 1 or vals.size < 2 or vals.dtype.kind not in "iu" or np.any(vals < 0) \
            or np.unique(vals).size != vals.size:
        raise ValueError(f"anchor_values must be at least 2 distinct non-negative integers; "
                         f"got {anchor_values!r}")
    vals = vals.astype(np.int64)
    test_frac = _check_frac(test_frac)
    k = vals.size
    combos = np.array(list(itertools.product(range(n_keys), *[range(k)] * n_slots)),
                      dtype=np.int64)
    V = n_keys + k
    label_size = n_keys + n_slots * int(vals.max())
    hold = None
    if holdout is not None:   # given as values: map anchor values to their indices
        h = np.asarray(holdout, dtype=np.int64)
        idx = {int(v): i for i, v in enumerate(vals)}
        hold = [[int(r[0])] + [idx[int(v)] for v in r[1:]] for r in h]

    def to_tokens(c):
        return np.concatenate([c[:, :1], c[:, 1:] + n_keys], axis=1)

    def label(c):
        return c[:, 0] + vals[c[:, 1:]].sum(axis=1)

    def all_tokens_seen(c):
        return np.unique(to_tokens(c)).size == V if c.size else False

    prob = np.full(combos.shape[0], 1.0 / combos.shape[0])
    tr, ytr, te, yte = _split(combos, prob, test_frac, hold, None, seed, True,
                              all_tokens_seen, label, "f_add_designed")
    params = dict(n_keys=n_keys, anchor_values=[int(v) for v in vals], n_slots=n_slots,
                  test_frac=test_frac,
                  holdout=None if holdout is None else [list(h) for h in holdout], seed=seed)
    return Task(name="f_add_designed", X_train=_arr(to_tokens(tr)), y_train=_arr(ytr),
                X_test=_arr(to_tokens(te)) if te.size else np.zeros((0, 1 + n_slots), np.int64),
                y_test=_arr(yte), vocab_size=V, label_size=label_size,
                ordered_tokens=np.arange(n_keys, dtype=np.int64),
                token_names=[str(i) for i in range(n_keys)] + [f"+{int(v)}" for v in vals],
                label_names=[str(i) for i in range(label_size)], params=params,
                groups={"keys": np.arange(n_keys), "anchors": np.arange(n_keys, V)})


# ----------------------------------------------------------------------------------------
# the registry: every task make(name) and psbook.synthetic.experiments.run(name) know
# ----------------------------------------------------------------------------------------

#: name -> builder, the one place a task is registered. Each name also needs its sizes in every
#: preset (``preset.synthetic[name]`` and ``preset.synthetic["train"][name]``, in
#: :mod:`psbook.preset_sizes.synthetic`; tests/test_tasks.py checks both).
TASKS = {"f_add": f_add, "f_add_tilde": f_add_tilde, "f_mod": f_mod, "f_add_flat": f_add_flat,
         "f_mod_noisy": f_mod_noisy}
