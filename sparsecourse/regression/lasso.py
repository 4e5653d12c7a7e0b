r"""The LASSO: proximal gradient (ISTA, FISTA), coordinate descent, the path, an estimator.

Every function here minimises scikit-learn's objective

.. math::

    P(w) = \frac{1}{2n} \|y - Xw\|_2^2 + \alpha \sum_{j=1}^p \omega_j |w_j| ,

with ``n`` samples, regularisation ``alpha > 0`` and optional penalty weights ``omega_j > 0``
(all ones by default: the plain LASSO; other weights give the *weighted* LASSO). Its dual is

.. math::

    D(\theta) = \frac{1}{2n}\left(\|y\|_2^2 - \|y - n\alpha\theta\|_2^2\right)
    \quad \text{s.t.} \quad |x_j^\top \theta| \le \omega_j \ \ \forall j ,

and any residual ``r = y - Xw`` gives a feasible dual point once rescaled. The *duality gap*
``P(w) - D(theta)`` is an upper bound on ``P(w) - P(w*)`` that can be computed without knowing
``w*``: every solver stops when it is below ``tol * ||y||^2 / n``, the stopping rule of
:class:`sklearn.linear_model.Lasso` (and of celer), so that ``tol`` means the same thing here and
there.

Reference implementations (short, written the way the math reads): :func:`soft_threshold`,
:func:`ista`, :func:`fista`, :func:`lasso_cd_reference`. The fast solver, :func:`lasso_cd`,
runs coordinate descent in compiled loops with working sets, gap-safe screening, dual
extrapolation, Anderson acceleration and an exact refinement on the support (see
:mod:`sparsecourse.regression._kernels`); :func:`lasso_path` and :class:`Lasso` build on it.
All of them take scikit-learn's ``positive=True`` (coefficients ``>= 0``), and the fast ones
dense or scipy.sparse ``X``; :class:`Lasso` is a drop-in for
:class:`sklearn.linear_model.Lasso` (sample weights, ``precompute``, random coordinate order,
multi-output ``y``, float32) with the differences listed in its docstring.
"""

from __future__ import annotations

import numbers
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import as_float_array, check_int, check_positive, validate_data
from ._base import (
    SparseLinearRegressor,
    as_float64,
    check_alpha,
    check_coef_init,
    check_tol,
    check_weights,
    check_Xy,
    lipschitz_constant,
    objective_args,
)
from ._kernels import (
    design_norms2,
    design_xtv,
    gram_design,
    lasso_ws,
    sparse_design,
    transposed,
)

__all__ = [
    "soft_threshold",
    "lasso_objective",
    "lasso_dual_gap",
    "alpha_max",
    "ista",
    "fista",
    "lasso_cd_reference",
    "lasso_cd",
    "lasso_path",
    "Lasso",
]


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------

def soft_threshold(x, tau):
    r"""The soft-thresholding operator, the proximal operator of ``tau * |.|``.

    .. math::

        \mathrm{ST}_\tau(x) = \operatorname{sign}(x)\,\max(|x| - \tau, 0)
        = \arg\min_z \tfrac12 (z - x)^2 + \tau |z| .

    One function for the whole book: NumPy in, NumPy out (a float for a scalar); a torch tensor
    ``x`` or ``tau`` in, a torch tensor out, on ``x``'s device and dtype and differentiable
    almost everywhere, which is what the unrolled networks of chapter 3 need
    (``sparsecourse.coding.soft_threshold`` is this function).

    Parameters
    ----------
    x : float, array-like or torch.Tensor
    tau : float, array-like or torch.Tensor, >= 0
        Threshold (broadcast against ``x``, e.g. one threshold per atom).

    Returns
    -------
    float, ndarray or torch.Tensor

    Examples
    --------
    >>> from sparsecourse.regression import soft_threshold
    >>> soft_threshold([-3.0, -0.5, 0.2, 2.0], 1.0)
    array([-2., -0.,  0.,  1.])
    >>> import torch
    >>> soft_threshold(torch.tensor([-3.0, -0.5, 0.2, 2.0]), 1.0)
    tensor([-2., -0.,  0.,  1.])
    """
    torch = sys.modules.get("torch")
    if torch is not None and (isinstance(x, torch.Tensor) or isinstance(tau, torch.Tensor)):
        return _soft_threshold_torch(torch, x, tau)
    x = np.asarray(x, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau < 0):
        raise ValueError("tau must be >= 0")
    out = np.sign(x) * np.maximum(np.abs(x) - tau, 0.0)
    return out if out.ndim else float(out)


def _soft_threshold_torch(torch, x, tau):
    """:func:`soft_threshold` in torch (``torch`` is the module, already imported)."""
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(as_float_array(x, "x"))
    elif not x.is_floating_point():
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"x must be a real float tensor, got dtype {x.dtype}")
        x = x.to(torch.float64)
    if isinstance(tau, torch.Tensor):
        if (tau < 0).any():
            raise ValueError("tau must be >= 0")
    else:
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
            raise TypeError(f"tau must be a real number or a tensor, got {type(tau).__name__}")
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
    return torch.sign(x) * torch.clamp(torch.abs(x) - tau, min=0)


def lasso_objective(X, y, coef, alpha: float, *, intercept: float = 0.0, weights=None) -> float:
    r"""The LASSO objective ``1/(2n) ||y - X w - b||^2 + alpha * sum_j omega_j |w_j|``.

    scikit-learn's scaling (``1/(2n)``, ``alpha``). The sparse coding chapter's objective,
    unscaled with ``lam``, is :func:`sparsecourse.coding.sparse_coding_objective`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    coef : array-like of shape (n_features,)
    alpha : float > 0
    intercept : float, default 0
    weights : array-like of shape (n_features,), optional
        Penalty weights ``omega_j > 0`` (ones by default).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lasso_objective
    >>> X = np.eye(2); y = np.array([1.0, 2.0])
    >>> lasso_objective(X, y, np.zeros(2), 0.5)   # ||y||^2 / (2n)
    1.25
    """
    X, y, w, alpha, om, r = objective_args(X, y, coef, alpha, weights, intercept)
    return float(r @ r / (2 * X.shape[0]) + alpha * np.sum(om * np.abs(w)))


