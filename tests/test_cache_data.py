"""Reliability round 4 (issue 32, items 1, 2 and 5): cache entries that cannot carry code,
one atomic write helper with a disk-full path for every file psbook writes, and a clear() that
removes only what psbook writes, where it writes it."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from psbook import atomic, cache, cache_format

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(atomic, "_warned", False)
    return tmp_path / "cache"


# ---- the payloads of issue 32, written with pickle opcodes ----------------------------------

def _s(text: str) -> bytes:                       # SHORT_BINUNICODE / BINUNICODE
    b = text.encode()
    return (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + struct.pack("<I", len(b))) + b


def _glob(module: str, name: str) -> bytes:       # STACK_GLOBAL: a dotted name is an attr path
    return _s(module) + _s(name) + b"\x93"


def _val(x) -> bytes:
    if isinstance(x, bytes):                      # already opcodes
        return x
    if isinstance(x, str):
        return _s(x)
    if isinstance(x, list):
        return b"](" + b"".join(_val(v) for v in x) + b"e"
    if isinstance(x, int):
        b = x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(b)]) + b      # LONG1
    raise TypeError(x)


def _call(fn: bytes, *args) -> bytes:             # fn(*args): MARK args TUPLE REDUCE
    return fn + b"(" + b"".join(_val(a) for a in args) + b"tR"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def payloads(marker: Path, victim: Path) -> dict:
    """name -> pickle bytes that, unpickled by a plain unpickler, runs code (touches ``marker``
    or empties ``victim``) -- the routes issue 32 found through the old restricted unpickler."""
    exec_src = f"open({str(marker)!r}, 'w').close()"
    # csr_matrix.__init__.__globals__["__builtins__"]["exec"](src): classes only, reached by
    # attrgetter / itemgetter from scipy.sparse._sputils, as the old unpickler allowed
    ag = _glob("scipy.sparse._sputils", "operator.attrgetter")
    ig = _glob("scipy.sparse._sputils", "operator.itemgetter")
    globals_ = _call(_call(ag, "__init__.__globals__"), _glob("scipy.sparse", "csr_matrix"))
    builtins_ = _call(_call(ig, "__builtins__"), globals_)
    exec_ = _call(_call(ig, "exec"), builtins_)
    return {
        "popen-via-psbook.align": _pickle(_call(
            _glob("psbook.align.stats", "np.f2py.subprocess.Popen"), ["touch", str(marker)])),
        "popen-via-torch": _pickle(_call(
            _glob("torch", "_strobelight.cli_function_profiler.subprocess.Popen"),
            ["touch", str(marker)])),
        "attrgetter-chain-to-exec": _pickle(_call(exec_, exec_src)),
        "fileio-empties-a-victim": _pickle(_call(
            _glob("psbook.cache_format", "io.FileIO"), str(victim), "w")),
        "huge-allocation": _pickle(_call(_glob("builtins", "list"),
                                         _call(_glob("builtins", "range"), 3 * 10**9))),
    }


_LIVE = ["popen-via-psbook.align", "popen-via-torch", "attrgetter-chain-to-exec",
         "fileio-empties-a-victim"]


@pytest.mark.parametrize("name", _LIVE)
def test_the_payloads_are_live(tmp_path, name):
    """Each payload really runs code under a plain unpickler (so that the test below, where
    nothing runs, means something). Run in a child process."""
    marker, victim = tmp_path / "marker", tmp_path / "victim.txt"
    victim.write_text("the user's data\n")
    blob = tmp_path / "payload.pkl"
    blob.write_bytes(payloads(marker, victim)[name])
    script = textwrap.dedent(f"""
        import pickle, subprocess
        import psbook.align.stats, psbook.cache_format, scipy.sparse._sputils
        try:
            import torch._strobelight.cli_function_profiler
        except ImportError:
            pass
        out = pickle.loads(open({str(blob)!r}, 'rb').read())
        if isinstance(out, subprocess.Popen):
            out.wait()
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300)
    if name == "popen-via-torch" and "_strobelight" in r.stderr:
        pytest.skip("this torch has no torch._strobelight (the route does not exist here)")
    assert r.returncode == 0, r.stderr[-2000:]
    assert marker.exists() or victim.read_text() == ""


