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

Entries are pickles: a cache folder is *trusted code*. Only point ``PSBOOK_CACHE`` at a folder
you created yourself; never at one received from someone else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from .progress import progress_enabled

__all__ = ["cache_dir", "config_key", "load_or_compute", "clear", "canonical",
           "code_fingerprint", "fingerprint", "checkpoint_dir", "OFF_WORDS"]

OFF_WORDS = ("off", "0", "false", "no", "none")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# What clear() deletes: only files psbook writes (never anything else a user keeps there).
_OWNED_SUFFIXES = (".pkl", ".pt", ".json", ".npz")
_CHECKPOINTS = "checkpoints"


def _looks_like_path(value: str) -> bool:
    return ("/" in value or "\\" in value or value.startswith(("~", "."))
            or os.path.isabs(value))


def cache_dir() -> Path | None:
    """The cache folder (created if needed), or None when caching is off.

    Raises ``ValueError`` naming ``PSBOOK_CACHE`` when it is a word that is neither an off
    word nor a path, or when it points at something that is not a folder.
    """
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
    try:
        d.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"PSBOOK_CACHE={str(d)!r} cannot be a folder ({exc})") from None
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


def load_or_compute(namespace: str, config: dict, compute: Callable[[], Any], *,
                    verbose: bool = True) -> Any:
    """Return the cached result for ``(namespace, config)``, computing and storing it if absent.

    ``compute`` takes no arguments; its result must be picklable. ``config`` must hold
    *everything* that determines the result (sizes, seeds, hyper-parameters, and the data or a
    fingerprint of it); the code is added to the key automatically. A hit prints where it was
    loaded from when ``verbose`` and progress reports are on (``PSBOOK_PROGRESS=off``, set for
    executed builds and CI, keeps the book's pages free of this bookkeeping).
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
            with open(path, "rb") as f:
                out = pickle.load(f)
            if verbose and progress_enabled():
                print(f"[psbook.cache] loaded {namespace} from {path}")
            return out
        except Exception as exc:  # a corrupt entry is recomputed, not fatal
            print(f"[psbook.cache] ignoring unreadable entry {path}: {exc}")
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def _owned(p: Path) -> bool:
    return p.suffix in _OWNED_SUFFIXES or ".tmp" in p.name


def clear(namespace: str | None = None) -> int:
    """Delete what psbook wrote to the cache (of one namespace, or all): entries, checkpoints,
    cached tokenizers and the ``*.tmp`` leftovers of killed writes. Returns how many files
    were removed. Files psbook does not write (other suffixes) are left alone."""
    d = cache_dir()
    if d is None:
        return 0
    root = _entry_dir(d, namespace) if namespace else d
    if not root.is_dir():
        return 0
    n = 0
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_file() and not p.is_symlink() and _owned(p):
            p.unlink(missing_ok=True)
            n += 1
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            try:
                p.rmdir()          # only empty folders go
            except OSError:
                pass
    return n