def lasso_dual_gap(X, y, coef, alpha: float, *, weights=None, positive: bool = False) -> float:
    r"""Duality gap of the LASSO at ``coef``: a computable bound on its suboptimality.

    With ``r = y - X w``, the dual point is ``theta = r / max(n alpha, max_j |x_j^T r| /
    omega_j)`` (the residual, rescaled into the dual feasible set), and

    .. math::

        \mathrm{gap}(w) = P(w) - D(\theta) \;\ge\; P(w) - P(w^\star) \;\ge 0 .

    It is zero exactly at a solution. (No intercept: centre ``X`` and ``y`` first.) With
    ``positive`` (the LASSO constrained to ``w >= 0``) the dual constraint is one-sided,
    ``x_j^T theta <= omega_j``, and ``|x_j^T r|`` becomes ``x_j^T r``.

    Parameters
    ----------
    X, y, coef, alpha, weights
        As in :func:`lasso_objective`.
    positive : bool, default False
        The gap of the problem constrained to ``coef >= 0`` (``coef`` must then be >= 0).

    Returns
    -------
    float
        The gap of the scaled objective (scikit-learn's ``dual_gap_`` convention).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lasso_dual_gap, lasso_cd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 5)); y = rng.standard_normal(20)
    >>> bool(lasso_dual_gap(X, y, np.zeros(5), 0.1) > 0)
    True
    >>> bool(lasso_dual_gap(X, y, lasso_cd(X, y, 0.1, tol=1e-12), 0.1) < 1e-10)
    True
    """
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    w = check_coef_init(coef, X.shape[1], "coef")
    om = check_weights(weights, X.shape[1])
    if positive and np.any(w < 0):
        raise ValueError("coef must be >= 0 with positive=True (it is not feasible)")
    return _dual_gap(X, y, w, alpha, om, positive)


def _dual_gap(X, y, w, alpha, om, positive=False) -> float:
    n = X.shape[0]
    r = y - X @ w
    lam = n * alpha
    xtr = X.T @ r
    if not positive:
        xtr = np.abs(xtr)
    scale = min(1.0, lam / max(np.max(xtr / om), np.finfo(float).tiny))
    primal = 0.5 * (r @ r) + lam * np.sum(om * np.abs(w))
    theta = scale * r
    dual = y @ theta - 0.5 * (theta @ theta)
    return float(max(primal - dual, 0.0) / n)


def alpha_max(X, y, *, fit_intercept: bool = False, weights=None,
              positive: bool = False) -> float:
    r"""The smallest ``alpha`` for which the LASSO solution is zero.

    ``alpha_max = max_j |x_j^T y| / (n omega_j)``; with ``positive=True`` (coefficients
    constrained to be >= 0) ``max_j x_j^T y / (n omega_j)``, clipped at 0.

    Zero is a solution iff ``0`` is in the subdifferential at ``0``, i.e.
    ``|x_j^T y| / n <= alpha * omega_j`` for all ``j``. With ``fit_intercept=True``, ``X`` and
    ``y`` are centred first (as :class:`Lasso` does).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    fit_intercept : bool, default False
    weights : array-like of shape (n_features,), optional
    positive : bool, default False

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import alpha_max, lasso_cd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 8)); y = rng.standard_normal(30)
    >>> a = alpha_max(X, y)
    >>> bool(np.all(lasso_cd(X, y, a) == 0)), bool(np.any(lasso_cd(X, y, 0.9 * a) != 0))
    (True, True)
    """
    X, y = check_Xy(X, y)
    om = check_weights(weights, X.shape[1])
    if fit_intercept:
        X = X - X.mean(axis=0)
        y = y - y.mean()
    return _alpha_max(X, y, om, positive)


def _alpha_max(X, y, om, positive) -> float:
    xty = X.T @ y
    if not positive:
        xty = np.abs(xty)
    return max(float(np.max(xty / om) / X.shape[0]), 0.0)


def _stop_threshold(y, tol) -> float:
    """scikit-learn's rule: stop when the (scaled) duality gap <= tol * ||y||^2 / n."""
    return tol * float(y @ y) / y.shape[0]


# ------------------------------------------------------------------------------------------
# Reference solvers
# ------------------------------------------------------------------------------------------

def _prepare(X, y, alpha, weights, coef_init, tol, max_iter):
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    om = check_weights(weights, X.shape[1])
    w = check_coef_init(coef_init, X.shape[1])
    tol = check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    return X, y, alpha, om, w, tol, max_iter


def _step_size(X: np.ndarray, step) -> float:
    """1 / L for the smooth part 1/(2n)||y - Xw||^2 (L = ||X||_2^2 / n), or a checked given step."""
    if step is None:
        L = lipschitz_constant(X) / X.shape[0]
        step = 1.0 / L if L > 0 else 1.0
    return check_alpha(step, "step")


