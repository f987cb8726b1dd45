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

An entry is one file ``<key>.npz`` holding the result **as data**
(:mod:`psbook.cache_format`): arrays in ``.npy`` members, read with
``np.load(allow_pickle=False)`` after their sizes are checked against the bytes on disk, and a
JSON record (types, checksums, structure). Each result type psbook caches has an explicit
to-data / from-data pair registered under a stable name; nothing else is stored or rebuilt, so
loading an entry never unpickles anything and never runs code from it. A damaged, truncated,
crafted or foreign entry is reported and recomputed; entries of psbook < this format (header +
pickle, ``<key>.pkl``) are never read: they are recomputed (said once) and replaced.
Every file goes through :func:`psbook.atomic.write_file` (in-memory bytes, temporary file,
``fsync``, rename); a write that fails (a read-only or full disk) warns once per process and
the computed result is returned all the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from . import cache_format
from .atomic import STALE_SECONDS, sweep_stale, tmp_target, warn_write_failed, write_file
from .progress import progress_enabled

__all__ = ["cache_dir", "config_key", "load_or_compute", "lookup", "clear", "canonical",
           "code_fingerprint", "fingerprint", "checkpoint_dir", "OFF_WORDS", "MARKER",
           "cache_dir_setting", "warn_write_failed"]

OFF_WORDS = ("off", "0", "false", "no", "none")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_CHECKPOINTS = "checkpoints"
# The file that marks a folder as psbook's cache (written when psbook creates or adopts it).
MARKER = ".psbook-cache"
_MARKER_TEXT = ("This folder is psbook's result cache (PSBOOK_CACHE). psbook.cache.clear() "
                "deletes the entries psbook wrote here and nothing else.\n")
# psbook's naming, by place (what clear() deletes; nothing else is touched):
#   <namespace>/<24 hex>.npz                        entries (.pkl: the older, pickled format)
#   <namespace>/checkpoints/<24 hex>/checkpoint.npz checkpoints (.pt: the older format)
#   tokenizers/bpe-<V>-<8 hex>.json                 trained BPE tokenizers
#   .<one of those names>.<pid>.<8 hex>.tmp         a write in progress (psbook.atomic), same place
#   tmp<8 chars>.tmp, bpe-<V>-<8 hex>.tmp<pid>      what older psbook's killed writes left there
_KEY = r"[0-9a-f]{24}"
_ENTRY_NAME = re.compile(rf"^{_KEY}\.(npz|pkl)$")
_KEY_DIR = re.compile(rf"^{_KEY}$")
_CHECKPOINT_NAME = re.compile(r"^checkpoint\.(npz|pt)$")
_TOKENIZER_NAME = re.compile(r"^bpe-\d+-[0-9a-f]{8}\.json$")
_OLD_TMP = re.compile(r"^tmp[a-z0-9_]{8}\.tmp$")
_OLD_TOKENIZER_TMP = re.compile(r"^bpe-\d+-[0-9a-f]{8}\.tmp\d+$")
_NS_DIR = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


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
    write_file(d / MARKER, _MARKER_TEXT)   # a read-only cache folder: entries may still be read
    return d


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


def _read_entry(path: Path, expect):
    """The entry's object (see :mod:`psbook.cache_format`), checked against ``expect``; raises
    on anything but a well-formed entry of the expected type."""
    out = cache_format.load(path)
    if expect is not None and not isinstance(out, expect):
        raise TypeError(f"holds a {cache_format.type_name(out)}, expected {expect}")
    return out


_said_old = False


def _note_old_entry(path: Path) -> None:
    global _said_old
    if not _said_old:
        _said_old = True
        print(f"[psbook.cache] the cache folder (PSBOOK_CACHE) holds entries written by an "
              f"older psbook (*.pkl, pickled, e.g. {path.parent.name}/{path.name}): they are not "
              f"read (a pickle can carry code); each is recomputed and replaced when needed")


_swept_ns: set = set()


def _sweep_namespace(folder: Path) -> None:
    """Once per process and namespace: remove what dead writers left there (temporary files,
    and checkpoint folders that are empty or hold only such leftovers)."""
    key = str(folder)
    if key in _swept_ns:
        return
    _swept_ns.add(key)
    sweep_stale(folder)
    ck = folder / _CHECKPOINTS
    if not ck.is_dir():
        return
    now = time.time()
    for sub in ck.iterdir():
        if sub.is_dir() and not sub.is_symlink() and _KEY_DIR.match(sub.name):
            sweep_stale(sub)
            try:
                if now - sub.stat().st_mtime > STALE_SECONDS:
                    sub.rmdir()               # only when empty
            except OSError:
                pass
    try:
        ck.rmdir()
    except OSError:
        pass


