"""The Fourier view of phi^{X|y} (psbook.signatures) and the frequency-selective task."""

import numpy as np
import pytest

from psbook import signatures
from psbook.synthetic import experiments, tasks


def test_clean_modular_addition_has_unit_modulus_whatever_the_split():
    for seed, frac in ((0, 0.0), (3, 0.4)):
        t = tasks.f_mod(p=11, test_frac=frac, seed=seed)
        assert np.allclose(signatures.fourier_spectrum(t), 1.0)
        S = signatures.fourier_signature(t, 3)
        assert np.allclose(S[:, 0] + 1j * S[:, 1], np.exp(2j * np.pi * 3 * np.arange(11) / 11))


def test_noisy_labels_rank_the_noise_frequency_first():
    t = tasks.f_mod_noisy(p=13, freq=5, n_per_pair=40, seed=2)
    spec = signatures.fourier_spectrum(t)
    assert spec.shape == (6,) and int(np.argmax(spec)) + 1 == 5
    assert abs(spec[4] - 0.5) < 0.05 and np.delete(spec, 4).max() < 0.15
    assert np.all(t.y_test == t.X_test.sum(1) % 13)          # test labels clean


def test_fourier_power_and_plane():
    p = 13
    x = np.arange(p)
    W = np.stack([np.cos(2 * np.pi * 4 * x / p), np.sin(2 * np.pi * 4 * x / p), np.zeros(p)], 1)
    pw = signatures.fourier_power(W)
    assert pw.shape == (6,) and np.isclose(pw[3], 1.0)
    assert signatures.dominant_frequencies(W)[0] == 4
    P = signatures.fourier_plane(W, 4)
    assert np.allclose(np.linalg.norm(P, axis=1), 1.0)
    # the re-export used by older code is the same function
    assert experiments.fourier_power is signatures.fourier_power


def test_fourier_errors():
    with pytest.raises(ValueError, match="modular"):
        signatures.fourier_spectrum(tasks.f_add(n_keys=5, n_anchors=3))
    with pytest.raises(TypeError, match="Task or TaskSignatures"):
        signatures.fourier_eigenvalues(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="k must be"):
        signatures.fourier_signature(tasks.f_mod(p=7, test_frac=0), 7)
    with pytest.raises(ValueError, match="freq"):
        tasks.f_mod_noisy(p=13, freq=7)
    with pytest.raises(ValueError, match="rho"):
        tasks.f_mod_noisy(p=13, freq=2, rho=1.5)
    with pytest.raises(ValueError, match="W must be"):
        signatures.fourier_power(np.zeros(5))