def ista(X, y, alpha: float, *, weights=None, coef_init=None, step: float | None = None,
         max_iter: int = 1000, tol: float = 1e-4, return_info: bool = False):
    r"""ISTA, the proximal gradient method for the LASSO (reference implementation).

    The objective is :func:`lasso_objective`'s, scaled by ``1/(2n)`` with scikit-learn's
    ``alpha``; :func:`sparsecourse.coding.batch_ista` is the unscaled, batched torch version of
    the sparse coding chapter.

    With ``f(w) = ||y - Xw||^2 / (2n)``, whose gradient ``-X^T (y - Xw) / n`` is
    ``L = ||X||_2^2 / n``-Lipschitz, each iteration is a gradient step followed by the proximal
    operator of the penalty, a soft-thresholding:

    .. math::

        w^{k+1} = \mathrm{ST}_{\alpha \omega / L}\!\left(w^k + \tfrac{1}{L}
        \tfrac{1}{n} X^\top (y - X w^k)\right) .

    The objective decreases as ``O(1/k)``. Stops when the duality gap is at most
    ``tol * ||y||^2 / n``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    alpha : float > 0
    weights : array-like of shape (n_features,), optional
        Penalty weights ``omega_j > 0``.
    coef_init : array-like of shape (n_features,), optional
        Starting point (zeros by default).
    step : float, optional
        Step size; ``1 / L`` by default (the largest with guaranteed descent).
    max_iter : int, default 1000
    tol : float, default 1e-4
    return_info : bool, default False
        Also return a dict with ``n_iter``, ``gap``, ``converged`` and ``objective`` (the
        objective after every iteration).

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import ista, lasso_cd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 10)); y = rng.standard_normal(30)
    >>> w = ista(X, y, 0.1, tol=1e-10, max_iter=5000)
    >>> bool(np.allclose(w, lasso_cd(X, y, 0.1, tol=1e-12), atol=1e-6))
    True
    """
    X, y, alpha, om, w, tol, max_iter = _prepare(X, y, alpha, weights, coef_init, tol, max_iter)
    n = X.shape[0]
    step = _step_size(X, step)
    threshold = _stop_threshold(y, tol)
    history = []
    gap = np.inf
    k = 0
    while k < max_iter:
        k += 1
        grad = -X.T @ (y - X @ w) / n
        w = soft_threshold(w - step * grad, step * alpha * om)
        r = y - X @ w
        history.append(float(r @ r / (2 * n) + alpha * np.sum(om * np.abs(w))))
        gap = _dual_gap(X, y, w, alpha, om)
        if gap <= threshold:
            break
    info = {"n_iter": k, "gap": gap, "converged": gap <= threshold, "objective": history}
    return (w, info) if return_info else w


def fista(X, y, alpha: float, *, weights=None, coef_init=None, step: float | None = None,
          restart: bool = True, max_iter: int = 1000, tol: float = 1e-4,
          return_info: bool = False):
    r"""FISTA, accelerated proximal gradient, with adaptive restart (reference implementation).

    Same ``1/(2n)``-scaled objective as :func:`ista` (:func:`sparsecourse.coding.batch_fista`
    is the unscaled, batched torch version).

    Beck & Teboulle's FISTA takes the ISTA step from an extrapolated point ``z``:

    .. math::

        w^{k+1} = \mathrm{ST}_{\alpha\omega/L}\!\left(z^k - \tfrac1L \nabla f(z^k)\right),\quad
        t_{k+1} = \tfrac{1 + \sqrt{1 + 4 t_k^2}}{2},\quad
        z^{k+1} = w^{k+1} + \tfrac{t_k - 1}{t_{k+1}} (w^{k+1} - w^k),

    and the objective decreases as ``O(1/k^2)``. With ``restart=True`` the momentum is reset
    (``t = 1``) whenever it points uphill, ``(z^k - w^{k+1})^T (w^{k+1} - w^k) > 0``
    (O'Donoghue & Candès, 2015): this recovers linear convergence on strongly convex pieces,
    which the LASSO has near its solution.

    Parameters
    ----------
    X, y, alpha, weights, coef_init, step, max_iter, tol, return_info
        As in :func:`ista`.
    restart : bool, default True
        Use the gradient restart scheme.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info`` (also counts the ``restarts``)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import fista, ista
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 60)); y = rng.standard_normal(30)
    >>> _, fast = fista(X, y, 0.05, tol=1e-8, max_iter=20000, return_info=True)
    >>> _, slow = ista(X, y, 0.05, tol=1e-8, max_iter=20000, return_info=True)
    >>> fast["n_iter"] < slow["n_iter"]
    True
    """
    X, y, alpha, om, w, tol, max_iter = _prepare(X, y, alpha, weights, coef_init, tol, max_iter)
    n = X.shape[0]
    step = _step_size(X, step)
    threshold = _stop_threshold(y, tol)
    z = w.copy()
    t = 1.0
    history = []
    gap = np.inf
    restarts = 0
    k = 0
    while k < max_iter:
        k += 1
        grad = -X.T @ (y - X @ z) / n
        w_new = soft_threshold(z - step * grad, step * alpha * om)
        if restart and (z - w_new) @ (w_new - w) > 0:
            t, z = 1.0, w.copy()  # momentum points uphill: forget it
            restarts += 1
            grad = -X.T @ (y - X @ z) / n
            w_new = soft_threshold(z - step * grad, step * alpha * om)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = w_new + (t - 1) / t_new * (w_new - w)
        w, t = w_new, t_new
        r = y - X @ w
        history.append(float(r @ r / (2 * n) + alpha * np.sum(om * np.abs(w))))
        gap = _dual_gap(X, y, w, alpha, om)
        if gap <= threshold:
            break
    info = {"n_iter": k, "gap": gap, "converged": gap <= threshold, "objective": history,
            "restarts": restarts}
    return (w, info) if return_info else w


