"""Fast kernels: numba on the CPU, Triton on the GPU.

The numba kernels are always available. Triton kernels are optional: they import lazily, so
``import sparsecourse`` works without triton and without a GPU. On a machine without a GPU the
Triton kernels still run (slowly) under the interpreter, ``TRITON_INTERPRET=1``, which is how their
correctness is tested.

Dtypes. The CSR kernels compute in float32 when the matrix values *and* the dense operand are
float32, and in float64 otherwise: integer inputs are converted to float64, float32 mixed with
float64 is promoted to float64 (like NumPy's promotion rules). Complex, boolean or object input
raises :class:`TypeError`. Other sparse formats (COO, CSC, ...) raise :class:`TypeError`: call
``A.tocsr()`` first.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import _result_float_dtype, as_csr, as_float_array
from ._numba_csr import spmm_kernel, spmv_kernel

__all__ = ["csr_spmv", "csr_spmm", "triton_available", "triton_csr_spmv"]


def csr_spmv(A, x, *, out: np.ndarray | None = None, check_finite: bool = True) -> np.ndarray:
    """Sparse matrix-vector product ``y = A @ x`` with a parallel numba kernel.

    Parameters
    ----------
    A : scipy.sparse.csr_array or scipy.sparse.csr_matrix, shape (m, n)
        The sparse matrix. Unsorted or duplicate column indices are fine (duplicates add up, as in
        scipy).
    x : array_like, shape (n,)
        Dense vector.
    out : ndarray, shape (m,), optional
        Preallocated output of the result dtype (avoids an allocation in a loop).
    check_finite : bool, default True
        Raise :class:`ValueError` if ``x`` or the stored values of ``A`` contain NaN or infinity.
        The check is nearly free: ``x`` is checked before the product, and ``A`` only if the
        result is not finite (every stored value reaches some output entry, and NaN or infinity
        propagates). A non-finite result from finite input (overflow) gives a
        :class:`RuntimeWarning`.

    Returns
    -------
    ndarray, shape (m,)
        float32 if ``A`` and ``x`` are both float32, float64 otherwise.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import csr_spmv
    >>> A = sp.csr_array(np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]))
    >>> csr_spmv(A, np.array([1.0, 1.0, 1.0]))
    array([3., 0., 3.])
    """
    A = as_csr(A, "A", check_finite=False)
    x = as_float_array(x, "x", ndim=1, check_finite=False)
    m, n = A.shape
    if x.shape[0] != n:
        raise ValueError(f"x must have length A.shape[1] = {n}, got shape {x.shape}")
    dtype = _result_float_dtype(A.dtype, x.dtype, name="A and x")
    A = as_csr(A, "A", dtype=dtype, check_finite=False)
    x = as_float_array(x, "x", dtype=dtype, check_finite=check_finite)
    if out is None:
        out = np.empty(m, dtype=dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == (m,) and out.dtype == dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape ({m},)")
    if m:
        spmv_kernel(A.indptr, A.indices, A.data, x, out)
        if check_finite:
            _check_result(out, A, "csr_spmv")
    return out


def _check_result(out: np.ndarray, A, fn: str) -> None:
    """Name the culprit if a product came out non-finite (the dense operand is checked before)."""
    if np.isfinite(out).all():
        return
    as_csr(A, "A", dtype=A.dtype, check_finite=True)  # raises ValueError naming A
    warnings.warn(f"{fn}: the result overflowed to infinity or NaN although A and the dense "
                  "operand are finite; use float64 input", RuntimeWarning, stacklevel=3)


def csr_spmm(A, X, *, out: np.ndarray | None = None, check_finite: bool = True) -> np.ndarray:
    """Sparse matrix times dense matrix ``Y = A @ X`` with a parallel numba kernel.

    Parameters
    ----------
    A : scipy.sparse.csr_array or scipy.sparse.csr_matrix, shape (m, k)
    X : array_like, shape (k, n)
        Dense matrix; copied to C order if it is not (the kernel streams its rows).
    out : ndarray, shape (m, n), optional
        Preallocated C-contiguous output of the result dtype.
    check_finite : bool, default True
        Raise :class:`ValueError` on NaN or infinity in ``X`` or in ``A``'s stored values (checked
        as in :func:`csr_spmv`: ``X`` before, ``A`` only if the result is not finite).

    Returns
    -------
    ndarray, shape (m, n)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import csr_spmm
    >>> A = sp.csr_array(np.array([[1.0, 0], [0, 2.0]]))
    >>> csr_spmm(A, np.ones((2, 3)))
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """
    A = as_csr(A, "A", check_finite=False)
    X = as_float_array(X, "X", ndim=2, check_finite=False)
    m, k = A.shape
    if X.shape[0] != k:
        raise ValueError(f"X must have A.shape[1] = {k} rows, got shape {X.shape}")
    dtype = _result_float_dtype(A.dtype, X.dtype, name="A and X")
    A = as_csr(A, "A", dtype=dtype, check_finite=False)
    X = as_float_array(X, "X", dtype=dtype, check_finite=check_finite)
    shape = (m, X.shape[1])
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {shape}")
    if m and shape[1]:
        spmm_kernel(A.indptr, A.indices, A.data, X, out)
        if check_finite:
            _check_result(out, A, "csr_spmm")
    elif m:
        out[:] = 0
    return out


def triton_available(*, require_gpu: bool = False) -> bool:
    """Whether the Triton kernels can run here.

    True when triton imports and either a CUDA GPU is visible or the interpreter is switched on
    with the environment variable ``TRITON_INTERPRET=1`` (CPU, slow, for testing).

    Parameters
    ----------
    require_gpu : bool, default False
        Only return True when a GPU is present (for timings, which mean nothing in the
        interpreter).

    Examples
    --------
    >>> from sparsecourse.kernels import triton_available
    >>> isinstance(triton_available(), bool)
    True
    """
    import importlib.util
    import os

    if importlib.util.find_spec("triton") is None:
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    gpu = torch.cuda.is_available()
    if require_gpu:
        return gpu
    return gpu or os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_csr_spmv(A, x, **kwargs):
    """CSR SpMV as a Triton kernel; see :func:`sparsecourse.kernels.triton_csr.csr_spmv`.

    Imported lazily so that this module does not need triton. Needs a CUDA GPU, or
    ``TRITON_INTERPRET=1`` set before triton is first imported (CPU, slow: for testing).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import triton_available, triton_csr_spmv
    >>> A, x = sp.csr_array(np.eye(3, dtype=np.float32)), np.arange(3.0)
    >>> if triton_available():
    ...     assert triton_csr_spmv(A, x).tolist() == [0.0, 1.0, 2.0]
    """
    try:
        from .triton_csr import csr_spmv as _spmv
    except ModuleNotFoundError as err:
        raise _missing_triton(err, "triton_csr_spmv") from err

    return _spmv(A, x, **kwargs)


def _missing_triton(err: ModuleNotFoundError, what: str) -> Exception:
    """The error to raise when a Triton entry point is called without triton installed."""
    if err.name != "triton":
        return err
    return ImportError(
        f"{what} needs the optional dependency triton, which is not installed: "
        "pip install 'sparsecourse[gpu]' (Linux x86_64; runs on a CUDA GPU, or on the CPU "
        "with TRITON_INTERPRET=1 for testing). Everything else in sparsecourse works without it."
    )
