"""Bad input is refused everywhere (issue 10 §4, 7, 8).

1. Property-based (Hypothesis): the public signature and metric functions, fed random shapes,
   dtypes, NaN/inf, empty input and huge vocabularies, either return finite, correctly shaped
   results (NaN only where the docstring promises it) or raise ValueError/TypeError whose
   message names one of the function's arguments -- no other exception,
   no allocation beyond the guard (PSBOOK_MAX_BYTES is lowered to 64 MiB here).
2. One regression test per defect of issue 10 §4, 7 and 8 outside signatures/metrics.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from psbook import metrics, signatures  # noqa: E402

settings.register_profile("psbook", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "psbook"))


@pytest.fixture(autouse=True)
def small_memory_limit(monkeypatch):
    monkeypatch.setenv("PSBOOK_MAX_BYTES", str(64 << 20))


# ---- strategies ---------------------------------------------------------------------------

DTYPES = [np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_]
finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32) | \
    st.floats(-10, 10, width=32)


@st.composite
def arrays(draw, ndims=(1, 2), max_side=7):
    nd = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(nd))
    dtype = draw(st.sampled_from(DTYPES))
    if np.dtype(dtype).kind == "f":
        elems = st.floats(-5, 5, width=32) if draw(st.booleans()) else finite_or_not
    elif np.dtype(dtype).kind == "b":
        elems = st.booleans()
    else:
        info = np.iinfo(dtype)
        elems = st.integers(max(info.min, -3), min(info.max, 9))
    a = draw(hnp.arrays(dtype, shape, elements=elems))
    if draw(st.integers(0, 9)) == 0 and a.ndim == 2 and a.dtype.kind in "iuf":
        return sp.csr_matrix(a.astype(np.float64))
    return a


vocab = st.sampled_from([0, -1, 1, 2, 5, 12, 10**9, 10**15]) | st.integers(1, 20) | \
    st.sampled_from([2.5, "5", None])
token_ids = st.one_of(
    hnp.arrays(np.int64, st.tuples(st.integers(0, 30)), elements=st.integers(-2, 25)),
    hnp.arrays(np.int64, st.tuples(st.integers(0, 4), st.integers(0, 6)),
               elements=st.integers(-1, 25)),
    hnp.arrays(np.float64, st.tuples(st.integers(0, 6)), elements=st.floats(0, 5)),
    st.integers(-3, 30),
    st.lists(st.integers(-1, 25), max_size=10),
)
tokens_arg = st.none() | st.lists(st.integers(-2, 9), max_size=8) | st.sampled_from(
    [np.array([0.0, 1.0, 2.0]), "abc", 3])


def _names_an_argument(exc: Exception, names) -> bool:
    msg = str(exc)
    return any(n in msg for n in names)


def call(fn, names, *args, **kwargs):
    """``fn(*args, **kwargs)``; None if it raised ValueError/TypeError naming an argument."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert _names_an_argument(exc, names), f"{fn.__name__}: message names no argument " \
                                               f"{names}: {exc}"
        return None


def _constant(v) -> bool:
    v = np.asarray(v)
    return v.size < 2 or bool(np.all(v == v.flat[0]))


# ---- properties: metrics ------------------------------------------------------------------

@given(arrays(ndims=(0, 1, 2, 3)), tokens_arg)
def test_cosine_matrix_property(A, tokens):
    out = call(metrics.cosine_matrix, ["A", "tokens"], A, tokens)
    if out is not None:
        n = A.shape[0] if tokens is None else len(tokens)
        assert out.shape == (n, n)
        assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


@given(arrays(ndims=(1, 2)), arrays(ndims=(1, 2)), st.sampled_from(["pearson", "spearman",
                                                                     "kendall"]))
def test_correlation_property(u, v, method):
    if sp.issparse(u) or sp.issparse(v):
        return
    out = call(metrics.correlation, ["u", "v", "method", "values"], u, v, method)
    if out is not None:
        assert isinstance(out, float)
        assert (np.isnan(out) and (_constant(u) or _constant(v))) or abs(out) <= 1 + 1e-9