def _old_entry(data: bytes) -> bytes:
    """The header + pickle layout of psbook before issue 32, with a correct checksum."""
    rec = json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "type": "builtins.int"})
    return b"psbook-cache-entry 1\n" + rec.encode() + b"\n" + data


def _npy_object(data: bytes) -> bytes:
    """A .npy member holding an object array, i.e. a pickle (what np.load(allow_pickle=True)
    would unpickle)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def _npy_header_only(shape, dtype="<i8") -> bytes:
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64


def _meta(tree, arrays=None, type_="int") -> bytes:
    rec = {"format": cache_format.FORMAT, "version": cache_format.VERSION, "type": type_,
           "tree": tree, "sha256": arrays or {}}
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(rec).encode(), np.uint8))
    return buf.getvalue()


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _layouts(payload: bytes, name: str) -> dict:
    """The payload planted in every layout psbook ever read: old (.pkl), and new (.npz) as the
    raw file, as an object-array member, and as a dotted type name in the record."""
    return {
        "old": (".pkl", _old_entry(payload)),
        "new-raw-pickle": (".npz", payload),
        "new-object-member": (".npz", _zip({"__psbook__.npy": _meta({"$": "ndarray", "a": "a0"},
                                                                    {"a0": "0" * 64}, "ndarray"),
                                            "a0.npy": _npy_object(payload)})),
        "new-dotted-type": (".npz", _zip({"__psbook__.npy": _meta(
            {"$": "obj", "type": "psbook.align.np.f2py.subprocess.Popen",
             "v": {"$": "list", "v": ["touch", "x"]}})})),
        "new-huge-header": (".npz", _zip({"__psbook__.npy": _meta({"$": "ndarray", "a": "a0"},
                                                                  {"a0": "0" * 64}, "ndarray"),
                                          "a0.npy": _npy_header_only((3 * 10**9,))})),
    }


def _outside(tmp_path: Path, cache_root: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*")
            if p.is_file() and not p.is_relative_to(cache_root)}


@pytest.mark.parametrize("layout", ["old", "new-raw-pickle", "new-object-member",
                                    "new-dotted-type", "new-huge-header"])
@pytest.mark.parametrize("name", _LIVE + ["huge-allocation"])
def test_no_planted_payload_runs_and_the_value_is_recomputed(cache_root, tmp_path, capsys,
                                                             name, layout):
    marker, victim = tmp_path / "marker", tmp_path / "victim.txt"
    victim.write_text("the user's data\n")
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    (entry,) = cache_root.glob("ns/*.npz")
    suffix, data = _layouts(payloads(marker, victim)[name], name)[layout]
    entry.unlink()
    entry.with_suffix(suffix).write_bytes(data)
    before = _outside(tmp_path, cache_root)
    tracemalloc.start()
    try:
        got = cache.load_or_compute("ns", {"n": 1}, lambda: 2, verbose=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    time.sleep(0.5)               # a spawned `touch` would have had time to run
    assert got == 2                                   # recomputed, not the planted value
    assert not marker.exists() and victim.read_text() == "the user's data\n"
    assert _outside(tmp_path, cache_root) == before   # nothing outside the cache touched
    assert peak < 200 * 2**20                         # no 3e9-element allocation
    out = capsys.readouterr().out
    if layout == "old":
        assert not entry.with_suffix(".pkl").exists()   # replaced by a data entry
    else:
        assert "ignoring unreadable entry" in out
    assert str(tmp_path) not in out                   # the entry by its name, not its path
    assert cache.load_or_compute("ns", {"n": 1}, lambda: 3, verbose=False) == 2


def test_old_entries_are_said_once(cache_root, capsys, monkeypatch):
    monkeypatch.setattr(cache, "_said_old", False)
    for n in (1, 2):
        cache.load_or_compute("ns", {"n": n}, lambda: n, verbose=False)
    for p in list(cache_root.glob("ns/*.npz")):
        p.unlink()
        p.with_suffix(".pkl").write_bytes(_old_entry(pickle.dumps(5)))
    assert cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False) == 1
    assert cache.load_or_compute("ns", {"n": 2}, lambda: 2, verbose=False) == 2
    assert capsys.readouterr().out.count("written by an older psbook") == 1
    assert not list(cache_root.glob("ns/*.pkl"))


def test_no_pickle_on_the_load_path():
    """cache, cache_format and the checkpoint reader never import or call pickle, torch.load or
    np.load(allow_pickle=True)."""
    for rel in ("cache.py", "cache_format.py", "atomic.py"):
        src = (ROOT / "src" / "psbook" / rel).read_text()
        code = "\n".join(line.split("#")[0] for line in src.splitlines())
        assert "import pickle" not in code and "torch.load" not in code, rel
        assert "allow_pickle=True" not in code, rel
    train_src = (ROOT / "src" / "psbook" / "lm" / "train.py").read_text()
    assert "torch.load" not in train_src and "torch.save" not in train_src


# ---- every result type round-trips as data --------------------------------------------------

def _examples():
    import scipy.sparse as sp
    import torch

    from psbook.cooccurrence import window_signatures
    from psbook.corpus.tokenizer import WordTokenizer
    from psbook.signatures import next_token_signatures
    from psbook.synthetic.fitting import History, TrainResult
    from psbook.lm.train import TrainResult as LMResult
    from psbook.align import CorpusCounts
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, 200)
    W = rng.normal(size=(7, 3)).astype(np.float32)
    hist = History(steps=np.arange(3), loss=np.ones(3), train_acc=np.zeros(3),
                   test_acc=np.full(3, np.nan), curves={"R_cos": np.ones(3)},
                   snapshots={0: {"W_E": W, "W_U": W.T.copy()}})
    lm = LMResult(model_cfg={"tie_embeddings": True, "d": 3}, train_cfg={"lr": 3e-3},
                  history={"step": np.arange(2.0)}, W_E=W, W_U=W, W_E0=W * 2, W_U0=W * 2,
                  seconds=1.5, tokens_per_second=float("nan"),
                  state_dict={"embed.weight": torch.ones(7, 3, dtype=torch.bfloat16),
                              "norm": torch.arange(3.0)})
    return {
        "synthetic.History": hist,
        "synthetic.TrainResult": TrainResult(history=hist, W_E=W, W_U=W[:2], config={"d": 3},
                                             W_1=None),
        "lm.TrainResult": lm,
        "corpus.WordTokenizer": WordTokenizer(["the", "a", "of"]),
        "signatures.NextTokenSignatures": next_token_signatures([ids], 7),
        "cooccurrence.WindowSignatures": window_signatures(ids, 7, 2),
        "align.CorpusCounts": CorpusCounts(corpus="c", tokenizer="t", unigram=np.bincount(ids),
                                           next=next_token_signatures([ids], 7),
                                           window=window_signatures(ids, 7, 2), n_docs=1),
        "containers": {1: (1, 2.5, "z", None, True), "s": {3, 1}, "f": frozenset({2}),
                       "inf": [float("inf"), float("-inf"), complex(1, -2)],
                       "np": np.float32(1.5), "i": np.int64(-3), "p": Path("/a/b"),
                       "csr": sp.csr_matrix(np.eye(3)), "coo": sp.coo_array(np.eye(2)),
                       "t": torch.arange(4, dtype=torch.int64), (1, 2): "tuple key"},
    }


def _same(a, b) -> bool:
    import scipy.sparse as sp
    import torch
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if sp.issparse(a):
        return a.format == b.format and (a != b).nnz == 0
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if hasattr(a, "id_to_token"):
        return list(a.id_to_token) == list(b.id_to_token)
    return a == b


@pytest.mark.parametrize("name", list(_examples()))
def test_every_result_type_round_trips_as_data(name):
    value = _examples()[name]
    got = cache_format.loads(cache_format.dumps(value))
    assert _same(value, got)
    if name == "lm.TrainResult":
        assert got.W_E is got.W_U                    # a tied model's one array stays one


def test_every_registered_type_has_an_example():
    assert set(cache_format.RESULT_TYPES) <= set(_examples())


def test_what_is_not_data_is_refused_when_stored(cache_root):
    with pytest.raises(TypeError, match=r"result\[1\] holds a builtins.function"):
        cache.load_or_compute("ns", {"n": 1}, lambda: [1, lambda: 0], verbose=False)
    with pytest.raises(TypeError, match="dtype object"):
        cache_format.dumps(np.array([{"a": 1}], dtype=object))
    assert not list(cache_root.rglob("*.npz")) and not list(cache_root.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty"])
def test_damaged_entries_are_refused_and_recomputed(cache_root, damage, capsys):
    value = {"W": np.arange(1000.0), "n": 3}
    cache.load_or_compute("ns", {"n": 1}, lambda: value, verbose=False)
    (entry,) = cache_root.glob("ns/*.npz")
    b = entry.read_bytes()
    if damage == "truncate":
        b = b[: len(b) // 2]
    elif damage == "flip":                           # one byte inside the array's data
        i = b.index(np.arange(1000.0)[500:501].tobytes())
        b = b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]
    elif damage == "header":
        b = b"psbook-cache-entry 1\n" + b
    else:
        b = b""
    entry.write_bytes(b)
    got = cache.load_or_compute("ns", {"n": 1}, lambda: {"W": np.zeros(1), "n": 4},
                                verbose=False)
    assert got["n"] == 4 and "ignoring unreadable entry" in capsys.readouterr().out


# ---- kill -9 at every write point; two identical runs at once ---------------------------------

_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from psbook import atomic, cache
    from psbook.signatures import next_token_signatures
    point = sys.argv[1]
    real_write, real_replace = atomic._write_all, os.replace
    def write(f, data):
        if point == "mid-write":
            f.write(bytes(data)[: len(data) // 2]); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real_write(f, data)
        if point == "before-rename":
            f.flush(); os.kill(os.getpid(), signal.SIGKILL)
    def replace(a, b):
        real_replace(a, b)
        if point == "after-rename":
            os.kill(os.getpid(), signal.SIGKILL)
    atomic._write_all, atomic.os.replace = write, replace
    def compute():
        ids = np.random.default_rng(7).integers(0, 50, 5000)
        return {"sig": next_token_signatures([ids], 50), "w": np.linspace(0, 1, 999)}
    out = cache.load_or_compute("killed", {"n": 1}, compute, verbose=False)
    c = out["sig"].counts
    print(np.asarray(c.sum()), float(out["w"].sum()), c.nnz)
""")


