"""Unit tests of psbook.synthetic.models: shapes, initialisation scale, bad parameters."""

import numpy as np
import pytest
import torch

from psbook.synthetic.models import ACTIVATIONS, FFN, LinearModel, init_std, make_model


def test_shapes():
    X = torch.tensor([[0, 1, 2], [3, 4, 5]])
    lin = LinearModel(8, 11, d=16)
    assert lin.W_E.shape == (16, 8) and lin.W_U.shape == (11, 16)
    assert lin(X).shape == (2, 11)
    ffn = FFN(8, 11, d=16, hidden=32)
    assert ffn.W_1.shape == (32, 16) and ffn.W_U.shape == (11, 32) and ffn(X).shape == (2, 11)
    assert FFN(8, 11, d=16, hidden=None)(X).shape == (2, 11)
    assert lin.embeddings.shape == (8, 16)


@pytest.mark.parametrize("gamma", [0.3, 0.8, 1.2])
def test_init_scale(gamma):
    m = FFN(400, 300, d=256, hidden=512, gamma=gamma, seed=1)
    assert m.W_E.std().item() == pytest.approx(256 ** -gamma, rel=0.03)
    assert m.W_1.std().item() == pytest.approx(256 ** -gamma, rel=0.03)
    assert m.W_U.std().item() == pytest.approx(512 ** -gamma, rel=0.03)


def test_seed_reproducible_and_sum_of_embeddings():
    a, b = LinearModel(5, 4, d=8, seed=3), LinearModel(5, 4, d=8, seed=3)
    assert torch.equal(a.W_E, b.W_E)
    X = torch.tensor([[1, 2]])
    assert torch.allclose(a(X), (a.W_E[:, 1] + a.W_E[:, 2]) @ a.W_U.T)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activations(act):
    assert torch.isfinite(make_model("ffn", 5, 4, d=8, hidden=8, activation=act)(
        torch.tensor([[0, 1]]))).all()


@pytest.mark.parametrize("call, exc", [
    (lambda: init_std(16, 0), ValueError),
    (lambda: init_std(16, -0.5), ValueError),
    (lambda: LinearModel(5, 4, gamma=0.0), ValueError),
    (lambda: FFN(5, 4, activation="sigmoidish"), ValueError),
    (lambda: make_model("cnn", 5, 4), ValueError),
    (lambda: LinearModel(0, 4), ValueError),
    (lambda: LinearModel(5, 4)(torch.tensor([[0.5, 1.0]])), TypeError),
])
def test_bad_parameters(call, exc):
    with pytest.raises(exc):
        call()
