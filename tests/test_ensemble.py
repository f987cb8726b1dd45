"""Batched ensembles (psbook.synthetic.ensemble) against the single runs they stand for, and the device
path (preset.device / PSBOOK_DEVICE) of synthetic training."""

import copy

import numpy as np
import pytest
import torch

from psbook import presets
from psbook.synthetic import ensemble, experiments, fitting, tasks, train
from psbook.synthetic.models import make_model

LOSS_RTOL = 1e-4        # loss curves: max relative difference to the single run
R_ORDER_TOL = 0.02      # final R_order: max absolute difference


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PSBOOK_DEVICE", raising=False)


def _close(single, member):
    """The member's trajectory is the single run's within float tolerance."""
    a, b = single.history, member.history
    assert np.array_equal(a.steps, b.steps)
    rel = np.abs(a.loss - b.loss) / np.abs(a.loss)
    assert rel.max() < LOSS_RTOL, f"loss curves differ by {rel.max():.2e} relative"
    assert abs(a["R_order"][-1] - b["R_order"][-1]) < R_ORDER_TOL
    np.testing.assert_allclose(a.test_acc, b.test_acc, atol=0.02)
    np.testing.assert_allclose(single.W_E, member.W_E, rtol=1e-3, atol=1e-4)


F32_REL = 2.0 ** -23    # float32's relative rounding unit: what another CPU's reduction order moves


def _rounding_envelope(single, task, draws=3):
    """How far the single run's own loss curve and final R_order move when its initial weights
    are moved by float32 rounding (relative ``F32_REL`` noise, ``draws`` times): what a
    different summation order (another CPU, thread count or padding) can change, measured on
    this CPU for this trajectory. Gradient descent near a saddle amplifies such differences
    many thousand times (f_add_tilde at lr 0.5: 1e-7 at the start, about 1e-2 in the loss by
    step 300), so no fixed tolerance holds on every CPU; this one is derived per run."""
    c = single.config
    rel, d_order = np.zeros(len(single.history.loss)), 0.0
    for k in range(draws):
        m = make_model(c["model"], task.vocab_size, task.label_size, d=c["d"], gamma=c["gamma"],
                       seed=c["seed"])
        g = torch.Generator().manual_seed(1000 + k)
        with torch.no_grad():
            m.W_E.mul_(1 + F32_REL * torch.randn(m.W_E.shape, generator=g))
        h = train.train(m, task, optimizer=c["optimizer"], lr=c["lr"], steps=c["steps"],
                        weight_decay=c["weight_decay"], log_every=c["log_every"], progress=False)
        rel = np.maximum(rel, np.abs(h.loss - single.history.loss) / np.abs(single.history.loss))
        d_order = max(d_order, abs(h["R_order"][-1] - single.history["R_order"][-1]))
    return rel, d_order


def _close_within_rounding(single, member, task):
    """A member whose operations differ from its single run's only in summation order (padded
    rows of weight 0) starts exactly where it does and follows it as closely as float32
    rounding lets the single run follow itself."""
    a, b = single.history, member.history
    assert np.array_equal(a.steps, b.steps)
    rel = np.abs(a.loss - b.loss) / np.abs(a.loss)
    assert rel[0] < 8 * F32_REL, f"the loss at initialisation differs by {rel[0]:.2e} relative"
    env, d_order = _rounding_envelope(single, task)
    tol = max(LOSS_RTOL, 10 * env.max())
    assert rel.max() < tol, (f"loss curves differ by {rel.max():.2e} relative; rounding alone "
                             f"moves this run by up to {env.max():.2e}")
    assert abs(a["R_order"][-1] - b["R_order"][-1]) < max(R_ORDER_TOL, 10 * d_order)


def _spy_ensembles(monkeypatch):
    sizes = []
    orig = ensemble.train_ensemble

    def spy(models, tasks_, **kw):
        sizes.append(len(models))
        return orig(models, tasks_, **kw)
    monkeypatch.setattr(ensemble, "train_ensemble", spy)
    return sizes


# ---- initialisation -----------------------------------------------------------------------

@pytest.mark.parametrize("kind,kw", [("linear", {}), ("ffn", dict(hidden=12, activation="gelu")),
                                     ("ffn", dict(hidden=None, activation="tanh"))])
