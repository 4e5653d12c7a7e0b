"""Timing of the three dispatch modes of :class:`~sparsecourse.moe.MoELayer` (for the chapter).

The benchmark at full size is ``benchmarks/moe.py``; this helper times a small layer side by
side (interleaved rounds, :func:`sparsecourse.utils.interleaved`) so that a notebook can show
the same ordering in seconds.
"""

from __future__ import annotations

import torch

from ..utils import interleaved
from .layer import DISPATCH, MoELayer

__all__ = ["time_dispatch"]


def time_dispatch(d_model: int, d_ff: int, n_tokens: int, n_experts: int, k: int, *,
                  modes=DISPATCH, rounds: int = 3, backward: bool = True,
                  seed: int = 0) -> dict[str, float]:
    """Median milliseconds of forward (+ backward) of one layer per dispatch mode.

    Also times ``"reference"``: one dense SwiGLU FFN of width ``d_ff`` on ``n_tokens * k``
    rows, the same FLOPs as the MoE layer's experts without any routing.

    Examples
    --------
    >>> t = time_dispatch(16, 32, 64, 4, 2, rounds=1)
    >>> sorted(t)
    ['dense', 'grouped', 'loop', 'reference']
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_tokens, d_model, generator=gen)
    g = torch.randn(n_tokens, d_model, generator=gen)
    layer = MoELayer(d_model, d_ff, n_experts, k, seed=seed)

    def run(mode):
        def f():
            layer.dispatch = mode
            for p in layer.parameters():
                p.grad = None
            xx = x.detach().requires_grad_(backward)
            y = layer(xx)
            if backward:
                y.backward(g)
            return y
        return f

    w = [p.detach().clone().requires_grad_() for p in
         (layer.experts.w_gate[0], layer.experts.w_up[0], layer.experts.w_down[0])]
    xr = x.repeat(k, 1)
    gr = g.repeat(k, 1)

    def reference():
        for p in w:
            p.grad = None
        xx = xr.detach().requires_grad_(backward)
        y = (torch.nn.functional.silu(xx @ w[0]) * (xx @ w[1])) @ w[2]
        if backward:
            y.backward(gr)
        return y

    contenders = {m: run(m) for m in modes}
    contenders["reference"] = reference
    t = interleaved(contenders, rounds=rounds, warmup=1)
    return {name: tim.median * 1e3 for name, tim in t.items()}