def _child(cache_dir: Path, point: str):
    env = {**os.environ, "PSBOOK_CACHE": str(cache_dir)}
    return subprocess.run([sys.executable, "-c", _CHILD, point], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.parametrize("point", ["mid-write", "before-rename", "after-rename"])
def test_kill_9_at_any_write_point_reruns_to_the_identical_result(tmp_path, point):
    ref = _child(tmp_path / "ref-cache", "none")
    assert ref.returncode == 0, ref.stderr
    killed = _child(tmp_path / "cache", point)
    assert killed.returncode == -9
    again = _child(tmp_path / "cache", "none")
    assert again.returncode == 0, again.stderr
    assert again.stdout == ref.stdout
    loaded = _child(tmp_path / "cache", "none")     # now from the cache
    assert loaded.stdout == ref.stdout
    assert not list((tmp_path / "cache").rglob("*.tmp"))   # the dead writer's file swept


def test_two_identical_runs_at_once_do_not_corrupt(tmp_path):
    env = {**os.environ, "PSBOOK_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, "none"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert outs[0][0] == outs[1][0]
    assert _child(tmp_path / "cache", "none").stdout == outs[0][0]
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1


# ---- a full disk, for every kind of file ---------------------------------------------------

@pytest.fixture
def full_disk(monkeypatch):
    def enospc(f, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(atomic, "_write_all", enospc)
    monkeypatch.setattr(atomic, "_warned", False)


def _tmp_files(root: Path) -> list:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_full_disk_entries_warn_once_across_folders(cache_root, full_disk):
    with pytest.warns(RuntimeWarning) as rec:
        for ns in ("a", "b", "c", "d"):             # four folders: still one warning
            assert cache.load_or_compute(ns, {"n": 1}, lambda: ns, verbose=False) == ns
    msgs = [str(w.message) for w in rec if "could not write" in str(w.message)]
    assert len(msgs) == 1
    assert "full or not writable" in msgs[0] and "PSBOOK_CACHE" in msgs[0]
    assert "still computed and returned" in msgs[0]
    assert not _tmp_files(cache_root) and not list(cache_root.rglob("*.npz"))


def _lm():
    from psbook.lm import LMConfig, TrainConfig
    return (LMConfig(vocab_size=30, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=16,
                     max_seq_len=8),
            TrainConfig(steps=4, batch_size=2, seq_len=8, warmup=1, eval_every=2,
                        checkpoint_every=2))


def test_full_disk_checkpoints_keep_training(cache_root, full_disk):
    from psbook.lm import train_cached, train_lm
    cfg, tcfg = _lm()
    stream = np.random.default_rng(0).integers(0, 30, 400)
    with pytest.warns(RuntimeWarning, match="could not write"):
        res = train_cached(stream, cfg, tcfg, progress=False)
    np.testing.assert_array_equal(res.W_E, train_lm(stream, cfg, tcfg, progress=False).W_E)
    assert not _tmp_files(cache_root)
    assert not [p for p in cache_root.rglob("*") if p.is_dir() and "checkpoints" in p.parts]


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    from psbook.corpus import sources
    (tmp_path / "data" / "mine").mkdir(parents=True)
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "one", "two", "2024", "sun", "moon"]
    (tmp_path / "data" / "mine" / "a.txt").write_text(
        "\n".join(" ".join(rng.choice(words, 12)) for _ in range(300)) + "\n")
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path / "data"))
    sources._PLANS.clear()
    return "local:mine"


