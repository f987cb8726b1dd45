"""psbook.placebos: data-free matrices with the shape of a signature (chapters 06, 07)."""

import numpy as np
import pytest

from psbook.metrics import r_cos
from psbook.placebos import best_index_kernel, circle_kernel, index_kernel


def test_index_kernel_shape_and_values():
    K = index_kernel(5, 1.0)
    assert K.shape == (5, 5) and np.allclose(K, K.T) and np.allclose(np.diag(K), 1.0)
    assert np.isclose(K[0, 1], np.exp(-0.5)) and K[0, 4] < K[0, 1]
    for bad in (0, -1.0, np.inf, True, "2"):
        with pytest.raises(ValueError, match="width"):
            index_kernel(5, bad)
    with pytest.raises(ValueError, match="n"):
        index_kernel(0, 1.0)


def test_circle_kernel_is_the_unit_circle_at_frequency_k():
    C = circle_kernel(7, 2)
    assert C.shape == (7, 2) and np.allclose(np.linalg.norm(C, axis=1), 1.0)
    assert np.allclose(C[1], [np.cos(4 * np.pi / 7), np.sin(4 * np.pi / 7)])
    # cosines depend only on k (x - y): two frequencies give different geometries
    assert r_cos(circle_kernel(11, 1), circle_kernel(11, 3)) < 0.5
    for bad in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            circle_kernel(7, bad)


def test_best_index_kernel_finds_the_width_of_an_index_kernel():
    target = index_kernel(12, 3.0)
    best, w = best_index_kernel(lambda K: r_cos(target, K), 12)
    assert w == 3.0 and best > 0.999
    # a geometry with no order: no width fits it well
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(12, 6))
    assert best_index_kernel(lambda K: r_cos(noise, K), 12)[0] < 0.5
    with pytest.raises(TypeError, match="callable"):
        best_index_kernel(3, 12)
    with pytest.raises(ValueError, match="widths"):
        best_index_kernel(lambda K: 0.0, 12, widths=[])
    with pytest.raises(ValueError, match="non-finite"):
        best_index_kernel(lambda K: np.nan, 12)
