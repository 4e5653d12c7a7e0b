"""The mixture-of-experts layer: a router and SwiGLU experts, with three ways to dispatch tokens.

``MoELayer(d_model, d_ff, n_experts, k)`` replaces a transformer's feed-forward block. Expert
``e`` is a SwiGLU MLP, ``down_e(silu(x @ W_gate[e]) * (x @ W_up[e]))``; the layer's output for a
token is the gate-weighted sum of the outputs of the experts its router picked. How the tokens
reach the experts is ``layer.dispatch``, an attribute you may change on a live layer:

``"dense"``
    every expert runs on every token, and the outputs of the experts a token was not routed to
    are multiplied by zero: simple, and ``n_experts / k`` times the FLOPs it needs (the baseline);
``"loop"``
    for each expert, gather its tokens with a boolean mask, run the expert, scatter-add back
    (a mask, a gather, three GEMMs and a scatter per expert: ~10 autograd nodes each);
``"grouped"``
    sort the token-expert pairs by expert *once*, gather the rows in that order, run each
    expert on its contiguous slice with a grouped GEMM (one autograd node for all experts), and
    un-permute with *one* scatter-add: MegaBlocks' dropless dispatch.

All three compute the same function (and the same gradients), whatever the router.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ._kernels import grouped_mm
from .routing import ROUTERS, Routing, load_balancing_loss, route, router_z_loss

__all__ = ["MoELayer", "SwiGLUExperts", "DISPATCH", "expert_offsets"]

DISPATCH = ("dense", "loop", "grouped")


def _check_int(value, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


class SwiGLUExperts(nn.Module):
    """``n_experts`` SwiGLU MLPs stored as stacked weights.

    ``w_gate``, ``w_up``: ``(n_experts, d_model, d_ff)``; ``w_down``: ``(n_experts, d_ff,
    d_model)`` (input-major, so expert ``e`` computes ``x @ w_gate[e]``). Initialised like
    :class:`~sparsecourse.models.LlamaLM` (normal, std 0.02, the down projection scaled).
    """

    def __init__(self, d_model: int, d_ff: int, n_experts: int, *, seed: int = 0,
                 down_scale: float = 1.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        std = 0.02

        def init(*shape, s=std):
            return nn.Parameter(torch.randn(*shape, generator=gen) * s)

        self.w_gate = init(n_experts, d_model, d_ff)
        self.w_up = init(n_experts, d_model, d_ff)
        self.w_down = init(n_experts, d_ff, d_model, s=std * down_scale)

    def expert(self, e: int, x: torch.Tensor, weights=None) -> torch.Tensor:
        """Expert ``e`` on rows ``x`` (the readable one-expert forward).

        ``weights``: the ``(w_gate, w_up, w_down)`` of :meth:`per_expert` (one unbind per
        forward); indexing the stacked weights per expert instead would make autograd build a
        full-size zero gradient for every expert (``E`` times the memory traffic).
        """
        wg, wu, wd = weights if weights is not None else (self.w_gate, self.w_up, self.w_down)
        return (F.silu(x @ wg[e]) * (x @ wu[e])) @ wd[e]

    def per_expert(self) -> tuple:
        """The weights split into per-expert views (``unbind``: one gradient stack for all),
        as a list of ``nn.Linear``-style experts would hold them."""
        return self.w_gate.unbind(0), self.w_up.unbind(0), self.w_down.unbind(0)

    def grouped(self, x: torch.Tensor, offsets, backend: str = "torch") -> torch.Tensor:
        """All experts on sorted rows ``x``: expert ``g`` on ``x[offsets[g]:offsets[g+1]]``."""
        h = F.silu(grouped_mm(x, self.w_gate, offsets, backend=backend)) * grouped_mm(
            x, self.w_up, offsets, backend=backend)
        return grouped_mm(h, self.w_down, offsets, backend=backend)


def expert_offsets(expert: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Start of each expert's slice after sorting by expert: ``[0, c0, c0 + c1, ..., n]``.

    Examples
    --------
    >>> expert_offsets(torch.tensor([2, 0, 2, 2]), 4).tolist()
    [0, 1, 1, 4, 4]
    """
    counts = torch.bincount(expert, minlength=n_experts)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