def load_or_compute(namespace: str, config: dict, compute: Callable[[], Any], *,
                    verbose: bool = True, expect: type | tuple | None = None) -> Any:
    """Return the cached result for ``(namespace, config)``, computing and storing it if absent.

    ``compute`` takes no arguments; its result must be data (numbers, strings, lists, tuples,
    dicts, sets, numpy arrays, torch tensors, scipy sparse matrices, and the result types
    registered in :data:`psbook.cache_format.RESULT_TYPES`); anything else raises
    ``TypeError`` naming where it sits. ``config`` must hold *everything* that
    determines the result (sizes, seeds, hyper-parameters, and the data or a fingerprint of
    it); the code is added to the key automatically. ``expect``: the type(s) the result must
    have; an entry of another type is recomputed. A hit prints where it was loaded from when
    ``verbose`` and progress reports are on (``PSBOOK_PROGRESS=off``, set for executed builds
    and CI, keeps the book's pages free of this bookkeeping). An entry that is damaged, of the
    wrong type or not a psbook data file is reported and recomputed; a write that fails
    (read-only or full disk) warns once per process and the result is returned anyway.
    """
    _check_namespace(namespace)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {type(config).__name__}")
    key = config_key(namespace, config)      # validates the config even when caching is off
    d = cache_dir()
    if d is None:
        return compute()
    folder = _entry_dir(d, namespace)
    path = folder / f"{key}.npz"
    old = folder / f"{key}.pkl"
    if path.exists():
        try:
            out = _read_entry(path, expect)
            if verbose and progress_enabled():
                print(f"[psbook.cache] loaded {namespace} from the cache ({path.name})")
            return out
        except Exception as exc:  # a corrupt or untrusted entry is recomputed, not fatal
            # the entry by its place in the cache folder: no path of the machine in an output
            print(f"[psbook.cache] ignoring unreadable entry {namespace}/{path.name} of the "
                  f"cache folder (PSBOOK_CACHE): "
                  f"{type(exc).__name__}: {str(exc)[:200]}")
    elif old.exists():
        _note_old_entry(old)
    out = compute()
    data = cache_format.dumps(out)      # a result that is not data: a bug, raise
    _sweep_namespace(folder)
    if write_file(path, data) and old.exists():
        try:
            old.unlink()
        except OSError:
            pass
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
    """True for a file psbook writes, by its name *and* its place (see the naming above)."""
    try:
        parts = p.relative_to(root).parts
    except ValueError:
        return False
    name = parts[-1]
    target = tmp_target(name)
    if len(parts) == 1:
        return name == MARKER or target == MARKER
    if not _NS_DIR.match(parts[0]):
        return False
    if len(parts) == 2 and parts[0] == "tokenizers":
        return bool(_TOKENIZER_NAME.match(name) or _OLD_TOKENIZER_TMP.match(name)
                    or (target and _TOKENIZER_NAME.match(target)))
    if len(parts) == 2:
        return bool(_ENTRY_NAME.match(name) or _OLD_TMP.match(name)
                    or (target and _ENTRY_NAME.match(target)))
    if len(parts) == 4 and parts[1] == _CHECKPOINTS and _KEY_DIR.match(parts[2]):
        return bool(_CHECKPOINT_NAME.match(name) or _OLD_TMP.match(name)
                    or (target and _CHECKPOINT_NAME.match(target)))
    return False


def clear(namespace: str | None = None) -> int:
    """Delete what psbook wrote to the cache (of one namespace, or all): entries, checkpoints,
    cached tokenizers and the temporary files of killed writes. Returns how many files were
    removed. Only files carrying psbook's naming *in the place psbook writes them* are
    deleted (``<namespace>/<key>.npz``, ``<namespace>/checkpoints/<key>/checkpoint.npz``,
    ``tokenizers/bpe-*.json`` and their temporary files), and only in a folder that carries
    psbook's marker file (:data:`MARKER`); any other file is left alone, and only folders
    that end up empty are removed."""
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
        if (p.is_file() and not p.is_symlink() and p.name != MARKER and _owned(p, d)
                and p.resolve().is_relative_to(d.resolve())):
            p.unlink(missing_ok=True)
            n += 1
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            try:
                p.rmdir()          # only empty folders go
            except OSError:
                pass
    return n