def test_stacked_init_is_bitwise_the_single_inits(kind, kw):
    members = [make_model(kind, 9, 7, d=8, gamma=g, seed=s, **kw)
               for s, g in [(0, 0.8), (1, 0.8), (5, 0.5)]]
    st = ensemble.StackedModel(members)
    for k, m in enumerate(members):
        single = make_model(kind, 9, 7, d=8, gamma=m.gamma, seed=[0, 1, 5][k], **kw)
        assert torch.equal(st.W_E[k], single.W_E) and torch.equal(st.W_U[k], single.W_U)
        if getattr(single, "W_1", None) is not None:
            assert torch.equal(st.W_1[k], single.W_1)


def test_members_start_where_their_single_runs_start():
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    kw = dict(task=t, model="linear", d=16, steps=20, snapshot_steps=[0, 20])
    res = ensemble.fit_many([dict(kw, seed=s) for s in (0, 1, 2)], cache=False)
    for s, r in zip((0, 1, 2), res):
        init = make_model("linear", t.vocab_size, t.label_size, d=16, gamma=0.8, seed=s)
        assert np.array_equal(r.history.snapshots[0]["W_E"], init.W_E.detach().T.numpy())
        assert np.array_equal(r.history.snapshots[0]["W_U"], init.W_U.detach().numpy())


def test_stacked_model_refuses_mixed_shapes():
    with pytest.raises(ValueError, match=r"models\[1\]"):
        ensemble.StackedModel([make_model("linear", 9, 7, d=8), make_model("linear", 9, 7, d=6)])
    with pytest.raises(TypeError, match="LinearModel / FFN"):
        ensemble.StackedModel([torch.nn.Linear(2, 2)])


# ---- trajectories: members match their single runs ----------------------------------------

@pytest.mark.parametrize("name,model", [("f_add", "linear"), ("f_mod", "ffn"),
                                        ("f_mod", "linear")])
def test_run_over_seeds_members_match_single_runs(name, model, monkeypatch):
    sizes = _spy_ensembles(monkeypatch)
    ens = experiments.run_over_seeds(name, model, "tiny", seeds=[0, 1, 2], steps=150)
    assert sizes == [3], "the three seeds should train as one ensemble"
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    for s, out in zip(ens.seeds, ens.outputs):
        single = experiments.run(name, model, "tiny", seed=s, init_seed=s, steps=150)
        _close(single, out["result"])


@pytest.mark.parametrize("model", ["linear", "ffn"])
def test_gamma_sweep_members_match_single_runs(model, monkeypatch):
    p = presets.get_preset("tiny")
    syn = p.synthetic
    fixed = {**syn["init_task"], **syn["init_train"], "steps": 300}
    sizes = _spy_ensembles(monkeypatch)
    res = experiments.sweep("f_add", {"gamma": [0.3, 0.8, 1.2]}, model=model, preset=p, **fixed)
    assert sizes == [3]
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    for s, r in res:
        _close(experiments.run("f_add", model=model, preset=p, **fixed, **s), r)


def test_control_datasets_of_different_sizes_train_together(monkeypatch):
    """f_add_tilde draws samples: each seed's task has its own number of distinct rows, so
    members are padded with weight-0 rows; results still match the single runs."""
    sizes = _spy_ensembles(monkeypatch)
    ens = experiments.run_over_seeds("f_add_tilde", "linear", "tiny", seeds=[0, 1, 2], steps=300)
    n_rows = {fitting.train_rows(o["result"].task)[0].shape[0] for o in ens.outputs}
    assert sizes == [3] and len(n_rows) > 1, "the control tasks should differ in size"
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    for s, out in zip(ens.seeds, ens.outputs):
        single = experiments.run("f_add_tilde", "linear", "tiny", seed=s, init_seed=s, steps=300)
        _close_within_rounding(single, out["result"], out["result"].task)


def test_task_and_control_in_one_round(monkeypatch):
    """Chapter 06's pattern: per seed a task and its control of the same shapes."""
    sizes = _spy_ensembles(monkeypatch)

    def one(s):
        a = experiments.run("f_add", preset="tiny", seed=s, init_seed=s, steps=200)
        b = experiments.run("f_add", preset="tiny", seed=s, init_seed=s, steps=200,
                            key_dist="zipf", n_samples=300)
        return {"a": a.metrics["R_order"], "b": b.metrics["R_order"], "ra": a, "rb": b}

    runs = experiments.run_seeds(one, seeds=[0, 1])
    assert sizes == [2, 2], "two rounds of two members (one per seed)"
    serial = experiments.run_seeds(one, seeds=[0, 1], batch=False)   # answered by the cache
    assert sizes == [2, 2]
    np.testing.assert_array_equal(runs["a"], serial["a"])
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    _close(experiments.run("f_add", preset="tiny", seed=1, init_seed=1, steps=200,
                           key_dist="zipf", n_samples=300), runs.outputs[1]["rb"])