def lasso_cd_reference(X, y, alpha: float, *, weights=None, coef_init=None,
                       max_iter: int = 1000, tol: float = 1e-4, positive: bool = False,
                       return_info: bool = False):
    r"""Cyclic coordinate descent for the LASSO, in plain NumPy (reference implementation).

    Minimising ``P`` over one coordinate ``w_j`` with the others fixed has a closed form: with
    the partial residual ``r_j = y - X w + x_j w_j``,

    .. math::

        w_j \leftarrow \mathrm{ST}_{n \alpha \omega_j / \|x_j\|^2}
        \!\left( \frac{x_j^\top r_j}{\|x_j\|^2} \right)
        = \mathrm{ST}_{n \alpha \omega_j / \|x_j\|^2}
        \!\left( w_j + \frac{x_j^\top r}{\|x_j\|^2} \right).

    Keeping the residual ``r = y - X w`` up to date makes one update cost ``O(n)``, a sweep
    over all features (an *epoch*) ``O(np)``. With ``positive=True`` (``w >= 0``) the update
    is the same minimisation over ``w_j >= 0``: the soft-thresholded value, clipped at 0.
    This is scikit-learn's algorithm (without its screening); it stops when the duality gap
    is at most ``tol * ||y||^2 / n``, checked after every epoch.

    Parameters
    ----------
    X, y, alpha, weights, coef_init, tol, return_info
        As in :func:`ista`.
    max_iter : int, default 1000
        Maximum number of epochs.
    positive : bool, default False
        Constrain the coefficients to be ``>= 0``.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lasso_cd_reference
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([1.0, 0.0, 1.0])
    >>> np.round(lasso_cd_reference(X, y, 0.1, tol=1e-12), 4)
    array([0.85, 0.  ])
    """
    X, y, alpha, om, w, tol, max_iter = _prepare(X, y, alpha, weights, coef_init, tol, max_iter)
    if positive:
        w = np.maximum(w, 0.0)
    n, p = X.shape
    norms2 = np.sum(X * X, axis=0)
    threshold = _stop_threshold(y, tol)
    r = y - X @ w
    gap = np.inf
    history = []
    k = 0
    while k < max_iter:
        k += 1
        for j in range(p):
            if norms2[j] == 0.0:
                continue
            w_j = soft_threshold(w[j] + X[:, j] @ r / norms2[j], n * alpha * om[j] / norms2[j])
            if positive:
                w_j = max(w_j, 0.0)
            if w_j != w[j]:
                r += (w[j] - w_j) * X[:, j]
                w[j] = w_j
        history.append(float(r @ r / (2 * n) + alpha * np.sum(om * np.abs(w))))
        gap = _dual_gap(X, y, w, alpha, om, positive)
        if gap <= threshold:
            break
    info = {"n_iter": k, "gap": gap, "converged": gap <= threshold, "objective": history}
    return (w, info) if return_info else w


# ------------------------------------------------------------------------------------------
# Fast solver
# ------------------------------------------------------------------------------------------

def lasso_cd(X, y, alpha: float, *, weights=None, coef_init=None, tol: float = 1e-4,
             max_iter: int = 100, max_epochs: int = 50_000, p0: int = 10,
             positive: bool = False, selection: str = "cyclic", random_state=None,
             screening: bool = True, dual_extrapolation: bool = True, anderson: bool = True,
             refine: bool = True, return_info: bool = False):
    r"""Fast LASSO: compiled coordinate descent with working sets and a duality-gap stop.

    Solves the same problem as :func:`lasso_cd_reference` (and
    :class:`sklearn.linear_model.Lasso`, without intercept), with the same stopping rule:
    the duality gap is at most ``tol * ||y||^2 / n``. What makes it fast (each part can be
    switched off to measure what it buys):

    * **working sets** -- coordinate descent runs on a few features (the support, then those
      closest to violating the dual constraint), doubling with the support, while the gap is
      computed on the full problem (Celer, Massias et al. 2018);
    * **gap-safe screening** -- features certified zero by the current gap are dropped
      (Fercoq, Gramfort & Salmon 2015), ``screening``;
    * **dual extrapolation** -- an Anderson combination of recent residuals gives a better
      dual point, hence a tighter gap and earlier stopping, ``dual_extrapolation``;
    * **Anderson acceleration** of the primal iterates (Bertrand & Massias 2021),
      ``anderson``;
    * **support refinement** -- once coordinate descent keeps the same support and signs, the
      optimality equations on that support are solved exactly (a feature-sign search step,
      Lee et al. 2006), ``refine``. This is what makes very tight tolerances cheap.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        A Fortran-ordered (column-major) array avoids one copy; float32 is read as float32
        (the arithmetic is float64). A sparse ``X`` is used in CSC format, never densified.
    y : array-like of shape (n_samples,)
    alpha : float > 0
    weights : array-like of shape (n_features,), optional
        Penalty weights ``omega_j > 0`` (weighted LASSO).
    coef_init : array-like of shape (n_features,), optional
        Warm start.
    tol : float, default 1e-4
        Stop when the duality gap is at most ``tol * ||y||^2 / n``.
    max_iter : int, default 100
        Maximum number of working-set iterations (outer iterations, not epochs: unlike
        scikit-learn's ``max_iter``).
    max_epochs : int, default 50000
        Maximum number of epochs of coordinate descent per working set.
    p0 : int, default 10
        Size of the first working set.
    positive : bool, default False
        Constrain the coefficients to be ``>= 0`` (the dual constraint becomes one-sided,
        and screening, extrapolation and refinement follow it).
    selection : {'cyclic', 'random'}, default 'cyclic'
        Visit the working set in order, or in a fresh random order every epoch.
    random_state : int, RandomState instance or None, default None
        Seeds the random order (``selection='random'``).
    screening, dual_extrapolation, anderson, refine : bool, default True
        The accelerations listed above.
    return_info : bool, default False
        Also return a dict with ``n_iter`` (working sets), ``n_epochs``, ``gap`` (scaled, as
        scikit-learn's ``dual_gap_``) and ``converged``.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Lasso as SkLasso
    >>> from sparsecourse.regression import lasso_cd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 200)); y = X[:, :3] @ [1.0, -2.0, 3.0]
    >>> w = lasso_cd(X, y, 0.1, tol=1e-12)
    >>> np.flatnonzero(w)
    array([0, 1, 2])
    >>> sk = SkLasso(alpha=0.1, fit_intercept=False, tol=1e-12, max_iter=10**5).fit(X, y)
    >>> bool(np.allclose(w, sk.coef_, atol=1e-8))
    True
    """
    design, y = _check_design(X, y)
    p = design.shape[0] if not isinstance(design, tuple) else design[2].shape[0] - 1
    alpha = check_alpha(alpha)
    om = check_weights(weights, p)
    w = check_coef_init(coef_init, p)
    tol = check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    max_epochs = check_int(max_epochs, "max_epochs", minimum=1)
    p0 = check_int(p0, "p0", minimum=1)
    shuffle, seed = _check_selection(selection, random_state)
    if positive:
        w = np.maximum(w, 0.0)
    info = lasso_ws(design, y, alpha, om, w, tol=tol, max_iter=max_iter,
                    max_epochs=max_epochs, p0=p0, screening=bool(screening),
                    dual_extrapolation=bool(dual_extrapolation), anderson=bool(anderson),
                    refine=bool(refine), positive=bool(positive), shuffle=shuffle, seed=seed)
    return (w, info) if return_info else w


