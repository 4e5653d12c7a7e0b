"""Truly sparse neural networks: weights stored and multiplied as CSR matrices (Chapter 4).

Most "sparse" networks are dense networks multiplied by a binary mask: they cost as much as the
dense network, or more. Here the weights of a layer live only as CSR non-zeros and the three
products of a training step are sparse kernels, so the cost of a step shrinks with the density,
as in Nerva (Wesselink et al., 2024):

* :func:`sparse_linear_forward` -- ``Y = X W^T + b`` (SpMM);
* :func:`sparse_linear_input_grad` -- ``dX = dY W``;
* :func:`sddmm` -- the weight gradient on the sparsity pattern, ``dW_ij = sum_b dY_bi X_bj``
  for the stored ``(i, j)`` only;

each with a readable reference version (``*_reference``). :class:`SparseLinear` and
:class:`SparseMLP` wrap the kernels in a :class:`torch.autograd.Function`; :class:`SparseSGD`
updates the stored values with momentum; :func:`set_update` evolves the topology with Sparse
Evolutionary Training (Mocanu et al., 2018). :func:`triton_sparse_linear_forward` is the forward
product as a Triton kernel (imported lazily: ``import sparsecourse.sparse_nn`` works without
triton).
"""

from __future__ import annotations

from . import baselines  # noqa: F401  (sparsecourse.sparse_nn.baselines)
from ._kernels import (
    csc_structure,
    sddmm_reference,
    sparse_linear_forward_reference,
    sparse_linear_input_grad_reference,
)
from .layers import SparseLinear, SparseMLP, erdos_renyi_densities
from .ops import sddmm, sparse_linear_forward, sparse_linear_input_grad
from .optim import SparseSGD
from .set import set_update, set_update_reference

__all__ = [
    "SparseLinear",
    "SparseMLP",
    "SparseSGD",
    "csc_structure",
    "erdos_renyi_densities",
    "sddmm",
    "sddmm_reference",
    "set_update",
    "set_update_reference",
    "sparse_linear_forward",
    "sparse_linear_forward_reference",
    "sparse_linear_input_grad",
    "sparse_linear_input_grad_reference",
    "triton_sparse_linear_forward",
]


def triton_sparse_linear_forward(W, X, bias=None, **kwargs):
    """``Y = X W^T + b`` as a Triton kernel; see :mod:`sparsecourse.sparse_nn.triton_forward`.

    Imported lazily so that this package does not need triton. Needs a CUDA GPU, or
    ``TRITON_INTERPRET=1`` set before triton is first imported (CPU, slow: for testing).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import triton_available
    >>> from sparsecourse.sparse_nn import triton_sparse_linear_forward
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32))
    >>> if triton_available():
    ...     y = triton_sparse_linear_forward(W, np.ones((1, 2), np.float32), device="cpu"
    ...                                      if not __import__("torch").cuda.is_available()
    ...                                      else None)
    ...     assert y.cpu().tolist() == [[1.0, 2.0]]
    """
    try:
        from .triton_forward import sparse_linear_forward as _fwd
    except ModuleNotFoundError as err:
        from ..kernels import _missing_triton

        raise _missing_triton(err, "triton_sparse_linear_forward") from err

    return _fwd(W, X, bias, **kwargs)
