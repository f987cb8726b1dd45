"""Tests of psbook.presets (selection, overrides, seeding) and psbook.cache (load-or-compute)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from psbook import cache, presets, settings
from psbook.presets import get_preset, preset_name, seed_everything

# --------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("PSBOOK_PRESET", raising=False)
    monkeypatch.delenv("CI", raising=False)
    return monkeypatch


@pytest.mark.parametrize("value, expected", [("tiny", "tiny"), ("cpu", "cpu"), ("gpu", "gpu"),
                                             ("full", "full"), (" CPU ", "cpu")])
def test_psbook_preset_selects(clean_env, value, expected):
    clean_env.setenv("PSBOOK_PRESET", value)
    assert preset_name() == expected
    p = get_preset()
    assert p.name == expected and str(p).startswith(f"preset={expected} ")


def test_ci_selects_tiny_and_explicit_preset_wins(clean_env):
    clean_env.setenv("CI", "true")
    assert preset_name() == "tiny"
    clean_env.setenv("PSBOOK_PRESET", "cpu")
    assert preset_name() == "cpu"


def test_default_without_env_follows_device(clean_env):
    clean_env.setenv("CI", "false")
    assert preset_name() == ("gpu" if presets.device() == "cuda" else "cpu")


def test_invalid_preset_names(clean_env):
    clean_env.setenv("PSBOOK_PRESET", "huge")
    with pytest.raises(ValueError, match=r"^PSBOOK_PRESET must be one of .*'huge'"):
        preset_name()
    with pytest.raises(ValueError, match=r"^name must be one of .*'laptop'"):
        get_preset("laptop")


def test_overrides_and_no_shared_state():
    base = get_preset("tiny")
    key = next(iter(base.signatures))
    p = get_preset("tiny", signatures={key: 7}, seed=11)
    assert p.signatures[key] == 7 and p.seed == 11
    assert {k: v for k, v in p.signatures.items() if k != key} == \
        {k: v for k, v in base.signatures.items() if k != key}
    # overriding one preset must not leak into the next get_preset call
    assert get_preset("tiny").signatures[key] == base.signatures[key] != 7
    assert get_preset("tiny").seed == base.seed
    p.signatures[key] = 99
    assert get_preset("tiny").signatures[key] == base.signatures[key]


def test_override_errors():
    key = next(iter(get_preset("cpu").signatures))
    with pytest.raises(ValueError, match=r"unknown signatures setting\(s\) \['nope'\]"):
        get_preset("cpu", signatures={"nope": 1})
    with pytest.raises(TypeError, match=r"override signatures must be a dict"):
        get_preset("cpu", signatures=3)
    with pytest.raises(ValueError, match=r"unknown override 'sizes'"):
        get_preset("cpu", sizes={key: 1})


def test_cuda_selects_gpu_never_full(clean_env):
    """A reader with a GPU gets the T4-sized gpu preset; full only by name (DESIGN §5)."""
    clean_env.setenv("CI", "false")
    clean_env.setattr(settings, "device", lambda: "cuda")      # the reader presets use
    assert preset_name() == "gpu" and get_preset().name == "gpu"
    clean_env.setattr(settings, "device", lambda: "cpu")
    assert preset_name() == "cpu"
    assert "full" in presets.PRESET_NAMES and "full" not in presets.AUTO_PRESETS
    clean_env.setenv("PSBOOK_PRESET", "full")
    assert get_preset().name == "full"


def test_presets_share_keys_and_scale_up():
    """Same code path in every preset: each section has the same keys in every preset, and the
    sizes grow tiny <= cpu <= gpu <= full."""
    ps = [get_preset(n) for n in presets.PRESET_NAMES]
    assert [p.name for p in ps] == ["tiny", "cpu", "gpu", "full"]
    for section in ("signatures", "synthetic", "theory", "lm", "interventions"):
        keys = [set(getattr(p, section)) for p in ps]
        assert all(k == keys[0] for k in keys), f"preset section {section!r} differs: {keys}"
    for section, names in (("signatures", None),
                           ("lm", ("train_vocab", "train_max_tokens", "corpus_max_chars",
                                   "sig_max_tokens"))):
        for key, v in ps[0].__dict__[section].items():
            if isinstance(v, (int, float)) and (names is None or key in names):
                vals = [getattr(p, section)[key] for p in ps]
                assert vals == sorted(vals), (section, key, vals)
    for key in ("f_add", "f_add_tilde", "f_add_flat"):
        vals = [p.synthetic[key]["n_keys"] for p in ps]
        assert vals == sorted(vals), (key, vals)
    steps = [p.synthetic["train"]["f_add"]["linear"]["steps"] for p in ps]
    assert steps == sorted(steps)
    for part, keys in (("model", ("d_model", "n_layers", "d_ff")),
                       ("train", ("steps", "batch_size", "seq_len"))):
        for key in keys:          # the language model grows too (preset.lm["model"/"train"])
            vals = [p.lm[part][key] for p in ps]
            assert vals == sorted(vals), (part, key, vals)


def _lm_training_bytes(preset) -> int:
    """A generous upper bound on the GPU memory one language-model training run of the preset
    needs: fp32 weights, gradients and two Adam moments, plus activations kept for backward
    (batch x seq x (20 d + 3 d_ff) floats per layer, the attention scores and the logits)."""
    from psbook.lm.config import configs_from_preset
    m, t = configs_from_preset(preset, preset.lm["train_vocab"])
    params = 4 * 4 * m.n_params()
    tokens = t.batch_size * t.seq_len
    per_layer = tokens * (20 * m.d_model + 3 * m.d_ff) + t.batch_size * m.n_heads * t.seq_len ** 2 * 2
    acts = 4 * (m.n_layers * per_layer + 3 * tokens * m.vocab_size)
    return params + acts


def test_gpu_preset_fits_a_t4():
    """The gpu preset is sized for a Colab T4 (16 GB): one training run of the chapters' largest
    model needs well under a tenth of it (several runs, the signatures and CUDA's own context
    share the card). The full preset is the one that may need more."""
    pytest.importorskip("torch")
    gpu, full = get_preset("gpu"), get_preset("full")
    assert _lm_training_bytes(gpu) < 1.6e9, _lm_training_bytes(gpu)
    assert _lm_training_bytes(gpu) < _lm_training_bytes(full)
    # the dense V x V next-token signature of the training vocabulary (float64), if densified
    assert 8 * gpu.lm["train_vocab"] ** 2 < 1.6e9


def test_seed_everything_reproducible():
    torch = pytest.importorskip("torch")

    def draw():
        return (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())

    seed_everything(123)
    a = draw()
    seed_everything(123)
    b = draw()
    seed_everything(124)
    c = draw()
    assert a == b
    assert a[0] != c[0] and a[1] != c[1] and a[2] != c[2]


def test_describe_is_one_short_line_without_a_path(monkeypatch, tmp_path):
    """The setup cell's line: preset, device, seeds, version, the data folder by its variable
    (never a path of the machine), within 80 characters whatever the seed."""
    import re

    from psbook import __version__

    p = get_preset("tiny")
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path))
    line = presets.describe(p)
    assert line == (f"preset tiny ({p.device}, seeds 0-2) | psbook {__version__} | "
                    "data: PSBOOK_DATA (found)"), line
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path / "absent"))
    assert presets.describe(p).endswith("data: PSBOOK_DATA (not found)")
    monkeypatch.delenv("PSBOOK_DATA")
    assert presets.describe(p).endswith("data: no PSBOOK_DATA")
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path / "absent"))
    big = get_preset("cpu", seed=2**32 - 2**10 - 5)
    for q in (p, big, get_preset("tiny", n_seeds=1)):
        line = presets.describe(q)
        assert "\n" not in line and len(line) <= 80, line
        assert str(tmp_path) not in line and not re.search(r"/\w", line), line
    assert "(cpu, seed 0)" in presets.describe(get_preset("tiny", n_seeds=1, device="cpu"))
    # the preset itself shows no path of the machine either
    assert str(tmp_path) not in repr(big) and str(tmp_path) not in str(big)


def test_size_table_shows_each_presets_sizes_within_the_page():
    t = presets.size_table()
    assert t.columns == ["size"] + list(presets.PRESET_NAMES)
    assert len(t) == len(presets.SIZE_ROWS)
    assert t["tiny"][0] == str(get_preset("tiny").n_seeds)         # seeds per claim
    steps = [r for r in t.rows if r["size"] == "LM training steps"][0]
    assert steps["cpu"] == f"{get_preset('cpu').lm['train']['steps']:,}"
    assert max(len(line) for line in str(t).splitlines()) <= 80
    assert presets.size_table(["tiny"]).columns == ["size", "tiny"]
    with pytest.raises(ValueError, match="names must be presets"):
        presets.size_table(["huge"])


# --------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Counter:
    def __init__(self, value):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return self.value


def test_load_or_compute_computes_once_then_loads(cache_root, capsys, monkeypatch):
    monkeypatch.setenv("PSBOOK_PROGRESS", "on")  # the cache-hit line is a progress report
    f = Counter({"W": np.arange(6).reshape(2, 3), "loss": [1.0, 0.5]})
    cfg = {"steps": 10, "gamma": 0.8, "seed": 0}
    out1 = cache.load_or_compute("train", cfg, f)
    out2 = cache.load_or_compute("train", dict(reversed(list(cfg.items()))), f)  # key order
    assert f.calls == 1
    np.testing.assert_array_equal(out2["W"], out1["W"])
    assert out2["loss"] == [1.0, 0.5]
    assert "loaded train" in capsys.readouterr().out
    assert len(list(cache_root.rglob("*.npz"))) == 1


def test_different_configs_are_different_entries(cache_root):
    f = Counter(1)
    for cfg in ({"a": 1}, {"a": 2}, {"a": 1, "b": None}, {"a": np.arange(3)},
                {"a": np.arange(1, 4)}):
        cache.load_or_compute("ns", cfg, f, verbose=False)
    assert f.calls == 5
    cache.load_or_compute("other", {"a": 1}, f, verbose=False)          # namespace matters
    assert f.calls == 6
    cache.load_or_compute("ns", {"a": np.arange(3)}, f, verbose=False)  # arrays hash by value
    assert f.calls == 6
    assert cache.config_key("ns", {"a": 1}) != cache.config_key("ns", {"a": 2})
    assert cache.config_key("ns", {"a": 1}) == cache.config_key("ns", {"a": 1})
    assert len(list(cache_root.rglob("*.npz"))) == 6


def test_atomic_write_leaves_no_temporary(cache_root):
    cache.load_or_compute("atomic", {"n": 1}, Counter(list(range(1000))), verbose=False)
    assert list(cache_root.rglob("*.tmp")) == []
    (entry,) = cache_root.rglob("*.npz")
    assert cache._read_entry(entry, list) == list(range(1000))
    # an unpicklable result fails loudly and leaves neither an entry nor a temporary file
    with pytest.raises(Exception):
        cache.load_or_compute("atomic", {"n": 2}, lambda: [list(range(10_000)), lambda: 0], verbose=False)
    assert list(cache_root.rglob("*.tmp")) == []
    assert len(list(cache_root.rglob("*.npz"))) == 1


def test_failing_compute_writes_nothing(cache_root):
    def boom():
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        cache.load_or_compute("fail", {"n": 1}, boom)
    assert not list(cache_root.rglob("*.npz")) and not list(cache_root.rglob("*.tmp"))
    f = Counter(3)
    assert cache.load_or_compute("fail", {"n": 1}, f, verbose=False) == 3 and f.calls == 1


def test_corrupt_entry_is_recomputed(cache_root):
    f = Counter("fresh")
    cache.load_or_compute("c", {"n": 1}, f, verbose=False)
    (entry,) = cache_root.rglob("*.npz")
    entry.write_bytes(b"not a pickle")
    assert cache.load_or_compute("c", {"n": 1}, f, verbose=False) == "fresh"
    assert f.calls == 2


def test_cache_off_disables(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    assert cache.cache_dir() is None
    f = Counter(5)
    for _ in range(3):
        assert cache.load_or_compute("off", {"n": 1}, f) == 5
    assert f.calls == 3
    assert not list(tmp_path.rglob("*.npz"))
    assert cache.clear() == 0


def test_clear_and_bad_arguments(cache_root):
    cache.load_or_compute("x", {"n": 1}, Counter(1), verbose=False)
    cache.load_or_compute("x", {"n": 2}, Counter(1), verbose=False)
    cache.load_or_compute("y", {"n": 1}, Counter(1), verbose=False)
    assert cache.clear("x") == 2
    assert cache.clear() == 1
    with pytest.raises(ValueError, match=r"^namespace must be a non-empty string"):
        cache.load_or_compute("", {}, Counter(1))
    with pytest.raises(TypeError, match=r"^config must be a dict"):
        cache.load_or_compute("x", [("n", 1)], Counter(1))


# --------------------------------------------------------------------------------------
# issue 10: presets never share state; seeds are validated
# --------------------------------------------------------------------------------------


def test_mutating_a_preset_does_not_change_a_later_one():
    p = get_preset("tiny")
    steps = p.synthetic["train"]["f_add"]["linear"]["steps"]
    p.synthetic["train"]["f_add"]["linear"]["steps"] = 5      # a deep, nested edit
    p.synthetic["f_add"]["n_keys"] = 3
    q = get_preset("tiny")
    assert q.synthetic["train"]["f_add"]["linear"]["steps"] == steps != 5
    assert q.synthetic["f_add"]["n_keys"] != 3


def test_nested_override_keeps_sibling_keys():
    base = get_preset("tiny").synthetic["f_add"]
    p = get_preset("tiny", synthetic={"f_add": {"n_keys": 10}})
    assert p.synthetic["f_add"]["n_keys"] == 10
    for k, v in base.items():
        if k != "n_keys":
            assert p.synthetic["f_add"][k] == v, k       # n_anchors, n_slots, ... kept
    assert get_preset("tiny").synthetic["f_add"] == base


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "a", True, None])
def test_seed_everything_names_the_argument(seed):
    with pytest.raises((ValueError, TypeError), match=r"^seed must be an int in \[0, 2\*\*32\)"):
        seed_everything(seed)


def test_seed_everything_leaves_pythonhashseed_alone(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    seed_everything(3)
    import os
    assert "PYTHONHASHSEED" not in os.environ


def test_cache_hit_message_follows_progress_setting(tmp_path, monkeypatch, capsys):
    """A cache hit says where it was loaded from, except with PSBOOK_PROGRESS=off (executed
    builds): the book's pages carry no cache bookkeeping."""
    from psbook import cache
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("PSBOOK_PROGRESS", "on")
    cache.load_or_compute("hitmsg", {"a": 1}, lambda: 1)
    capsys.readouterr()
    cache.load_or_compute("hitmsg", {"a": 1}, lambda: 1)
    assert "loaded hitmsg" in capsys.readouterr().out
    monkeypatch.setenv("PSBOOK_PROGRESS", "off")
    assert cache.load_or_compute("hitmsg", {"a": 1}, lambda: 2) == 1
    assert capsys.readouterr().out == ""
