r"""Two LASSO relatives: the square-root LASSO and the LAD-LASSO.

**Square-root LASSO** (Belloni, Chernozhukov & Wang 2011)

.. math::

    \min_w \; \frac{\|y - Xw\|_2}{\sqrt n} + \alpha \sum_j \omega_j |w_j| .

Taking the square root of the data term makes the optimal ``alpha`` independent of the noise
level ``sigma`` (``alpha ~ sqrt(2 log(p) / n)`` works whatever ``sigma`` is), unlike the
LASSO's ``alpha ~ sigma sqrt(2 log(p) / n)``. :func:`sqrt_lasso` solves it through the
*concomitant* formulation (Owen 2007; the scaled LASSO of Sun & Zhang 2012)

.. math::

    \min_{w,\ \sigma > 0} \; \frac{\|y - Xw\|_2^2}{2 n \sigma} + \frac{\sigma}{2}
    + \alpha \sum_j \omega_j |w_j| ,

which is jointly convex: for fixed ``sigma`` it is a LASSO with ``alpha * sigma``, for fixed
``w`` the best ``sigma`` is ``||y - Xw|| / sqrt(n)``. Alternating the two (each LASSO warm
started with the fast :func:`~sparsecourse.regression.lasso_cd`) converges to the solution.

**LAD-LASSO** (Wang, Li & Jiang 2007)

.. math::

    \min_w \; \frac{1}{n} \|y - Xw\|_1 + \alpha \sum_j \omega_j |w_j| ,

least absolute deviations with an ``l1`` penalty: a few grossly wrong measurements move the
solution much less than with squares. It is a linear program, solved exactly by
:func:`lad_lasso` with HiGHS (:func:`scipy.optimize.linprog`).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_int
from ._base import (
    SparseLinearRegressor,
    check_alpha,
    check_coef_init,
    check_tol,
    check_weights,
    check_Xy,
    objective_args,
)
from ._kernels import lasso_ws, transposed

__all__ = [
    "sqrt_lasso_objective",
    "sqrt_lasso",
    "lad_lasso_objective",
    "lad_lasso",
    "SqrtLasso",
    "LADLasso",
]


def sqrt_lasso_objective(X, y, coef, alpha: float, *, intercept: float = 0.0,
                         weights=None) -> float:
    r"""``||y - Xw - b||_2 / sqrt(n) + alpha * sum_j omega_j |w_j|``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import sqrt_lasso_objective
    >>> sqrt_lasso_objective(np.eye(4), np.ones(4), np.zeros(4), 0.1)
    1.0
    """
    X, y, w, alpha, om, r = objective_args(X, y, coef, alpha, weights, intercept)
    return float(np.linalg.norm(r) / np.sqrt(X.shape[0]) + alpha * np.sum(om * np.abs(w)))


def _sqrt_lasso_gap(X, y, w, alpha, om):
    """Duality gap of the square-root LASSO (scaled by 1/sqrt(n)).

    Dual of ``min ||y - Xw|| + lam ||w||_{1,omega}``: ``max <y, theta>`` subject to
    ``||theta|| <= 1`` and ``|x_j^T theta| <= lam omega_j``; ``theta`` is the residual rescaled
    into that set.
    """
    n = X.shape[0]
    lam = alpha * np.sqrt(n)
    r = y - X @ w
    rn = float(np.linalg.norm(r))
    denom = max(rn, float(np.max(np.abs(X.T @ r) / (lam * om))), np.finfo(float).tiny)
    theta = r / denom
    primal = rn + lam * float(np.sum(om * np.abs(w)))
    return max(primal - float(y @ theta), 0.0) / np.sqrt(n)


def _sqrt_lasso_on_support(X, y, w, alpha, om):
    """Solve the square-root LASSO's optimality conditions on the support and signs of ``w``.

    On a support ``S`` with signs ``s``, ``X_S^T r = lam ||r|| omega_S s`` with
    ``r = y - X_S w_S`` and ``lam = alpha sqrt(n)``. Writing ``rho = ||r||``, this gives
    ``w_S = a - rho b`` with ``a = G^-1 X_S^T y``, ``b = lam G^-1 (omega_S s)``, ``G = X_S^T X_S``;
    then ``r = r_a + rho u`` (``r_a = y - X_S a``, ``u = X_S b``) and ``rho^2 = ||r_a + rho u||^2``
    is a quadratic equation in ``rho``. Returns the candidate, or None if it does not exist or
    its signs disagree with ``s``.
    """
    import scipy.linalg as sla

    n = X.shape[0]
    S = np.flatnonzero(w)
    if S.size == 0 or S.size >= n:
        return None
    s = np.sign(w[S])
    XS = X[:, S]
    try:
        cho = sla.cho_factor(XS.T @ XS)
    except sla.LinAlgError:
        return None
    a = sla.cho_solve(cho, XS.T @ y)
    b = sla.cho_solve(cho, alpha * np.sqrt(n) * om[S] * s)
    ra = y - XS @ a
    u = XS @ b
    A, B, C = 1.0 - u @ u, -2.0 * (ra @ u), -(ra @ ra)
    if not A > 0:
        return None
    rho = (-B + np.sqrt(max(B * B - 4 * A * C, 0.0))) / (2 * A)
    wS = a - rho * b
    if not np.all(np.sign(wS) == s):
        return None
    out = np.zeros_like(w)
    out[S] = wS
    return out


def sqrt_lasso(X, y, alpha: float, *, weights=None, coef_init=None, tol: float = 1e-6,
               max_iter: int = 100, sigma_min: float = 1e-10, return_info: bool = False):
    r"""Square-root LASSO by alternating minimisation of the concomitant formulation.

    Repeats ``sigma <- ||y - Xw|| / sqrt(n)`` and ``w <- LASSO(alpha * sigma)`` (warm
    started) until the duality gap of the square-root LASSO is at most
    ``tol * ||y|| / sqrt(n)`` (the objective at ``w = 0``). Once two alternations agree on the
    support and signs, the optimality conditions on that support (linear equations plus one
    quadratic equation for ``||r||``) are solved exactly, which ends the alternation.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    alpha : float > 0
    weights : array-like of shape (n_features,), optional
    coef_init : array-like of shape (n_features,), optional
    tol : float, default 1e-6
    max_iter : int, default 100
        Maximum number of alternations.
    sigma_min : float, default 1e-10
        Relative floor on ``sigma / (||y|| / sqrt(n))``: if the residual vanishes (``alpha``
        so small that the data are interpolated), the problem is degenerate and the solver
        stops with a warning.
    return_info : bool, default False
        Also return a dict with ``n_iter``, ``gap``, ``converged`` and ``sigma``.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import sqrt_lasso
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> rng = np.random.default_rng(0)
    >>> X = gaussian_matrix(100, 300, seed=0, normalize=None)
    >>> w = 2 * sparse_signal(300, 5, seed=1, distribution="rademacher")
    >>> alpha = np.sqrt(2 * np.log(300) / 100)  # does not depend on the noise level
    >>> for sigma in (0.1, 1.0):
    ...     y = X @ w + sigma * rng.standard_normal(100)
    ...     coef, info = sqrt_lasso(X, y, alpha, return_info=True)
    ...     print(np.flatnonzero(coef).tolist() == np.flatnonzero(w).tolist(),
    ...           bool(sigma < info["sigma"] < 2 * sigma))  # sigma is estimated on the way
    True True
    True True
    """
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    om = check_weights(weights, X.shape[1])
    w = check_coef_init(coef_init, X.shape[1])
    tol = check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    n = X.shape[0]
    scale = float(np.linalg.norm(y)) / np.sqrt(n)
    threshold = tol * scale
    Xt = transposed(X)
    norms2 = np.einsum("ij,ij->i", Xt, Xt)
    gap = _sqrt_lasso_gap(X, y, w, alpha, om)
    sigma = float(np.linalg.norm(y - X @ w)) / np.sqrt(n)
    k = 0
    support = None
    while gap > threshold and k < max_iter:
        if sigma <= sigma_min * scale:
            warnings.warn("sqrt_lasso: the residual vanished (alpha too small, the data are "
                          "interpolated); the problem is degenerate", ConvergenceWarning,
                          stacklevel=2)
            break
        k += 1
        # The inner LASSO must be accurate: its duality gap bounds the objective, and the
        # optimality conditions of w (hence this gap) are only met to about its square root.
        lasso_ws(Xt, y, alpha * sigma, om, w, tol=max(min(tol, 1e-3) ** 2 * 1e-2, 1e-16),
                 norms2=norms2)
        new_support = np.sign(w)
        if support is not None and np.array_equal(new_support, support):
            # same support and signs twice: solve the optimality conditions on it exactly
            w_pol = _sqrt_lasso_on_support(X, y, w, alpha, om)
            if w_pol is not None:
                gap_pol = _sqrt_lasso_gap(X, y, w_pol, alpha, om)
                if gap_pol < _sqrt_lasso_gap(X, y, w, alpha, om):
                    w[:] = w_pol
        support = new_support
        sigma = float(np.linalg.norm(y - X @ w)) / np.sqrt(n)
        gap = _sqrt_lasso_gap(X, y, w, alpha, om)
    info = {"n_iter": k, "gap": gap, "converged": gap <= threshold, "sigma": sigma}
    return (w, info) if return_info else w


def lad_lasso_objective(X, y, coef, alpha: float, *, intercept: float = 0.0,
                        weights=None) -> float:
    r"""``||y - Xw - b||_1 / n + alpha * sum_j omega_j |w_j|``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lad_lasso_objective
    >>> lad_lasso_objective(np.eye(4), np.ones(4), np.zeros(4), 0.1)
    1.0
    """
    X, y, w, alpha, om, r = objective_args(X, y, coef, alpha, weights, intercept)
    return float(np.abs(r).sum() / X.shape[0] + alpha * np.sum(om * np.abs(w)))


def lad_lasso(X, y, alpha: float, *, weights=None, fit_intercept: bool = False,
              return_info: bool = False):
    r"""LAD-LASSO, solved exactly as a linear program (HiGHS).

    With ``w = w+ - w-`` and ``y - Xw - b = e+ - e-`` (all parts non-negative), the problem
    becomes

    .. math::

        \min \; \tfrac1n \mathbf 1^\top (e^+ + e^-) + \alpha\, \omega^\top (w^+ + w^-)
        \quad \text{s.t.} \quad X w^+ - X w^- + b \mathbf 1 + e^+ - e^- = y,

    a linear program with ``2p + 2n (+1)`` variables, handed to
    :func:`scipy.optimize.linprog` (``method="highs"``) with a sparse constraint matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    alpha : float > 0
    weights : array-like of shape (n_features,), optional
    fit_intercept : bool, default False
        Also fit an unpenalised intercept ``b`` (the LAD intercept is a median, not a mean, so
        it is fitted inside the program rather than by centring).
    return_info : bool, default False
        Also return a dict with ``intercept``, ``objective`` and ``n_iter`` (simplex/IPM
        iterations of HiGHS).

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lad_lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 10)); w = np.zeros(10); w[:2] = [2.0, -1.0]
    >>> y = X @ w
    >>> y[:5] += 50.0                                # five grossly corrupted measurements
    >>> np.round(lad_lasso(X, y, 0.01), 6)[:3]           # the outliers are ignored
    array([ 2., -1.,  0.])
    """
    from scipy.optimize import linprog

    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    om = check_weights(weights, X.shape[1])
    n, p = X.shape
    I = sp.identity(n, format="csr")
    Xs = sp.csr_array(X)
    blocks = [Xs, -Xs, I, -I]
    cost = [alpha * om, alpha * om, np.full(n, 1.0 / n), np.full(n, 1.0 / n)]
    bounds = [(0, None)] * (2 * p + 2 * n)
    if fit_intercept:
        blocks.append(sp.csr_array(np.ones((n, 1))))
        cost.append(np.zeros(1))
        bounds.append((None, None))
    A_eq = sp.hstack(blocks, format="csr")
    res = linprog(np.concatenate(cost), A_eq=A_eq, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:  # pragma: no cover - the program is feasible and bounded
        raise RuntimeError(f"lad_lasso: the linear program failed: {res.message}")
    x = res.x
    w = x[:p] - x[p:2 * p]
    b = float(x[-1]) if fit_intercept else 0.0
    info = {"intercept": b, "objective": float(res.fun), "n_iter": int(res.nit)}
    return (w, info) if return_info else w


class SqrtLasso(SparseLinearRegressor):
    r"""Square-root LASSO regression, scikit-learn API (see :func:`sqrt_lasso`).

    Minimises ``||y - Xw - b||_2 / sqrt(n) + alpha * sum_j omega_j |w_j|``.

    Parameters
    ----------
    alpha : float, default 0.1
    fit_intercept : bool, default True
    weights : array-like of shape (n_features,), optional
    tol : float, default 1e-6
    max_iter : int, default 100

    Attributes
    ----------
    coef_, intercept_, n_iter_, n_features_in_
    sigma_ : float
        The estimated noise level ``||y - Xw - b|| / sqrt(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import SqrtLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3)); y = 2 * X[:, 0] + 1 + 0.1 * rng.standard_normal(50)
    >>> reg = SqrtLasso(alpha=0.05).fit(X, y)
    >>> round(float(reg.coef_[0]), 1), round(float(reg.intercept_), 1)
    (2.0, 1.0)
    """

    _order = "F"

    def __init__(self, alpha=0.1, *, fit_intercept=True, weights=None, tol=1e-6,
                 max_iter=100):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.weights = weights
        self.tol = tol
        self.max_iter = max_iter

    def _fit(self, X, y):
        alpha = check_alpha(self.alpha)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            coef, info = sqrt_lasso(X, y, alpha, weights=self.weights, tol=self.tol,
                                    max_iter=self.max_iter, return_info=True)
        degenerate = any("degenerate" in str(c.message) for c in caught)
        if not info["converged"] and not degenerate:
            warnings.warn(f"SqrtLasso did not converge (gap {info['gap']:.2e})",
                          ConvergenceWarning, stacklevel=3)
        self.coef_ = coef
        self.n_iter_ = info["n_iter"]
        self.sigma_ = info["sigma"]


class LADLasso(SparseLinearRegressor):
    r"""LAD-LASSO regression, scikit-learn API (see :func:`lad_lasso`).

    Minimises ``||y - Xw - b||_1 / n + alpha * sum_j omega_j |w_j|``.

    Parameters
    ----------
    alpha : float, default 0.1
    fit_intercept : bool, default True
    weights : array-like of shape (n_features,), optional

    Attributes
    ----------
    coef_, intercept_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import LADLasso
    >>> X = np.arange(10.0).reshape(-1, 1); y = 3 * X[:, 0] + 1
    >>> y[0] = 100.0                                   # an outlier
    >>> reg = LADLasso(alpha=1e-3).fit(X, y)
    >>> round(float(reg.coef_[0]), 3), round(float(reg.intercept_), 3)
    (3.0, 1.0)
    """

    def __init__(self, alpha=0.1, *, fit_intercept=True, weights=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.weights = weights

    _center_data = False  # the linear program fits the intercept itself

    def _fit(self, X, y):
        alpha = check_alpha(self.alpha)
        coef, info = lad_lasso(X, y, alpha, weights=self.weights,
                               fit_intercept=self.fit_intercept, return_info=True)
        self.coef_ = coef
        self.intercept_ = info["intercept"]
        self.n_iter_ = info["n_iter"]
