"""The three products of a truly sparse linear layer, as readable NumPy and as numba kernels.

A linear layer ``Y = X W^T + b`` with ``X`` of shape ``(batch, in)`` and a sparse weight ``W`` of
shape ``(out, in)`` stored in CSR needs three products per training step:

==================  =====================================  ===================================
forward             ``Y = X W^T + b``                      sparse times dense (SpMM)
input gradient      ``dX = dY W``                          sparse-transposed times dense
weight gradient     ``dW_ij = sum_b dY_bi X_bj``           only for the *stored* ``(i, j)``:
                                                           a sampled dense-dense product (SDDMM)
==================  =====================================  ===================================

The reference versions (``*_reference``) are written the way these formulas read, with
:mod:`scipy.sparse` and NumPy on batch-major arrays. The numba kernels work on **feature-major**
arrays instead, ``X^T`` of shape ``(in, batch)``, which is how Nerva stores its activations too:
then every inner loop runs over the batch, contiguously, and vectorises.

* forward, row ``i`` of ``Y^T``: ``Y^T[i] = b_i + sum_p w_p X^T[j_p]``, one contiguous *axpy* of
  length ``batch`` per stored weight; rows are independent, so ``prange`` splits them over cores.
  This is chapter 0's CSR SpMM, ``sparsecourse.kernels.spmm_kernel``, with a bias: the
  layer uses it as it is.
* SDDMM, stored weight ``p = (i, j)``: ``dw_p = <dY^T[i], X^T[j]>``, one contiguous dot product;
  the rows ``i`` again go to different cores, and the bias gradient (the sum of ``dY^T[i]``) comes
  in the same pass.
* input gradient, row ``j`` of ``dX^T``: ``dX^T[j] = sum_{stored (i, j)} w_ij dY^T[i]``. Running
  over the rows of ``W`` would make different threads add into the same ``dX^T[j]``; running
  over its *columns* (the CSC order, precomputed once per sparsity pattern by
  :func:`csc_structure`) gives every thread its own rows again.

The work of each kernel is ``nnz x batch`` multiply-adds, against ``out x in x batch`` for the
dense product: at 1% density, a hundredth.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from .._jit import serial_twin
from ..kernels import axpy, axpy4, spmm_kernel, spmm_kernel_serial
from ..kernels._numba_csr import _narrow
from ..kernels._simd import spmm_row

__all__ = [
    "PARALLEL_MIN_WORK",
    "csc_structure",
    "forward_kernel",
    "input_grad_kernel",
    "sddmm_kernel",
    "sgd_momentum_kernel",
    "sparse_linear_forward_reference",
    "sparse_linear_input_grad_reference",
    "sddmm_reference",
]

_u = np.uint64  # unsigned positions: no negative-index check (see sparsecourse.kernels)

#: Below this many multiply-adds (``nnz * batch``) a product runs on one thread. A parallel region
#: costs a wake-up and a barrier (microseconds on a quiet machine, but a whole scheduler time
#: slice when another process holds a core); small products do not pay for it.
PARALLEL_MIN_WORK = 1 << 20
#: Below this many entries the SGD update runs on one thread.
PARALLEL_MIN_SIZE = 1 << 17


# --------------------------------------------------------------------------------------------
# Reference versions: batch-major, the way the formulas read
# --------------------------------------------------------------------------------------------

def sparse_linear_forward_reference(W: sp.csr_array, X: np.ndarray, b=None) -> np.ndarray:
    """``Y = X W^T + b`` with scipy.sparse (``X``: batch x in, ``W``: out x in CSR).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sparse_linear_forward_reference(W, np.array([[1.0, 1.0]]), np.array([0.0, 0.0, 1.0]))
    array([[1., 2., 4.]])
    """
    Y = np.asarray((W @ X.T).T)
    return Y if b is None else Y + b


def sparse_linear_input_grad_reference(W: sp.csr_array, dY: np.ndarray) -> np.ndarray:
    """``dX = dY W`` (``dY``: batch x out): the gradient of the loss with respect to ``X``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sparse_linear_input_grad_reference(W, np.array([[1.0, 1.0, 1.0]]))
    array([[4., 2.]])
    """
    return np.asarray((W.T @ dY.T).T)


def sddmm_reference(W: sp.csr_array, dY: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``dW_ij = sum_b dY_bi X_bj`` for the stored ``(i, j)`` of ``W``, in ``W.data``'s order.

    Equivalently ``(dY^T X)[rows, cols]``: the dense gradient sampled on the pattern, computed
    without forming the dense ``out x in`` matrix.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> dY, X = np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 20.0]])
    >>> sddmm_reference(W, dY, X)   # entries (0, 0), (1, 1), (2, 0)
    array([10., 40., 30.])
    """
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    return np.einsum("bp,bp->p", dY[:, rows], X[:, W.indices])


