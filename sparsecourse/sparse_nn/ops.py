"""The three products of a sparse linear layer as NumPy functions with input checks.

These wrappers take the batch-major arrays of the formulas (``X`` is ``batch x in``) and a scipy
CSR weight, validate them, and call the feature-major numba kernels of
:mod:`sparsecourse.sparse_nn._kernels` (transposing on the way in and out). They are what to call
from NumPy code and what the tests pin to the references; the layers call the kernels directly.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_csr, as_float_array, result_float_dtype
from ._kernels import csc_structure, forward_kernel, input_grad_kernel, sddmm_kernel

__all__ = ["sparse_linear_forward", "sparse_linear_input_grad", "sddmm"]


def _prepare(W, arrays: dict[str, np.ndarray]):
    W = as_csr(W, "W", check_finite=False)
    dtype = result_float_dtype(W.dtype, *(a.dtype for a in arrays.values()), name="W and inputs")
    W = as_csr(W, "W", dtype=dtype)
    if not W.has_sorted_indices or not W.has_canonical_format:
        W = W.copy()
        W.sum_duplicates()  # also sorts: the kernels need one entry per position
    out = {k: as_float_array(a, k, dtype=dtype) for k, a in arrays.items()}
    return W, out, dtype


def sparse_linear_forward(W, X, b=None) -> np.ndarray:
    """``Y = X W^T + b`` with the numba kernel.

    Parameters
    ----------
    W : scipy.sparse CSR array or matrix, shape (out, in)
    X : array_like, shape (batch, in)
    b : array_like, shape (out,), optional

    Returns
    -------
    ndarray, shape (batch, out); float32 if every input is float32, float64 otherwise

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.sparse_nn import sparse_linear_forward
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sparse_linear_forward(W, np.array([[1.0, 1.0]]), np.array([0.0, 0.0, 1.0]))
    array([[1., 2., 4.]])
    """
    X = as_float_array(X, "X", ndim=2, check_finite=False)
    arrays = {"X": X}
    if b is not None:
        arrays["b"] = as_float_array(b, "b", ndim=1, check_finite=False)
    W, a, dtype = _prepare(W, arrays)
    m, n = W.shape
    if a["X"].shape[1] != n:
        raise ValueError(f"X must have W.shape[1] = {n} columns, got shape {a['X'].shape}")
    bias = a.get("b", np.zeros(m, dtype=dtype))
    if bias.shape != (m,):
        raise ValueError(f"b must have shape ({m},), got {bias.shape}")
    XT = np.ascontiguousarray(a["X"].T)
    YT = np.empty((m, XT.shape[1]), dtype=dtype)
    forward_kernel(W.indptr, W.indices, W.data, XT, bias, YT)
    return np.ascontiguousarray(YT.T)


def sparse_linear_input_grad(W, dY) -> np.ndarray:
    """``dX = dY W``: the gradient with respect to the layer's input, with the numba kernel.

    Parameters
    ----------
    W : scipy.sparse CSR array or matrix, shape (out, in)
    dY : array_like, shape (batch, out)
        Gradient of the loss with respect to the layer's output.

    Returns
    -------
    ndarray, shape (batch, in)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.sparse_nn import sparse_linear_input_grad
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sparse_linear_input_grad(W, np.array([[1.0, 1.0, 1.0]]))
    array([[4., 2.]])
    """
    dY = as_float_array(dY, "dY", ndim=2, check_finite=False)
    W, a, dtype = _prepare(W, {"dY": dY})
    m, n = W.shape
    if a["dY"].shape[1] != m:
        raise ValueError(f"dY must have W.shape[0] = {m} columns, got shape {a['dY'].shape}")
    colptr, rowidx, perm = csc_structure(W.indptr, W.indices, n)
    dYT = np.ascontiguousarray(a["dY"].T)
    dXT = np.empty((n, dYT.shape[1]), dtype=dtype)
    input_grad_kernel(colptr, rowidx, perm, W.data, dYT, dXT)
    return np.ascontiguousarray(dXT.T)


def sddmm(W, dY, X, *, return_bias_grad: bool = False):
    """The weight gradient on the pattern: ``dW_ij = sum_b dY_bi X_bj`` for the stored ``(i, j)``.

    A *sampled dense-dense matrix product* (SDDMM): the dense product ``dY^T X`` evaluated only
    at the ``nnz`` positions of ``W``, at a cost of ``nnz x batch`` instead of
    ``out x in x batch``.

    Parameters
    ----------
    W : scipy.sparse CSR array or matrix, shape (out, in)
        Only its pattern is used; the result follows the order of ``W.data`` after sorting the
        indices (``W.sort_indices()``; random_csr and SparseLinear patterns are sorted).
    dY : array_like, shape (batch, out)
    X : array_like, shape (batch, in)
    return_bias_grad : bool, default False
        Also return ``dY.sum(axis=0)``, the bias gradient, computed in the same pass.

    Returns
    -------
    ndarray, shape (nnz,)
        (and the bias gradient, shape (out,), if asked for)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.sparse_nn import sddmm
    >>> W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sddmm(W, np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 20.0]]))
    array([10., 40., 30.])
    """
    dY = as_float_array(dY, "dY", ndim=2, check_finite=False)
    X = as_float_array(X, "X", ndim=2, check_finite=False)
    W, a, dtype = _prepare(W, {"dY": dY, "X": X})
    m, n = W.shape
    if a["dY"].shape[1] != m:
        raise ValueError(f"dY must have W.shape[0] = {m} columns, got shape {a['dY'].shape}")
    if a["X"].shape[1] != n:
        raise ValueError(f"X must have W.shape[1] = {n} columns, got shape {a['X'].shape}")
    if a["X"].shape[0] != a["dY"].shape[0]:
        raise ValueError(f"X and dY must have the same batch size, got {a['X'].shape[0]} and "
                         f"{a['dY'].shape[0]}")
    grad = np.empty(W.nnz, dtype=dtype)
    gb = np.empty(m if return_bias_grad else 0, dtype=dtype)
    sddmm_kernel(W.indptr, W.indices, np.ascontiguousarray(a["dY"].T),
                 np.ascontiguousarray(a["X"].T), grad, gb)
    return (grad, gb) if return_bias_grad else grad
