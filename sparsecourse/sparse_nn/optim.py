"""SGD with momentum over the stored non-zeros, fused into one numba pass per parameter.

The parameters of a :class:`~sparsecourse.sparse_nn.SparseLinear` are ordinary dense tensors,
``values`` of length ``nnz`` and ``bias``, so the update is the usual one; what is special is only
that a topology update (SET) reorders the stored weights, and the momentum buffers have to follow
them: :meth:`SparseSGD.remap` does that.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_positive
from ._kernels import sgd_momentum_kernel

__all__ = ["SparseSGD"]


class SparseSGD(torch.optim.Optimizer):
    """Stochastic gradient descent with momentum, torch.optim.SGD's rule, one fused CPU kernel.

    For each parameter ``w`` with gradient ``g``: ``d = g + weight_decay * w``; the momentum
    buffer is ``v = d`` on the first step and ``v = momentum * v + (1 - dampening) * d`` after;
    then ``w -= lr * v``. The same numbers as :class:`torch.optim.SGD` (without Nesterov), in
    one pass over memory instead of several.

    Parameters
    ----------
    params : iterable of tensors or parameter groups
        CPU tensors, float32 or float64, contiguous.
    lr : float
        Step size, > 0.
    momentum : float, default 0.9
        In [0, 1).
    weight_decay : float, default 0
    dampening : float, default 0

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.sparse_nn import SparseMLP, SparseSGD
    >>> net = SparseMLP([4, 8, 2], density=0.5, seed=0)
    >>> opt = SparseSGD(net.parameters(), lr=0.1, momentum=0.9)
    >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    >>> loss0 = torch.nn.functional.cross_entropy(net(x), y).item()
    >>> for _ in range(20):
    ...     opt.zero_grad()
    ...     torch.nn.functional.cross_entropy(net(x), y).backward()
    ...     opt.step()
    >>> torch.nn.functional.cross_entropy(net(x), y).item() < loss0
    True
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 dampening: float = 0.0) -> None:
        lr = check_positive(lr, "lr")
        momentum = check_positive(momentum, "momentum", strict=False)
        if momentum >= 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        weight_decay = check_positive(weight_decay, "weight_decay", strict=False)
        dampening = check_positive(dampening, "dampening", strict=False)
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "dampening": dampening})
        for group in self.param_groups:
            for p in group["params"]:
                if p.device.type != "cpu":
                    raise ValueError(f"params must be CPU tensors, got device {p.device}")
                if p.dtype not in (torch.float32, torch.float64):
                    raise TypeError(f"params must be float32 or float64, got {p.dtype}")
                if not p.is_contiguous():
                    raise ValueError("params must be contiguous tensors")

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom = group["lr"], group["momentum"]
            wd, damp = group["weight_decay"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError("SparseSGD needs dense gradients")
                state = self.state[p]
                first = "momentum_buffer" not in state
                if first:
                    state["momentum_buffer"] = torch.empty_like(p)
                w = p.detach().numpy().reshape(-1)
                g = p.grad.detach().contiguous().numpy().reshape(-1)
                buf = state["momentum_buffer"].numpy().reshape(-1)
                typ = w.dtype.type
                sgd_momentum_kernel(w, g, buf, typ(lr), typ(mom), typ(wd), typ(damp),
                                    first or mom == 0.0)
        return loss

    @torch.no_grad()
    def remap(self, param: torch.Tensor, source: np.ndarray) -> None:
        """Reorder ``param``'s momentum after a topology update.

        ``source[k]`` is the old position of the weight now at position ``k``, or ``-1`` for a
        newly grown weight, whose momentum starts at zero (called by
        :func:`~sparsecourse.sparse_nn.set_update`).

        Examples
        --------
        >>> import numpy as np, torch
        >>> from sparsecourse.sparse_nn import SparseSGD
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> opt = SparseSGD([w], lr=1.0)
        >>> w.grad = torch.tensor([1.0, 2.0, 3.0]); opt.step()
        >>> opt.remap(w, np.array([2, -1, 0]))
        >>> opt.state[w]["momentum_buffer"].tolist()
        [3.0, 0.0, 1.0]
        """
        state = self.state.get(param)
        if not state or "momentum_buffer" not in state:
            return
        buf = state["momentum_buffer"]
        source = np.asarray(source)
        if source.shape != (buf.numel(),):
            raise ValueError(f"source must have shape ({buf.numel()},), got {source.shape}")
        old = buf.numpy().copy()
        new = np.where(source >= 0, old[np.maximum(source, 0)], 0)
        buf.copy_(torch.from_numpy(new.astype(old.dtype)))