def test_full_disk_tokenizer_is_used_all_the_same(cache_root, corpus, full_disk):
    pytest.importorskip("tokenizers")
    from psbook.corpus.tokenizer import train_bpe
    with pytest.warns(RuntimeWarning, match="could not write"):
        tok = train_bpe(corpus, 300, verbose=False)
    assert tok.decode(tok.encode("alpha beta")) == "alpha beta"
    assert not _tmp_files(cache_root) and not list(cache_root.rglob("bpe-*"))


def test_a_truncated_cached_tokenizer_is_removed_and_retrained(cache_root, corpus, capsys):
    pytest.importorskip("tokenizers")
    from psbook.corpus.tokenizer import train_bpe
    first = train_bpe(corpus, 300, verbose=False)
    path = first.path
    path.write_text(path.read_text()[:500])                          # a truncated write
    again = train_bpe(corpus, 300, verbose=False)
    assert "is damaged" in capsys.readouterr().out and not again.from_cache
    assert again.tok.to_str() == first.tok.to_str()
    assert train_bpe(corpus, 300, verbose=False).from_cache          # rewritten whole


def test_full_disk_marker_and_course_build_and_figures(tmp_path, monkeypatch, full_disk):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path / "cache"))
    with pytest.warns(RuntimeWarning, match="could not write .*psbook-cache"):
        assert cache.cache_dir() == tmp_path / "cache"
    # outputs that are the point of the call raise, naming the file and what to do
    with pytest.raises(OSError, match=r"psbook could not write .*notebook\.ipynb .*free space"):
        atomic.write_file(tmp_path / "out" / "notebook.ipynb", "{}", on_error="raise")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from psbook.plots.core import save
    fig = plt.figure()
    with pytest.raises(OSError, match=r"fig\.png"):
        save(fig, tmp_path / "figs" / "fig.png")
    plt.close(fig)
    assert not _tmp_files(tmp_path)


