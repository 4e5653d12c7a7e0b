"""Exact recovery from noiseless measurements: basis pursuit (chapter 1's phase transitions)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .._validation import as_float_array
from .lasso import alpha_max, lasso_cd

__all__ = ["basis_pursuit"]

_METHODS = ("lasso", "linprog")


def basis_pursuit(A, y, *, weights=None, method: str = "lasso", tol: float = 1e-12):
    r"""Basis pursuit, :math:`\min_x \sum_j \omega_j |x_j|` subject to :math:`Ax = y`.

    Parameters
    ----------
    A : array-like of shape (m, n)
    y : array-like of shape (m,)
    weights : array-like of shape (n,), optional
        Penalty weights :math:`\omega_j > 0` (weighted basis pursuit); ones by default.
    method : {"lasso", "linprog"}
        ``"lasso"`` solves the LASSO with a vanishing
        :math:`\alpha = 10^{-6}\alpha_{\max}` by :func:`lasso_cd` (fast, and the book's
        stand-in for basis pursuit); ``"linprog"`` solves the exact linear program with
        :math:`x = u - v`, :math:`u, v \ge 0`, by HiGHS (``scipy.optimize.linprog``).
    tol : float
        Duality-gap tolerance of ``"lasso"``.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> from sparsecourse.regression import basis_pursuit
    >>> A = gaussian_matrix(50, 100, seed=0)
    >>> x = sparse_signal(100, 5, seed=1)
    >>> bool(np.allclose(basis_pursuit(A, A @ x), x, atol=1e-4))
    True
    >>> bool(np.allclose(basis_pursuit(A, A @ x, method="linprog"), x, atol=1e-6))
    True
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    A = as_float_array(A, "A", ndim=2)
    y = as_float_array(y, "y", ndim=1)
    if y.shape[0] != A.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries, A has {A.shape[0]} rows")
    if method == "lasso":
        a = 1e-6 * alpha_max(A, y, weights=weights)
        return lasso_cd(A, y, a, weights=weights, tol=tol)
    n = A.shape[1]
    w = np.ones(n) if weights is None else as_float_array(weights, "weights", ndim=1)
    if w.shape[0] != n or np.any(w <= 0):
        raise ValueError(f"weights must be {n} positive numbers")
    res = linprog(np.concatenate([w, w]), A_eq=np.hstack([A, -A]), b_eq=y,
                  bounds=(0, None), method="highs")
    if not res.success:
        raise ValueError(f"basis pursuit has no solution (A x = y is infeasible): {res.message}")
    return res.x[:n] - res.x[n:]
