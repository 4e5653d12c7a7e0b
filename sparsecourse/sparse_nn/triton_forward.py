"""The forward product of a sparse linear layer, ``Y = X W^T + b``, as a Triton kernel.

Read it as a lesson in the style of the Triton tutorials: the kernel, its launcher, and (in
``tests/test_sparse_nn.py``) a check against the numba kernel and dense torch.

Like the numba kernel, it works on **feature-major** activations ``X^T`` (``in x batch``): one
program computes a block of ``BLOCK_B`` batch columns of one output row ``i``. It walks the row's
stored weights ``BLOCK_P`` at a time, loads the matching rows of ``X^T`` as a
``BLOCK_P x BLOCK_B`` tile (each tile row is contiguous in memory, so the loads coalesce on a
GPU), multiplies by the weights and sums over the stored values. Accumulation is float32.

Importing this module imports triton. Set ``TRITON_INTERPRET=1`` *before* the import to run the
kernel on the CPU with the interpreter (slow: each program runs in Python; test on small grids).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._validation import as_float_array
from ..kernels.triton_csr import csr_to_device, default_device, dense_to_device, power_of_two

__all__ = ["sparse_linear_forward", "sparse_linear_forward_kernel"]


@triton.jit
def sparse_linear_forward_kernel(indptr_ptr, indices_ptr, data_ptr, xT_ptr, bias_ptr, yT_ptr,
                                 n_batch, HAS_BIAS: tl.constexpr, BLOCK_P: tl.constexpr,
                                 BLOCK_B: tl.constexpr):
    row = tl.program_id(0)
    offs_b = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    in_batch = offs_b < n_batch
    start = tl.load(indptr_ptr + row)
    end = tl.load(indptr_ptr + row + 1)
    acc = tl.zeros([BLOCK_B], dtype=tl.float32)
    for off in range(start, end, BLOCK_P):
        p = off + tl.arange(0, BLOCK_P)
        stored = p < end
        cols = tl.load(indices_ptr + p, mask=stored, other=0)
        vals = tl.load(data_ptr + p, mask=stored, other=0.0).to(tl.float32)
        tile = tl.load(xT_ptr + cols[:, None] * n_batch + offs_b[None, :],
                       mask=stored[:, None] & in_batch[None, :], other=0.0).to(tl.float32)
        acc += tl.sum(vals[:, None] * tile, axis=0)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + row).to(tl.float32)
    tl.store(yT_ptr + row * n_batch + offs_b, acc, mask=in_batch)


def sparse_linear_forward(W, X, bias=None, *, device=None, block_p: int = 16,
                          block_b: int = 32, check_finite: bool = True) -> torch.Tensor:
    """``Y = X W^T + b`` with the Triton kernel; a float32 tensor of shape ``(batch, out)``.

    Parameters
    ----------
    W : scipy.sparse CSR array/matrix, torch sparse CSR tensor or SparseLinear, shape (out, in)
        A :class:`~sparsecourse.sparse_nn.SparseLinear` brings its own bias unless ``bias`` is
        given. A torch CSR tensor already on the device avoids a copy per call.
    X : array_like or torch.Tensor, shape (batch, in)
    bias : array_like or torch.Tensor, shape (out,), optional
    device : torch.device or str, optional
        Default CUDA when available, otherwise CPU (which needs ``TRITON_INTERPRET=1``).
    block_p, block_b : int, powers of two
        Stored values per step and batch columns per program.
    check_finite : bool, default True
        Reject a tensor ``X`` holding NaN or infinity. The check synchronizes with the GPU; pass
        False in a timed loop over inputs already known to be finite.

    Returns
    -------
    torch.Tensor, shape (batch, out), float32, on ``device``

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp  # doctest: +SKIP
    >>> from sparsecourse.sparse_nn.triton_forward import sparse_linear_forward  # doctest: +SKIP
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))  # doctest: +SKIP
    >>> sparse_linear_forward(W, np.ones((1, 2)), bias=np.array([0.0, 1.0]))  # doctest: +SKIP
    tensor([[1., 3.]])
    """
    from .layers import SparseLinear

    block_p = power_of_two(block_p, "block_p")
    block_b = power_of_two(block_b, "block_b")
    device = torch.device(device) if device is not None else default_device()
    if isinstance(W, SparseLinear):
        if bias is None and W.bias is not None:
            bias = W.bias.detach()
        W = (W.indptr, W.indices, W.values.detach(), (W.out_features, W.in_features))
    indptr, indices, data, (m, n) = csr_to_device(W, "W", device)
    X = dense_to_device(X, "X", 2, device, check_finite=check_finite)
    if X.shape[1] != n:
        raise ValueError(f"X must have W.shape[1] = {n} columns, got shape {tuple(X.shape)}")
    if bias is not None:
        bias = torch.as_tensor(bias if isinstance(bias, torch.Tensor)
                               else as_float_array(bias, "bias", ndim=1))
        if bias.shape != (m,):
            raise ValueError(f"bias must have shape ({m},), got {tuple(bias.shape)}")
        bias = bias.to(device=device, dtype=torch.float32).contiguous()
    n_batch = X.shape[0]
    xT = X.t().contiguous()  # feature-major
    yT = torch.empty((m, n_batch), device=device, dtype=torch.float32)
    if m and n_batch:
        grid = (m, triton.cdiv(n_batch, block_b))
        sparse_linear_forward_kernel[grid](
            indptr, indices, data, xT, bias if bias is not None else data, yT, n_batch,
            HAS_BIAS=bias is not None, BLOCK_P=block_p, BLOCK_B=block_b)
    return yT.t()