@given(arrays(), arrays(), tokens_arg, st.sampled_from(["pearson", "spearman"]))
def test_r_cos_property(W, Phi, tokens, method):
    out = call(metrics.r_cos, ["W", "Phi", "tokens", "method"], W, Phi, tokens, method)
    if out is not None:
        assert isinstance(out, float)
        if np.isnan(out):   # documented: a constant vector of pair cosines has no correlation
            t = np.arange(W.shape[0]) if tokens is None else np.asarray(tokens)
            pw = metrics.pair_values(metrics.cosine_matrix(W, t))
            pp = metrics.pair_values(metrics.cosine_matrix(Phi, t))
            assert _constant(pw) or _constant(pp)
        else:
            assert abs(out) <= 1 + 1e-9


@given(arrays(), tokens_arg)
def test_r_order_property(W, tokens):
    out = call(metrics.r_order, ["W", "tokens"], W, tokens)
    if out is not None and not np.isnan(out):
        assert abs(out) <= 1 + 1e-9


@given(arrays(), tokens_arg, st.sampled_from([1, 5, 200_000, 0, -1, 10**12, 2.5]),
       st.sampled_from([0, 1, -1, "a"]))
def test_order_triplet_fraction_property(W, tokens, max_triplets, seed):
    out = call(metrics.order_triplet_fraction, ["W", "tokens", "max_triplets", "seed"], W,
               tokens, max_triplets=max_triplets, seed=seed)
    if out is not None:
        assert 0.0 <= out <= 1.0


bins_arg = st.integers(-1, 12) | st.sampled_from([2.7, "a", None, float("nan"), float("inf"),
                                                  10**8, True]) | \
    st.lists(st.floats(-2, 2) | st.just(float("nan")), min_size=0, max_size=5)


@given(arrays(ndims=(1, 2, 3)), arrays(ndims=(1, 2, 3)), bins_arg,
       st.sampled_from([0, 2, 10, -1]))
def test_binned_alignment_property(S_emb, S_sig, bins, min_pairs):
    out = call(metrics.binned_alignment, ["S_emb", "S_sig", "bins", "min_pairs"], S_emb, S_sig,
               bins, min_pairs=min_pairs)
    if out is not None:
        nb = out.edges.size - 1
        assert nb >= 1 and np.all(np.isfinite(out.edges)) and np.all(np.diff(out.edges) >= 0)
        for a in (out.count, out.corr, out.mean_emb, out.mean_sig):
            assert a.shape == (nb,)
        empty = out.count == 0
        assert np.all(np.isfinite(out.mean_emb[~empty])) and np.all(np.isnan(out.mean_emb[empty]))
        ok = np.isnan(out.corr) | (np.abs(out.corr) <= 1 + 1e-9)
        assert np.all(ok)


@given(arrays(), st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                 st.lists(st.integers(-1, 8), max_size=5), max_size=3),
       st.none() | st.lists(st.integers(-1, 8), max_size=5))
def test_group_similarity_property(Phi, groups, baseline):
    out = call(metrics.group_similarity, ["Phi", "groups", "baseline_tokens"], Phi, groups,
               baseline)
    if out is not None:
        for name, v in out.items():
            assert isinstance(v, float)
            if name in groups and len(groups[name]) < 2:
                assert np.isnan(v)          # documented: a group of < 2 tokens
            elif not np.isnan(v):
                assert abs(v) <= 1 + 1e-9


# ---- properties: signatures ----------------------------------------------------------------

@given(token_ids, vocab)
def test_next_token_signatures_property(ids, V):
    out = call(signatures.next_token_signatures, ["ids", "vocab_size"], ids, V)
    if out is not None:
        assert out.counts.shape == (V, V)
        n = np.asarray(ids)
        pairs = n.shape[-1] - 1 if n.ndim == 1 else max(n.shape[1] - 1, 0) * n.shape[0]
        assert out.n_pairs == max(pairs, 0)
        for m in (out.phi_next, out.varphi_pre):
            s = np.asarray(m.sum(axis=1)).ravel()
            assert np.all(np.isfinite(m.data))
            assert np.all(np.isclose(s, 1) | (s == 0))


