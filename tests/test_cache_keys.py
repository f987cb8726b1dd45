"""The cache and the LM checkpoints never serve a result of other code, other data or another
configuration (issue 10 §1-3, 6, 9-10)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import psbook
from psbook import cache


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---- canonical configurations -------------------------------------------------------------

def test_key_types_sets_and_arrays_are_canonical():
    k = cache.config_key
    assert k("ns", {1: 1}) != k("ns", {"1": 1})
    assert k("ns", {"a": True}) != k("ns", {"a": 1})
    assert k("ns", {"a": 1}) != k("ns", {"a": 1.0})
    assert k("ns", {"a": np.int64(3)}) == k("ns", {"a": 3})
    assert k("ns", {"s": {"b", "a", "c"}}) == k("ns", {"s": {"c", "b", "a"}})
    assert k("ns", {"s": {1, 2}}) != k("ns", {"s": [1, 2]})
    a = np.arange(6)
    assert k("ns", {"x": a}) != k("ns", {"x": a.reshape(2, 3)})          # shape
    assert k("ns", {"x": a}) != k("ns", {"x": a.astype(np.int32)})       # dtype
    assert k("ns", {"x": a}) == k("ns", {"x": torch.arange(6)})          # same bytes
    assert k("ns", {"f": float("nan")}) == k("ns", {"f": float("nan")})
    with pytest.raises(TypeError, match=r"config\['fn'\] holds a function"):
        k("ns", {"fn": lambda: 0})


def test_set_valued_config_key_is_the_same_in_every_process(tmp_path):
    """String hashing is randomised per process: a set must still give one key."""
    code = ("from psbook.cache import config_key; "
            "print(config_key('ns', {'s': {'alpha', 'beta', 'gamma', 'delta', 'eps'}}))")
    keys = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        keys.add(out.stdout.strip())
    assert len(keys) == 1


@pytest.mark.parametrize("ns", ["../../escape", "a/b", "..", ".hidden", "a\\b", "/abs", ""])
def test_namespace_cannot_leave_the_cache_folder(cache_root, ns):
    with pytest.raises(ValueError, match=r"^namespace must be"):
        cache.load_or_compute(ns, {"n": 1}, lambda: 1)
    assert not (cache_root.parent / "escape").exists()


# ---- PSBOOK_CACHE ---------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["off", "OFF", "0", "false", "no", "None"])
def test_off_words_disable_the_cache(tmp_path, monkeypatch, word):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PSBOOK_CACHE", word)
    assert cache.cache_dir() is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("word", ["nope", "yes", "cache"])
def test_unknown_bare_word_is_refused(tmp_path, monkeypatch, word):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PSBOOK_CACHE", word)
    with pytest.raises(ValueError, match=rf"^PSBOOK_CACHE must be a folder path .*'{word}'"):
        cache.cache_dir()
    assert list(tmp_path.iterdir()) == []          # no ./nope/ folder
    monkeypatch.setenv("PSBOOK_CACHE", f"./{word}")  # an explicit relative path is fine
    assert cache.cache_dir().resolve() == (tmp_path / word).resolve()


def test_cache_pointing_at_a_file_names_the_variable(tmp_path, monkeypatch):
    f = tmp_path / "a-file"
    f.write_text("x")
    monkeypatch.setenv("PSBOOK_CACHE", str(f))
    with pytest.raises(ValueError, match=r"^PSBOOK_CACHE must be a folder; .* is a file"):
        cache.load_or_compute("ns", {"n": 1}, lambda: 1)


# ---- clear ------------------------------------------------------------------------------------

def test_clear_removes_tmp_leftovers_and_checkpoints_but_not_foreign_files(cache_root):
    cache.load_or_compute("x", {"n": 1}, lambda: 1, verbose=False)
    ck = cache.checkpoint_dir("lm-train", {"n": 1})
    ck.mkdir(parents=True)
    (ck / "checkpoint.npz").write_bytes(b"ckpt")
    (cache_root / "x" / "tmpab12cd_x.tmp").write_bytes(b"half a pickle")   # older psbook's killed write
    (cache_root / "x" / f".{'0' * 24}.npz.99999.0123abcd.tmp").write_bytes(b"half")  # a killed write
    (cache_root / "tokenizers").mkdir()
    (cache_root / "tokenizers" / "bpe-300-0123abcd.tmp123").write_text("{")
    (cache_root / "notes.txt").write_text("mine")                       # not psbook's
    assert cache.clear() == 5
    # the marker stays: the folder is still psbook's cache
    assert sorted(p.name for p in cache_root.rglob("*")) == [cache.MARKER, "notes.txt"]


def test_clear_of_one_namespace_takes_its_checkpoints(cache_root):
    cache.load_or_compute("lm-train", {"n": 1}, lambda: 1, verbose=False)
    cache.load_or_compute("other", {"n": 1}, lambda: 1, verbose=False)
    ck = cache.checkpoint_dir("lm-train", {"n": 2})
    ck.mkdir(parents=True)
    (ck / "checkpoint.npz").write_bytes(b"x")
    assert ck.is_relative_to(cache_root)
    assert cache.clear("lm-train") == 2
    assert len(list(cache_root.rglob("*.npz"))) == 1


# ---- code changes ----------------------------------------------------------------------------

def test_editing_the_package_source_changes_the_key_and_the_result(tmp_path):
    """Copy psbook, edit a default in the copy, import it in a subprocess: the cached result is
    recomputed under a new key (the old code's entry is neither served nor lost)."""
    src = Path(psbook.__file__).resolve().parent
    for name in ("orig", "edited"):
        shutil.copytree(src, tmp_path / name / "psbook",
                        ignore=shutil.ignore_patterns("__pycache__"))
    tasks_py = tmp_path / "edited" / "psbook" / "synthetic" / "tasks.py"
    text = tasks_py.read_text()
    old = 'def value_weights(n: int, dist: str = "uniform", exponent: float = 1.0)'
    assert old in text
    tasks_py.write_text(text.replace(old, old.replace("1.0", "2.0")))   # a default changes
    script = textwrap.dedent("""
        import json
        from psbook import cache
        from psbook.synthetic.tasks import value_weights
        w = cache.load_or_compute("probe", {"n": 5}, lambda: value_weights(5, "zipf").tolist(),
                                  verbose=False)
        print(json.dumps({"key": cache.config_key("probe", {"n": 5}), "w": w,
                          "n": len(list(cache.cache_dir().rglob("*.npz")))}))
    """)
    out = []
    for name in ("orig", "edited", "orig"):
        env = {**os.environ, "PYTHONPATH": str(tmp_path / name),
               "PSBOOK_CACHE": str(tmp_path / "cache")}
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    orig, edited, again = out
    assert orig["key"] != edited["key"]
    assert edited["n"] == 2                         # recomputed, not loaded from the old entry
    assert edited["w"] != pytest.approx(orig["w"])  # ... with the edited default
    assert again == {**orig, "n": 2}                # the original code finds its own entry


def test_code_fingerprint_covers_every_module():
    fp = cache.code_fingerprint()
    assert len(fp) == 64 and fp == cache.code_fingerprint()


# ---- data in the keys ----------------------------------------------------------------------

def test_fit_on_permuted_labels_is_not_served_the_original(cache_root):
    from psbook.synthetic import tasks, train
    task = tasks.f_add(n_keys=5, n_anchors=2, n_slots=1, test_frac=0.0)
    a = train.fit(task, d=4, steps=3, progress=False)
    perm = replace(task, y_train=np.random.default_rng(0).permutation(task.y_train), _sig=None)
    assert perm.params == task.params
    b = train.fit(perm, d=4, steps=3, progress=False)
    assert task.config() != perm.config()
    assert not np.array_equal(a.W_E, b.W_E)
    c = train.fit(task, d=4, steps=3, progress=False)    # the original still hits its entry
    np.testing.assert_array_equal(a.W_E, c.W_E)
    assert len(list(cache_root.rglob("*.npz"))) == 2


def test_two_tokenizer_files_with_one_name_get_different_keys(tmp_path):
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from psbook.corpus.streams import _tokenizer_fingerprint
    from psbook.corpus.tokenizer import HFTokenizer

    def tok(vocab):
        t = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        t.pre_tokenizer = pre_tokenizers.Whitespace()
        return HFTokenizer(t, "qwen2.5")

    a = tok({"[UNK]": 0, "a": 1, "b": 2})
    b = tok({"[UNK]": 0, "b": 1, "a": 2})
    assert a.name == b.name and a.vocab_size == b.vocab_size
    assert _tokenizer_fingerprint(a) != _tokenizer_fingerprint(b)
    assert _tokenizer_fingerprint(a) == _tokenizer_fingerprint(tok({"[UNK]": 0, "a": 1, "b": 2}))


def test_local_corpus_edit_changes_the_source_fingerprint(tmp_path, monkeypatch):
    from psbook.corpus import sources
    from psbook.corpus.streams import source_fingerprint
    (tmp_path / "mine").mkdir()
    f = tmp_path / "mine" / "a.txt"
    f.write_text("one two three\n")
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path))
    sources._PLANS.clear()
    before = source_fingerprint("local:mine")
    f.write_text("one two three four five\n")
    assert source_fingerprint("local:mine") != before


