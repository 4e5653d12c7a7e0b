"""Routers of a mixture-of-experts layer and their auxiliary losses, written the way the math reads.

Every router turns router logits ``(n_tokens, n_experts)`` into a :class:`Routing`: a flat list of
*token-expert pairs* (which token goes to which expert, with which gate weight). A flat list fits
every router in this module: top-k gives each token exactly ``k`` pairs, expert choice gives each
*expert* a fixed number of tokens (so a token may get 0 or many experts), the threshold router
gives each token as many experts as it needs, and capacity limits drop pairs.

* :func:`topk_routing` -- softmax over experts, keep the ``k`` largest (Shazeer et al.'s top-k
  gating, optionally with noise added to the logits during training);
* :func:`switch_routing` -- top-1 with a capacity per expert (Switch Transformer);
* :func:`expert_choice_routing` -- each expert picks its ``capacity`` best tokens (Zhou et al.);
* :func:`threshold_routing` -- each token takes experts in order of probability until their
  cumulative probability reaches a threshold (the threshold router of "Enhancing Efficiency in
  Sparse Models with Sparser Selection", XMoE);
* :func:`apply_capacity` -- drop the pairs past an expert's capacity (token dropping);
* :func:`load_balancing_loss` (Switch) and :func:`router_z_loss` (ST-MoE).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

__all__ = [
    "Routing", "ROUTERS", "topk_routing", "switch_routing", "expert_choice_routing",
    "threshold_routing", "apply_capacity", "expert_capacity", "load_balancing_loss",
    "router_z_loss", "route",
]

ROUTERS = ("topk", "switch", "expert_choice", "threshold")


@dataclass
class Routing:
    """Token-expert pairs chosen by a router.

    Attributes
    ----------
    token : torch.LongTensor, shape (n_pairs,)
        Token (row) index of each pair.
    expert : torch.LongTensor, shape (n_pairs,)
        Expert index of each pair.
    gate : torch.Tensor, shape (n_pairs,)
        Weight of the expert's output in the token's output (differentiable: the router
        learns through it).
    probs : torch.Tensor, shape (n_tokens, n_experts)
        Softmax of the router logits (for the load-balancing loss).
    n_dropped : int
        Token-expert pairs the router chose but a capacity limit dropped.
    """

    token: torch.Tensor
    expert: torch.Tensor
    gate: torch.Tensor
    probs: torch.Tensor
    n_dropped: int = 0

    @property
    def n_tokens(self) -> int:
        return self.probs.shape[0]

    @property
    def n_experts(self) -> int:
        return self.probs.shape[1]

    def tokens_per_expert(self) -> torch.Tensor:
        """Number of tokens each expert receives, shape ``(n_experts,)``."""
        return torch.bincount(self.expert, minlength=self.n_experts)

    def experts_per_token(self) -> torch.Tensor:
        """Number of experts each token is sent to, shape ``(n_tokens,)`` (0 if dropped)."""
        return torch.bincount(self.token, minlength=self.n_tokens)

    def combine_matrix(self) -> torch.Tensor:
        """Dense ``(n_tokens, n_experts)`` matrix of gate weights (0 where not routed)."""
        m = self.gate.new_zeros(self.n_tokens, self.n_experts)
        return m.index_put((self.token, self.expert), self.gate, accumulate=True)


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"logits must be a float tensor, got {logits.dtype}")
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (n_tokens, n_experts), got {tuple(logits.shape)}")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contain NaN or infinity")
    return logits


def _check_k(k, n_experts: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(k).__name__}")
    if not 1 <= k <= n_experts:
        raise ValueError(f"{name} must lie in [1, n_experts={n_experts}], got {k}")
    return int(k)


def _check_factor(capacity_factor, name: str = "capacity_factor") -> float:
    if isinstance(capacity_factor, bool) or not isinstance(capacity_factor, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(capacity_factor).__name__}")
    c = float(capacity_factor)
    if not (c > 0 and math.isfinite(c)):
        raise ValueError(f"{name} must be a positive finite number, got {capacity_factor!r}")
    return c


def expert_capacity(n_tokens: int, n_experts: int, k: int, capacity_factor: float) -> int:
    """Slots per expert: ``ceil(capacity_factor * k * n_tokens / n_experts)``.

    With ``capacity_factor = 1`` the slots of all experts together hold exactly the
    ``k * n_tokens`` token-expert pairs, so any imbalance drops some.

    Examples
    --------
    >>> expert_capacity(100, 8, 2, 1.25)
    32
    """
    c = _check_factor(capacity_factor)
    return max(1, math.ceil(c * k * n_tokens / n_experts))


def topk_routing(
    logits: torch.Tensor,
    k: int,
    *,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
    normalize: bool = True,
) -> Routing:
    """Top-k softmax gating: each token goes to its ``k`` most probable experts.

    Parameters
    ----------
    logits : torch.Tensor, shape (n_tokens, n_experts)
    k : int
        Experts per token, ``1 <= k <= n_experts``.
    noise_std : float
        Standard deviation of Gaussian noise added to the logits before the top-k choice
        (noisy top-k gating; use it in training only). The gates use the clean softmax.
    generator : torch.Generator, optional
        Source of the noise.
    normalize : bool
        Rescale the ``k`` chosen probabilities to sum to 1 (Mixtral, most top-2 MoEs);
        ``False`` keeps the raw softmax probabilities (Switch with ``k = 1``).

    Examples
    --------
    >>> r = topk_routing(torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]), k=2)
    >>> r.expert.tolist(), r.token.tolist()
    ([0, 1, 2, 0], [0, 0, 1, 1])
    """
    logits = _check_logits(logits)
    k = _check_k(k, logits.shape[1])
    probs = torch.softmax(logits.float(), dim=-1)
    if noise_std < 0 or not math.isfinite(noise_std):
        raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
    scores = probs
    if noise_std > 0:
        noise = torch.randn(logits.shape, generator=generator, device=logits.device)
        scores = torch.softmax(logits.float() + noise_std * noise, dim=-1)
    top = scores.topk(k, dim=-1).indices  # (n, k), most probable first
    gate = probs.gather(1, top)
    if normalize:
        gate = gate / gate.sum(-1, keepdim=True)
    n = logits.shape[0]
    token = torch.arange(n, device=logits.device).repeat_interleave(k)
    return Routing(token, top.reshape(-1), gate.reshape(-1).to(logits.dtype), probs)


def apply_capacity(routing: Routing, capacity: int) -> Routing:
    """Keep at most ``capacity`` pairs per expert, dropping the rest (token dropping).

    Pairs are served in order of *priority*: every token's first choice before any token's
    second choice, and within a choice rank in token order (the Switch Transformer's and
    GShard's rule: a dropped pair is the later one in the batch). A dropped pair contributes
    nothing to the token's output; in a transformer its residual connection carries it on.

    Examples
    --------
    >>> r = topk_routing(torch.tensor([[1.0, 0.0]] * 3), k=1)
    >>> apply_capacity(r, 2).token.tolist(), apply_capacity(r, 2).n_dropped
    ([0, 1], 1)
    """
    if isinstance(capacity, bool) or not isinstance(capacity, numbers.Integral) or capacity < 1:
        raise ValueError(f"capacity must be a positive int, got {capacity!r}")
    n_pairs = routing.token.numel()
    # rank of the pair among its token's pairs (0 = first choice): pairs come token-major
    first = torch.ones_like(routing.token, dtype=torch.bool)
    first[1:] = routing.token[1:] != routing.token[:-1]
    start = torch.cummax(torch.where(first, torch.arange(n_pairs, device=first.device), 0), 0)
    choice = torch.arange(n_pairs, device=first.device) - start.values
    priority = choice * (routing.n_tokens + 1) + routing.token
    order = torch.argsort(priority, stable=True)
    # position of each pair in its expert's queue, in priority order
    e_sorted = routing.expert[order]
    one_hot = torch.nn.functional.one_hot(e_sorted, routing.n_experts)
    position = (one_hot.cumsum(0) * one_hot).sum(1) - 1
    keep = torch.zeros(n_pairs, dtype=torch.bool, device=first.device)
    keep[order] = position < capacity
    return Routing(routing.token[keep], routing.expert[keep], routing.gate[keep], routing.probs,
                   routing.n_dropped + int((~keep).sum()))


def switch_routing(logits: torch.Tensor, capacity_factor: float | None = 1.0) -> Routing:
    """Switch Transformer routing: top-1 expert, gate = its softmax probability, capacity limit.

    Parameters
    ----------
    logits : torch.Tensor, shape (n_tokens, n_experts)
    capacity_factor : float or None
        Capacity ``ceil(capacity_factor * n_tokens / n_experts)`` per expert; tokens past it
        are dropped. ``None`` is dropless.

    Examples
    --------
    >>> r = switch_routing(torch.tensor([[3.0, 0.0]] * 4), capacity_factor=1.0)
    >>> r.n_dropped    # all four want expert 0, which has 2 slots
    2
    """
    r = topk_routing(logits, 1, normalize=False)
    if capacity_factor is None:
        return r
    return apply_capacity(r, expert_capacity(r.n_tokens, r.n_experts, 1, capacity_factor))


def expert_choice_routing(logits: torch.Tensor, capacity_factor: float = 1.0,
                          k: int = 1) -> Routing:
    """Expert choice: each expert takes the ``capacity`` tokens with the highest probability.

    The capacity is ``ceil(capacity_factor * k * n_tokens / n_experts)``, so on average a
    token gets ``k * capacity_factor`` experts, but some get more and some none. Load is
    balanced by construction; the gate is the token's softmax probability of the expert.
    (It looks at the whole batch, so it is not causal: fine for training and encoders.)

    Examples
    --------
    >>> r = expert_choice_routing(torch.tensor([[3.0, 0.0]] * 4), capacity_factor=1.0)
    >>> r.tokens_per_expert().tolist()
    [2, 2]
    """
    logits = _check_logits(logits)
    n, n_experts = logits.shape
    k = _check_k(k, n_experts)
    cap = min(n, expert_capacity(n, n_experts, k, capacity_factor))
    probs = torch.softmax(logits.float(), dim=-1)
    top = probs.t().topk(cap, dim=-1).indices  # (n_experts, cap): tokens chosen by each expert
    expert = torch.arange(n_experts, device=logits.device).repeat_interleave(cap)
    token = top.reshape(-1)
    order = torch.argsort(token * n_experts + expert)  # token-major, as the other routers
    token, expert = token[order], expert[order]
    gate = probs[token, expert].to(logits.dtype)
    return Routing(token, expert, gate, probs)


def threshold_routing(logits: torch.Tensor, threshold: float = 0.9,
                      max_k: int | None = None, *, normalize: bool = True) -> Routing:
    """Threshold (dynamic-k) routing of XMoE ("Sparser Selection").

    Each token takes experts in decreasing order of probability until their cumulative
    probability reaches ``threshold`` (at least one, at most ``max_k``): a confident token
    uses one expert, an uncertain one several. Gates are the chosen probabilities,
    renormalised to sum to 1 (``normalize=False``: the raw probabilities).

    Examples
    --------
    >>> logits = torch.log(torch.tensor([[0.95, 0.03, 0.02], [0.5, 0.3, 0.2]]))
    >>> threshold_routing(logits, threshold=0.9).experts_per_token().tolist()
    [1, 3]
    """
    logits = _check_logits(logits)
    n, n_experts = logits.shape
    max_k = n_experts if max_k is None else _check_k(max_k, n_experts, "max_k")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    probs = torch.softmax(logits.float(), dim=-1)
    sorted_p, idx = probs.sort(dim=-1, descending=True)
    before = sorted_p.cumsum(-1) - sorted_p  # mass of the experts taken before this one
    take = before < threshold - 1e-6
    take[:, max_k:] = False
    take[:, 0] = True
    token = torch.arange(n, device=logits.device)[:, None].expand(n, n_experts)[take]
    expert = idx[take]
    gate = torch.where(take, sorted_p, 0.0)
    if normalize:
        gate = gate / gate.sum(-1, keepdim=True)
    gate = gate[take]
    return Routing(token, expert, gate.to(logits.dtype), probs)


def route(logits: torch.Tensor, router: str, *, k: int = 1, capacity_factor: float | None = None,
          threshold: float = 0.9, noise_std: float = 0.0,
          generator: torch.Generator | None = None, normalize: bool | None = None) -> Routing:
    """Call a router by name: ``"topk"``, ``"switch"``, ``"expert_choice"`` or ``"threshold"``.

    ``capacity_factor`` limits ``"topk"`` and ``"switch"`` (``None``: dropless), sets the
    capacity of ``"expert_choice"`` (``None`` means 1.0); ``k`` caps ``"threshold"``.
    ``"topk"`` renormalises the ``k`` chosen probabilities when ``k > 1``; with ``k = 1`` the
    gate is the raw probability, as in Switch (a renormalised single gate would always be 1
    and the router would get no gradient from the task loss). ``normalize`` overrides this
    for ``"topk"`` and ``"threshold"`` (``False``: raw probabilities as gates, e.g. to swap
    routers at inference in a model trained with top-1).

    Examples
    --------
    >>> route(torch.zeros(4, 2), "topk", k=2).token.numel()
    8
    """
    if router == "topk":  # k = 1: the raw probability is the gate (else it would be 1)
        norm = k > 1 if normalize is None else normalize
        r = topk_routing(logits, k, noise_std=noise_std, generator=generator, normalize=norm)
        if capacity_factor is not None:
            r = apply_capacity(r, expert_capacity(r.n_tokens, r.n_experts, k, capacity_factor))
        return r
    if router == "switch":
        return switch_routing(logits, capacity_factor)
    if router == "expert_choice":
        return expert_choice_routing(logits, 1.0 if capacity_factor is None else capacity_factor, k)
    if router == "threshold":
        return threshold_routing(logits, threshold, k,
                                 normalize=True if normalize is None else normalize)
    raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")


def load_balancing_loss(routing: Routing) -> torch.Tensor:
    """Switch Transformer load-balancing loss ``E * sum_i f_i * P_i``.

    ``f_i`` is the fraction of token-expert pairs routed to expert ``i`` (before any drops
    would be the paper's choice; here, of the pairs kept) and ``P_i`` the mean router
    probability of expert ``i`` over the tokens. It equals 1 when routing is uniform and
    grows to ``E`` when everything goes to one expert; only ``P`` carries a gradient.

    Examples
    --------
    >>> r = topk_routing(torch.zeros(8, 4), k=1)   # uniform probabilities
    >>> float(load_balancing_loss(r))
    1.0
    """
    n_experts = routing.n_experts
    counts = torch.bincount(routing.expert, minlength=n_experts).to(routing.probs.dtype)
    f = counts / counts.sum().clamp_min(1)
    P = routing.probs.mean(0)
    return n_experts * (f * P).sum()


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """Router z-loss of ST-MoE: ``mean over tokens of logsumexp(logits) ** 2``.

    Penalises large router logits, which keeps the softmax in a numerically safe range.

    Examples
    --------
    >>> round(float(router_z_loss(torch.zeros(3, 4))), 4) == round(math.log(4) ** 2, 4)
    True
    """
    logits = _check_logits(logits)
    return torch.logsumexp(logits.float(), dim=-1).square().mean()
