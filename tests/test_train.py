"""Unit tests of psbook.synthetic.train: loss decreases, trajectory contents, divergence, caching."""

import numpy as np
import pytest

from psbook.synthetic import tasks, train
from psbook.synthetic.models import LinearModel


@pytest.fixture(scope="module")
def task():
    return tasks.f_add(n_keys=8, n_anchors=3)


def test_loss_decreases_and_trajectory(task):
    m = LinearModel(task.vocab_size, task.label_size, d=16, gamma=0.8)
    h = train.train(m, task, optimizer="gd", lr=0.5, steps=200, log_every=20,
                    snapshot_steps=[0, 100], progress=False)
    assert h.loss[-1] < 0.8 * h.loss[0]
    assert list(h.steps) == list(range(0, 201, 20))
    assert set(h.snapshots) == {0, 100} and h.snapshots[0]["W_E"].shape == (task.vocab_size, 16)
    for k in ("R_cos_phi_y", "R_order", "R_cos_phi_X"):
        assert h[k].shape == h.steps.shape
    assert h["R_order"][-1] < h["R_order"][0]


def test_adam_and_ffn_fit(task):
    r = train.fit(task, model="ffn", d=16, hidden=32, optimizer="adam", lr=1e-2, steps=200,
                  cache=False, progress=False)
    assert r.history.train_acc[-1] > 0.9 and r.W_E.shape == (task.vocab_size, 16)


def test_loss_is_the_mean_over_all_rows_including_duplicates():
    import torch
    t = tasks.f_add(n_keys=5, n_anchors=2, test_frac=0.0)
    t.X_train = np.concatenate([t.X_train, t.X_train[:7], t.X_train[:2]])
    t.y_train = np.concatenate([t.y_train, t.y_train[:7], t.y_train[:2]])
    m = LinearModel(t.vocab_size, t.label_size, d=8, gamma=0.3)
    with torch.no_grad():
        direct = torch.nn.functional.cross_entropy(m(torch.from_numpy(t.X_train)),
                                                   torch.from_numpy(t.y_train)).item()
    h = train.train(m, t, steps=1, progress=False)
    assert h.loss[0] == pytest.approx(direct, rel=1e-5)


def test_divergence_is_detected(task):
    m = LinearModel(task.vocab_size, task.label_size, d=16, gamma=0.3)
    with pytest.raises(train.DivergenceError, match="lr"):
        train.train(m, task, optimizer="gd", lr=1e4, steps=50, progress=False)


def test_fit_is_cached(task, tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    kw = dict(model="linear", d=8, steps=20, progress=False)
    a = train.fit(task, **kw)
    assert list(tmp_path.rglob("*.npz"))
    b = train.fit(task, **kw)
    assert np.array_equal(a.W_E, b.W_E)
    c = train.fit(task, **{**kw, "steps": 21})
    assert len(list(tmp_path.rglob("*.npz"))) == 2 and c.history.steps[-1] == 21


@pytest.mark.parametrize("kw", [dict(optimizer="sgdx"), dict(lr=0), dict(steps=0),
                                dict(snapshot_steps=[500])])
def test_bad_parameters(task, kw):
    m = LinearModel(task.vocab_size, task.label_size, d=8)
    with pytest.raises(ValueError):
        train.train(m, task, progress=False, **{"steps": 10, **kw})


def test_train_fit_never_defers_inside_batched_map(monkeypatch):
    """Batching is explicit: inside ensemble.batched_map, train.fit still trains at once (only
    ensemble.fit defers), so fn runs exactly once per item."""
    from psbook.synthetic import ensemble
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    t = tasks.make("f_add", n_keys=8, n_anchors=3, n_slots=2, seed=0)
    calls = []

    def fn(s):
        calls.append(s)
        return train.fit(t, d=8, steps=20, seed=s, progress=False).history.loss[-1]

    out = ensemble.batched_map(fn, [0, 1])
    assert calls == [0, 1] and len(out) == 2
