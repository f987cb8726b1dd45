"""Batched ensembles (psbook.ensemble) against the single runs they stand for, and the device
path (preset.device / PSBOOK_DEVICE) of synthetic training."""

import numpy as np
import pytest
import torch

from psbook import ensemble, experiments, presets, tasks, train
from psbook.models import make_model

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
    n_rows = {train._train_rows(o["result"].task)[0].shape[0] for o in ens.outputs}
    assert sizes == [3] and len(n_rows) > 1, "the control tasks should differ in size"
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    for s, out in zip(ens.seeds, ens.outputs):
        _close(experiments.run("f_add_tilde", "linear", "tiny", seed=s, init_seed=s, steps=300),
               out["result"])


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


def test_a_diverging_member_fails_like_its_single_run_and_the_others_go_on():
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    base = dict(task=t, model="linear", d=16, optimizer="gd", lr=2.6, steps=100)
    gammas = (0.3, 0.6)
    singles = []
    for g in gammas:
        try:
            singles.append(train.fit(cache=False, gamma=g, **base))
        except train.DivergenceError as exc:
            singles.append(exc)
    kinds = [isinstance(r, train.DivergenceError) for r in singles]
    assert kinds == [True, False], "the test needs one diverging and one stable member"
    res = ensemble.fit_many([dict(base, gamma=g) for g in gammas], cache=False, errors="return")
    assert isinstance(res[0], train.DivergenceError) and str(res[0]) == str(singles[0])
    _close(singles[1], res[1])
    with pytest.raises(train.DivergenceError, match="diverged at step"):
        ensemble.fit_many([dict(base, gamma=g) for g in gammas], cache=False)


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
            r = train.fit(t, d=8, steps=30, seed=s, progress=False)
        except Exception:          # a chapter's broad handler must not swallow the deferral
            raise AssertionError("the deferral was caught as an Exception")
        return s, float(r.history.loss[-1])

    out = ensemble.batched_map(fn, [3, 1, 2])
    assert [o[0] for o in out] == [3, 1, 2] and sizes == [3]
    assert calls == [3, 1, 2, 3, 1, 2], "one deferred round, then one answered round"
    assert ensemble.current_plan() is None
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
    n_train = train._train_rows(res.task)[0].shape[0]
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
