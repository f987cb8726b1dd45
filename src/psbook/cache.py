"""Load-or-compute cache for results that take long (DESIGN §5).

A result is stored under a key that changes whenever anything that could change the result
changes, and is written atomically (temporary file + rename), so an interrupted run never
leaves a half-written entry. Re-running a chapter loads what it already has.

The key (:func:`config_key`) hashes

* the **namespace** (a plain name: letters, digits, ``_ - .``; no path separators, no ``..``);
* the **code**: a fingerprint of every ``.py`` file of the psbook package that is imported
  (:func:`code_fingerprint`, computed once per process), so an edited or upgraded psbook
  never reuses an entry of older code;
* the **configuration**, in a canonical form (:func:`canonical`) that keeps types apart
  (``{1: 1}`` and ``{"1": 1}`` differ), sorts sets, and stands arrays (numpy, torch) for a
  hash of their bytes, dtype and shape -- so the **data** a result is computed from is part of
  the key when the caller puts the arrays (or a fingerprint of them) in the configuration,
  as every psbook caller does.

Folder: ``$PSBOOK_CACHE`` if set, else ``~/.cache/psbook``. ``PSBOOK_CACHE`` set to one of
:data:`OFF_WORDS` (``off``, ``0``, ``false``, ``no``, ``none``; any case) disables caching; any
other value must look like a path (contain ``/`` or ``\\``, or start with ``~`` or ``.``) --
a bare word such as ``PSBOOK_CACHE=nope`` is refused rather than creating ``./nope/``.

A folder psbook creates (or adopts: an empty one, or one holding only psbook's entries) gets a
marker file :data:`MARKER`; psbook refuses to use the home folder, the filesystem root, or a
folder without the marker that holds other files, and :func:`clear` only ever deletes files
carrying psbook's naming inside a marked folder.

An entry is one file ``<key>.pkl``: a header line, a JSON record of the SHA-256 and the type of
the result, then its pickle, written atomically (concurrent writers never mix). It is loaded with a *restricted* unpickler that only rebuilds numpy
arrays, scipy sparse matrices, torch tensors (``weights_only``), plain Python containers and
psbook's own classes: a pickle planted in the cache that would run code is refused, reported
and recomputed, as is an entry whose checksum or type does not match. A write that fails
(a read-only or full disk) warns once and the computed result is returned all the same.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

from .progress import progress_enabled

__all__ = ["cache_dir", "config_key", "load_or_compute", "lookup", "clear", "canonical",
           "code_fingerprint", "fingerprint", "checkpoint_dir", "OFF_WORDS", "MARKER",
           "cache_dir_setting", "safe_loads", "warn_write_failed", "UnsafeEntry"]

OFF_WORDS = ("off", "0", "false", "no", "none")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# What clear() deletes: only files psbook writes (never anything else a user keeps there).
_OWNED_SUFFIXES = (".pkl", ".pt", ".json", ".npz")
_CHECKPOINTS = "checkpoints"
# The file that marks a folder as psbook's cache (written when psbook creates or adopts it).
MARKER = ".psbook-cache"
_MARKER_TEXT = ("This folder is psbook's result cache (PSBOOK_CACHE). psbook.cache.clear() "
                "deletes the entries psbook wrote here and nothing else.\n")
# psbook's naming: <namespace>/<24 hex>.pkl|.json, <namespace>/checkpoints/<24 hex>/...,
# tokenizers/bpe-<V>-<8 hex>.json, and the *.tmp* leftovers of killed writes.
_ENTRY_NAME = re.compile(r"^[0-9a-f]{24}\.(pkl|json|npz)$")
_TMP_NAME = re.compile(r"^(tmp[A-Za-z0-9_]+\.tmp|.+\.tmp\d*)$")
_TOKENIZER_NAME = re.compile(r"^bpe-\d+-[0-9a-f]{8}\.json$")
_CHECKPOINT_FILE = re.compile(r"^checkpoint\.pt$")


def _looks_like_path(value: str) -> bool:
    return ("/" in value or "\\" in value or value.startswith(("~", "."))
            or os.path.isabs(value))


def cache_dir_setting() -> Path | None:
    """The cache folder ``PSBOOK_CACHE`` names (default ``~/.cache/psbook``), validated but not
    created; None when caching is off. Raises ``ValueError`` naming ``PSBOOK_CACHE`` for a
    bare word, a file, the home folder or the filesystem root."""
    env = os.environ.get("PSBOOK_CACHE", "").strip()
    if env.lower() in OFF_WORDS:
        return None
    if env and not _looks_like_path(env):
        raise ValueError(f"PSBOOK_CACHE must be a folder path or one of {list(OFF_WORDS)} (to "
                         f"turn caching off); got {env!r}. For a folder of that name in the "
                         f"current directory write PSBOOK_CACHE=./{env}")
    d = Path(env).expanduser() if env else Path.home() / ".cache" / "psbook"
    if d.exists() and not d.is_dir():
        raise ValueError(f"PSBOOK_CACHE must be a folder; {str(d)!r} is a file. Point it at a "
                         f"folder, or set PSBOOK_CACHE=off")
    r = d.resolve()
    if r == Path.home().resolve() or r.parent == r:
        raise ValueError(f"PSBOOK_CACHE must be a folder of its own, not the home folder or the "
                         f"filesystem root (clear() would work among your files); got "
                         f"{str(d)!r}. Use e.g. PSBOOK_CACHE=~/.cache/psbook")
    return d


def _looks_like_psbook_cache(d: Path) -> bool:
    """True when every file under ``d`` carries psbook's naming (a cache written before the
    marker file existed)."""
    for p in d.rglob("*"):
        if p.is_file() and not _owned(p, d):
            return False
    return True


def cache_dir() -> Path | None:
    """The cache folder (created if needed, with its :data:`MARKER`), or None when caching is
    off.

    Raises ``ValueError`` naming ``PSBOOK_CACHE`` when it is a word that is neither an off
    word nor a path, points at something that is not a folder, at the home folder or the
    filesystem root, or at a folder without the marker that holds files psbook did not write.
    """
    d = cache_dir_setting()
    if d is None:
        return None
    if (d / MARKER).is_file():
        return d
    existed = d.is_dir()
    if existed and not _looks_like_psbook_cache(d):
        raise ValueError(f"PSBOOK_CACHE={str(d)!r} is a folder psbook did not create (it has no "
                         f"{MARKER} marker) and holds other files; point PSBOOK_CACHE at a new "
                         f"or empty folder, e.g. {str(d / 'psbook-cache')!r}")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"PSBOOK_CACHE={str(d)!r} cannot be a folder ({exc})") from None
    except OSError as exc:       # read-only parent: caching cannot work, the results still can
        warn_write_failed(d, exc)
        return None
    try:
        (d / MARKER).write_text(_MARKER_TEXT)
    except OSError as exc:       # a read-only cache folder: entries may still be read
        warn_write_failed(d / MARKER, exc)
    return d


_WARNED: set = set()


def warn_write_failed(path, exc: BaseException) -> None:
    """Warn -- once per process and folder -- that a cache or checkpoint write failed; the
    caller goes on with the result it computed."""
    folder = str(Path(path).parent)
    if folder in _WARNED:
        return
    _WARNED.add(folder)
    warnings.warn(f"psbook: could not write {path} ({type(exc).__name__}: {exc}); the result is "
                  f"returned but not cached (later write failures in {folder} are not "
                  f"reported). Free disk space or point PSBOOK_CACHE at a writable folder",
                  RuntimeWarning, stacklevel=3)


# ---- keys ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of every ``.py`` file of the imported psbook package (path and content).

    Computed once per process. Editing any file of the package (a default, an init scale, a
    training loop) changes it, and with it every cache key.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _array_digest(a) -> dict:
    import numpy as np
    a = np.asarray(a)
    if a.dtype == object:
        return {"__objarray__": [canonical(v) for v in a.ravel().tolist()],
                "shape": list(a.shape)}
    h = hashlib.sha256(np.ascontiguousarray(a).tobytes())
    return {"__ndarray__": h.hexdigest(), "shape": list(a.shape), "dtype": a.dtype.str}


def canonical(obj: Any, _path: str = "config"):
    """``obj`` as JSON-able data that equals another's exactly when the two configs do.

    Dict keys keep their type (``{1: 1}`` != ``{"1": 1}``); dicts and sets are sorted by the
    canonical form of their keys / elements (deterministic across processes); tuples and
    lists are lists; numpy / torch arrays become a SHA-256 of their bytes with dtype and
    shape; numpy scalars their Python value; dataclasses their class name and fields. Objects
    of any other type are refused (``TypeError`` naming where they sit), because their
    ``repr`` may hold a memory address or hide what determines the result.
    """
    import numpy as np
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, dict):
        items = [(canonical(k, f"{_path} key {k!r}"), canonical(v, f"{_path}[{k!r}]"))
                 for k, v in obj.items()]
        items.sort(key=lambda kv: json.dumps(kv[0], sort_keys=True))
        keys = [json.dumps(k, sort_keys=True) for k, _ in items]
        if len(set(keys)) != len(keys):
            raise TypeError(f"{_path} has two keys with the same canonical form")
        if all(isinstance(k, str) for k, _ in items):
            return {k: v for k, v in items}
        return {"__dict__": [[k, v] for k, v in items]}
    if isinstance(obj, (list, tuple)):
        return [canonical(v, f"{_path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        vals = [canonical(v, f"{_path} element") for v in obj]
        return {"__set__": sorted(vals, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(obj, np.ndarray):
        return _array_digest(obj)
    if isinstance(obj, np.generic):
        return canonical(obj.item(), _path)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):          # torch tensor
        return _array_digest(obj.detach().cpu().numpy())
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        from dataclasses import fields
        return {"__dataclass__": type(obj).__qualname__,
                "fields": canonical({f.name: getattr(obj, f.name) for f in fields(obj)}, _path)}
    if isinstance(obj, Path):
        return {"__path__": str(obj)}
    raise TypeError(f"{_path} holds a {type(obj).__name__}, which has no canonical form for a "
                    f"cache key; use numbers, strings, lists, dicts, sets or arrays (or a "
                    f"fingerprint string of the object)")


def fingerprint(obj: Any) -> str:
    """A short hash of ``obj``'s canonical form (arrays by content): a data fingerprint."""
    blob = json.dumps(canonical(obj, "obj"), sort_keys=True, allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _check_namespace(namespace) -> str:
    if not isinstance(namespace, str) or not namespace:
        raise ValueError(f"namespace must be a non-empty string; got {namespace!r}")
    if not _NAMESPACE.match(namespace) or ".." in namespace:
        raise ValueError(f"namespace must be a plain name (letters, digits, '_', '-', '.'; no "
                         f"path separators and no '..'); got {namespace!r}")
    return namespace


def config_key(namespace: str, config: dict) -> str:
    """A short stable hash of ``namespace``, the code fingerprint, psbook's version and
    ``config`` (canonical form, see :func:`canonical`)."""
    from . import __version__
    _check_namespace(namespace)
    blob = json.dumps({"ns": namespace, "v": __version__, "code": code_fingerprint(),
                       "cfg": canonical(config)}, sort_keys=True, allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _entry_dir(d: Path, namespace: str) -> Path:
    p = (d / _check_namespace(namespace)).resolve()
    if p.parent != d.resolve():     # belt and braces: the namespace rule already forbids it
        raise ValueError(f"namespace {namespace!r} would leave the cache folder {d}")
    return p


def checkpoint_dir(namespace: str, config: dict) -> Path | None:
    """Where a long computation of ``(namespace, config)`` may keep checkpoints: a folder keyed
    like the cache entry (code + config + data) inside the cache folder, so :func:`clear`
    removes it. None when caching is off."""
    d = cache_dir()
    if d is None:
        return None
    return _entry_dir(d, namespace) / _CHECKPOINTS / config_key(namespace, config)


class UnsafeEntry(pickle.UnpicklingError):
    """A cache entry asked to rebuild something psbook never stores (a function, a module
    attribute that could run code): it is refused, not executed."""


def _safe_load_from_bytes(b):                      # torch storages inside a pickle
    import torch
    return torch.load(io.BytesIO(b), weights_only=True)


_ALLOWED = {
    ("builtins", n) for n in ("set", "frozenset", "list", "dict", "tuple", "complex", "slice",
                              "range", "bytearray", "bytes", "int", "float", "str", "bool",
                              "object")
} | {("collections", n) for n in ("OrderedDict", "Counter", "deque", "defaultdict")} | {
    ("copyreg", "_reconstructor"), ("datetime", "datetime"), ("datetime", "date"),
    ("datetime", "timedelta"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("pathlib", "Path"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch", "Size"), ("torch", "device"),
} | {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
     for n in ("_reconstruct", "scalar")} | {
    (m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")} | {
    ("numpy", "dtype"), ("numpy", "ndarray")}


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds only data: numpy arrays and dtypes, scipy sparse matrices, torch tensors
    (storages through ``torch.load(weights_only=True)``), Python containers, and *classes*
    of psbook (never a function). Anything else raises :class:`UnsafeEntry`."""

    def find_class(self, module, name):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _safe_load_from_bytes
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith(("psbook.", "scipy.sparse.", "numpy.dtypes", "tokenizers")) \
                or module == "torch":
            obj = super().find_class(module, name)
            if isinstance(obj, type):
                return obj
            if module == "torch" and type(obj).__name__ == "dtype":   # torch.float32, ...
                return obj
        raise UnsafeEntry(f"refusing to load {module}.{name}: psbook's cache entries hold "
                          f"only data (arrays, containers, psbook classes)")


def safe_loads(data: bytes):
    """Unpickle ``data`` with the restricted unpickler (see :class:`_SafeUnpickler`)."""
    return _SafeUnpickler(io.BytesIO(data)).load()


def _type_name(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _atomic_write(path: Path, *parts: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:                  # no concatenated copy of a large pickle
                f.write(part)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_MAGIC = b"psbook-cache-entry 1\n"


def _read_entry(path: Path, expect):
    """The entry's object, after checking its checksum, loading it with the restricted
    unpickler and checking its type; raises on any mismatch. An entry is one file (written
    atomically, so concurrent writers never mix two results): a magic line, a JSON record
    ``{"sha256", "type"}`` on one line, then the pickle."""
    with open(path, "rb") as f:
        if f.read(len(_MAGIC)) != _MAGIC:
            raise ValueError("not a psbook cache entry (no header)")
        head = f.readline(1 << 16)
        if not head.endswith(b"\n"):
            raise ValueError("truncated entry")
        data = f.read()                     # the pickle: read once, hashed, unpickled in place
    info = json.loads(head)
    if hashlib.sha256(data).hexdigest() != info.get("sha256"):
        raise ValueError("checksum mismatch (a damaged or replaced entry)")
    out = safe_loads(data)
    if _type_name(out) != info.get("type"):
        raise TypeError(f"holds a {_type_name(out)}, its record says {info.get('type')}")
    if expect is not None and not isinstance(out, expect):
        raise TypeError(f"holds a {_type_name(out)}, expected {expect}")
    return out


def load_or_compute(namespace: str, config: dict, compute: Callable[[], Any], *,
                    verbose: bool = True, expect: type | tuple | None = None) -> Any:
    """Return the cached result for ``(namespace, config)``, computing and storing it if absent.

    ``compute`` takes no arguments; its result must be picklable from data (arrays, sparse
    matrices, tensors, containers, psbook classes). ``config`` must hold *everything* that
    determines the result (sizes, seeds, hyper-parameters, and the data or a fingerprint of
    it); the code is added to the key automatically. ``expect``: the type(s) the result must
    have; an entry of another type is recomputed. A hit prints where it was loaded from when
    ``verbose`` and progress reports are on (``PSBOOK_PROGRESS=off``, set for executed builds
    and CI, keeps the book's pages free of this bookkeeping). An entry that is damaged, of the
    wrong type or that would run code when loaded is reported and recomputed; a write that
    fails (read-only or full disk) warns once and the result is returned anyway.
    """
    _check_namespace(namespace)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {type(config).__name__}")
    key = config_key(namespace, config)      # validates the config even when caching is off
    d = cache_dir()
    if d is None:
        return compute()
    path = _entry_dir(d, namespace) / f"{key}.pkl"
    if path.exists():
        try:
            out = _read_entry(path, expect)
            if verbose and progress_enabled():
                print(f"[psbook.cache] loaded {namespace} from {path}")
            return out
        except Exception as exc:  # a corrupt or untrusted entry is recomputed, not fatal
            print(f"[psbook.cache] ignoring unreadable entry {path}: "
                  f"{type(exc).__name__}: {str(exc)[:200]}")
    out = compute()
    data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)   # unpicklable: a bug, raise
    record = json.dumps({"sha256": hashlib.sha256(data).hexdigest(),
                         "type": _type_name(out)}).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, _MAGIC + record + b"\n", data)
    except OSError as exc:
        warn_write_failed(path, exc)
    return out


class _Miss(Exception):
    pass


def lookup(namespace: str, config: dict) -> tuple[bool, Any]:
    """``(True, result)`` if the cache holds the result of ``(namespace, config)`` (read as
    :func:`load_or_compute` reads it), else ``(False, None)``; never computes anything. For
    callers that decide what to compute, and where, from what is already there."""
    def miss():
        raise _Miss
    try:
        return True, load_or_compute(namespace, config, miss, verbose=False)
    except _Miss:
        return False, None


def _owned(p: Path, root: Path) -> bool:
    """True for a file psbook writes, by its name and place (see the naming above)."""
    name = p.name
    if _TMP_NAME.match(name) or name == MARKER:
        return True
    try:
        parts = p.relative_to(root).parts
    except ValueError:
        return False
    if len(parts) == 2 and parts[0] == "tokenizers":
        return bool(_TOKENIZER_NAME.match(name))
    if len(parts) == 2:
        return bool(_ENTRY_NAME.match(name))
    if len(parts) >= 4 and parts[1] == _CHECKPOINTS:
        return bool(_CHECKPOINT_FILE.match(name))
    return False


def clear(namespace: str | None = None) -> int:
    """Delete what psbook wrote to the cache (of one namespace, or all): entries, checkpoints,
    cached tokenizers and the ``*.tmp`` leftovers of killed writes. Returns how many files
    were removed. Only files carrying psbook's naming are deleted, and only in a folder that
    carries psbook's marker file (:data:`MARKER`); any other file is left alone."""
    d = cache_dir_setting()
    if d is None or not d.is_dir():
        return 0
    if not (d / MARKER).is_file():
        raise ValueError(f"refusing to clear {str(d)!r}: it has no {MARKER} marker, so psbook "
                         f"did not create it as its cache (PSBOOK_CACHE={str(d)!r}); delete "
                         f"what you want by hand")
    root = _entry_dir(d, namespace) if namespace else d
    if not root.is_dir():
        return 0
    n = 0
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_file() and not p.is_symlink() and p.name != MARKER and _owned(p, d):
            p.unlink(missing_ok=True)
            n += 1
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            try:
                p.rmdir()          # only empty folders go
            except OSError:
                pass
    return n