def _check_design(X, y):
    """``(design, y)`` for :func:`lasso_ws`: ``X.T`` C-contiguous (float32 kept) or, for a
    scipy.sparse ``X``, the sparse design; ``y`` a float64 vector of matching length."""
    if sp.issparse(X):
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must be 2-D with at least one sample and one feature, got "
                             f"shape {X.shape}")
        if X.dtype.kind not in "fiub":
            raise TypeError(f"X must have a real numeric dtype, got {X.dtype}")
        Xc = sp.csc_array(X, dtype=np.float64)
        if Xc.data.size and not np.isfinite(Xc.data).all():
            raise ValueError("X contains NaN or infinity in its stored values")
        y = as_float64(y, "y", 1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y have inconsistent numbers of samples: X has "
                             f"{X.shape[0]} rows, y has length {y.shape[0]}")
        return sparse_design(Xc), y
    if isinstance(X, np.ndarray) and X.dtype == np.float32 and X.ndim == 2 and X.size:
        # float32 is read as is (half the memory traffic); the checks of check_Xy, no copy
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        y = as_float64(y, "y", 1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y have inconsistent numbers of samples: X has "
                             f"{X.shape[0]} rows, y has length {y.shape[0]}")
        return transposed(X), y
    X, y = check_Xy(X, y)
    return transposed(X), y


def _check_selection(selection, random_state) -> tuple[bool, int]:
    """``(shuffle, seed)`` from scikit-learn's ``selection`` and ``random_state``."""
    if selection not in ("cyclic", "random"):
        raise ValueError(f"selection must be 'cyclic' or 'random', got {selection!r}")
    if selection == "cyclic":
        return False, 0
    return True, int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def lasso_path(X, y, *, alphas=100, eps: float = 1e-3, weights=None, coef_init=None,
               tol: float = 1e-4, max_iter: int = 100, max_epochs: int = 50_000,
               positive: bool = False, return_n_iter: bool = False):
    r"""The regularisation path: LASSO solutions for a decreasing grid of ``alpha``.

    Each solution warm-starts the next one, which is why a whole path costs little more than
    its last point. Same call and outputs as :func:`sklearn.linear_model.lasso_path` (no
    intercept: centre ``X`` and ``y`` first if you need one).

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    alphas : int or array-like, default 100
        Number of values on a geometric grid from :func:`alpha_max` down to
        ``eps * alpha_max``, or the values themselves (sorted in decreasing order).
    eps : float, default 1e-3
        Length of the automatic grid.
    weights : array-like of shape (n_features,), optional
    coef_init : array-like of shape (n_features,), optional
        Warm start of the first problem.
    tol, max_iter, max_epochs, positive
        As in :func:`lasso_cd`, for each problem (``alpha_max`` follows ``positive``).
    return_n_iter : bool, default False
        Also return the number of working-set iterations of each problem.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)
    n_iters : ndarray of shape (n_alphas,), only if ``return_n_iter``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import lasso_path
    >>> from sparsecourse.datasets import load_diabetes
    >>> X, y, names = load_diabetes()
    >>> alphas, coefs, gaps = lasso_path(X, y, alphas=50)
    >>> coefs.shape, bool(np.all(coefs[:, 0] == 0))
    ((10, 50), True)
    >>> names[int(np.flatnonzero(coefs[:, 5])[0])]  # the first feature to enter
    'bmi'
    """
    Xt, y = _check_design(X, y)
    p = Xt.shape[0] if not isinstance(Xt, tuple) else Xt[2].shape[0] - 1
    om = check_weights(weights, p)
    w = check_coef_init(coef_init, p)
    if positive:
        w = np.maximum(w, 0.0)
    tol = check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    max_epochs = check_int(max_epochs, "max_epochs", minimum=1)
    if isinstance(alphas, (int, np.integer)) and not isinstance(alphas, bool):
        n_alphas = check_int(alphas, "alphas", minimum=1)
        eps = check_alpha(eps, "eps")
        xty = design_xtv(Xt, y)
        if not positive:
            xty = np.abs(xty)
        a_max = max(float(np.max(xty / om) / y.shape[0]), 0.0)
        if a_max <= np.finfo(np.float64).resolution:
            grid = np.full(n_alphas, np.finfo(np.float64).resolution)
        else:
            grid = np.geomspace(a_max, a_max * eps, num=n_alphas)
    else:
        grid = np.sort(_as_alpha_array(alphas))[::-1]
    norms2 = design_norms2(Xt)
    coefs = np.empty((p, grid.shape[0]))
    gaps = np.empty(grid.shape[0])
    n_iters = np.empty(grid.shape[0], dtype=np.int64)
    not_converged = []
    for i, a in enumerate(grid):
        info = lasso_ws(Xt, y, float(a), om, w, tol=tol, max_iter=max_iter,
                        max_epochs=max_epochs, norms2=norms2, positive=bool(positive))
        coefs[:, i] = w
        gaps[i] = info["gap"]
        n_iters[i] = info["n_iter"]
        if not info["converged"]:
            not_converged.append(float(a))
    if not_converged:
        warnings.warn(f"lasso_path did not converge for alpha in {not_converged}; increase "
                      "max_iter/max_epochs or tol", ConvergenceWarning, stacklevel=2)
    if return_n_iter:
        return grid, coefs, gaps, n_iters
    return grid, coefs, gaps


