r"""A small decoder in the Qwen2.5 style, written for reading and for speed.

The architecture is Qwen2's (:cite:`qwen2025qwen25`), scaled down:

* token embedding ``W^E`` (``embed_tokens``, one row per token, V x d);
* ``n_layers`` pre-norm blocks, each ``h <- h + Attn(RMSNorm(h))``, ``h <- h + MLP(RMSNorm(h))``;
  attention is causal, grouped-query (``n_kv_heads`` key/value heads shared by
  ``n_heads`` query heads), with rotary positions and biases on q, k, v (not on o), computed
  by :func:`torch.nn.functional.scaled_dot_product_attention`; the MLP is SwiGLU
  ``down(silu(gate(x)) * up(x))`` without biases;
* a final RMSNorm and the unembedding ``W^U`` (``lm_head``, V x d), tied to ``W^E`` or not.

Parameter names follow Hugging Face's ``Qwen2ForCausalLM`` (without its ``model.`` prefix), so
:func:`to_hf_state_dict` / :func:`from_hf_state_dict` copy weights across, and
:func:`hf_config` gives the matching ``transformers.Qwen2Config``; ``tests/test_lm.py`` checks
that the logits agree to float tolerance.

Initialisation (DESIGN §3): every weight matrix ``W`` with input width ``d_in`` is drawn from
``N(0, (d_in^{-gamma})^2)``; the embedding uses ``d_in = d`` (the width), as
:mod:`psbook.synthetic.models` does. Biases start at zero, RMSNorm gains at one.
``gamma = 0.5`` is LeCun scale; the book's small-initialisation default is ``gamma = 0.8``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_positive_float, check_positive_int, check_size

__all__ = ["LMConfig", "QwenLM", "hf_config", "to_hf_state_dict", "from_hf_state_dict",
           "hf_model"]


@dataclass(frozen=True)
class LMConfig:
    """Sizes of a :class:`QwenLM`. ``d_model`` must be a multiple of ``n_heads``, and
    ``n_heads`` a multiple of ``n_kv_heads`` (grouped-query attention); the head width
    ``d_model // n_heads`` must be even (rotary positions rotate pairs of coordinates)."""

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    d_ff: int = 172
    max_seq_len: int = 128
    rope_theta: float = 10_000.0
    rms_eps: float = 1e-6
    tie_embeddings: bool = False
    gamma: float = 0.8
    # ablations (chapter 10): n_layers=0 is embedding -> final norm -> unembedding;
    # attention=False keeps the blocks' MLPs and drops their attention (and its norm);
    # mlp=False keeps the attention and drops the MLPs (and their norm)
    attention: bool = True
    mlp: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_heads", "n_kv_heads", "d_ff",
                     "max_seq_len"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("n_layers", self.n_layers, minimum=0)
        if not isinstance(self.attention, bool):
            raise TypeError(f"attention must be True or False; got {self.attention!r}")
        if not isinstance(self.mlp, bool):
            raise TypeError(f"mlp must be True or False; got {self.mlp!r}")
        if self.n_layers and not (self.attention or self.mlp):
            raise ValueError("a block needs attention or an MLP (attention=False and mlp=False "
                             "leave it empty); for a model without blocks set n_layers=0")
        check_positive_float("rope_theta", self.rope_theta)
        check_positive_float("rms_eps", self.rms_eps)
        check_positive_float("gamma", self.gamma)
        if not isinstance(self.tie_embeddings, bool):
            raise TypeError(f"tie_embeddings must be True or False; got {self.tie_embeddings!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be a multiple of n_heads; got d_model={self.d_model}, "
                             f"n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads must be a multiple of n_kv_heads (grouped-query "
                             f"attention); got n_heads={self.n_heads}, "
                             f"n_kv_heads={self.n_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head width d_model // n_heads must be even for rotary positions; "
                             f"got {self.head_dim}")
        # refuse before allocating (float32 parameters), naming the knob
        check_size(f"vocab_size={self.vocab_size} (with d_model={self.d_model})",
                   4.0 * self.n_params(), "the model's parameters (float32)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    def n_params(self, *, embeddings: bool = True) -> int:
        d, f, hd = self.d_model, self.d_ff, self.head_dim
        attn = d * (self.n_heads + 2 * self.n_kv_heads) * hd + (self.n_heads + 2 * self.n_kv_heads) * hd \
            + self.n_heads * hd * d
        block = (attn + d if self.attention else 0) + (3 * d * f + d if self.mlp else 0)
        n = self.n_layers * block + d
        if embeddings:
            n += self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return n


class RMSNorm(nn.Module):
    """x / rms(x) * g, computed in float32 as Qwen2 does."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        if _fused_rms_norm is not None:                 # one fused kernel (torch >= 2.4)
            x = _fused_rms_norm(x, (x.shape[-1],), eps=self.eps)
        else:
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


_fused_rms_norm = getattr(F, "rms_norm", None)


def _rope_tables(cfg: LMConfig, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=device)
                                    / hd))
    pos = torch.arange(cfg.max_seq_len, dtype=torch.float32, device=device)
    freqs = torch.outer(pos, inv)
    emb = torch.cat((freqs, freqs), dim=-1)          # (T, hd), the "rotate_half" layout
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        hd = cfg.head_dim
        self.n_heads, self.n_kv, self.hd = cfg.n_heads, cfg.n_kv_heads, hd
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * hd, bias=True)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * hd, bias=True)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * hd, bias=True)
        self.o_proj = nn.Linear(cfg.n_heads * hd, cfg.d_model, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        nq, nkv = self.n_heads * self.hd, self.n_kv * self.hd
        # one matmul for q, k and v (the weights stay separate, under Qwen2's names)
        w = torch.cat((self.q_proj.weight, self.k_proj.weight, self.v_proj.weight))
        b = torch.cat((self.q_proj.bias, self.k_proj.bias, self.v_proj.bias))
        qkv = F.linear(x, w, b).view(B, T, self.n_heads + 2 * self.n_kv, self.hd)
        qk, v = qkv.split((self.n_heads + self.n_kv, self.n_kv), dim=2)
        qk = qk * cos + _rotate_half(qk) * sin          # rotary positions on q and k at once
        q, k = qk.split((self.n_heads, self.n_kv), dim=2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True,
                                           enable_gqa=self.n_kv != self.n_heads)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, nq))


class MLP(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        gate, up = F.linear(x, torch.cat((self.gate_proj.weight, self.up_proj.weight))).chunk(2, -1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        if cfg.attention:  # an attention-free block (ablation) has neither
            self.input_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
            self.self_attn = Attention(cfg)
        else:
            self.input_layernorm = self.self_attn = None
        if cfg.mlp:  # an attention-only block (ablation) has neither
            self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
            self.mlp = MLP(cfg)
        else:
            self.post_attention_layernorm = self.mlp = None

    def forward(self, h, cos, sin):
        if self.self_attn is not None:
            h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        if self.mlp is not None:
            h = h + self.mlp(self.post_attention_layernorm(h))
        return h


class QwenLM(nn.Module):
    """The decoder. ``model(ids)`` returns logits ``(batch, T, V)``; ``model.loss(ids)`` the
    mean next-token cross-entropy of a batch of windows ``ids`` (batch, T).

    ``W_E`` / ``W_U`` give the embedding and unembedding as ``V x d`` tensors (token vectors
    as rows, what :func:`psbook.metrics.r_cos` takes). With ``tie_embeddings=True`` they are
    the same :class:`torch.nn.Parameter`.
    """

    def __init__(self, cfg: LMConfig, *, seed: int | None = None):
        super().__init__()
        if not isinstance(cfg, LMConfig):
            raise TypeError(f"cfg must be an LMConfig; got {type(cfg).__name__}")
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = _rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Initialise every matrix with std ``d_in ** -gamma`` (biases 0, norm gains 1)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        g = self.cfg.gamma
        for name, p in self.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0 if name.endswith("layernorm.weight") or name == "norm.weight"
                        else 0.0)
                continue
            d_in = p.shape[1]  # nn.Linear stores (out, in); the embedding (V, d): d_in = d
            p.copy_(torch.randn(p.shape, generator=gen) * float(d_in) ** (-g))

    # ---- views used by the analysis ------------------------------------------------------
    @property
    def W_E(self) -> torch.Tensor:
        return self.embed_tokens.weight

    @property
    def W_U(self) -> torch.Tensor:
        return self.lm_head.weight

    def check_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Validate a batch of token ids: integer, 2-D, within the vocabulary and context."""
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a torch.Tensor of token ids; got {type(ids).__name__}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids must hold integer token ids; got dtype {ids.dtype}")
        if ids.dim() != 2:
            raise ValueError(f"ids must be 2-D (batch, seq_len); got shape {tuple(ids.shape)}")
        T = ids.shape[1]
        if T > self.cfg.max_seq_len:
            raise ValueError(f"ids has sequence length {T} but the model's max_seq_len is "
                             f"{self.cfg.max_seq_len}; shorten the windows or raise "
                             f"max_seq_len")
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.cfg.vocab_size:
                bad = lo if lo < 0 else hi
                raise ValueError(f"ids must lie in [0, vocab_size={self.cfg.vocab_size}); found "
                                 f"{bad} -- was the model built for a different tokenizer? Set "
                                 f"vocab_size to the tokenizer's vocab_size")
        return ids

    def hidden(self, ids: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """The final normalised residual stream (batch, T, d)."""
        if check:
            self.check_ids(ids)
        T = ids.shape[1]
        cos, sin = self.rope_cos[:T, None], self.rope_sin[:T, None]  # (T, 1, head_dim)
        h = self.embed_tokens(ids)
        for blk in self.layers:
            h = blk(h, cos, sin)
        return self.norm(h)

    def forward(self, ids: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        return self.lm_head(self.hidden(ids, check=check))

    def loss(self, ids: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """Mean cross-entropy of predicting ``ids[:, 1:]`` from ``ids[:, :-1]``.

        ``ids`` needs at least 2 tokens per row (one to read, one to predict) and one row."""
        if isinstance(ids, torch.Tensor) and (ids.dim() != 2 or ids.shape[1] < 2
                                              or ids.shape[0] < 1):
            raise ValueError(f"ids must be 2-D (batch >= 1, T >= 2): the loss predicts ids[:, 1:] "
                             f"from ids[:, :-1]; got shape {tuple(ids.shape)}")
        logits = self(ids[:, :-1], check=check)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                               ids[:, 1:].reshape(-1))


# ---- Hugging Face interoperability ------------------------------------------------------

def hf_config(cfg: LMConfig):
    """The ``transformers.Qwen2Config`` with the same architecture as ``cfg``."""
    from transformers import Qwen2Config
    if not cfg.attention:
        raise ValueError("an attention-free LMConfig (attention=False) has no Qwen2Config "
                         "equivalent; only models with attention convert to Hugging Face")
    if not cfg.mlp:
        raise ValueError("an attention-only LMConfig (mlp=False) has no Qwen2Config equivalent; "
                         "only models with MLP blocks convert to Hugging Face")
    return Qwen2Config(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads, max_position_embeddings=cfg.max_seq_len,
        rms_norm_eps=cfg.rms_eps, rope_theta=cfg.rope_theta,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        tie_word_embeddings=cfg.tie_embeddings, hidden_act="silu", attention_dropout=0.0,
        use_cache=False, use_sliding_window=False)


def to_hf_state_dict(model: QwenLM) -> dict:
    """``model``'s weights under Hugging Face ``Qwen2ForCausalLM`` names."""
    out = {}
    for k, v in model.state_dict().items():
        out[k if k.startswith("lm_head.") else "model." + k] = v
    return out


def from_hf_state_dict(model: QwenLM, state: dict) -> QwenLM:
    """Load weights saved by a Hugging Face ``Qwen2ForCausalLM`` (same config) into ``model``."""
    mine = {}
    for k, v in state.items():
        if k.startswith("model."):
            mine[k[len("model."):]] = v
        elif k.startswith("lm_head."):
            mine[k] = v
    if model.cfg.tie_embeddings:
        mine.pop("lm_head.weight", None)
        mine["lm_head.weight"] = mine["embed_tokens.weight"]
    model.load_state_dict(mine, strict=True)
    return model


def hf_model(model: QwenLM, *, attn_implementation: str = "sdpa"):
    """A ``transformers.Qwen2ForCausalLM`` with ``model``'s config and a copy of its weights."""
    from transformers import Qwen2ForCausalLM
    hf = Qwen2ForCausalLM(hf_config(model.cfg)) if attn_implementation is None else \
        Qwen2ForCausalLM._from_config(hf_config(model.cfg), attn_implementation=attn_implementation)
    sd = to_hf_state_dict(model)
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not (model.cfg.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight names do not match transformers' Qwen2: missing {missing}, "
                           f"unexpected {unexpected}")
    if model.cfg.tie_embeddings:
        hf.tie_weights()
    return hf
