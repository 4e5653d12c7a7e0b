"""Numba CPU kernels for CSR products (compiled on first call, cached on disk).

The loops are written the way the textbook formula reads: for each row ``i``,
``y[i] = sum_{p = indptr[i]}^{indptr[i+1]-1} data[p] * x[indices[p]]``. ``prange`` spreads the
rows over the CPU cores; each row is written by exactly one thread, so no synchronisation is needed.
Accumulation is in float64 for float64 input and in float32 for float32 input.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)
def spmv_kernel(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """y = A @ x for A given by its CSR arrays; y is overwritten."""
    n_rows = indptr.shape[0] - 1
    for i in nb.prange(n_rows):
        acc = y.dtype.type(0)
        for p in range(indptr[i], indptr[i + 1]):
            acc += data[p] * x[indices[p]]
        y[i] = acc


@nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)
def spmm_kernel(indptr, indices, data, X, Y):  # pragma: no cover - compiled
    """Y = A @ X for A in CSR and a C-contiguous dense X; Y is overwritten.

    For each stored a_ik, the row X[k, :] is read contiguously and added into Y[i, :]: the
    inner loop is a vectorisable axpy over the columns of X.
    """
    n_rows = indptr.shape[0] - 1
    n_cols = X.shape[1]
    for i in nb.prange(n_rows):
        for j in range(n_cols):
            Y[i, j] = 0
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            k = indices[p]
            for j in range(n_cols):
                Y[i, j] += a * X[k, j]


def _warm_signatures() -> None:
    """Compile the common signatures once (float32/float64 values, int32 indices)."""
    ip = np.array([0, 1], dtype=np.int32)
    ix = np.array([0], dtype=np.int32)
    for dt in (np.float32, np.float64):
        d = np.ones(1, dt)
        spmv_kernel(ip, ix, d, np.ones(1, dt), np.empty(1, dt))
        spmm_kernel(ip, ix, d, np.ones((1, 1), dt), np.empty((1, 1), dt))