def _diverged_at(exc) -> str:
    """The step a DivergenceError names (its loss value is left out: it is rounding-dependent)."""
    return str(exc).split(":")[0]


def test_a_diverging_member_fails_like_its_single_run_and_the_others_go_on():
    """Far from the edge of stability on every CPU: member 0 (standard small init) at lr 16,
    four to eight times the learning rate where this task's GD starts to diverge (between 2 and
    4 for every gamma from 0.05 to 1), blows up within a few steps; member 1 starts at zero
    weights, a fixed point of the bilinear model's gradient flow at any learning rate (both
    gradients vanish), so its loss stays log(V_out) exactly and it must go on to the end."""
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    kw = dict(optimizer="gd", lr=16.0, steps=100)
    diverging = make_model("linear", t.vocab_size, t.label_size, d=16, gamma=0.6, seed=0)
    fixed = make_model("linear", t.vocab_size, t.label_size, d=16, gamma=0.6, seed=1)
    with torch.no_grad():
        fixed.W_E.zero_()
        fixed.W_U.zero_()
    with pytest.raises(train.DivergenceError) as single_exc:
        train.train(copy.deepcopy(diverging), t, progress=False, **kw)
    single_fixed = train.train(copy.deepcopy(fixed), t, progress=False, **kw)
    out = ensemble.train_ensemble([copy.deepcopy(diverging), copy.deepcopy(fixed)], [t, t],
                                  progress=False, **kw)
    assert isinstance(out[0], train.DivergenceError)
    assert _diverged_at(out[0]) == _diverged_at(single_exc.value)
    hist = out[1]
    assert hist.steps[-1] == kw["steps"], "the stable member stopped with the diverging one"
    np.testing.assert_array_equal(hist.loss, single_fixed.loss)
    np.testing.assert_allclose(hist.loss, np.log(t.label_size), rtol=1e-6)


def test_unpadded_members_are_bitwise_their_single_runs(monkeypatch):
    """Members with equally many distinct rows take their single runs' operations: the linear
    model's hand-written gradient and optimiser step, GD and AdamW, and the FFN's autograd."""
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    for name, model in [("f_add", "linear"), ("f_mod", "linear"), ("f_mod", "ffn")]:
        ens = experiments.run_over_seeds(name, model, "tiny", seeds=[0, 1], steps=60)
        for s, out in zip(ens.seeds, ens.outputs):
            single = experiments.run(name, model, "tiny", seed=s, init_seed=s, steps=60)
            a, b = single.history, out["result"].history
            assert np.array_equal(a.loss, b.loss) and np.array_equal(a.train_acc, b.train_acc)
            assert np.array_equal(a.test_acc, b.test_acc)
            assert np.array_equal(single.W_E, out["result"].W_E)
            assert np.array_equal(single.W_U, out["result"].W_U)


def test_linear_members_without_counts_take_autograd_and_match(monkeypatch):
    """Past the count matrix's size limit the linear model gathers embeddings and autograd
    differentiates (the FFN's path); the members still match their single runs."""
    monkeypatch.setattr(ensemble, "_MAX_COUNT_ENTRIES", 0)
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    base = dict(task=t, model="linear", d=16, steps=80, snapshot_steps=[0, 80])
    res = ensemble.fit_many([dict(base, seed=s) for s in (0, 1)], cache=False)
    for s, r in zip((0, 1), res):
        _close(train.fit(cache=False, seed=s, progress=False, **base), r)


def _counts_problem(seed=0, K=3, N=40, V=9, V_out=7, d=5, pad=(0, 6, 13)):
    """Stacked linear weights and bag-of-token counts, member k with its last pad[k] rows
    padding (counts and weight 0)."""
    g = torch.Generator().manual_seed(seed)
    W_E = torch.randn(K, d, V, generator=g)
    W_U = torch.randn(K, V_out, d, generator=g)
    X = torch.randint(0, V, (K, N, 3), generator=g)
    C = torch.zeros(K, N, V).scatter_add_(2, X, torch.ones(X.shape))
    y = torch.randint(0, V_out, (K, N), generator=g)
    w = torch.rand(K, N, generator=g)
    for k, n in enumerate(pad):
        if n:
            w[k, -n:] = 0.0
            C[k, -n:] = 0.0
            y[k, -n:] = 0
    return W_E, W_U, C, y, w / w.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("scale", [1.0, 12.0])   # 12: many probabilities underflow (< 1e-38)