def test_course_build_writes_through_the_helper(monkeypatch, tmp_path):
    from psbook.course import build as B
    calls = []
    monkeypatch.setattr(B, "generate", lambda root, conv=None: {"course/notebooks/x.ipynb": "{}"})
    monkeypatch.setattr(B, "check_root", lambda root: Path(root))
    monkeypatch.setattr(B, "_manifest", lambda root: set())
    real = atomic.write_file
    monkeypatch.setattr(atomic, "write_file",
                        lambda p, d, **k: calls.append((Path(p).name, k)) or real(p, d, **k))
    B.build(tmp_path)
    assert [c[0] for c in calls] == ["x.ipynb", B.MANIFEST.split("/")[-1]]
    assert all(c[1] == {"on_error": "raise"} for c in calls)
    assert (tmp_path / "course" / "notebooks" / "x.ipynb").read_text() == "{}"


# ---- stale temporary files of dead writers, empty checkpoint folders --------------------------

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_are_swept(cache_root, monkeypatch):
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    ns = cache_root / "ns"
    dead = ns / f".{'a' * 24}.npz.{_dead_pid()}.0123abcd.tmp"
    live = ns / f".{'b' * 24}.npz.{os.getpid()}.0123abcd.tmp"
    old = ns / f".{'c' * 24}.npz.{os.getppid()}.0123abcd.tmp"
    for p in (dead, live, old):
        p.write_bytes(b"half")
    os.utime(old, (time.time() - 2 * atomic.STALE_SECONDS,) * 2)
    ck = ns / "checkpoints" / ("d" * 24)
    ck.mkdir(parents=True)
    os.utime(ck, (time.time() - 2 * atomic.STALE_SECONDS,) * 2)
    monkeypatch.setattr(cache, "_swept_ns", set())
    monkeypatch.setattr(atomic, "_swept", set())
    cache.load_or_compute("ns", {"n": 2}, lambda: 2, verbose=False)    # any write sweeps
    assert not dead.exists() and not old.exists() and live.exists()
    assert not ck.exists() and not (ns / "checkpoints").exists()


