r"""Data-free placebos: matrices with the *shape* of a signature but built from no data.

A check that a learned geometry "follows a signature" should fail when the signature is
replaced by the strongest thing that carries the same shape and none of the data. These are
such things, for the synthetic tasks of chapters 06 and 07:

* :func:`index_kernel` -- a Gaussian in the token index: row ``i`` is
  :math:`\exp(-(i-j)^2/2w^2)`. It says only "tokens listed next to each other are alike", the
  shape of an ordered co-occurrence signature (chapter 06), with no count in it.
* :func:`circle_kernel` -- the points :math:`(\cos 2\pi kx/p,\ \sin 2\pi kx/p)`: the shape of
  the Fourier eigenvalue :math:`\lambda_k(x)` of modular addition (chapter 07), for any
  frequency ``k``, whatever the data.
* :func:`best_index_kernel` -- the Gaussian whose width makes a statistic largest, over a grid
  of widths: the placebo given every advantage (its width is tuned on the very embedding it is
  compared with).
"""

from __future__ import annotations

import numpy as np

from ._validate import check_positive_int

__all__ = ["index_kernel", "circle_kernel", "best_index_kernel", "DEFAULT_WIDTHS"]

#: the widths (in index units) :func:`best_index_kernel` tries by default
DEFAULT_WIDTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def index_kernel(n: int, width: float) -> np.ndarray:
    r"""``n x n`` Gaussian kernel in the index: ``K[i, j] = exp(-(i - j)^2 / (2 width^2))``."""
    n = check_positive_int("n", n)
    if isinstance(width, bool) or not isinstance(width, (int, float, np.integer, np.floating)) \
            or not np.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a positive number (in index units); got {width!r}")
    i = np.arange(n, dtype=float)
    return np.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * float(width) ** 2))


def circle_kernel(p: int, k: int) -> np.ndarray:
    r"""``p x 2`` points ``(cos 2 pi k x / p, sin 2 pi k x / p)`` for ``x = 0..p-1``: the shape of
    modular addition's Fourier eigenvalue at frequency ``k``, computed from no data."""
    p = check_positive_int("p", p)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= p // 2:
        raise ValueError(f"k must be an integer frequency in [1, p//2 = {p // 2}]; got {k!r}")
    a = 2 * np.pi * int(k) * np.arange(p) / p
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def best_index_kernel(statistic, n: int, widths=DEFAULT_WIDTHS) -> tuple[float, float]:
    """``(best value, its width)``: ``statistic(index_kernel(n, w))`` maximised over ``widths``.

    ``statistic`` is a callable taking the kernel (e.g. a partial correlation of an embedding
    with it). Tuning the width on the statistic itself makes this the strongest version of the
    placebo; a claim that beats it beats every width in the grid.
    """
    if not callable(statistic):
        raise TypeError(f"statistic must be a callable taking a kernel; got {type(statistic).__name__}")
    widths = [float(w) for w in widths]
    if not widths:
        raise ValueError("widths must hold at least one width; got an empty sequence")
    vals = [float(statistic(index_kernel(n, w))) for w in widths]
    if not all(np.isfinite(vals)):
        raise ValueError(f"statistic returned a non-finite value for some width: {vals}")
    i = int(np.argmax(vals))
    return vals[i], widths[i]