def test_hand_written_gradient_matches_autograd(scale):
    W_E, W_U, C, y, w = _counts_problem()
    W_E, W_U = W_E * scale ** 0.5, W_U * scale ** 0.5
    K, N, V_out = y.shape[0], y.shape[1], W_U.shape[1]
    E, U = W_E.clone().requires_grad_(), W_U.clone().requires_grad_()
    logits = torch.bmm(C, torch.bmm(E.transpose(1, 2), U.transpose(1, 2)))
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V_out), y.reshape(-1),
                                           reduction="none").view(K, N)
    gE, gU = torch.autograd.grad((ce * w).sum(dim=1).sum(), [E, U])

    logp = torch.log_softmax(logits.detach().reshape(-1, V_out), 1)
    neg_yw = torch.zeros(K * N, V_out).scatter_(1, y.reshape(-1, 1), -w.reshape(-1, 1))
    hE, hU = ensemble._counts_grads(neg_yw, logp, C.transpose(1, 2), W_E.transpose(1, 2),
                                    W_U.transpose(1, 2), K)
    assert hE.shape == W_E.shape and hU.shape == W_U.shape
    torch.testing.assert_close(hE, gE, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(hU, gU, rtol=1e-6, atol=1e-9)
    assert torch.equal(hE, gE) and torch.equal(hU, gU), "autograd's own operations, bitwise"

    # members do not mix: a member with NaN weights leaves the others' gradients as they were
    W_E[1] = float("nan")
    logits = torch.bmm(C, torch.bmm(W_E.transpose(1, 2), W_U.transpose(1, 2)))
    logp = torch.log_softmax(logits.reshape(-1, V_out), 1)
    dE, dU = ensemble._counts_grads(neg_yw, logp, C.transpose(1, 2), W_E.transpose(1, 2),
                                    W_U.transpose(1, 2), K)
    assert torch.equal(dE[[0, 2]], hE[[0, 2]]) and torch.equal(dU[[0, 2]], hU[[0, 2]])


@pytest.mark.parametrize("optimizer,wd", [("gd", 0.0), ("gd", 0.1), ("adam", 0.0),
                                          ("adam", 1.0)])
def test_hand_written_update_is_torch_optim(optimizer, wd):
    g = torch.Generator().manual_seed(1)
    shapes = [(3, 5, 9), (3, 7, 5)]
    ref = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    mine = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    opt = (torch.optim.SGD(ref, lr=0.3, weight_decay=wd) if optimizer == "gd" else
           torch.optim.AdamW(ref, lr=0.01, weight_decay=wd))
    upd = ensemble._Update(mine, optimizer, 0.3 if optimizer == "gd" else 0.01, wd)
    for _ in range(6):
        grads = [torch.randn(s, generator=g) for s in shapes]
        for p, gr in zip(ref, grads):
            p.grad = gr.clone()
        opt.step()
        upd.step([gr.clone() for gr in grads])
        for a, b in zip(ref, mine):
            assert torch.equal(a, b)


def _curves_equal(a: dict, b: dict, tol=1e-12):
    assert list(a) == list(b)
    for name in a:
        assert (np.isnan(a[name]) and np.isnan(b[name])) or abs(a[name] - b[name]) <= tol, \
            f"{name}: {a[name]!r} vs {b[name]!r}"


def test_batched_curves_are_the_per_member_curves():
    ts = [tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=s, test_frac=0.3)
          for s in range(4)]
    ts.append(tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0, key_dist="zipf",
                         n_samples=40))
    refs = [fitting.MetricRef(t, t.signatures()) for t in ts]
    assert len({r.seen.size for r in refs}) > 1, "the test needs unequal label sets"
    batch = ensemble._MetricBatch(refs)
    rng = np.random.default_rng(0)
    V, V_out = ts[0].vocab_size, ts[0].label_size
    WE = rng.normal(size=(5, V, 6)).astype(np.float32)
    WU = rng.normal(size=(5, V_out, 6)).astype(np.float32)
    WE[3] = WE[3, :1]                    # one member's embeddings all alike: NaN correlations
    WU[2, ::2] = 0.0                     # zero rows: cosine 0
    for members in ([0, 1, 2, 3, 4], [4, 1], [2]):
        got = batch.curves(members, WE[members], WU[members])
        for k, c in zip(members, got):
            _curves_equal(refs[k].curves(WE[k], WU[k]), c)
    bad = WE.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf; the model probably diverged"):
        batch.curves([0, 1], bad[[0, 1]], WU[[0, 1]])


# ---- cache per member ---------------------------------------------------------------------

