"""Load-or-compute cache for results that take long (DESIGN §5).

A result is stored under a key derived from its full configuration (a JSON-able dict) and
psbook's version, written atomically (temporary file + rename), so an interrupted run never
leaves a half-written entry. Re-running a chapter loads what it already has.

The folder is ``$PSBOOK_CACHE`` if set, else ``~/.cache/psbook``. ``PSBOOK_CACHE=off``
disables caching.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["cache_dir", "config_key", "load_or_compute", "clear"]


def cache_dir() -> Path | None:
    env = os.environ.get("PSBOOK_CACHE", "").strip()
    if env.lower() in ("off", "0", "false", "none"):
        return None
    d = Path(env).expanduser() if env else Path.home() / ".cache" / "psbook"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _canonical(obj: Any):
    """Turn a config into something json can dump deterministically."""
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": hashlib.sha1(np.ascontiguousarray(obj).tobytes()).hexdigest(),
                "shape": list(obj.shape), "dtype": str(obj.dtype)}
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict
        return _canonical(asdict(obj))
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def config_key(namespace: str, config: dict) -> str:
    """A short stable hash of ``namespace``, ``config`` and psbook's version."""
    from . import __version__
    blob = json.dumps({"ns": namespace, "v": __version__, "cfg": _canonical(config)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_or_compute(namespace: str, config: dict, compute: Callable[[], Any], *,
                    verbose: bool = True) -> Any:
    """Return the cached result for ``(namespace, config)``, computing and storing it if absent.

    ``compute`` takes no arguments; its result must be picklable. ``config`` must hold
    *everything* that determines the result (sizes, seeds, hyper-parameters).
    """
    if not isinstance(namespace, str) or not namespace:
        raise ValueError(f"namespace must be a non-empty string; got {namespace!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {type(config).__name__}")
    d = cache_dir()
    if d is None:
        return compute()
    path = d / namespace / f"{config_key(namespace, config)}.pkl"
    if path.exists():
        try:
            with open(path, "rb") as f:
                out = pickle.load(f)
            if verbose:
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


def clear(namespace: str | None = None) -> int:
    """Delete cached entries (of one namespace, or all); returns how many were removed."""
    d = cache_dir()
    if d is None:
        return 0
    root = d / namespace if namespace else d
    n = 0
    for p in root.rglob("*.pkl"):
        p.unlink()
        n += 1
    return n
