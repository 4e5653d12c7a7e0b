"""Numba kernels for the two loops of sparse phase retrieval that NumPy does wastefully.

* :func:`marginals` -- the support-estimation statistic :math:`M_j = \\frac1m \\sum_i y_i A_{ij}^2`
  of the sparse spectral initialisation. NumPy's ``y @ A**2`` first materialises ``A**2``, a
  second ``m x n`` array (120 MB at ``m = 3000, n = 5000``); the kernel makes one pass over
  ``A`` and allocates nothing but the result.
* :func:`gather_matvec` -- :math:`A_{:,T} v` for a small index set ``T`` without copying the
  ``m x |T|`` column block first (``A[:, T] @ v`` gathers, then multiplies).

The readable references are :func:`marginals_reference` and :func:`gather_matvec_reference`;
the tests pin each kernel to its reference.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["marginals", "marginals_reference", "gather_matvec", "gather_matvec_reference"]

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True, fastmath=_FM)
def _marginals_kernel(A, y):  # pragma: no cover - compiled
    m, n = A.shape
    out = np.zeros(n)
    for i in range(m):
        yi = y[i]
        for j in range(n):
            a = A[i, j]
            out[j] += yi * a * a
    for j in range(n):
        out[j] /= m
    return out


@nb.njit(cache=True, fastmath=_FM)
def _gather_matvec_kernel(A, T, v):  # pragma: no cover - compiled
    m = A.shape[0]
    out = np.zeros(m)
    k = T.shape[0]
    for i in range(m):
        acc = 0.0
        for t in range(k):
            acc += A[i, T[t]] * v[t]
        out[i] = acc
    return out


def marginals_reference(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(1/m) sum_i y_i A_ij^2`` written as the math reads.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import marginals_reference
    >>> marginals_reference(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1.0, 2.0])).tolist()
    [9.5, 2.0]
    """
    return (y @ A**2) / A.shape[0]


def marginals(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Numba version of :func:`marginals_reference` (one pass over ``A``, no temporary).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import marginals
    >>> marginals(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1.0, 2.0])).tolist()
    [9.5, 2.0]
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    return _marginals_kernel(A, np.ascontiguousarray(y, dtype=np.float64))


def gather_matvec_reference(A: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A[:, T] @ v``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import gather_matvec_reference
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> gather_matvec_reference(A, np.array([2, 0]), np.array([1.0, 1.0])).tolist()
    [2.0, 8.0]
    """
    return A[:, T] @ v


def gather_matvec(A: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Numba version of :func:`gather_matvec_reference` (no column copy).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import gather_matvec
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> gather_matvec(A, np.array([2, 0]), np.array([1.0, 1.0])).tolist()
    [2.0, 8.0]
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    return _gather_matvec_kernel(A, np.ascontiguousarray(T, dtype=np.int64),
                                 np.ascontiguousarray(v, dtype=np.float64))
