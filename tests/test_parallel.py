"""Independent trainings side by side on several processes (psbook.parallel, lm.train_many):
the same results as one after another, errors raised in the caller, bad settings refused."""

import numpy as np
import pytest

from psbook import parallel
from psbook import lm as LM
from psbook.lm import LMConfig, TrainConfig

V = 40
CFG = LMConfig(vocab_size=V, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=24,
               max_seq_len=32)
TCFG = TrainConfig(steps=6, batch_size=2, seq_len=8, lr=3e-3, warmup=2, eval_every=3,
                   checkpoint_every=6)


@pytest.fixture(scope="module")
def stream():
    return np.random.default_rng(0).integers(0, V, size=3000)


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_workers_setting_is_refused_naming_the_variable(bad, monkeypatch):
    monkeypatch.setenv("PSBOOK_WORKERS", bad)
    with pytest.raises(ValueError, match="PSBOOK_WORKERS must be a positive integer"):
        parallel.workers(4)
    from psbook._validate import check_environment
    with pytest.raises(ValueError, match="PSBOOK_WORKERS"):
        check_environment()


def test_auto_workers(monkeypatch):
    monkeypatch.delenv("PSBOOK_WORKERS", raising=False)
    monkeypatch.setenv("PSBOOK_PRESET", "tiny")
    assert parallel.workers(10) == 1                 # CI and quick runs: no pool
    monkeypatch.setenv("PSBOOK_PRESET", "cpu")
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    assert parallel.workers(10) == 4 and parallel.workers(3) == 3 and parallel.workers(1) == 1
    assert parallel.workers(10, device="cuda") == 1  # one GPU, one process
    monkeypatch.setenv("PSBOOK_WORKERS", "2")
    assert parallel.workers(10, device="cuda") == 2 and parallel.workers(1) == 1


def test_train_many_on_two_processes_gives_the_serial_results(stream, tmp_path, monkeypatch):
    jobs = [{"tokens": stream, "model_cfg": CFG, "train_cfg": TCFG.__class__(
        **{**TCFG.to_dict(), "seed": s})} for s in (0, 1, 2)]
    monkeypatch.setenv("PSBOOK_WORKERS", "1")
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "serial"))
    serial = LM.train_many(jobs, progress=False)
    monkeypatch.setenv("PSBOOK_WORKERS", "2")
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "pool"))   # set after any earlier pool
    calls = []
    orig = parallel.map_jobs
    monkeypatch.setattr(parallel, "map_jobs", lambda *a, **k: calls.append(1) or orig(*a, **k))
    pooled = LM.train_many(jobs, progress=False)
    assert calls, "two workers were asked for but the jobs ran in this process"
    for a, b in zip(serial, pooled):
        np.testing.assert_array_equal(a.W_E, b.W_E)
        np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    # the workers wrote to the cache folder of the call (not the one of an older pool) ...
    assert list((tmp_path / "pool").rglob("*.npz"))
    # ... so the next call loads every result here, without workers
    calls.clear()
    again = LM.train_many(jobs, progress=False)
    assert not calls
    np.testing.assert_array_equal(again[2].W_E, pooled[2].W_E)


def test_a_failing_job_raises_its_own_error_in_the_caller(stream, tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_WORKERS", "2")
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    good = {"tokens": stream, "model_cfg": CFG, "train_cfg": TCFG}
    bad = {"tokens": stream[:5], "model_cfg": CFG, "train_cfg": TCFG}   # shorter than a window
    with pytest.raises(ValueError, match="fewer than one training window"):
        LM.train_many([good, bad], progress=False)


def test_train_grid_labels_seeds_and_bad_specs(stream, tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_WORKERS", "1")
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    out = LM.train_grid({"a": (stream, CFG, TCFG), "b": (stream[:2000], CFG, TCFG, {})},
                        [3, 4], progress=False)
    assert list(out) == ["a", "b"]
    assert [r.train_cfg["seed"] for r in out["b"]] == [3, 4]
    single = LM.train_seeds(stream, CFG, TCFG, [4], progress=False)
    np.testing.assert_array_equal(single[0].W_E, out["a"][1].W_E)
    with pytest.raises(ValueError, match=r"runs\['x'\] must be"):
        LM.train_grid({"x": (stream, CFG)}, [0])
    with pytest.raises(TypeError, match="train_cfg of runs"):
        LM.train_grid({"x": (stream, CFG, {})}, [0])
    with pytest.raises(ValueError, match="unknown keys"):
        LM.train_many([{"tokens": stream, "model_cfg": CFG, "train_cfg": TCFG, "lr": 1}])
