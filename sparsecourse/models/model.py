"""A small Llama-style decoder-only transformer with Hugging Face module names.

The layout follows ``transformers``' ``LlamaForCausalLM``: ``model.embed_tokens``,
``model.layers[i].{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp}``,
``model.norm`` and ``lm_head``. The MLP has ``gate_proj`` (gated variants only), ``up_proj``,
``down_proj`` and an ``act_fn`` module that is called exactly once per forward pass, so the
activation-sparsity methods of Chapter 5 can hook or replace it as they would on a real Llama.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("swiglu", "relu", "relu2", "gelu")
GATED = ("swiglu",)


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of :class:`LlamaLM`.

    Parameters
    ----------
    vocab_size : int
        Number of token ids (the tokenizer's vocabulary).
    d_model : int
        Width of the residual stream.
    n_layers : int
        Number of decoder blocks.
    n_heads : int
        Attention heads; must divide ``d_model``.
    d_ff : int
        Hidden width of the MLP (the number of "neurons" per layer).
    max_seq_len : int
        Longest sequence the model accepts (rotary tables are precomputed up to it).
    activation : str
        ``"swiglu"`` (gated, ``down(silu(gate(x)) * up(x))``), ``"relu"``, ``"relu2"``
        (squared ReLU) or ``"gelu"`` (non-gated, ``down(act(up(x)))``).
    rope_theta : float
        Base of the rotary frequencies.
    norm_eps : float
        Epsilon of RMSNorm.
    tie_embeddings : bool
        Share the output projection ``lm_head`` with ``embed_tokens``.

    Examples
    --------
    >>> cfg = ModelConfig(activation="swiglu", d_ff=344)
    >>> cfg.gated, cfg.head_dim
    (True, 32)
    """

    vocab_size: int = 2048
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    max_seq_len: int = 256
    activation: str = "relu"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"the head dimension d_model / n_heads = {self.head_dim} must be even")
        if not (self.rope_theta > 0 and self.norm_eps > 0):
            raise ValueError("rope_theta and norm_eps must be positive")

    @property
    def gated(self) -> bool:
        """Whether the MLP has a gate projection (SwiGLU)."""
        return self.activation in GATED

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        """Plain ``dict`` of the fields (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        return cls(**d)


class RMSNorm(nn.Module):
    """Root-mean-square layer norm: ``x / sqrt(mean(x**2) + eps) * weight``.

    Examples
    --------
    >>> norm = RMSNorm(4)
    >>> [round(v, 4) for v in norm(torch.tensor([[3.0, -3.0, 3.0, -3.0]]))[0].tolist()]
    [1.0, -1.0, 1.0, -1.0]
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(x.dtype) * self.weight


def rotary_tables(
    head_dim: int, max_seq_len: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables of rotary position embeddings, each ``(max_seq_len, head_dim)``.

    Uses the Hugging Face "rotate half" convention: frequency ``i`` acts on the pair of
    channels ``(i, i + head_dim / 2)``.

    Examples
    --------
    >>> cos, sin = rotary_tables(8, 16)
    >>> cos.shape
    torch.Size([16, 8])
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` of shape ``(..., T, head_dim)`` by the angles of positions ``0..T-1``.

    Each pair of channels is rotated by an angle proportional to the position, so the dot
    product of a rotated query at position ``m`` and a rotated key at ``n`` depends on
    ``m - n`` only.

    Examples
    --------
    >>> cos, sin = rotary_tables(4, 8)
    >>> q = torch.randn(1, 8, 4)
    >>> torch.allclose(apply_rotary(q, cos, sin).norm(dim=-1), q.norm(dim=-1), atol=1e-6)
    True
    """
    T = x.shape[-2]
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Multi-head causal self-attention with rotary embeddings (no biases)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, self.n_heads, self.head_dim = config.d_model, config.n_heads, config.head_dim
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        cos, sin = rotary_tables(config.head_dim, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (
            p(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        q = apply_rotary(q, self.rope_cos, self.rope_sin)
        k = apply_rotary(k, self.rope_cos, self.rope_sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, D))


class ReLUSquared(nn.Module):
    """Squared ReLU, ``relu(x) ** 2`` (So et al., Primer; "ReLU² Wins")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


def make_activation(name: str) -> nn.Module:
    """The activation module of an MLP: SiLU for ``"swiglu"``, else ReLU, ReLU² or GELU.

    Examples
    --------
    >>> make_activation("relu2")(torch.tensor([-1.0, 3.0]))
    tensor([0., 9.])
    """
    table = {"swiglu": nn.SiLU, "relu": nn.ReLU, "relu2": ReLUSquared, "gelu": nn.GELU}
    if name not in table:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return table[name]()


class MLP(nn.Module):
    """Feed-forward block with Hugging Face Llama naming.

    Gated (``swiglu``): ``down_proj(act_fn(gate_proj(x)) * up_proj(x))``;
    non-gated: ``down_proj(act_fn(up_proj(x)))``. ``act_fn`` is called exactly once per
    forward pass; replacing it (``mlp.act_fn = MyModule()``) or hooking it changes the block.

    Examples
    --------
    >>> mlp = MLP(ModelConfig(d_model=8, n_heads=2, d_ff=16, activation="relu"))
    >>> hasattr(mlp, "gate_proj"), mlp(torch.randn(2, 3, 8)).shape
    (False, torch.Size([2, 3, 8]))
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gated = config.gated
        if self.gated:
            self.gate_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.act_fn = make_activation(config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(self.act_fn(self.up_proj(x)))


class DecoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embedding, decoder layers and final norm (the ``model`` attribute of :class:`LlamaLM`)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class LlamaLM(nn.Module):
    """Llama-style causal language model: token ids ``(B, T)`` to logits ``(B, T, vocab)``.

    Parameters
    ----------
    config : ModelConfig
        The hyperparameters.
    seed : int, optional
        Seed of the weight initialisation (normal, std 0.02; output projections of each
        block scaled by ``1 / sqrt(2 n_layers)`` as in GPT-2).

    Examples
    --------
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, d_ff=64))
    >>> model(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 64])
    >>> type(model.model.layers[0].mlp.act_fn).__name__
    'ReLU'
    """

    def __init__(self, config: ModelConfig, *, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.reset_parameters(seed)
        if config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def reset_parameters(self, seed: int = 0) -> None:
        """Re-initialise all weights deterministically from ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        scaled = ("o_proj", "down_proj")
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                nn.init.ones_(p)
                continue
            std = 0.02
            if name.split(".")[-2] in scaled:
                std /= math.sqrt(2 * self.config.n_layers)
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * std)

    def num_parameters(self) -> int:
        """Number of distinct parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position.

        Parameters
        ----------
        input_ids : torch.Tensor
            Integer tensor ``(B, T)`` (or ``(T,)``, treated as ``B = 1``) with ids in
            ``[0, vocab_size)`` and ``T <= max_seq_len``.
        """
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
        if input_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
        if input_ids.dim() == 1:
            input_ids = input_ids[None]
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (B, T), got {tuple(input_ids.shape)}")
        T = input_ids.shape[1]
        if T == 0 or T > self.config.max_seq_len:
            raise ValueError(
                f"input_ids has sequence length {T}; it must be in [1, {self.config.max_seq_len}]"
            )
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(
                f"input_ids must lie in [0, {self.config.vocab_size}), got min {lo}, max {hi}"
            )
        return self.lm_head(self.model(input_ids.long()))