@given(hnp.arrays(np.int64, st.tuples(st.integers(0, 6), st.integers(0, 4)),
                  elements=st.integers(-1, 12)) | arrays(ndims=(1, 2, 3)),
       hnp.arrays(np.int64, st.tuples(st.integers(0, 6)), elements=st.integers(-1, 12)),
       vocab, st.none() | st.integers(1, 13),
       st.none() | st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6)
       | st.just([1e308, 1e308, 1e308, 1.0, 1.0, 1.0]))
def test_task_signatures_property(X, y, V, Vout, weights):
    out = call(signatures.task_signatures, ["X", "y", "vocab_size", "label_size", "weights"],
               X, y, V, Vout, weights)
    if out is not None:
        Vo = V if Vout is None else Vout
        assert out.phi_y.shape == (V, Vo) and out.phi_X.shape == (V, V)
        assert out.varphi_X.shape == (Vo, V) and out.r_in.shape == (V,)
        for a in (out.phi_y, out.phi_X, out.varphi_X, out.r_in):
            assert np.all(np.isfinite(a))
        s = out.phi_y.sum(axis=1)
        assert np.all(np.isclose(s, 1) | (s == 0))


# ---- §4: size guards outside signatures / metrics -------------------------------------------

def test_task_size_guards_name_the_arguments():
    from psbook.synthetic import tasks
    with pytest.raises(ValueError, match=r"^n_keys=20, n_anchors=10, n_slots=8 would need "
                                         r"about .* for a table of 2,000,000,000 input "
                                         r"combinations, above the limit of 64 MiB"):
        tasks.f_add(n_keys=20, n_anchors=10, n_slots=8)
    with pytest.raises(ValueError, match=r"^p=100000 would need about .*above the limit"):
        tasks.f_mod(p=10**5)
    with pytest.raises(MemoryError):                       # TooLarge is also a MemoryError
        tasks.f_mod(p=10**5)


def test_product_table_matches_itertools():
    import itertools
    from psbook.synthetic.tasks import _product
    ref = np.array(list(itertools.product(range(3), range(2), range(4))))
    np.testing.assert_array_equal(_product(3, 2, 4), ref)


# ---- §7: silent wrong results -----------------------------------------------------------------

def test_linear_model_refuses_negative_ids():
    torch = pytest.importorskip("torch")
    from psbook.synthetic.models import LinearModel
    m = LinearModel(5, 5, d=4)
    with pytest.raises(ValueError, match=r"^X must hold token ids in \[0, vocab_size=5\); found -1"):
        m(torch.tensor([[0, -1]]))


def test_autograd_velocity_checks_ids_weights_and_model():
    torch = pytest.importorskip("torch")
    from psbook.synthetic.models import LinearModel
    from psbook.theory import autograd_velocity
    m = LinearModel(5, 5, d=4)
    X, y = np.array([[0, 1], [2, 3]]), np.array([1, 4])
    assert np.isfinite(autograd_velocity(m, X, y)["loss"])
    with pytest.raises(ValueError, match=r"^X must hold ids in \[0, 5\); found -1"):
        autograd_velocity(m, [[0, -1]], [1])
    with pytest.raises(TypeError, match=r"^X must hold integer token ids"):
        autograd_velocity(m, X.astype(float), y)
    for w, pat in (([np.nan, 1], r"^weights must be finite"), ([0, 0], r"^weights must not be "
                   r"all zero"), ([], r"^weights must have shape")):
        with pytest.raises(ValueError, match=pat):
            autograd_velocity(m, X, y, weights=w)
    with pytest.raises(ValueError, match=r"^X is empty"):
        autograd_velocity(m, np.zeros((0, 2), int), np.zeros(0, int))
    with torch.no_grad():
        m.W_E[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^model parameter W_E holds NaN"):
        autograd_velocity(m, X, y)


def test_integrators_refuse_bad_dt_and_overflow():
    from psbook.theory import integrate_reduced
    rng = np.random.default_rng(0)
    M, WE, WU = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match=r"^dt must be a finite number > 0; got inf"):
        integrate_reduced(WE, WU, M, [0, 1], method="rk4", dt=float("inf"))
    with pytest.raises(ValueError, match=r"^times reach t = 10000, .*overflows float64"):
        integrate_reduced(WE, WU, M, [0, 1e4], method="exact")
    with pytest.raises(ValueError, match=r"overflows float64"):
        integrate_reduced(WE, WU, M, [0, 400.0], method="rk4", dt=0.5)