def test_members_are_cached_under_their_single_run_keys(monkeypatch):
    sizes = _spy_ensembles(monkeypatch)
    ens = experiments.run_over_seeds("f_add", "linear", "tiny", seeds=[0, 1, 2], steps=100)
    assert sizes == [3]
    trained = []
    orig = train.train

    def counting_train(*a, **k):
        trained.append(1)
        return orig(*a, **k)
    monkeypatch.setattr(train, "train", counting_train)
    single = experiments.run("f_add", "linear", "tiny", seed=1, init_seed=1, steps=100)
    assert not trained, "a single run of a cached member was trained again"
    assert np.array_equal(single.W_E, ens.outputs[1]["result"].W_E)
    # a bigger sweep trains only the new members
    experiments.run_over_seeds("f_add", "linear", "tiny", seeds=[0, 1, 2, 3, 4], steps=100)
    assert sizes == [3, 2] and not trained


# ---- batched_map ---------------------------------------------------------------------------

def test_batched_map_defers_through_except_exception_and_keeps_order(monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    sizes = _spy_ensembles(monkeypatch)
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    calls = []

    def fn(s):
        calls.append(s)
        try:
            r = ensemble.fit(t, d=8, steps=30, seed=s, progress=False)
        except Exception:          # a chapter's broad handler must not swallow the deferral
            raise AssertionError("the deferral was caught as an Exception")
        return s, float(r.history.loss[-1])

    out = ensemble.batched_map(fn, [3, 1, 2])
    assert [o[0] for o in out] == [3, 1, 2] and sizes == [3]
    assert calls == [3, 1, 2, 3, 1, 2], "one deferred round, then one answered round"
    assert isinstance(ensemble.fit(t, d=8, steps=30, seed=5, progress=False),  # no plan left
                      train.TrainResult) and sizes == [3]
    with pytest.raises(TypeError, match="fn must be callable"):
        ensemble.batched_map(3, [1])


# ---- device ---------------------------------------------------------------------------------

def test_psbook_device_is_validated(monkeypatch):
    monkeypatch.setenv("PSBOOK_DEVICE", "gpu0")
    with pytest.raises(ValueError, match=r"PSBOOK_DEVICE must be one of \['cpu', 'cuda'\].*'gpu0'"):
        presets.device()
    monkeypatch.setenv("PSBOOK_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="PSBOOK_DEVICE=cuda.*no usable CUDA"):
        presets.device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert presets.device() == "cuda"
    monkeypatch.setenv("PSBOOK_DEVICE", "CPU")
    assert presets.device() == "cpu" and presets.get_preset("tiny").device == "cpu"


class _DeviceSpy:
    """Record every device models and tensors are sent to, and keep them on the CPU (a fake
    'cuda' without a GPU)."""

    def __init__(self, monkeypatch):
        self.modules, self.tensors = [], []
        mod_to, ten_to = torch.nn.Module.to, torch.Tensor.to
        spy = self

        def module_to(m, *a, **k):
            dev = a[0] if a else k.get("device")
            spy.modules.append((type(m).__name__, str(dev)))
            return m if str(dev) == "cuda" else mod_to(m, *a, **k)

        def tensor_to(t, *a, **k):
            dev = a[0] if a else k.get("device")
            if isinstance(dev, (str, torch.device)) and str(dev) == "cuda":
                spy.tensors.append(tuple(t.shape))
                return t
            return ten_to(t, *a, **k)
        monkeypatch.setattr(torch.nn.Module, "to", module_to)
        monkeypatch.setattr(torch.Tensor, "to", tensor_to)


@pytest.mark.parametrize("batched", [False, True])
def test_preset_device_reaches_the_model_and_the_data(batched, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    p = presets.get_preset("tiny", device="cuda")
    spy = _DeviceSpy(monkeypatch)
    if batched:
        res = experiments.run_over_seeds("f_add", "linear", p, seeds=[0, 1], steps=20)
        res = res.outputs[0]["result"]
        assert ("StackedModel", "cuda") in spy.modules
    else:
        res = experiments.run("f_add", "linear", p, steps=20)
        assert ("LinearModel", "cuda") in spy.modules
    assert res.config["device"] == "cuda"
    n_train = fitting.train_rows(res.task)[0].shape[0]
    assert any(s[-1] == n_train or (len(s) > 1 and s[1] == n_train) for s in spy.tensors), \
        "the training rows should be sent to the device"
    assert isinstance(res.W_E, np.ndarray)


def test_psbook_device_override_reaches_run(monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    monkeypatch.setenv("PSBOOK_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    spy = _DeviceSpy(monkeypatch)
    res = experiments.run("f_add", "linear", "tiny", steps=10)
    assert res.config["device"] == "cuda" and ("LinearModel", "cuda") in spy.modules
