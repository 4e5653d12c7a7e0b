"""Small dense linear algebra in numba, shared by the compiled solvers.

The solvers of :mod:`sparsecourse.regression` (LASSO refinement, Anderson weights, OMP) and of
:mod:`sparsecourse.coding` (sparse coding on the Gram matrix, Batch-OMP) solve many tiny
symmetric positive definite systems inside compiled loops, where a call into LAPACK would cost
more than the solve. They all use the two routines here: a Cholesky factorisation in place and
the two triangular solves with its factor. Everything is single-threaded and allocation-free.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["cholesky_inplace", "cholesky_solve_inplace", "dot", "solve_spd"]

# Reassociation lets LLVM vectorise the dot products; no flag that assumes away NaN or inf.
FASTMATH = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True, fastmath=FASTMATH)
def dot(u, v):  # pragma: no cover - compiled
    """``u . v`` for 1-D float64 arrays (reassociated: vectorised)."""
    s = 0.0
    for i in range(u.shape[0]):
        s += u[i] * v[i]
    return s


@nb.njit(cache=True, fastmath=FASTMATH)
def cholesky_inplace(M, s, rel_tol):  # pragma: no cover - compiled
    """Overwrite the lower triangle of ``M[:s, :s]`` with its Cholesky factor ``L``.

    Only the lower triangle of ``M`` is read. Returns False as soon as a pivot is not above
    ``rel_tol`` times the matching diagonal entry of ``M`` (not positive definite, numerically).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[4.0, 0.0], [2.0, 5.0]])
    >>> cholesky_inplace(M, 2, 0.0), np.tril(M).tolist()
    (True, [[2.0, 0.0], [1.0, 2.0]])
    """
    for j in range(s):
        d = M[j, j]
        for k in range(j):
            d -= M[j, k] * M[j, k]
        if not d > rel_tol * max(M[j, j], 1e-300):
            return False
        d = np.sqrt(d)
        M[j, j] = d
        for i in range(j + 1, s):
            v = M[i, j]
            for k in range(j):
                v -= M[i, k] * M[j, k]
            M[i, j] = v / d
    return True


@nb.njit(cache=True, fastmath=FASTMATH)
def cholesky_solve_inplace(L, z, s):  # pragma: no cover - compiled
    """Solve ``L L^T x = z[:s]`` in place on ``z``, with ``L`` the lower factor in ``L[:s, :s]``.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[2.0, 0.0], [1.0, 2.0]]); z = np.array([4.0, 7.0])
    >>> cholesky_solve_inplace(L, z, 2); z.tolist()  # L L^T = [[4, 2], [2, 5]]
    [0.375, 1.25]
    """
    for i in range(s):  # forward: L w = z
        v = z[i]
        for k in range(i):
            v -= L[i, k] * z[k]
        z[i] = v / L[i, i]
    for i in range(s - 1, -1, -1):  # backward: L^T x = w
        v = z[i]
        for k in range(i + 1, s):
            v -= L[k, i] * z[k]
        z[i] = v / L[i, i]


@nb.njit(cache=True, fastmath=FASTMATH)
def solve_spd(A, b):  # pragma: no cover - compiled
    """Solve ``A z = b`` for a small symmetric positive definite ``A``; returns ``(z, ok)``.

    Cholesky with a tiny ridge relative to the trace (keeps near-singular systems solvable: the
    callers only accept a solution that lowers an objective), then one step of iterative
    refinement, which recovers most of the accuracy lost to ill-conditioning. ``ok`` is False
    when ``A`` is numerically singular or the solution is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> z, ok = solve_spd(np.array([[4.0, 2.0], [2.0, 5.0]]), np.array([4.0, 7.0]))
    >>> bool(ok), np.round(z, 12).tolist()
    (True, [0.375, 1.25])
    """
    K = A.shape[0]
    tr = 0.0
    for k in range(K):
        tr += A[k, k]
    if not tr > 0.0:
        return b.copy(), False
    L = A.copy()
    ridge = 1e-13 * tr / K
    for k in range(K):
        L[k, k] += ridge
    if not cholesky_inplace(L, K, 0.0):
        return b.copy(), False
    z = b.copy()
    cholesky_solve_inplace(L, z, K)
    res = np.empty(K)
    for i in range(K):
        res[i] = b[i] - dot(A[i], z)
    cholesky_solve_inplace(L, res, K)
    z += res
    for i in range(K):
        if not np.isfinite(z[i]):
            return z, False
    return z, True
