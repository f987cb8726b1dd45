"""Reliability round 3 (issue 21): stale counts, deleted user files, silent bad input, lost
results, trusted cache entries, size guards, output paths, denormal weights, one divergence
exception, the release/publish/vendoring security items and CI's failure report.

Every test here failed on the code before the fix (run them with ``PYTHONPATH=<old src>``)."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from _helpers import CharTokenizer as _CharTok, FakeCharModel, word_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


_FakeModel = FakeCharModel
_text = word_text


# ---- 1. counts keyed on content ------------------------------------------------------------

def test_cached_counts_are_recounted_after_a_corpus_file_changes(cache_root, tmp_path):
    from psbook.align import cached_counts
    corpus = tmp_path / "texts"
    corpus.mkdir()
    f = corpus / "a.txt"
    f.write_text(_text())
    m = _FakeModel()
    before = cached_counts(m, str(corpus), kinds=("next",), progress=False).n_tokens
    with open(f, "a") as fh:                  # the user appends text to the corpus file
        fh.write(_text(500, seed=1))
    after = cached_counts(m, str(corpus), kinds=("next",), progress=False).n_tokens
    assert after > before
    # same content again: served from the cache, equal
    assert cached_counts(m, str(corpus), kinds=("next",), progress=False).n_tokens == after


# ---- 2. strict UTF-8, folders named x.txt --------------------------------------------------

@pytest.mark.parametrize("kind, data, words", [
    ("utf16", "hello world, plain text\n".encode("utf-16"), "UTF-16"),
    ("latin1", "un café au lait, s'il vous plaît\n".encode("latin-1"), "cp1252"),
    ("binary", bytes(range(256)) * 8, "binary"),
])
def test_non_utf8_corpus_files_are_refused_with_file_byte_and_encoding(tmp_path, kind, data,
                                                                       words):
    from psbook.align import corpus_documents
    f = tmp_path / f"{kind}.txt"
    f.write_bytes(data)
    _, docs = corpus_documents(str(f))
    with pytest.raises(ValueError, match=rf"{kind}\.txt is not UTF-8 text: .* at byte \d+") \
            as e:
        list(docs)
    assert words in str(e.value)


def test_psbook_align_exits_non_zero_on_a_utf16_corpus(tmp_path, monkeypatch, capsys):
    from psbook import cli, pretrained
    f = tmp_path / "u16.txt"
    f.write_bytes(_text().encode("utf-16"))
    monkeypatch.setattr(pretrained, "load", lambda name, revision=None: _FakeModel())
    assert cli.main(["align", "--model", "fake", "--corpus", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "u16.txt is not UTF-8" in err[0] and "byte 0" in err[0]


def test_a_folder_named_like_a_text_file_is_skipped(tmp_path):
    from psbook.align import corpus_documents
    (tmp_path / "x.txt").mkdir()
    (tmp_path / "x.txt" / "inner.txt").write_text("inner text\n")
    (tmp_path / "b.txt").write_text("outer text\n")
    desc, docs = corpus_documents(str(tmp_path))
    assert "".join(docs) == "outer text\ninner text\n" or \
        sorted("".join(docs).split("\n")) == ["", "inner text", "outer text"]
    assert "2 .txt files" in desc


# ---- 3. token ids ------------------------------------------------------------------------------

def _counts():
    from psbook.align import count_corpus
    return count_corpus(_CharTok(), [_text()], kinds=("next", "window"), progress=False)


@pytest.mark.parametrize("tokens, err", [([-1, 97, 98, 99], "-1"), ([97, 98, 99, 128], "128"),
                                         ([97.0, 98.0, 99.0], "integer")])
def test_alignment_refuses_bad_token_ids(tokens, err):
    from psbook.align import alignment
    with pytest.raises((ValueError, TypeError), match=rf"^tokens .*{err}"):
        alignment(_FakeModel(), _counts(), "next", "raw", tokens=tokens)


def test_interventions_tasks_and_fourier_refuse_bad_token_ids():
    from psbook import interventions as I
    from psbook.signatures import fourier_power, next_token_signatures
    from psbook.synthetic.tasks import f_add
    docs = [np.array([0, 1, 2, 3, 0, 1, 2, 3, 1, 0]), np.array([2, 3, 1, 0, 2])]
    sig = next_token_signatures(docs, 4)
    with pytest.raises(ValueError, match=r"^a must be a token id .* got -1"):
        I.shared_signature_cosine(sig, -1, 2)
    with pytest.raises(TypeError, match=r"^b must be an integer token id"):
        I.shared_signature_cosine(sig, 0, 2.7)
    with pytest.raises(TypeError, match=r"^pairs must hold integer token ids"):
        I.share_many(docs, [[0.5, 1.0]], 0.5)
    with pytest.raises(ValueError, match=r"^pairs must hold ids .* found 7"):
        I.share_many(docs, [[0, 7]], 0.5)
    with pytest.raises(TypeError, match=r"^holdout must hold integer"):
        f_add(n_keys=6, n_anchors=2, holdout=[[0.7, 1.2, 0]])
    W = np.random.default_rng(0).normal(size=(7, 3))
    with pytest.raises(ValueError, match=r"^tokens must hold ids .*found -1"):
        fourier_power(W, tokens=[-1, 0, 1, 2])


# ---- 4. the cache folder: marker, clear() --------------------------------------------------

def test_clear_deletes_only_psbooks_entries(cache_root):
    from psbook import cache
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    (cache_root / "my-results.json").write_text("{}")             # the user's own files
    (cache_root / "ns" / "notes.npz").write_bytes(b"mine")
    (cache_root / "ns" / "model.pt").write_bytes(b"mine")
    assert cache.clear() == 1
    assert (cache_root / "my-results.json").exists()
    assert (cache_root / "ns" / "notes.npz").exists() and (cache_root / "ns" / "model.pt").exists()


def test_clear_refuses_a_folder_without_the_marker(tmp_path, monkeypatch):
    from psbook import cache
    d = tmp_path / "downloads"
    (d / "ns").mkdir(parents=True)
    (d / "ns" / ("a" * 24 + ".pkl")).write_bytes(b"x")            # named like an entry
    monkeypatch.setenv("PSBOOK_CACHE", str(d))
    with pytest.raises(ValueError, match=r"^refusing to clear .* no \.psbook-cache marker"):
        cache.clear()
    assert (d / "ns" / ("a" * 24 + ".pkl")).exists()


@pytest.mark.parametrize("where", ["~", "home"])
def test_the_home_folder_is_refused_as_cache(monkeypatch, where):
    from psbook import cache
    monkeypatch.setenv("PSBOOK_CACHE", "~" if where == "~" else str(Path.home()))
    with pytest.raises(ValueError, match=r"^PSBOOK_CACHE must be a folder of its own"):
        cache.cache_dir()
    with pytest.raises(ValueError, match=r"^PSBOOK_CACHE must be a folder of its own"):
        cache.clear()


def test_a_foreign_folder_is_not_used_as_cache(tmp_path, monkeypatch):
    from psbook import cache
    (tmp_path / "thesis.tex").write_text("mine")
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"psbook did not create .* holds other files"):
        cache.load_or_compute("ns", {"n": 1}, lambda: 1)


# ---- 5. a failed write loses nothing ------------------------------------------------------

def test_a_failed_cache_write_warns_once_and_returns_the_result(cache_root, monkeypatch):
    from psbook import cache

    from psbook import atomic

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic, "_write_all", full)
    monkeypatch.setattr(atomic, "_warned", False)
    with pytest.warns(RuntimeWarning, match="could not write") as rec:
        assert cache.load_or_compute("ns", {"n": 1}, lambda: 41, verbose=False) == 41
        assert cache.load_or_compute("ns", {"n": 2}, lambda: 42, verbose=False) == 42
    assert len([w for w in rec if "could not write" in str(w.message)]) == 1


def test_a_failed_checkpoint_write_does_not_stop_training(tmp_path, monkeypatch):
    from psbook import atomic
    from psbook.lm import LMConfig, TrainConfig, train_lm

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic, "_write_all", full)
    monkeypatch.setattr(atomic, "_warned", False)
    toks = np.random.default_rng(0).integers(0, 50, 3000)
    cfg = LMConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=32,
                   max_seq_len=16)
    with pytest.warns(RuntimeWarning, match="could not write"):
        r = train_lm(toks, cfg, TrainConfig(steps=6, batch_size=4, seq_len=8, warmup=2,
                                            eval_every=3, checkpoint_every=2),
                     checkpoint_dir=tmp_path / "ck", progress=False)
    assert r.history["step"][-1] == 6


# ---- 6. nothing in the cache is executed ---------------------------------------------------

class _Evil:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_a_planted_pickle_in_the_cache_is_not_executed(cache_root, tmp_path, capsys):
    from psbook import cache
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    (entry,) = cache_root.rglob("*.npz")
    flag = tmp_path / "pwned"
    entry.write_bytes(pickle.dumps(_Evil(flag)))                   # a bare planted pickle
    assert cache.load_or_compute("ns", {"n": 1}, lambda: 2, verbose=False) == 2
    assert not flag.exists()
    # the payloads of issue 32 in every layout: tests/test_cache_data.py


def test_cache_entries_of_psbook_results_still_load(cache_root):
    """Entries as data rebuild what psbook stores: arrays, sparse matrices, tensors, psbook's
    registered result types."""
    import scipy.sparse as sp
    import torch

    from psbook import cache
    from psbook.signatures import next_token_signatures
    value = {"a": np.arange(5.0), "s": sp.csr_matrix(np.eye(3)), "t": torch.arange(4.0),
             "sig": next_token_signatures([np.array([0, 1, 2, 1])], 3), "x": (1, 2.5, "z")}
    cache.load_or_compute("ok", {"n": 1}, lambda: value, verbose=False)
    got = cache.load_or_compute("ok", {"n": 1}, lambda: None, verbose=False)
    assert got is not None and np.array_equal(got["a"], value["a"])
    assert torch.equal(got["t"], value["t"]) and (got["s"] != value["s"]).nnz == 0
    assert (got["sig"].counts != value["sig"].counts).nnz == 0 and got["x"] == (1, 2.5, "z")


def test_a_planted_checkpoint_is_not_executed(tmp_path):
    import torch

    from psbook.lm import LMConfig, TrainConfig, train_lm
    ck = tmp_path / "ck"
    ck.mkdir()
    flag = tmp_path / "pwned"
    torch.save({"config": _Evil(flag)}, ck / "checkpoint.npz")     # a pickle where data belongs
    toks = np.random.default_rng(0).integers(0, 50, 3000)
    cfg = LMConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=32,
                   max_seq_len=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = train_lm(toks, cfg, TrainConfig(steps=4, batch_size=4, seq_len=8, warmup=1,
                                            eval_every=2, checkpoint_every=2),
                     checkpoint_dir=ck, progress=False)
    assert not flag.exists() and r.history["step"][-1] == 4


# ---- 8. size guards and the environment ----------------------------------------------------

def test_size_guards_refuse_before_allocating(monkeypatch):
    from psbook._validate import TooLarge
    from psbook.align import count_corpus
    from psbook.cooccurrence import window_signatures
    from psbook.lm.model import LMConfig
    from psbook.synthetic.models import make_model
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "1G")
    with pytest.raises(TooLarge, match=r"vocab_size=100000000 .*PSBOOK_MAX_BYTES"):
        make_model("linear", 10**8, 10)
    with pytest.raises(TooLarge, match=r"vocab_size=200000000 .*PSBOOK_MAX_BYTES"):
        LMConfig(vocab_size=2 * 10**8)
    with pytest.raises(TooLarge, match=r"vocab_size=200000000 .*PSBOOK_MAX_BYTES"):
        count_corpus(_CharTok(), ["abc"], vocab_size=2 * 10**8, progress=False)
    with pytest.raises(ValueError, match=r"^window must be at most"):
        window_signatures(np.arange(10), 10, window=10**7)


def test_a_long_document_with_a_wide_window_stays_within_the_pair_buffer():
    from psbook.cooccurrence import PairCounter
    c = PairCounter(50, range(1, 201), chunk_pairs=1000)
    seen = []
    flush = c.flush
    c.flush = lambda: (seen.append(c._n), flush())
    c.add(np.random.default_rng(0).integers(0, 50, 5000))
    assert seen and max(seen) < 1000 + 5000          # never n * window (about 10^6) pairs


@pytest.mark.parametrize("var, value, msg", [
    ("PSBOOK_MAX_BYTES", "0.5", "PSBOOK_MAX_BYTES must be a whole number"),
    ("PSBOOK_SEED", "4294967295", "PSBOOK_SEED must be an integer in"),
    ("PSBOOK_PROGRESS", "maybe", "PSBOOK_PROGRESS must be one of"),
    ("PSBOOK_CACHE", "~", "PSBOOK_CACHE must be a folder of its own"),
    ("PSBOOK_PRESET", "laptop", "PSBOOK_PRESET must be one of"),
])
def test_environment_is_validated_at_startup(monkeypatch, var, value, msg):
    from psbook.presets import get_preset
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=rf"^{msg}"):
        get_preset("tiny")


def test_psbook_align_reports_a_bad_environment_in_one_line(monkeypatch, capsys):
    from psbook import cli
    monkeypatch.setenv("PSBOOK_MAX_BYTES", "0.5")
    assert cli.main(["align", "--model", "m", "--corpus", "c"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PSBOOK_MAX_BYTES" in err[0]


def test_preset_overrides_are_checked():
    from psbook.presets import get_preset
    with pytest.raises(TypeError, match=r"^override lm\.train\.steps must be an integer"):
        get_preset("tiny", lm={"train": {"steps": "many"}})
    with pytest.raises(ValueError, match=r"unknown synthetic\.f_add setting"):
        get_preset("tiny", synthetic={"f_add": {"n_kyes": 3}})
    with pytest.raises(TypeError, match=r"^override synthetic\.f_add must be a dict"):
        get_preset("tiny", synthetic={"f_add": 3})


# ---- 9. output paths before the work -------------------------------------------------------

@pytest.mark.parametrize("flag", ["--json", "--out"])
def test_output_paths_are_checked_before_the_work(tmp_path, monkeypatch, capsys, flag):
    from psbook import align as A
    from psbook import cli
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    calls = []
    monkeypatch.setattr(A, "align", lambda *a, **k: calls.append(1))
    bad = str(blocker / "sub" / "r.json") if flag == "--json" else str(blocker)
    assert cli.main(["align", "--model", "m", "--corpus", "c", flag, bad]) == 2
    assert calls == []
    assert flag in capsys.readouterr().err


# ---- 10. denormal weights ------------------------------------------------------------------

def test_denormal_weights_are_refused():
    from psbook.signatures import task_signatures
    X = np.array([[0, 1], [1, 2], [2, 0]])
    with pytest.raises(ValueError, match=r"^weights must be 0 or at least .*1e-320"):
        task_signatures(X, [0, 1, 2], 3, weights=[1e-320, 1e-320, 1e-320])
    sig = task_signatures(X, [0, 1, 2], 3, weights=[1.0, 1.0, 1e-308])   # small, normal: fine
    assert np.all(np.isfinite(sig.phi_y))


# ---- 11. one divergence exception ----------------------------------------------------------

def test_one_exception_for_a_diverged_run():
    from psbook import lm
    from psbook.synthetic import train
    assert lm.TrainingDiverged is train.DivergenceError
    from psbook.lm import LMConfig, TrainConfig, train_lm
    toks = np.random.default_rng(0).integers(0, 50, 3000)
    cfg = LMConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=32,
                   max_seq_len=16)
    with pytest.raises(train.DivergenceError, match="diverged"):
        train_lm(toks, cfg, TrainConfig(steps=30, batch_size=4, seq_len=8, warmup=0, lr=1e6,
                                        grad_clip=1e9), progress=False)


# ---- 12. release, publish workflow, JavaScript vendoring -----------------------------------

@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("version", ['0.0.1; touch pwned', '0.0.1" ; touch pwned; "',
                                     '$(touch pwned)'])
def test_make_release_refuses_a_version_that_is_not_one(tmp_path, version):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    out = subprocess.run(["make", "-o", "setup", "release", f"VERSION={version}",
                          "BIN=/nonexistent"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert not (tmp_path / "pwned").exists()
    assert out.returncode != 0 and "VERSION must be a version number" in out.stderr


def test_publish_workflow_least_privilege_and_pinned_actions():
    import re
    for name in ("publish.yml", "ci.yml"):
        wf = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
        assert wf.get("permissions") == {"contents": "read"}, name
        for job_name, job in wf["jobs"].items():
            if job.get("permissions", {}).get("contents") == "write":
                assert job_name == "release", f"{name}: {job_name} may write contents"
                runs = "\n".join(s.get("run", "") for s in job["steps"])
                assert "pip install" not in runs and "pytest" not in runs
            for step in job["steps"]:
                uses = step.get("uses")
                if uses:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), \
                        f"{name}: {uses} is not pinned by commit SHA"


def _vendor():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import vendor_js
    finally:
        sys.path.pop(0)
    return vendor_js


def test_vendor_js_checks_the_pinned_integrity_hash():
    v = _vendor()
    for name, (version, *_rest) in v.PACKAGES.items():
        assert (name, version) in v.INTEGRITY
    with pytest.raises(SystemExit, match="does not match its pinned integrity"):
        v.verify("requirejs", "2.3.8", b"tampered tarball")


def test_vendor_js_refuses_paths_outside_its_folder(tmp_path):
    import io
    import tarfile
    v = _vendor()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("package/require.js", "package/../../evil.js"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x;"))
    dest = tmp_path / "vendor"
    with pytest.raises(SystemExit, match="refusing"):
        v._extract(buf.getvalue(), [("require.js", "requirejs/require.js")], dest)
    assert not (tmp_path / "evil.js").exists()
    with pytest.raises(SystemExit, match="outside"):
        v._inside(dest, dest / ".." / "x.js")


# ---- 13. CI says what failed ---------------------------------------------------------------

def test_a_failing_ci_part_prints_its_name_and_the_short_traceback(tmp_path):
    lib = ROOT / ".ci" / "lib.sh"
    assert lib.exists(), ".ci/lib.sh holds the part runner of .ci/test-all.sh"
    (tmp_path / "test_x.py").write_text("def helper(x):\n    return 1 / x\n\n"
                                        "def test_bad():\n    assert helper(0) == 1\n")
    cmd = (f"set -euo pipefail; source {lib}; part demo {sys.executable} -m pytest -q "
           f"--tb=short -rfE -p no:cacheprovider -p no:randomly test_x.py")
    out = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    tail = out.stdout[out.stdout.index("FAILED (exit"):]
    assert "=== [demo] FAILED (exit 1)" in out.stdout
    assert "ZeroDivisionError" in tail and "test_x.py:2: in helper" in tail
    assert (tmp_path / "_build" / "ci-logs" / "demo.log").exists()
