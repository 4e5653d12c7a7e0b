"""What everyone else does: the contenders our truly sparse MLP is compared with.

* :class:`MaskedDenseMLP` -- dense weights, multiplied by a 0/1 mask in the forward pass, dense
  autograd, and the mask re-applied after each optimizer step (:meth:`MaskedDenseMLP.apply_masks`).
  This is how most pruning and sparse-training code (``torch.nn.utils.prune`` included) works: it
  costs as much as the dense network, plus the mask.
* :class:`TorchSparseMLP` -- the stored values as a parameter, assembled into a
  ``torch.sparse_csr_tensor`` on every forward pass and multiplied with ``torch.sparse.mm``;
  torch's autograd differentiates through the CSR constructor to the values.

Both start from a :class:`~sparsecourse.sparse_nn.SparseMLP`, so all contenders share the same
sparsity pattern and the same initial weights.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .layers import SparseMLP

__all__ = ["MaskedDenseMLP", "TorchSparseMLP"]


def _check_net(net) -> None:
    if not isinstance(net, SparseMLP):
        raise TypeError(f"net must be a SparseMLP, got {type(net).__name__}")


class MaskedDenseMLP(nn.Module):
    """A dense ReLU MLP whose weights are multiplied by fixed masks: "sparse" by masking.

    Parameters
    ----------
    net : SparseMLP
        Supplies the sizes, the masks and the initial values.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.sparse_nn import SparseMLP
    >>> from sparsecourse.sparse_nn.baselines import MaskedDenseMLP
    >>> net = SparseMLP([8, 6, 3], density=0.5, seed=0)
    >>> dense = MaskedDenseMLP(net)
    >>> x = torch.randn(4, 8)
    >>> torch.allclose(dense(x), net(x), atol=1e-5)
    True
    """

    def __init__(self, net: SparseMLP) -> None:
        super().__init__()
        _check_net(net)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.masks: list[torch.Tensor] = []
        for layer in net.layers:
            self.weights.append(nn.Parameter(layer.to_dense().to(layer.values.dtype)))
            self.biases.append(nn.Parameter(layer.bias.detach().clone()) if layer.bias is not None
                               else nn.Parameter(torch.zeros(layer.out_features,
                                                             dtype=layer.values.dtype)))
            self.masks.append(layer.mask().to(layer.values.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x`` of shape ``(batch, in)``: ``relu(x (W * M)^T + b)`` layer by layer."""
        n = len(self.weights)
        for k, (w, b, m) in enumerate(zip(self.weights, self.biases, self.masks, strict=True)):
            x = torch.nn.functional.linear(x, w * m, b)
            if k < n - 1:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the masked-out weights again (after an optimizer step with momentum/decay)."""
        for w, m in zip(self.weights, self.masks, strict=True):
            w.mul_(m)


class TorchSparseMLP(nn.Module):
    """A ReLU MLP whose weights are ``torch.sparse_csr_tensor`` s built from trainable values.

    Activations are feature-major, as in :class:`SparseMLP`: ``W @ h`` with ``h`` of shape
    ``(features, batch)``, through ``torch.sparse.mm``.

    Parameters
    ----------
    net : SparseMLP
        Supplies the patterns and the initial values.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.sparse_nn import SparseMLP
    >>> from sparsecourse.sparse_nn.baselines import TorchSparseMLP
    >>> net = SparseMLP([8, 6, 3], density=0.5, seed=0)
    >>> ts = TorchSparseMLP(net)
    >>> x = torch.randn(4, 8)
    >>> torch.allclose(ts(x), net(x), atol=1e-5)
    True
    """

    def __init__(self, net: SparseMLP) -> None:
        super().__init__()
        _check_net(net)
        self.values = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.patterns = []
        for layer in net.layers:
            self.values.append(nn.Parameter(layer.values.detach().clone()))
            self.biases.append(nn.Parameter(layer.bias.detach().clone()) if layer.bias is not None
                               else nn.Parameter(torch.zeros(layer.out_features,
                                                             dtype=layer.values.dtype)))
            self.patterns.append((layer.indptr.clone(), layer.indices.long(),
                                  (layer.out_features, layer.in_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x`` of shape ``(batch, in)``."""
        h = x.t()
        n = len(self.values)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            for k, (v, b, (crow, col, size)) in enumerate(
                    zip(self.values, self.biases, self.patterns, strict=True)):
                W = torch.sparse_csr_tensor(crow, col, v, size=size, check_invariants=False)
                h = torch.sparse.mm(W, h) + b[:, None]
                if k < n - 1:
                    h = torch.relu(h)
        return h.t()