def _as_alpha_array(alphas) -> np.ndarray:
    """Validate a grid of regularisation strengths: a non-empty 1-D array of numbers > 0."""
    a = as_float64(alphas, "alphas", 1)
    if a.size == 0 or np.any(a <= 0):
        raise ValueError("alphas must be an int or a non-empty 1-D array of numbers > 0")
    return a


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------

class Lasso(SparseLinearRegressor):
    r"""LASSO regression, a drop-in for :class:`sklearn.linear_model.Lasso`.

    Minimises ``1/(2n) ||y - Xw - b||^2 + alpha * sum_j omega_j |w_j|`` -- the same objective,
    ``alpha`` convention and stopping rule (duality gap ``<= tol * ||y||^2 / n``) as
    scikit-learn -- with the fast solver :func:`lasso_cd`. It takes scikit-learn's parameters
    (``alpha``, ``fit_intercept``, ``precompute``, ``copy_X``, ``max_iter``, ``tol``,
    ``warm_start``, ``positive``, ``random_state``, ``selection``) and its inputs: dense or
    scipy.sparse ``X`` (CSC is used as is; float32 is kept: ``coef_`` comes back float32),
    1-D or 2-D ``y`` (one LASSO per column, ``coef_`` of shape ``(n_targets, n_features)``),
    ``fit(X, y, sample_weight=...)``; scikit-learn's own Lasso tests pass against it
    (``tests/test_sklearn_lasso_peer.py``). What differs:

    * ``max_iter`` counts *working sets* (outer iterations; default 100), not epochs over
      all features as in scikit-learn (default 1000); each working set runs at most
      ``max_epochs`` epochs of coordinate descent on its features. ``n_iter_`` likewise counts
      working sets. A scikit-learn ``max_iter`` (e.g. 1000) is accepted and is a loose bound.
    * ``precompute=True`` (or a Gram matrix) solves an equivalent problem with ``p`` rows
      instead of ``n`` (see ``sparsecourse.regression._kernels.gram_design``), which pays
      when ``n > p``; ``'auto'`` does so when ``n > p``. Its ``dual_gap_`` is the gap of that
      problem: a valid, often tighter bound on the same suboptimality. Ignored for sparse
      ``X``, as in scikit-learn.
    * ``alpha=0`` warns, as scikit-learn does, and returns the least-squares solution
      (minimum-norm, from :func:`numpy.linalg.lstsq`; non-negative least squares with
      ``positive=True``) rather than running coordinate descent without a penalty; a sparse
      ``X`` is densified for it.
    * the arithmetic is float64 even for float32 input (``coef_`` is then rounded to float32).
    * extras: penalty ``weights`` (the weighted LASSO) and ``max_epochs``; there is no
      ``check_input`` shortcut (the argument is accepted; the input is always validated).

    Parameters
    ----------
    alpha : float, default 1.0
        Regularisation strength, >= 0 (``alpha = 0`` is ordinary least squares; it warns).
    fit_intercept : bool, default True
        Fit an unpenalised intercept ``b`` (by centring ``X`` and ``y``; a sparse ``X`` is
        centred implicitly, without densifying).
    precompute : bool, 'auto' or array of shape (n_features, n_features), default False
        Use the Gram matrix ``X^T X`` (computed, or the one given) to solve a problem with
        ``p`` rows; see above.
    copy_X : bool, default True
        If False, a dense ``X`` may be overwritten (centred and scaled in place).
    max_iter : int, default 100
        Maximum number of working-set iterations (not epochs; see above).
    tol : float, default 1e-4
        Stop when the duality gap is at most ``tol * ||y||^2 / n``.
    warm_start : bool, default False
        Start from the previous ``coef_`` when refitting.
    positive : bool, default False
        Constrain the coefficients to be ``>= 0``.
    random_state : int, RandomState instance or None, default None
        Seeds the order of the coordinates with ``selection='random'``.
    selection : {'cyclic', 'random'}, default 'cyclic'
        Visit the features of the working set in order, or in a fresh random order every
        epoch.
    weights : array-like of shape (n_features,), optional
        Penalty weights ``omega_j > 0`` (the weighted LASSO); ones by default.
    max_epochs : int, default 50000
        Maximum number of coordinate-descent epochs per working set.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        float32 if ``X`` is float32, float64 otherwise.
    intercept_ : float or ndarray of shape (n_targets,)
    dual_gap_ : float or ndarray of shape (n_targets,)
        Final duality gap (of the objective above).
    n_iter_ : int or list of int
        Number of working-set iterations (per target).
    sparse_coef_ : scipy.sparse.csr_array
        ``coef_`` as a sparse row (or rows).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only if ``X`` had string column names

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import Lasso
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]); y = np.array([0.0, 1.0, 2.0])
    >>> reg = Lasso(alpha=0.1).fit(X, y)
    >>> np.round(reg.coef_, 4), round(float(reg.intercept_), 4)
    (array([0.85, 0.  ]), 0.15)
    >>> Lasso(alpha=0.1, positive=True).fit(X, -y).coef_
    array([0., 0.])
    """

    _order = "F"

    def __init__(self, alpha=1.0, *, fit_intercept=True, precompute=False, copy_X=True,
                 max_iter=100, tol=1e-4, warm_start=False, positive=False, random_state=None,
                 selection="cyclic", weights=None, max_epochs=50_000):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.weights = weights
        self.max_epochs = max_epochs

    # -- fit ---------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit the model.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            float32 input is kept as float32 (and so is ``coef_``); sparse input is used in
            CSC format (converted if needed), never densified.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), optional
            Weights ``s_i >= 0`` of the samples: the data term becomes
            ``1/(2 sum(s)) sum_i s_i (y_i - x_i w - b)^2`` (scikit-learn's convention).
        check_input : bool, default True
            Accepted for compatibility with scikit-learn; the input is always validated.

        Returns
        -------
        self
        """
        alpha = check_positive(self.alpha, "alpha", strict=False)
        if alpha == 0:
            warnings.warn("With alpha=0, this algorithm does not converge well. You are "
                          "advised to use the LinearRegression estimator", UserWarning,
                          stacklevel=2)
        tol = check_tol(self.tol)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        max_epochs = check_int(self.max_epochs, "max_epochs", minimum=1)
        if self.selection not in ("cyclic", "random"):
            raise ValueError(f"selection must be 'cyclic' or 'random', got {self.selection!r}")
        positive = bool(self.positive)
        X_in = X
        X, y = validate_data(self, X, y, accept_sparse="csc", order="F",
                             dtype=[np.float64, np.float32], multi_output=True, y_numeric=True)
        n, p = X.shape
        om = check_weights(self.weights, p)
        y = np.asarray(y, dtype=X.dtype).astype(np.float64)
        one_target = y.ndim == 1
        Y = y[:, None] if one_target else y
        sw = _check_sample_weight(sample_weight, n)
        # validation copied an ndarray X (C-ordered or integer): centre that copy in place
        # (not for other containers: a DataFrame may hand out a view of its data)
        own = isinstance(X, np.ndarray) and isinstance(X_in, np.ndarray) \
            and not np.may_share_memory(X, X_in)
        design, Yc, X_offset, y_offset, X_dense = self._prepare(X, Y, sw, own)

        coef = np.zeros((Y.shape[1], p))
        if self.warm_start and getattr(self, "coef_", None) is not None:
            prev = np.asarray(self.coef_, dtype=np.float64)
            if prev.size == coef.size and prev.shape[-1] == p:
                coef[:] = prev.reshape(coef.shape)
        if alpha == 0:
            gaps, n_iters = self._least_squares(X_dense, design, Yc, coef, positive)
        else:
            gaps, n_iters = self._solve(design, Yc, X_dense, X_offset, coef, alpha, om, tol,
                                        max_iter, max_epochs, positive, n)
        # shapes as scikit-learn's: one target (y 1-D or one column) gives 1-D coef_, and
        # intercept_ follows y (a scalar for 1-D y, shape (n_targets,) for 2-D y)
        dtype = X.dtype
        single = Y.shape[1] == 1
        self.coef_ = (coef[0] if single else coef).astype(dtype)
        self.dual_gap_ = gaps[0] if single else np.asarray(gaps)
        self.n_iter_ = n_iters[0] if single else n_iters
        intercept = y_offset - coef @ X_offset
        self.intercept_ = dtype.type(intercept[0]) if one_target else intercept.astype(dtype)
        return self

    def _prepare(self, X, Y, sw, own=False):
        """Centre (weighted) and scale by ``sqrt(sample_weight)``: the plain LASSO's design.

        Returns ``(design, Yc, X_offset, y_offset, X_dense)``: ``design`` what the kernel reads
        (``X.T`` C-contiguous, or a sparse design), ``X_dense`` the centred dense ``X`` (None
        for sparse input).
        """
        n, p = X.shape
        s = None if sw is None else np.sqrt(sw)
        if self.fit_intercept:
            X_offset = np.asarray(_weighted_mean(X, sw), dtype=np.float64)
            y_offset = np.average(Y, axis=0, weights=sw)
        else:
            X_offset, y_offset = np.zeros(p), np.zeros(Y.shape[1])
        Yc = Y - y_offset
        if s is not None:
            Yc = Yc * s[:, None]
        if sp.issparse(X):
            Xs = sp.csc_array(X, dtype=np.float64)
            if s is not None:  # scale the rows: same pattern
                Xs = Xs.copy()
                Xs.data *= s[Xs.indices]
            return sparse_design(Xs, X_offset, s), Yc, X_offset, y_offset, None
        inplace = (own or not self.copy_X) and X.flags.writeable
        Xc = X
        if self.fit_intercept:
            off = X_offset.astype(X.dtype)
            Xc = np.subtract(X, off, out=X) if inplace else X - off
            inplace = True
        if s is not None:
            sc = s[:, None].astype(X.dtype)
            Xc = np.multiply(Xc, sc, out=Xc) if inplace else Xc * sc
        return transposed(Xc), Yc, X_offset, y_offset, Xc

    def _solve(self, design, Yc, X_dense, X_offset, coef, alpha, om, tol, max_iter,
               max_epochs, positive, n):
        rng = check_random_state(self.random_state)
        shuffle = self.selection == "random"
        gram = self._gram(X_dense, X_offset) if X_dense is not None else None
        norms2 = None if gram is not None else design_norms2(design)
        X64 = None if gram is None else np.asarray(X_dense, dtype=np.float64)
        gaps, n_iters = [], []
        for k in range(Yc.shape[1]):
            seed = int(rng.randint(np.iinfo(np.int32).max)) if shuffle else 0
            w = np.maximum(coef[k], 0.0) if positive else coef[k].copy()
            opts = dict(tol=tol, max_iter=max_iter, max_epochs=max_epochs, positive=positive,
                        shuffle=shuffle, seed=seed)
            reduced = None
            if gram is not None:
                reduced = gram_design(gram, X64.T @ Yc[:, k])
            if reduced is not None:
                Lt, y_red = reduced
                info = lasso_ws(Lt, y_red, alpha, om, w, n_samples=n,
                                y_norm2=float(Yc[:, k] @ Yc[:, k]), **opts)
            else:
                info = lasso_ws(design, np.ascontiguousarray(Yc[:, k]), alpha, om, w,
                                norms2=norms2, **opts)
            coef[k] = w
            gaps.append(info["gap"])
            n_iters.append(info["n_iter"])
            if not info["converged"]:
                warnings.warn(
                    "Objective did not converge. You might want to increase the number of "
                    f"iterations (max_iter={max_iter} working sets of at most "
                    f"max_epochs={max_epochs} epochs). Duality gap: {info['gap']:.3e}, "
                    f"tolerance: {tol * float(Yc[:, k] @ Yc[:, k]) / n:.3e}",
                    ConvergenceWarning, stacklevel=3)
        return gaps, n_iters

    def _gram(self, Xc, X_offset):
        """The Gram matrix to use (float64), or None for the plain path."""
        pre = self.precompute
        n, p = Xc.shape
        if isinstance(pre, str):
            if pre != "auto":
                raise ValueError(f"precompute must be a bool, 'auto' or an array, got {pre!r}")
            return _gram64(Xc) if n > p else None
        if hasattr(pre, "__array__"):
            G = as_float64(pre, "precompute", 2)
            if G.shape != (p, p):
                raise ValueError(f"precompute must be a Gram matrix of shape ({p}, {p}), "
                                 f"got {G.shape}")
            if self.fit_intercept and not np.allclose(X_offset, 0.0):
                warnings.warn("Gram matrix was provided but X was centered to fit "
                              "intercept: recomputing Gram matrix.", UserWarning,
                              stacklevel=4)
                return _gram64(Xc)
            _check_gram(G, Xc)
            return G
        if isinstance(pre, (bool, np.bool_)):
            return _gram64(Xc) if pre else None
        raise TypeError(f"precompute must be a bool, 'auto' or an array, got "
                        f"{type(pre).__name__}")

    def _least_squares(self, X_dense, design, Yc, coef, positive):
        """alpha = 0: least squares (minimum norm) or non-negative least squares."""
        from scipy.optimize import nnls

        if X_dense is None:  # sparse: densify the (implicitly centred, scaled) design
            data, indices, indptr, offset, u = design
            p = indptr.shape[0] - 1
            X_dense = np.empty((u.shape[0], p))
            for j in range(p):
                X_dense[:, j] = -offset[j] * u
                X_dense[indices[indptr[j]:indptr[j + 1]], j] += data[indptr[j]:indptr[j + 1]]
        A = np.asarray(X_dense, dtype=np.float64)
        for k in range(Yc.shape[1]):
            if positive:
                coef[k] = nnls(A, Yc[:, k])[0]
            else:
                coef[k] = np.linalg.lstsq(A, Yc[:, k], rcond=None)[0]
        return [0.0] * Yc.shape[1], [1] * Yc.shape[1]

    # -- predict -----------------------------------------------------------------------------

    def predict(self, X):
        """Predict with the fitted linear model: ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ np.asarray(self.coef_).T) + self.intercept_

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy.sparse CSR array with one row per target."""
        return sp.csr_array(np.atleast_2d(self.coef_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


def _check_sample_weight(sample_weight, n: int):
    """None (equal weights), or weights ``>= 0`` rescaled to sum to ``n`` (scikit-learn's rule:
    the objective is then ``1/(2n) sum_i s_i r_i^2``, the same as with equal weights)."""
    if sample_weight is None or (isinstance(sample_weight, numbers.Number)
                                 and not isinstance(sample_weight, bool)):
        return None
    sw = as_float64(sample_weight, "sample_weight", 1)
    if sw.shape[0] != n:
        raise ValueError(f"sample_weight must have one entry per sample ({n}), "
                         f"got length {sw.shape[0]}")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be >= 0")
    total = float(sw.sum())
    if total <= 0:
        raise ValueError("sample_weight must have a positive sum, got all weights zero")
    return sw * (n / total)


def _gram64(Xc):
    """``Xc^T Xc`` in float64."""
    X64 = np.asarray(Xc, dtype=np.float64)
    return X64.T @ X64


def _weighted_mean(X, sw):
    """Column means of a dense or sparse ``X``, weighted by ``sw`` (None: unweighted)."""
    if sp.issparse(X):
        if sw is None:
            return np.asarray(X.mean(axis=0)).ravel()
        return np.asarray(X.T @ sw).ravel() / sw.sum()
    return np.average(X, axis=0, weights=sw)


def _check_gram(G, Xc):
    """scikit-learn's check of a user's Gram matrix: one entry against the data."""
    p = Xc.shape[1]
    f1 = p // 2
    f2 = min(f1 + 1, p - 1)
    expected = float(np.dot(Xc[:, f1].astype(np.float64), Xc[:, f2].astype(np.float64)))
    actual = float(G[f1, f2])
    rtol = 1e-4 if Xc.dtype == np.float32 else 1e-7
    if not np.isclose(expected, actual, rtol=rtol, atol=1e-5):
        raise ValueError("Gram matrix passed in via 'precompute' parameter did not pass "
                         "validation when a single element was checked - please check that "
                         f"it was computed properly. For element ({f1},{f2}) we computed "
                         f"{expected} but the user-supplied value was {actual}.")