# ---- clear(): only psbook's names, in psbook's places ----------------------------------------

def test_a_folder_of_user_files_is_not_adopted_or_cleared(tmp_path, monkeypatch):
    d = tmp_path / "work"
    d.mkdir()
    mine = {"editor-swap.tmp": "swap", "build.tmp2": "build", "notes.txt": "notes"}
    for name, text in mine.items():
        (d / name).write_text(text)
    monkeypatch.setenv("PSBOOK_CACHE", str(d))
    with pytest.raises(ValueError, match="psbook did not create"):
        cache.cache_dir()
    with pytest.raises(ValueError, match="refusing to clear"):
        cache.clear()
    assert {p.name: p.read_text() for p in d.iterdir()} == mine


def test_clear_in_a_psbook_cache_leaves_user_files_wherever_they_are(cache_root):
    cache.load_or_compute("ns", {"n": 1}, lambda: 1, verbose=False)
    user = ["editor-swap.tmp", "build.tmp2", "notes.txt", "ns/editor-swap.tmp",
            "ns/build.tmp2", "ns/sub/x.tmp", f"ns/sub/{'a' * 24}.npz", "tokenizers/notes.json",
            f"ns/checkpoints/{'b' * 24}/other.pt", f"ns/checkpoints/{'b' * 24}/x.tmp",
            f"deep/er/{'c' * 24}.npz", f".{'d' * 24}.npz.123.0123abcd.tmp"]
    for rel in user:
        (cache_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (cache_root / rel).write_text("mine")
    assert cache.clear() == 1
    for rel in user:
        assert (cache_root / rel).read_text() == "mine", rel
