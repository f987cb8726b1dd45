"""Tests of psbook.trajectory: the gradient-flow prediction along training."""

import numpy as np
import pytest
import torch

from psbook import lm, trajectory
from psbook.lm import LMConfig, TrainConfig
from psbook.synthetic.tasks import f_add


@pytest.fixture(scope="module")
def task():
    return f_add(n_keys=6, n_anchors=3, n_slots=1, test_frac=0.0)


def test_snapshot_steps():
    s = trajectory.snapshot_steps(100, 6)
    assert s[0] == 0 and s[-1] == 100 and np.all(np.diff(s) > 0)
    with pytest.raises(ValueError, match="n must be"):
        trajectory.snapshot_steps(100, 1)


def test_linear_trajectory_holds_at_init_and_matches_theory(task, monkeypatch, tmp_path):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    r = trajectory.synthetic_trajectory(task, model="linear", d=8, gamma=1.5, lr=0.5, steps=40,
                                        n_snapshots=5)
    assert r["orders"] == (1, 3)
    assert r["order1"]["median"][0] > 0.99 and r["order3"]["median"][0] > 0.99
    assert np.all(r["order1"]["q1"] <= r["order1"]["median"] + 1e-12)
    assert np.all(r["order1"]["median"] <= r["order1"]["q3"] + 1e-12)
    assert r["loss"][-1] < r["loss"][0]
    assert len(r["order1"]["cos"]) == len(r["steps"])


def test_ffn_trajectory_second_order_better_at_init(task, monkeypatch, tmp_path):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    r = trajectory.synthetic_trajectory(task, model="ffn", activation="gelu", d=8, gamma=1.0,
                                        lr=0.5, steps=20, n_snapshots=3)
    assert r["orders"] == (1, 2)
    assert r["order2"]["residual"][0] < r["order1"]["residual"][0]
    with pytest.raises(ValueError, match="relu"):
        trajectory.synthetic_trajectory(task, model="ffn", activation="relu", steps=5)
    with pytest.raises(TypeError, match="task must be"):
        trajectory.synthetic_trajectory("f_add")


def test_holds_until():
    r = {"steps": np.array([0, 1, 10, 100]), "loss": np.array([3.0, 2.9, 2.0, 1.0]),
         "E": {"median": np.array([0.99, 0.95, 0.5, 0.1])}}
    s = trajectory.holds_until(r, "E", 0.9)
    assert s["step"] == 10 and s["loss"] == 2.0 and not s["holds_throughout"]
    assert trajectory.holds_until(r, "E", 0.05)["holds_throughout"]
    with pytest.raises(ValueError, match="key must be"):
        trajectory.holds_until(r, "U")


def test_lm_trajectory_is_one_uninterrupted_run(monkeypatch, tmp_path):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    toks = rng.integers(0, 40, size=3000)
    mcfg = LMConfig(vocab_size=40, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=32,
                    max_seq_len=16, gamma=1.2)
    tcfg = TrainConfig(steps=12, batch_size=4, seq_len=16, warmup=2, eval_every=4,
                       checkpoint_every=12)
    r = trajectory.lm_trajectory(toks, mcfg, tcfg, n_snapshots=4, n_windows=8, min_count=2)
    assert list(r["steps"]) == list(trajectory.snapshot_steps(12, 4))
    assert r["E"]["median"][0] > 0.9             # the prediction holds at a small init
    assert "U" in r and len(r["E"]["cos"]) == len(r["steps"])
    # resuming from checkpoints gives exactly the run trained in one go
    full = lm.train_lm(toks, mcfg, tcfg, keep_state=True, progress=False)
    L = tcfg.seq_len + 1
    starts = np.linspace(0, toks.size - L, 8).astype(np.int64)
    ids = torch.from_numpy(toks[starts[:, None] + np.arange(L)])
    with torch.no_grad():
        loss = float(full.model().loss(ids))
    assert r["loss"][-1] == pytest.approx(loss, rel=1e-5)
    # a second call is served from the cache
    again = trajectory.lm_trajectory(toks, mcfg, tcfg, n_snapshots=4, n_windows=8, min_count=2)
    np.testing.assert_array_equal(again["loss"], r["loss"])
    with pytest.raises(ValueError, match="n_windows"):
        trajectory.lm_trajectory(toks[:100], mcfg, tcfg, n_windows=50)
    with pytest.raises(TypeError, match="model_cfg must be"):
        trajectory.lm_trajectory(toks, {}, tcfg)
