"""Input checks shared by the public functions of psbook.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind,
wrong value) with a message that names the argument, what was expected and what was
given, so that a reader can act on it without opening the source.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from .settings import KNOWN_ENV, check_variables, max_bytes  # noqa: F401  (max_bytes: public here)

__all__ = [
    "as_token_array",
    "check_token_id",
    "check_environment",
    "check_output_path",
    "check_positive_int",
    "check_weights",
    "as_float_array",
    "check_choice",
    "check_positive_float",
    "check_seed",
    "check_size",
    "max_bytes",
    "TooLarge",
]


class TooLarge(ValueError, MemoryError):
    """An allocation psbook refused before making it (see :func:`check_size`).

    A ``ValueError`` (the arguments ask for too much) and, for code that catches memory
    problems, a ``MemoryError``.
    """


def _fmt_bytes(n: float) -> str:
    for unit, k in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} bytes"


def check_size(name: str, nbytes: float, what: str) -> None:
    """Refuse (:class:`TooLarge`) an allocation of about ``nbytes`` bytes above :func:`max_bytes`.

    ``name`` names the argument(s) responsible (e.g. ``"vocab_size=1000000000"``), ``what``
    says what would be allocated. Call it *before* allocating.
    """
    limit = max_bytes()
    if nbytes > limit:
        raise TooLarge(f"{name} would need about {_fmt_bytes(nbytes)} for {what}, above the "
                       f"limit of {_fmt_bytes(limit)} (raise PSBOOK_MAX_BYTES to allow it, "
                       f"or use a smaller {name.split('=')[0]})")


def check_seed(name: str, seed, *, allow_none: bool = False):
    """An integer seed in ``[0, 2**63)`` (or None when ``allow_none``)."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer{' or None' if allow_none else ''}"
                        f"; got {_describe(seed)}")
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f"{name} must be a non-negative integer below 2**63; got {seed}")
    return int(seed)


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as ``float`` if it is a finite number > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value}")
    return v


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


def as_token_array(name: str, ids, vocab_size: int, *, ndim: int | None = None,
                   allow_empty: bool = False) -> np.ndarray:
    """Convert ``ids`` to an ``int64`` array and check every id lies in ``[0, vocab_size)``.

    Accepts numpy arrays, lists and torch tensors of an integer dtype. Floating-point ids are
    refused (``TypeError``) even when their values are whole: they usually mean a bug upstream.
    """
    if hasattr(ids, "detach") and hasattr(ids, "cpu"):  # torch tensor, without importing torch
        ids = ids.detach().cpu().numpy()
    try:
        arr = np.asarray(ids)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{name} must hold integer token ids in [0, {vocab_size}); "
                         f"got {_describe(ids)} ({exc})") from None
    if arr.dtype == object and arr.ndim >= 1 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr.ravel()):
        bad = next(v for v in arr.ravel() if not 0 <= v < vocab_size)
        raise ValueError(f"{name} must hold ids in [0, vocab_size={vocab_size}); found {bad}")
    if arr.dtype == object:
        raise TypeError(f"{name} must be an array of integer token ids; got a ragged or "
                        f"object array (dtype=object) -- pass one 1-D array per document")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer token ids; got booleans ({_describe(arr)})")
    if arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)  # np.asarray([]) is float64: treat as empty ids
        else:
            raise TypeError(f"{name} must hold integer token ids; got {_describe(arr)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; expected at least one token id")
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0:
            pos = np.unravel_index(int(np.argmin(arr)), arr.shape)
            raise ValueError(f"{name} must hold ids in [0, {vocab_size}); found {int(lo)} at "
                             f"index {tuple(int(p) for p in pos)}")
        if hi >= vocab_size:
            pos = np.unravel_index(int(np.argmax(arr)), arr.shape)
            raise ValueError(f"{name} must hold ids in [0, vocab_size={vocab_size}); found "
                             f"{int(hi)} at index {tuple(int(p) for p in pos)} -- is vocab_size "
                             f"too small for this tokenizer?")
    return arr.astype(np.int64, copy=False)