# --------------------------------------------------------------------------------------------
# Sparsity-pattern bookkeeping
# --------------------------------------------------------------------------------------------

def csc_structure(indptr: np.ndarray, indices: np.ndarray, n_cols: int):
    """The column-major (CSC) view of a CSR pattern, for the input-gradient kernel.

    Returns ``colptr`` (``n_cols + 1``), ``rowidx`` and ``perm`` (both ``nnz``) such that the
    stored values of column ``j`` are ``data[perm[colptr[j]:colptr[j + 1]]]``, in the rows
    ``rowidx[colptr[j]:colptr[j + 1]]``. Computed once per sparsity pattern (a sort), not per step.

    Examples
    --------
    >>> import numpy as np
    >>> colptr, rowidx, perm = csc_structure(np.array([0, 2, 3]), np.array([0, 2, 0]), 3)
    >>> colptr.tolist(), rowidx.tolist(), perm.tolist()
    ([0, 2, 2, 3], [0, 1, 0], [0, 2, 1])
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
    perm = np.argsort(indices, kind="stable")
    colptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=colptr[1:])
    return colptr, rows[perm].astype(np.int32), perm.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Numba kernels: feature-major (in, batch) activations
# --------------------------------------------------------------------------------------------

def _input_grad_kernel_py(colptr, rowidx, perm, data, dYT, dXT):  # pragma: no cover - compiled
    """dXT = W^T @ dYT, walking W column by column (CSC arrays from csc_structure).

    For a batch of at most ``REG_BYTES`` bytes per row, each row of ``dXT`` is the SpMM row of
    chapter 0 held in vector registers (:func:`sparsecourse.kernels._simd.spmm_row`), taking
    weight ``data[perm[q]]`` for CSC entry ``q``; otherwise the axpy loop below. Both add in
    the same order, so the two paths give the same bits.
    """
    n_cols = colptr.shape[0] - 1
    n = dYT.shape[1]
    zero = dXT.dtype.type(0)
    if _narrow(dYT, dXT):
        for j in nb.prange(n_cols):
            start = _u(colptr[j])
            spmm_row(dXT, dYT, rowidx, data, perm, j, start, max(start, _u(colptr[j + 1])), zero)
        return
    for j in nb.prange(n_cols):
        xr = dXT[j]
        for k in range(n):
            xr[k] = zero
        start = _u(colptr[j])
        end = max(start, _u(colptr[j + 1]))
        mid = end - ((end - start) & _u(3))
        for q in range(start, mid, _u(4)):
            axpy4(xr, data[_u(perm[q])], dYT[_u(rowidx[q])],
                  data[_u(perm[q + _u(1)])], dYT[_u(rowidx[q + _u(1)])],
                  data[_u(perm[q + _u(2)])], dYT[_u(rowidx[q + _u(2)])],
                  data[_u(perm[q + _u(3)])], dYT[_u(rowidx[q + _u(3)])], _u(0), n)
        for q in range(mid, end):
            axpy(xr, data[_u(perm[q])], dYT[_u(rowidx[q])], _u(0), n)


@nb.njit(inline="always", nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _dot(a, b, n):  # pragma: no cover - compiled
    """<a[:n], b[:n]>; reassociation lets LLVM vectorise the sum (fine for a gradient)."""
    s = a.dtype.type(0)
    for k in range(n):
        s += a[k] * b[k]
    return s


def _sddmm_kernel_py(indptr, indices, dYT, XT, grad, grad_bias):  # pragma: no cover - compiled
    """grad[p] = <dYT[i], XT[indices[p]]> for every stored p = (i, j); grad_bias = dYT.sum(1).

    ``grad_bias`` may have length 0 (no bias): then it is not written.
    """
    n_rows = indptr.shape[0] - 1
    n = dYT.shape[1]
    with_bias = grad_bias.shape[0] > 0
    for i in nb.prange(n_rows):
        dyr = dYT[i]
        if with_bias:
            s = dYT.dtype.type(0)
            for k in range(n):
                s += dyr[k]
            grad_bias[i] = s
        for p in range(_u(indptr[i]), _u(indptr[i + 1])):
            grad[p] = _dot(dyr, XT[_u(indices[p])], n)


def _sgd_momentum_kernel_py(w, g, buf, lr, momentum, weight_decay, dampening,
                        first):  # pragma: no cover - compiled
    """One fused SGD step in place, torch.optim.SGD's rule (no Nesterov).

    ``d = g + weight_decay * w``; ``buf = d`` on the first step, else
    ``buf = momentum * buf + (1 - dampening) * d``; ``w -= lr * buf``.
    """
    for p in nb.prange(w.shape[0]):
        d = g[p] + weight_decay * w[p]
        if first:
            v = d
        else:
            v = momentum * buf[p] + (1 - dampening) * d
        buf[p] = v
        w[p] -= lr * v


# Each loop is compiled twice: parallel (prange spreads the rows over the cores) and serial
# (the same loop on one thread, prange acting as range; serial_twin gives it its own disk cache,
# see sparsecourse/_jit.py). The wrappers below pick one by size.
_FASTMATH = {"reassoc", "nsz", "contract"}  # lets LLVM vectorise the SDDMM's dot products
input_grad_kernel_parallel = nb.njit(parallel=True, cache=True,
                                     nogil=True)(_input_grad_kernel_py)
input_grad_kernel_serial = serial_twin(_input_grad_kernel_py, nogil=True)
sddmm_kernel_parallel = nb.njit(parallel=True, cache=True, nogil=True,
                                fastmath=_FASTMATH)(_sddmm_kernel_py)
sddmm_kernel_serial = serial_twin(_sddmm_kernel_py, nogil=True, fastmath=_FASTMATH)
sgd_momentum_kernel_parallel = nb.njit(parallel=True, cache=True,
                                       nogil=True)(_sgd_momentum_kernel_py)
sgd_momentum_kernel_serial = serial_twin(_sgd_momentum_kernel_py, nogil=True)


def forward_kernel(indptr, indices, data, XT, bias, YT):
    """YT = W @ XT + bias[:, None] for W in CSR (feature-major); YT (out, batch) is overwritten.

    This is chapter 0's SpMM, ``sparsecourse.kernels.spmm_kernel``, with a bias (an empty
    ``bias`` means none). Dispatches to the parallel kernel (``prange`` over chunks of rows of
    ``W``) when the product has at least :data:`PARALLEL_MIN_WORK` multiply-adds, else to the
    same loop on one thread.

    Examples
    --------
    >>> import numpy as np
    >>> YT = np.empty((2, 1))
    >>> forward_kernel(np.array([0, 1, 2]), np.array([1, 0]), np.array([2.0, 3.0]),
    ...                np.array([[1.0], [10.0]]), np.zeros(2), YT)
    >>> YT.ravel().tolist()
    [20.0, 3.0]
    """
    big = data.shape[0] * XT.shape[1] >= PARALLEL_MIN_WORK
    (spmm_kernel if big else spmm_kernel_serial)(indptr, indices, data, XT, bias, YT)


def input_grad_kernel(colptr, rowidx, perm, data, dYT, dXT):
    """dXT = W^T @ dYT, walking W column by column (CSC arrays from :func:`csc_structure`).

    Parallel over the columns of ``W`` for large products (see :func:`forward_kernel`).

    Examples
    --------
    >>> import numpy as np
    >>> colptr, rowidx, perm = csc_structure(np.array([0, 1, 2]), np.array([1, 0]), 2)
    >>> dXT = np.empty((2, 1))
    >>> input_grad_kernel(colptr, rowidx, perm, np.array([2.0, 3.0]), np.array([[1.0], [10.0]]),
    ...                   dXT)
    >>> dXT.ravel().tolist()
    [30.0, 2.0]
    """
    big = data.shape[0] * dYT.shape[1] >= PARALLEL_MIN_WORK
    (input_grad_kernel_parallel if big else input_grad_kernel_serial)(colptr, rowidx, perm, data,
                                                                     dYT, dXT)


def sddmm_kernel(indptr, indices, dYT, XT, grad, grad_bias):
    """grad[p] = <dYT[i], XT[indices[p]]> for every stored p = (i, j); grad_bias = dYT.sum(1).

    ``grad_bias`` may have length 0 (no bias): then it is not written. Parallel over the rows of
    ``W`` for large products (see :func:`forward_kernel`).

    Examples
    --------
    >>> import numpy as np
    >>> g, gb = np.empty(2), np.empty(2)
    >>> sddmm_kernel(np.array([0, 1, 2]), np.array([1, 0]), np.array([[1.0], [2.0]]),
    ...              np.array([[5.0], [7.0]]), g, gb)
    >>> g.tolist(), gb.tolist()
    ([7.0, 10.0], [1.0, 2.0])
    """
    big = grad.shape[0] * XT.shape[1] >= PARALLEL_MIN_WORK
    (sddmm_kernel_parallel if big else sddmm_kernel_serial)(indptr, indices, dYT, XT, grad,
                                                           grad_bias)


def sgd_momentum_kernel(w, g, buf, lr, momentum, weight_decay, dampening, first):
    """One fused SGD-with-momentum step in place (torch.optim.SGD's rule, no Nesterov).

    Examples
    --------
    >>> import numpy as np
    >>> w, buf = np.ones(3), np.zeros(3)
    >>> sgd_momentum_kernel(w, np.ones(3), buf, 0.5, 0.9, 0.0, 0.0, True)
    >>> w.tolist()
    [0.5, 0.5, 0.5]
    """
    big = w.shape[0] >= PARALLEL_MIN_SIZE
    (sgd_momentum_kernel_parallel if big else sgd_momentum_kernel_serial)(
        w, g, buf, lr, momentum, weight_decay, dampening, first)
