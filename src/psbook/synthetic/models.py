r"""The models of the synthetic chapters: a linear model and a one-hidden-layer FFN.

Both read a sequence of tokens through a *bag of embeddings*
:math:`h(X) = \sum_i \mathbf W^E_{x_i} = \mathbf W^E \mathbf c(X)` and produce logits over the
label vocabulary:

* :class:`LinearModel`: :math:`f(X) = \mathbf W^U h(X)`;
* :class:`FFN`: :math:`f(X) = \mathbf W^U \sigma(\mathbf W^1 h(X))`, or, with ``hidden=None``,
  :math:`f(X) = \mathbf W^U \sigma(h(X))` (the form the theory chapter analyses).

Conventions (DESIGN §3): ``W_E`` is stored ``d x V`` (column ``x`` is the embedding of token
``x``), ``W_U`` is ``V_out x d_last``. Every matrix is initialised
:math:`W_{ij} \sim \mathcal N(0, (d_{in}^{-\gamma})^2)`; ``gamma = 0.5`` is LeCun scale, larger
``gamma`` is the small initialisation the theory needs (the book's default is 0.8). For the
embedding, whose input is a one-hot vector, :math:`d_{in}` is taken to be the width ``d`` --
the reading of the paper's :math:`\mathcal N(0, d^{-0.8})` used throughout (see
``design/paper-notes.md`` §3).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_positive_float, check_positive_int, check_seed, \
    check_size

__all__ = ["ACTIVATIONS", "init_std", "LinearModel", "FFN", "make_model"]


def _poly2(z: torch.Tensor) -> torch.Tensor:
    """sigma(z) = z + z^2 / 2: the activation truncated at second order (theory chapter)."""
    return z + 0.5 * z * z


ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "tanh": torch.tanh,
    "silu": nn.functional.silu,
    "poly2": _poly2,
    "identity": lambda z: z,
}


def init_std(d_in: int, gamma: float) -> float:
    """Standard deviation ``d_in ** -gamma`` of the initialisation."""
    check_positive_int("d_in", d_in)
    gamma = check_positive_float("gamma", gamma)
    return float(d_in) ** (-gamma)


def _normal(shape, std: float, generator: torch.Generator | None) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=generator) * std)


class _BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, label_size: int, d: int, gamma: float, seed: int | None):
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.label_size = check_positive_int("label_size", label_size)
        self.d = check_positive_int("d", d)
        self.gamma = check_positive_float("gamma", gamma)
        seed = check_seed("seed", seed, allow_none=True)
        # refuse before allocating: float32 W_E (d x V) and W_U (V_out x d), at least
        check_size(f"vocab_size={self.vocab_size} (with label_size={self.label_size}, "
                   f"d={self.d})", 4.0 * self.d * (self.vocab_size + self.label_size),
                   "the embedding and unembedding matrices (float32)")
        self._gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.W_E = _normal((self.d, self.vocab_size), init_std(self.d, gamma), self._gen)

    def embed(self, X: torch.Tensor) -> torch.Tensor:
        """h(X) = sum_i W^E[:, x_i], shape (batch, d)."""
        if X.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"X must be an integer tensor of token ids; got dtype {X.dtype}")
        if X.dim() != 2:
            raise ValueError(f"X must be 2-D (batch, seq_len); got shape {tuple(X.shape)}")
        if X.numel():   # negative ids would silently index from the end
            lo, hi = int(X.min()), int(X.max())
            if lo < 0 or hi >= self.vocab_size:
                raise ValueError(f"X must hold token ids in [0, vocab_size={self.vocab_size}); "
                                 f"found {lo if lo < 0 else hi}")
        return self.W_E.T[X].sum(dim=1)

    @property
    def embeddings(self) -> torch.Tensor:
        """Token vectors as rows (V x d): what the metrics take."""
        return self.W_E.detach().T


class LinearModel(_BagOfEmbeddings):
    """f(X) = W^U sum_i W^E_{x_i}."""

    def __init__(self, vocab_size: int, label_size: int, d: int = 128, gamma: float = 0.8,
                 seed: int | None = 0):
        super().__init__(vocab_size, label_size, d, gamma, seed)
        self.W_U = _normal((self.label_size, self.d), init_std(self.d, gamma), self._gen)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.embed(X) @ self.W_U.T


class FFN(_BagOfEmbeddings):
    """f(X) = W^U sigma(W^1 h(X)), or W^U sigma(h(X)) when ``hidden`` is None. No biases."""

    def __init__(self, vocab_size: int, label_size: int, d: int = 128, hidden: int | None = 256,
                 activation: str = "relu", gamma: float = 0.8, seed: int | None = 0):
        super().__init__(vocab_size, label_size, d, gamma, seed)
        self.activation = check_choice("activation", activation, set(ACTIVATIONS))
        self.sigma = ACTIVATIONS[activation]
        if hidden is None:
            self.W_1 = None
            width = self.d
        else:
            width = check_positive_int("hidden", hidden)
            self.W_1 = _normal((width, self.d), init_std(self.d, gamma), self._gen)
        self.hidden = hidden
        self.W_U = _normal((self.label_size, width), init_std(width, gamma), self._gen)

    def features(self, X: torch.Tensor) -> torch.Tensor:
        h = self.embed(X)
        return self.sigma(h if self.W_1 is None else h @ self.W_1.T)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.features(X) @ self.W_U.T


def make_model(kind: str, vocab_size: int, label_size: int, **kwargs) -> nn.Module:
    """``make_model("linear" | "ffn", V, V_out, d=..., gamma=..., ...)``."""
    check_choice("kind", kind, {"linear", "ffn"})
    cls = LinearModel if kind == "linear" else FFN
    return cls(vocab_size, label_size, **kwargs)

