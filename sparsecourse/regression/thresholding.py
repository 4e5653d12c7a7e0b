r"""Hard thresholding: IHT, normalised IHT and hard thresholding pursuit.

These methods attack the non-convex problem itself,

.. math::

    \min_w \tfrac12 \|y - Xw\|_2^2 \quad \text{s.t.} \quad \|w\|_0 \le k ,

by projected gradient descent: a gradient step, then the projection onto ``k``-sparse vectors,
which keeps the ``k`` entries of largest magnitude (:func:`hard_threshold`).

* :func:`iht` -- iterative hard thresholding (Blumensath & Davies 2009) with a fixed step;
* :func:`niht` -- *normalised* IHT (Blumensath & Davies 2010): the step is the exact line
  search along the gradient restricted to the current support, with a backtracking safeguard
  when the support changes; no step size to tune, and it converges for any ``X``;
* :func:`htp` -- hard thresholding pursuit (Foucart 2011): IHT picks the support, a least-squares
  fit on it gives the coefficients; it stops when the support stops changing, usually after a
  handful of iterations.

Under a restricted isometry property (e.g. Gaussian ``X`` with enough rows), all three recover
every ``k``-sparse vector exactly from ``y = Xw``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_int, check_positive
from ._base import (
    SparseLinearRegressor,
    as_float64,
    check_coef_init,
    check_n_nonzero,
    check_tol,
    check_Xy,
    lipschitz_constant,
)

__all__ = ["hard_threshold", "iht", "niht", "htp", "IHT"]


def hard_threshold(x, k: int) -> np.ndarray:
    r"""Keep the ``k`` entries of largest magnitude, set the others to zero.

    This is the Euclidean projection onto ``{w : ||w||_0 <= k}`` (:math:`H_k`), used by the
    thresholding solvers here and in :mod:`sparsecourse.phase_retrieval`. Ties are broken by
    index (the first ones are kept, see ``top_k`` in this module), so the result is
    deterministic.

    Parameters
    ----------
    x : array-like of shape (n,)
    k : int, ``0 <= k <= n``

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> from sparsecourse.regression import hard_threshold
    >>> hard_threshold([0.5, -3.0, 1.0, 2.0], 2)
    array([ 0., -3.,  0.,  2.])
    """
    x = as_float64(x, "x", 1)
    k = check_int(k, "k", minimum=0, maximum=x.shape[0])
    out = np.zeros_like(x)
    if k:
        keep = top_k(x, k)
        out[keep] = x[keep]
    return out


def top_k(v: np.ndarray, k: int) -> np.ndarray:
    """Sorted indices of the ``k`` entries of largest magnitude, ties broken by index.

    Linear time (a partition finds the ``k``-th largest magnitude, not a sort); among entries
    of equal magnitude at the threshold the first ones are taken, so the result is
    deterministic. No input checks: ``v`` is a 1-D float array and ``0 <= k``.

    Examples
    --------
    >>> from sparsecourse.regression.thresholding import top_k
    >>> import numpy as np
    >>> top_k(np.array([1.0, -3.0, 1.0, 1.0]), 2).tolist()
    [0, 1]
    """
    n = v.shape[0]
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.arange(0)
    a = np.abs(v)
    thr = np.partition(a, n - k)[n - k]  # the k-th largest magnitude
    above = np.flatnonzero(a > thr)
    ties = np.flatnonzero(a == thr)[: k - above.size]
    if above.size + ties.size < k:  # NaN in v: no threshold, sort instead
        return np.sort(np.argsort(-a, kind="stable")[:k])
    return np.union1d(above, ties)


def _prepare(X, y, k, coef_init, max_iter, tol):
    X, y = check_Xy(X, y)
    k = check_n_nonzero(k, X.shape[1], "n_nonzero_coefs")
    w = check_coef_init(coef_init, X.shape[1])
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = check_tol(tol)
    return X, y, k, w, max_iter, tol


def iht(X, y, n_nonzero_coefs: int | None = None, *, step: float | None = None,
        coef_init=None, max_iter: int = 1000, tol: float = 1e-8, return_info: bool = False):
    r"""Iterative hard thresholding (reference implementation).

    .. math::

        w^{t+1} = H_k\!\left(w^t + \mu\, X^\top (y - X w^t)\right),

    with ``H_k`` = :func:`hard_threshold` and a fixed step ``mu`` (``1 / ||X||_2^2`` by default,
    for which the objective ``0.5 ||y - Xw||^2`` never increases). Stops when the relative
    change ``||w^{t+1} - w^t|| / ||w^{t+1}||`` is at most ``tol``. A larger step (``mu = 1``
    with unit-norm columns is the classical choice) is faster when ``X`` satisfies a restricted
    isometry property with a small enough constant, and diverges otherwise: the iterations stop
    with a :class:`~sklearn.exceptions.ConvergenceWarning` if the objective blows up.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_nonzero_coefs : int, optional
        Sparsity level ``k`` (10% of the features by default).
    step : float, optional
        Step size ``mu`` > 0.
    coef_init : array-like of shape (n_features,), optional
    max_iter : int, default 1000
    tol : float, default 1e-8
    return_info : bool, default False
        Also return a dict with ``n_iter``, ``converged`` and ``objective`` (after each step).

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import iht
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(80, 200, seed=0, normalize="sqrt_m")
    >>> w = sparse_signal(200, 5, seed=1, distribution="uniform")
    >>> bool(np.allclose(iht(X, X @ w, 5, step=1.0, max_iter=3000), w, atol=1e-6))
    True
    """
    X, y, k, w, max_iter, tol = _prepare(X, y, n_nonzero_coefs, coef_init, max_iter, tol)
    if step is None:
        L = lipschitz_constant(X)
        step = 1.0 / L if L > 0 else 1.0
    step = check_positive(step, "step")
    history = []
    converged = False
    t = 0
    while t < max_iter:
        t += 1
        w_new = hard_threshold(w + step * (X.T @ (y - X @ w)), k)
        r = y - X @ w_new
        history.append(0.5 * float(r @ r))
        if not history[-1] <= 1e8 * max(float(y @ y), np.finfo(float).tiny):
            warnings.warn(f"iht diverged (objective {history[-1]:.3g}): the step {step:.3g} is "
                          "too large for this X; use the default step or niht",
                          ConvergenceWarning, stacklevel=2)
            break
        change = np.linalg.norm(w_new - w)
        w = w_new
        if change <= tol * max(np.linalg.norm(w), np.finfo(float).tiny):
            converged = True
            break
    info = {"n_iter": t, "converged": converged, "objective": history}
    return (w, info) if return_info else w


def niht(X, y, n_nonzero_coefs: int | None = None, *, coef_init=None, max_iter: int = 1000,
         tol: float = 1e-8, kappa: float = 2.0, c: float = 0.01, return_info: bool = False):
    r"""Normalised iterative hard thresholding (Blumensath & Davies 2010).

    The step is chosen afresh at every iteration as the exact minimiser of the objective along
    the gradient ``g = X^T (y - Xw)`` restricted to the current support ``S``,

    .. math::

        \mu = \frac{\|g_S\|_2^2}{\|X_S g_S\|_2^2}, \qquad w^+ = H_k(w + \mu g) .

    If the support of ``w^+`` differs from ``S``, the step is accepted only if
    ``mu <= (1 - c) ||w^+ - w||^2 / ||X (w^+ - w)||^2``; otherwise it is divided by
    ``kappa (1 - c)`` and ``w^+`` recomputed. This makes the objective decrease at every step
    for any ``X``, with no step size to tune.

    Parameters
    ----------
    X, y, n_nonzero_coefs, coef_init, max_iter, tol, return_info
        As in :func:`iht`.
    kappa : float, default 2
        Backtracking factor, ``kappa > 1 / (1 - c)``.
    c : float, default 0.01
        Small safety margin in ``(0, 1)``.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import niht
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(80, 200, seed=0); w = sparse_signal(200, 8, seed=1)
    >>> bool(np.allclose(niht(X, X @ w, 8), w, atol=1e-6))
    True
    """
    X, y, k, w, max_iter, tol = _prepare(X, y, n_nonzero_coefs, coef_init, max_iter, tol)
    kappa = check_positive(kappa, "kappa")
    c = check_positive(c, "c")
    if not c < 1 or not kappa > 1 / (1 - c):
        raise ValueError(f"need 0 < c < 1 and kappa > 1/(1-c); got c={c}, kappa={kappa}")
    g = X.T @ (y - X @ w)
    S = np.flatnonzero(w) if np.any(w) else top_k(g, k)
    history = []
    converged = False
    t = 0
    while t < max_iter:
        t += 1
        g = X.T @ (y - X @ w)
        gS = g[S]
        XgS = X[:, S] @ gS
        denom = float(XgS @ XgS)
        if denom == 0.0:  # zero gradient on the support: w is a fixed point
            converged = True
            break
        mu = float(gS @ gS) / denom
        while True:
            w_new = hard_threshold(w + mu * g, k)
            S_new = np.flatnonzero(w_new)
            if np.array_equal(S_new, S):
                break
            d = w_new - w
            Xd = X @ d
            omega = (1 - c) * float(d @ d) / max(float(Xd @ Xd), np.finfo(float).tiny)
            if mu <= omega:
                break
            mu /= kappa * (1 - c)
        change = np.linalg.norm(w_new - w)
        w, S = w_new, S_new
        r = y - X @ w
        history.append(0.5 * float(r @ r))
        if change <= tol * max(np.linalg.norm(w), np.finfo(float).tiny):
            converged = True
            break
    info = {"n_iter": t, "converged": converged, "objective": history}
    return (w, info) if return_info else w


def htp(X, y, n_nonzero_coefs: int | None = None, *, step: float | None = None,
        coef_init=None, max_iter: int = 100, return_info: bool = False):
    r"""Hard thresholding pursuit (Foucart 2011).

    .. math::

        S^{t+1} = \operatorname{supp} H_k\!\left(w^t + \mu X^\top (y - X w^t)\right), \qquad
        w^{t+1} = \arg\min_{\operatorname{supp}(w) \subseteq S^{t+1}} \|y - Xw\|_2 .

    Stops as soon as the support repeats (then ``w`` no longer changes). The step is the
    normalised one of :func:`niht` by default (``mu = ||g_S||^2 / ||X_S g_S||^2``), or a fixed
    ``step``.

    Parameters
    ----------
    X, y, n_nonzero_coefs, coef_init, return_info
        As in :func:`iht`.
    step : float, optional
        Fixed step ``mu`` > 0 (normalised step by default).
    max_iter : int, default 100

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import htp
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(80, 200, seed=0); w = sparse_signal(200, 8, seed=1)
    >>> coef, info = htp(X, X @ w, 8, return_info=True)
    >>> bool(np.allclose(coef, w)), info["n_iter"] < 10
    (True, True)
    """
    X, y, k, w, max_iter, _ = _prepare(X, y, n_nonzero_coefs, coef_init, max_iter, 0.0)
    if step is not None:
        step = check_positive(step, "step")
    S = np.flatnonzero(w)
    history = []
    converged = False
    t = 0
    while t < max_iter:
        t += 1
        g = X.T @ (y - X @ w)
        if step is None:
            T = S if S.size else top_k(g, k)
            XgT = X[:, T] @ g[T]
            denom = float(XgT @ XgT)
            mu = float(g[T] @ g[T]) / denom if denom > 0 else 0.0
        else:
            mu = step
        S_new = top_k(w + mu * g, k)
        if np.array_equal(S_new, S):
            converged = True
            break
        S = S_new
        w = np.zeros_like(w)
        w[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
        r = y - X @ w
        history.append(0.5 * float(r @ r))
    info = {"n_iter": t, "converged": converged, "objective": history}
    return (w, info) if return_info else w


class IHT(SparseLinearRegressor):
    """Sparse regression by hard thresholding (IHT, normalised IHT or HTP), scikit-learn API.

    Parameters
    ----------
    n_nonzero_coefs : int, optional
        Sparsity level ``k``; 10% of the features by default.
    variant : {"niht", "iht", "htp"}, default "niht"
        :func:`niht` (no step to tune), :func:`iht` (fixed step) or :func:`htp`.
    step : float, optional
        Step size for ``"iht"`` and ``"htp"`` (defaults as in those functions).
    max_iter : int, default 1000
    tol : float, default 1e-8
        Relative change at which ``"iht"`` and ``"niht"`` stop.
    fit_intercept : bool, default True

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import IHT
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(80, 200, seed=0); w = sparse_signal(200, 8, seed=1)
    >>> reg = IHT(8, fit_intercept=False).fit(X, X @ w)
    >>> bool(np.allclose(reg.coef_, w, atol=1e-6))
    True
    """

    def __init__(self, n_nonzero_coefs=None, *, variant="niht", step=None, max_iter=1000,
                 tol=1e-8, fit_intercept=True):
        self.n_nonzero_coefs = n_nonzero_coefs
        self.variant = variant
        self.step = step
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _fit(self, X, y):
        if self.variant not in ("niht", "iht", "htp"):
            raise ValueError(f"variant must be 'niht', 'iht' or 'htp', got {self.variant!r}")
        k = check_n_nonzero(self.n_nonzero_coefs, X.shape[1])
        if self.variant == "niht":
            coef, info = niht(X, y, k, max_iter=self.max_iter, tol=self.tol,
                              return_info=True)
        elif self.variant == "iht":
            coef, info = iht(X, y, k, step=self.step, max_iter=self.max_iter, tol=self.tol,
                             return_info=True)
        else:
            coef, info = htp(X, y, k, step=self.step, max_iter=self.max_iter,
                             return_info=True)
        self.coef_ = coef
        self.n_iter_ = info["n_iter"]