class MoELayer(nn.Module):
    """Mixture-of-experts feed-forward layer with SwiGLU experts.

    Parameters
    ----------
    d_model : int
        Width of the input and output.
    d_ff : int
        Hidden width of each expert.
    n_experts : int
        Number of experts ``E``.
    k : int
        Experts per token for ``"topk"``; the average for ``"expert_choice"`` (capacity
        ``k * capacity_factor * n / E``); the maximum for ``"threshold"``; must be 1 for
        ``"switch"``.
    router : {"topk", "switch", "expert_choice", "threshold"}
        See ``sparsecourse.moe.routing``.
    dispatch : {"dense", "loop", "grouped"}
        How tokens reach experts (changeable later: ``layer.dispatch = "loop"``).
    capacity_factor : float or None
        Slots per expert as a multiple of a perfectly balanced share; tokens past it are
        dropped. ``None`` (the default) is dropless (``"expert_choice"`` then uses 1.0).
    threshold : float
        Cumulative probability of the ``"threshold"`` router.
    noise_std : float
        Noise on the logits of the ``"topk"`` router, in training mode only.
    normalize_gates : bool or None
        Renormalise the chosen probabilities to sum to 1 (``None``: for top-k with
        ``k > 1`` and the threshold router; top-1 and expert choice use raw probabilities).
        Changeable on a live layer, like ``router``, ``k`` and ``capacity_factor``.
    aux_loss_coef, z_loss_coef : float
        Weights of the load-balancing loss and the router z-loss in ``aux_loss``.
    grouped_backend : {"torch", "numba", "triton"}
        The grouped GEMM's forward.
    seed : int
        Seed of the weight initialisation.

    Attributes
    ----------
    aux_loss : torch.Tensor
        ``aux_loss_coef * load_balancing + z_loss_coef * z_loss`` of the last forward (add
        it to the training loss).
    last_routing : Routing
        The token-expert pairs of the last forward (detached), for statistics.

    Examples
    --------
    >>> layer = MoELayer(16, 32, n_experts=4, k=2)
    >>> x = torch.randn(2, 5, 16)
    >>> y = layer(x)
    >>> y.shape
    torch.Size([2, 5, 16])
    >>> layer.dispatch = "dense"
    >>> torch.allclose(layer(x), y, atol=1e-6)
    True
    """

    def __init__(self, d_model: int, d_ff: int, n_experts: int, k: int = 1, *,
                 router: str = "topk", dispatch: str = "grouped",
                 capacity_factor: float | None = None, threshold: float = 0.9,
                 noise_std: float = 0.0, normalize_gates: bool | None = None,
                 aux_loss_coef: float = 0.01, z_loss_coef: float = 1e-3,
                 grouped_backend: str = "torch", seed: int = 0, down_scale: float = 1.0) -> None:
        super().__init__()
        self.d_model = _check_int(d_model, "d_model")
        self.d_ff = _check_int(d_ff, "d_ff")
        self.n_experts = _check_int(n_experts, "n_experts")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if not 1 <= k <= n_experts:
            raise ValueError(f"k must lie in [1, n_experts={n_experts}], got {k}")
        self.k = int(k)
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")
        if router == "switch" and k != 1:
            raise ValueError(f"the switch router sends each token to one expert; k must be 1, "
                             f"got {k}")
        if capacity_factor is not None:
            if isinstance(capacity_factor, bool) or not isinstance(capacity_factor, numbers.Real):
                raise TypeError("capacity_factor must be a real number or None")
            if not (capacity_factor > 0 and math.isfinite(capacity_factor)):
                raise ValueError(f"capacity_factor must be positive, got {capacity_factor!r}")
        self.router = router
        self.capacity_factor = capacity_factor
        self.threshold = threshold
        self.noise_std = noise_std
        self.normalize_gates = normalize_gates
        self.aux_loss_coef = aux_loss_coef
        self.z_loss_coef = z_loss_coef
        self.grouped_backend = grouped_backend
        self.dispatch = dispatch
        gen = torch.Generator().manual_seed(seed + 1)
        self.gate = nn.Linear(d_model, n_experts, bias=False)
        with torch.no_grad():
            self.gate.weight.copy_(torch.randn(n_experts, d_model, generator=gen) * 0.02)
        self.experts = SwiGLUExperts(d_model, d_ff, n_experts, seed=seed, down_scale=down_scale)
        self.aux_loss = torch.zeros(())
        self.last_routing: Routing | None = None

    @property
    def dispatch(self) -> str:
        return self._dispatch

    @dispatch.setter
    def dispatch(self, value: str) -> None:
        if value not in DISPATCH:
            raise ValueError(f"dispatch must be one of {DISPATCH}, got {value!r}")
        self._dispatch = value

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_ff={self.d_ff}, n_experts={self.n_experts}, "
                f"k={self.k}, router={self.router!r}, dispatch={self.dispatch!r}, "
                f"capacity_factor={self.capacity_factor}")

    def num_parameters(self, active: bool = False) -> int:
        """All parameters, or those one token uses (router + ``k`` experts) if ``active``."""
        per_expert = 3 * self.d_model * self.d_ff
        n = self.n_experts * self.d_model + per_expert * (self.k if active else self.n_experts)
        return n

    def route(self, x: torch.Tensor) -> tuple[Routing, torch.Tensor]:
        """Router logits and token-expert pairs of rows ``x`` ``(n, d_model)``."""
        logits = self.gate(x)
        r = route(logits, self.router, k=self.k, capacity_factor=self.capacity_factor,
                  threshold=self.threshold, noise_std=self.noise_std if self.training else 0.0,
                  normalize=self.normalize_gates)
        return r, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` of shape ``(..., d_model)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (..., d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise TypeError(f"x must be a float tensor, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or infinity")
        shape = x.shape
        flat = x.reshape(-1, self.d_model)
        r, logits = self.route(flat)
        self.aux_loss = (self.aux_loss_coef * load_balancing_loss(r)
                         + self.z_loss_coef * router_z_loss(logits))
        out = self.apply_experts(flat, r)
        self.last_routing = Routing(r.token.detach(), r.expert.detach(), r.gate.detach(),
                                    r.probs.detach(), r.n_dropped)
        return out.reshape(shape)

    def apply_experts(self, x: torch.Tensor, r: Routing) -> torch.Tensor:
        """Combine the experts' outputs on rows ``x`` for the pairs ``r`` (by ``self.dispatch``)."""
        if self.dispatch == "dense":
            return self._dense(x, r)
        if self.dispatch == "loop":
            return self._loop(x, r)
        return self._grouped(x, r)

    def _dense(self, x, r):
        combine = r.combine_matrix()  # (n, E), zero where a token is not routed
        w = self.experts.per_expert()
        out = torch.zeros_like(x)
        for e in range(self.n_experts):  # every expert on every token, masked
            out = out + combine[:, e : e + 1] * self.experts.expert(e, x, w)
        return out

    def _loop(self, x, r):
        w = self.experts.per_expert()
        out = torch.zeros_like(x)
        for e in range(self.n_experts):
            mask = r.expert == e
            tok = r.token[mask]
            if tok.numel() == 0:
                continue
            y = self.experts.expert(e, x[tok], w) * r.gate[mask, None]
            out.index_add_(0, tok, y)
        return out

    def _grouped(self, x, r):
        order = torch.argsort(r.expert, stable=True)  # sort the pairs by expert, once
        offsets = expert_offsets(r.expert, self.n_experts)
        tok = r.token[order]
        y = self.experts.grouped(x[tok], offsets, self.grouped_backend)
        y = y * r.gate[order, None]
        return torch.zeros_like(x).index_add(0, tok, y)  # un-permute: one scatter
