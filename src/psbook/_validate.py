"""Input checks shared by the public functions of psbook.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind,
wrong value) with a message that names the argument, what was expected and what was
given, so that a reader can act on it without opening the source.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_token_array",
    "check_positive_int",
    "check_weights",
    "as_float_array",
    "check_choice",
    "check_positive_float",
]


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
    arr = np.asarray(ids)
    if arr.dtype == object:
        raise TypeError(f"{name} must be an array of integer token ids; got a ragged or "
                        f"object array (dtype=object) -- pass one 1-D array per document")
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
    """Non-negative finite sample weights of length ``n``, not all zero."""
    w = as_float_array(name, weights, (n,))
    if np.any(w < 0):
        bad = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"{name} must be >= 0; found {w[bad]} at index {bad}")
    if w.sum() <= 0:
        raise ValueError(f"{name} must not be all zero")
    return w