def test_holdout_outside_the_values_is_refused():
    from psbook.synthetic import tasks
    with pytest.raises(ValueError, match=r"^holdout must list combinations .*\[99, 0\]"):
        tasks.f_mod(p=5, holdout=[(1, 2), (99, 0)])
    t = tasks.f_mod(p=5, holdout=[(1, 2)])
    assert t.X_test.tolist() == [[1, 2]]


def test_train_max_loss_factor_nan_is_refused():
    from psbook.synthetic import models, tasks, train
    task = tasks.f_add(n_keys=4, n_anchors=2, n_slots=1, test_frac=0.0)
    m = models.make_model("linear", task.vocab_size, task.label_size, d=4)
    for bad, exc in ((float("nan"), ValueError), (0.5, ValueError), ("2", TypeError)):
        with pytest.raises(exc, match=r"^max_loss_factor must be"):
            train.train(m, task, steps=2, max_loss_factor=bad, progress=False)


# ---- §8: errors that name the argument ------------------------------------------------------

def test_errors_name_the_argument():
    from psbook.synthetic import experiments, models, tasks, train
    from psbook.lm import TrainConfig, cross_domain_matrix, top_tokens
    from psbook.synthetic.tasks import signature_contrast
    from psbook.theory import loglog_slope, token_cosines
    task = tasks.f_add(n_keys=4, n_anchors=2, n_slots=1, test_frac=0.0)
    cases = [
        (lambda: models.LinearModel(5, 5, seed="a"), TypeError, r"^seed must be a non-negative"),
        (lambda: models.FFN(5, 5, seed=-1), ValueError, r"^seed must be a non-negative"),
        (lambda: loglog_slope([1, 2, np.nan], [1, 2, 3]), ValueError, r"^x must be finite"),
        (lambda: token_cosines(np.ones((2, 3)), np.ones((2, 3)), tokens=[0, 99]), ValueError,
         r"^tokens must hold ids in \[0, vocab_size=3\)"),
        (lambda: train.fit("f_add"), TypeError, r"^task must be a psbook.synthetic.tasks.Task"),
        (lambda: train.train(object(), task), TypeError, r"^model must be a psbook model"),
        (lambda: signature_contrast({"X": 1}), TypeError, r"^task must be a psbook.synthetic.tasks.Task"),
        (lambda: experiments.fourier_signature("f_mod", 1), TypeError, r"^task must be a psbook"),
        (lambda: top_tokens(np.ones((3, 3)), 2), TypeError, r"^signatures must be NextToken"),
        (lambda: cross_domain_matrix({"a": np.ones((3, 2))}, {"s": np.ones((3, 3))}, [0, 1, 2]),
         TypeError, r"^signatures\['s'\] must be NextTokenSignatures"),
        (lambda: cross_domain_matrix([np.ones((3, 2))], {}, [0, 1, 2]), TypeError,
         r"^embeddings must be a non-empty dict"),
        (lambda: TrainConfig(beta2="0.9"), TypeError, r"^beta2 must be a real number"),
        (lambda: train.fit(task, snapshot_steps=None, steps=2, progress=False, cache=False),
         TypeError, r"^snapshot_steps must be a list of integer steps"),
        (lambda: train.fit(task, snapshot_steps=[1.5], steps=2, progress=False, cache=False),
         TypeError, r"^snapshot_steps must hold integer steps"),
    ]
    for f, exc, pat in cases:
        with pytest.raises(exc, match=pat):
            f()


def test_binned_on_a_constant_matrix_names_it():
    from psbook.lm import binned
    W = np.ones((10, 4))
    Phi = np.random.default_rng(0).random((10, 6))
    with pytest.raises(ValueError, match=r"^W gives the same cosine for every pair"):
        binned(W, Phi, np.arange(10), 3, null_draws=2)
