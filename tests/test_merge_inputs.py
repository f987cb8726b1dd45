"""Training on merged inputs (``fit(..., merge_inputs=True)``: each distinct input once, with its
labels' weights) against the per-row training it stands for, and runs trained ``beside`` the
seeds of ``experiments.run_seeds``. Chapter 06's label-permuted placebo and its knob use them."""

from dataclasses import replace

import numpy as np
import pytest

from psbook.synthetic import ensemble, experiments, fitting, tasks, train


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PSBOOK_DEVICE", raising=False)


def _permuted(task, seed):
    """``task`` with its training labels permuted across rows (chapter 06's placebo)."""
    perm = np.random.default_rng(seed).permutation(len(task.y_train))
    return replace(task, y_train=task.y_train[perm], _sig=None)


@pytest.fixture(scope="module")
def flat():
    return tasks.make("f_add_flat", n_keys=8, n_anchors=6, n_slots=2, n_samples=3000, seed=1)


FIT = dict(model="linear", d=16, gamma=0.8, optimizer="gd", lr=0.5, steps=120, progress=False,
           device="cpu")


def test_merged_rows_hold_every_row_once(flat):
    pt = _permuted(flat, 0)
    X, Q = fitting.merged_rows(pt)
    Xr, yr, wr = fitting.train_rows(pt)
    assert X.shape[0] == np.unique(pt.X_train, axis=0).shape[0] < Xr.shape[0]
    assert Q.shape == (X.shape[0], pt.label_size) and Q.dtype == np.float32
    assert abs(Q.sum() - 1.0) < 1e-5
    # each (input, label) row's weight sits in Q at that input and label
    row = {tuple(x): i for i, x in enumerate(X)}
    got = np.array([Q[row[tuple(x)], y] for x, y in zip(Xr, yr)])
    np.testing.assert_allclose(got, wr, rtol=1e-6)


def test_merged_training_is_the_per_row_training_to_rounding(flat):
    pt = _permuted(flat, 0)
    a = train.fit(pt, cache=False, **FIT)
    b = train.fit(pt, cache=False, merge_inputs=True, **FIT)
    rel = np.abs(a.history.loss - b.history.loss) / a.history.loss
    # float32 sums in another order: a few units of rounding per step, far below 1e-4
    assert rel.max() < 1e-5, f"loss curves differ by {rel.max():.2e} relative"
    np.testing.assert_allclose(a.history.train_acc, b.history.train_acc, atol=1e-5)
    np.testing.assert_allclose(a.W_E, b.W_E, atol=1e-5)
    # the planted control: another permutation's labels give another training, which this
    # comparison does notice
    c = train.fit(_permuted(flat, 1), cache=False, merge_inputs=True, **FIT)
    assert np.abs(a.W_E - c.W_E).max() > 1e-3


def test_merged_members_are_bitwise_their_single_merged_runs(flat):
    pts = [_permuted(flat, s) for s in range(3)]   # same inputs: no padding
    singles = [train.fit(t, cache=False, merge_inputs=True, seed=s, **FIT)
               for s, t in enumerate(pts)]
    members = ensemble.fit_many([dict(task=t, merge_inputs=True, seed=s, **FIT)
                                 for s, t in enumerate(pts)], cache=False)
    for a, b in zip(singles, members):
        assert np.array_equal(a.W_E, b.W_E) and np.array_equal(a.W_U, b.W_U)
        assert np.array_equal(a.history.loss, b.history.loss)
        assert np.array_equal(a.history.train_acc, b.history.train_acc)


def test_padded_merged_members_match_and_the_flag_keys_the_cache(flat):
    other = tasks.make("f_add_flat", n_keys=8, n_anchors=6, n_slots=2, n_samples=900, seed=2)
    pts = [_permuted(flat, 0), _permuted(other, 0)]       # different input counts: padded
    members = ensemble.fit_many([dict(task=t, merge_inputs=True, **FIT) for t in pts])
    for t, m in zip(pts, members):
        s = train.fit(t, cache=False, merge_inputs=True, **FIT)
        np.testing.assert_allclose(s.W_E, m.W_E, atol=1e-5)
        np.testing.assert_allclose(s.history.loss, m.history.loss, rtol=1e-5)
    # merged and per-row runs are cached apart; per-row keys are those of before
    plain = fitting.fit_spec(pts[0], **{k: v for k, v in FIT.items() if k != "progress"})
    merged = fitting.fit_spec(pts[0], merge_inputs=True,
                              **{k: v for k, v in FIT.items() if k != "progress"})
    assert "merge_inputs" not in plain.config and merged.config["merge_inputs"] is True
    with pytest.raises(TypeError, match="merge_inputs"):
        fitting.fit_spec(pts[0], merge_inputs="yes")


def test_merged_ffn_takes_autograd_and_matches(flat):
    pt = _permuted(flat, 0)
    ffn = dict(FIT, model="ffn", hidden=24, lr=0.2)
    a = train.fit(pt, cache=False, **ffn)
    b = ensemble.fit_many([dict(task=pt, merge_inputs=True, **ffn),
                           dict(task=_permuted(flat, 1), merge_inputs=True, **ffn)],
                          cache=False)[0]
    np.testing.assert_allclose(a.history.loss, b.history.loss, rtol=1e-5)
    np.testing.assert_allclose(a.W_E, b.W_E, atol=1e-5)


def test_beside_runs_train_in_the_seeds_batches(monkeypatch):
    from psbook.presets import get_preset
    calls = []
    real = ensemble._train_specs

    def spy(specs, progress=False):
        calls.append(len(specs))
        return real(specs, progress)
    monkeypatch.setattr(ensemble, "_train_specs", spy)
    p = get_preset("tiny")
    extra = lambda: experiments.run("f_add", preset=p, n_samples=500, key_dist="zipf",
                                    key_zipf=1.5, steps=60)
    runs = experiments.run_over_seeds("f_add", "linear", p, seeds=[0, 1], steps=60,
                                      beside=[extra])
    assert calls == [3], f"expected one batch of 3 (2 seeds + 1 beside), got {calls}"
    assert len(runs.beside) == 1 and len(runs.outputs) == 2
    assert runs.beside[0].task.params.get("key_dist") == "zipf"
    # the same run alone (from the cache now) is what beside returned
    again = extra()
    assert np.array_equal(again.W_E, runs.beside[0].W_E)
    # without batching the same values come back, in the same places
    plain = experiments.run_over_seeds("f_add", "linear", p, seeds=[0, 1], steps=60,
                                       beside=[extra], batch=False)
    assert np.array_equal(plain.beside[0].W_E, runs.beside[0].W_E)
    with pytest.raises(TypeError, match=r"beside\[0\]"):
        experiments.run_seeds(lambda s: {"v": s}, seeds=[0], beside=[3])