# ---- LM checkpoints ---------------------------------------------------------------------------

V = 20


def _lm_setup():
    from psbook.lm import LMConfig, TrainConfig
    cfg = LMConfig(vocab_size=V, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=16,
                   max_seq_len=8)
    tcfg = TrainConfig(steps=6, batch_size=2, seq_len=8, lr=3e-3, warmup=1, eval_every=2,
                       checkpoint_every=2)
    stream = np.random.default_rng(0).integers(0, V, 400)
    return cfg, tcfg, stream


def test_resume_on_other_tokens_is_refused(tmp_path):
    from psbook.lm import train_lm
    cfg, tcfg, stream = _lm_setup()
    train_lm(stream, cfg, tcfg, checkpoint_dir=tmp_path, stop_after=2, progress=False)
    other = stream.copy()
    other[::7] = (other[::7] + 1) % V
    with pytest.raises(ValueError, match="different configuration, other training data"):
        train_lm(other, cfg, tcfg, checkpoint_dir=tmp_path, progress=False)
    # the same tokens resume, and match an uninterrupted run exactly
    full = train_lm(stream, cfg, tcfg, progress=False)
    res = train_lm(stream, cfg, tcfg, checkpoint_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(full.W_E, res.W_E)


def test_truncated_checkpoint_is_discarded_with_a_warning(tmp_path):
    from psbook.lm import train_lm
    cfg, tcfg, stream = _lm_setup()
    train_lm(stream, cfg, tcfg, checkpoint_dir=tmp_path, stop_after=2, progress=False)
    ck = tmp_path / "checkpoint.npz"
    ck.write_bytes(ck.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match=r"checkpoint .*checkpoint\.npz is damaged"):
        res = train_lm(stream, cfg, tcfg, checkpoint_dir=tmp_path, progress=False)
    full = train_lm(stream, cfg, tcfg, progress=False)
    np.testing.assert_array_equal(full.W_E, res.W_E)       # started over, cleanly


def test_train_cached_checkpoints_live_in_the_cache_and_clear_removes_them(cache_root):
    from psbook.lm import train_cached, train_lm
    from psbook.lm.runs import fingerprint
    cfg, tcfg, stream = _lm_setup()
    config = {"model": cfg.to_dict(), "train": tcfg.to_dict(), "tokens": fingerprint(stream),
              "signatures": None, "token_sets": {}}
    ck = cache.checkpoint_dir("lm-train", config)
    # a run killed after its first checkpoint ...
    train_lm(stream, cfg, tcfg, checkpoint_dir=ck, stop_after=2, progress=False)
    assert (ck / "checkpoint.npz").is_file() and ck.is_relative_to(cache_root)
    assert cache.clear() >= 1
    assert not list(cache_root.rglob("checkpoint.*"))
    res = train_cached(stream, cfg, tcfg, progress=False, desc="x")
    assert not list(cache_root.rglob("checkpoint.*"))     # cached; checkpoint removed
    np.testing.assert_array_equal(res.W_E, train_lm(stream, cfg, tcfg, progress=False).W_E)


def test_lm_divergence_with_flat_loss_is_reported():
    from psbook.lm import TrainingDiverged, train_lm
    cfg, tcfg, stream = _lm_setup()
    with pytest.raises(TrainingDiverged, match=r"a weight reached \|w\|"):
        train_lm(stream, cfg, replace(tcfg, lr=1e4, steps=20), progress=False)


def test_lm_loss_needs_two_positions_and_refuses_negative_ids():
    from psbook.lm import QwenLM
    cfg, _, _ = _lm_setup()
    m = QwenLM(cfg, seed=0)
    with pytest.raises(ValueError, match=r"^ids must be 2-D \(batch >= 1, T >= 2\)"):
        m.loss(torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^ids must lie in \[0, vocab_size=20\); found -1"):
        m.loss(torch.tensor([[0, -1, 2]]))


def test_pickles_only_from_the_chosen_folder(cache_root, monkeypatch, tmp_path):
    """Nothing is loaded from a folder the user did not name: entries live in cache_dir()."""
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    other = tmp_path / "other"
    monkeypatch.setenv("PSBOOK_CACHE", str(other))
    other.mkdir()
    (other / cache.MARKER).write_text("")                      # a psbook cache folder ...
    shutil.copytree(cache_root, other / "elsewhere")           # ... holding a foreign copy
    calls = []
    cache.load_or_compute("ns", {"n": 1}, lambda: calls.append(1) or 2, verbose=False)
    assert calls == [1]
    assert cache._read_entry(next(cache_root.rglob("*.npz")), int) == 1