def check_token_id(name: str, token, vocab_size: int) -> int:
    """One token id: an integer (Python or numpy, not bool, not float) in ``[0, vocab_size)``.

    The scalar form of :func:`as_token_array`; every public function that takes a token id
    calls one of the two, so a bad id is refused with its name and value instead of wrapping
    around (negative ids index from the end) or being truncated (``2.7`` -> ``2``).
    """
    if isinstance(token, np.ndarray) and token.ndim == 0:
        token = token[()]
    if isinstance(token, bool) or not isinstance(token, numbers.Integral):
        raise TypeError(f"{name} must be an integer token id in [0, {vocab_size}); got "
                        f"{_describe(token)}")
    if not 0 <= token < vocab_size:
        raise ValueError(f"{name} must be a token id in [0, vocab_size={vocab_size}); got "
                         f"{int(token)}")
    return int(token)


def as_float_array(name: str, A, shape=None) -> np.ndarray:
    """``A`` (numpy, list or torch tensor) as a finite float64 array, optionally of ``shape``."""
    if hasattr(A, "detach"):
        A = A.detach().cpu().numpy()
    a = np.asarray(A)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array; got {_describe(a)}")
    a = a.astype(np.float64)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)
        raise ValueError(f"{name} must be finite; found {a[bad]} at index "
                         f"{tuple(int(i) for i in bad)}")
    return a


def check_weights(name: str, weights, n: int) -> np.ndarray:
    """Non-negative finite sample weights of length ``n``, not all zero.

    A positive weight so small that its reciprocal overflows (below ``1 / float max``, about
    5.6e-309: denormal floats such as ``1e-320``) is refused too: normalising a signature row
    of that weight divides by it and gives ``inf``. Weights only matter through their ratios,
    so rescale them (``w / w.max()``) instead.
    """
    w = as_float_array(name, weights, (n,))
    if np.any(w < 0):
        bad = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"{name} must be >= 0; found {w[bad]} at index {bad}")
    tiny = 1.0 / np.finfo(np.float64).max            # 1 / tiny is still finite
    small = (w > 0) & (w < tiny)
    if np.any(small):
        bad = int(np.flatnonzero(small)[0])
        raise ValueError(f"{name} must be 0 or at least {tiny:.3g} (dividing by a smaller, "
                         f"denormal weight gives inf); found {w[bad]:.3g} at index {bad}. Only "
                         f"ratios of weights matter: rescale them, e.g. w / w.max()")
    with np.errstate(over="ignore"):
        total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} must not be all zero")
    return w


# ---- environment and output paths --------------------------------------------------------


def check_environment() -> None:
    """Validate every ``PSBOOK_*`` environment variable at once (chapters call it through
    :func:`psbook.presets.get_preset`, ``psbook align`` at startup): the rules of
    :func:`psbook.settings.check_variables`, and ``PSBOOK_CACHE``'s
    (:func:`psbook.cache.cache_dir_setting`). A bad value stops the run before any work with one
    line naming the variable, what it accepts and what it holds."""
    check_variables()
    from .cache import cache_dir_setting
    cache_dir_setting()


def check_output_path(name: str, path, *, folder: bool = False):
    """Check *before any work* that ``path`` can be written: a file path whose folder exists
    (or can be created) and is writable, and that is not itself a folder; or, with ``folder``,
    a folder (existing or creatable) that is writable. Returns it as a ``Path``."""
    from pathlib import Path
    p = Path(path).expanduser()
    if folder:
        if p.exists() and not p.is_dir():
            raise ValueError(f"{name} must be a folder; {str(p)!r} is a file")
        target = p
    else:
        if p.is_dir():
            raise ValueError(f"{name} must be a file path; {str(p)!r} is a folder")
        target = p.parent if str(p.parent) else Path(".")
    probe = target
    while not probe.exists():           # the nearest existing ancestor must be a writable folder
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{name}: {str(probe)!r} is not a folder, so {str(p)!r} cannot be "
                         f"written")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: the folder {str(probe)!r} is not writable, so {str(p)!r} "
                         f"cannot be written; choose another path")
    return p
