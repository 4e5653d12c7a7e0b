r"""Greedy pursuit: orthogonal matching pursuit and its loss-based generalisations.

**OMP** (Pati, Rezaiifar & Krishnaprasad 1993) builds a support one index at a time: it picks
the column most correlated with the residual, then refits by least squares on the support,

.. math::

    j_k = \arg\max_{j} |x_j^\top r_{k-1}|, \qquad S_k = S_{k-1} \cup \{j_k\}, \qquad
    w_k = \arg\min_{\operatorname{supp}(w) \subseteq S_k} \|y - Xw\|_2, \qquad r_k = y - X w_k .

:func:`omp_reference` does exactly this (``lstsq`` at every step); :func:`omp` updates a
Cholesky factor of ``X_S^T X_S`` by one row per step instead, which turns each refit from
``O(n k^2)`` into ``O(n k + k^2)`` and leaves one product ``X^T r`` per step as the main cost.

**Loss-based OMP** (Mohammad-Taheri & Brugiapaglia, *The greedy side of the LASSO*, 2023)
replaces the correlation rule by "add the index whose coefficient, optimised alone, lowers a
given loss the most". For a loss ``G(z) = F(Az - b) + lambda * R(z)`` the gain of index ``j`` is

.. math::

    \Delta_j(z) = G(z) - \min_{t \in \mathbb R} G(z + t e_j),

and the gains of the weighted LASSO, square-root LASSO and LAD-LASSO, with a weighted
``l1`` or ``l0`` penalty, have closed forms (:func:`loss_omp_gains`). With ``lambda = 0`` the
LASSO rule is OMP with normalised columns. The update after each selection is the data fit
restricted to the support (least squares, or least absolute deviations for the LAD loss), and
the algorithm stops by itself when no index lowers the loss any more: ``lambda`` plays the part
of a stopping rule. See :func:`loss_omp`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_positive
from ._base import (
    SparseLinearRegressor,
    check_n_nonzero,
    check_weights,
    check_Xy,
)
from ._kernels import omp_kernel

__all__ = [
    "omp_reference",
    "omp",
    "loss_omp_gains",
    "loss_omp",
    "OMP",
]

_PREMATURE = ("OMP stopped early: the selected column is (numerically) a linear combination "
              "of the columns already selected, or no correlation is left")


def _omp_stopping(k, tol, p, n):
    """(max number of atoms, squared-residual tolerance or None) as in scikit-learn."""
    if tol is not None:
        tol = check_positive(tol, "tol", strict=False)
        return p, tol
    return check_n_nonzero(k, p), None


def omp_reference(X, y, n_nonzero_coefs: int | None = None, *, tol: float | None = None,
                  return_info: bool = False):
    r"""Orthogonal matching pursuit, as the algorithm reads (reference implementation).

    At each step: correlate the residual with every column, add the most correlated column to
    the support, refit by least squares on the support (``numpy.linalg.lstsq``), update the
    residual.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Columns are usually normalised; the rule uses the raw correlations ``|x_j^T r|``, as
        :func:`sklearn.linear_model.orthogonal_mp` does.
    y : array-like of shape (n_samples,)
    n_nonzero_coefs : int, optional
        Number of atoms to select; 10% of the features by default (scikit-learn's default).
    tol : float, optional
        Stop as soon as ``||r||^2 <= tol`` instead (overrides ``n_nonzero_coefs``).
    return_info : bool, default False
        Also return a dict with the ``support`` (in order of selection), ``n_iter`` and the
        squared residual norms ``residuals`` after each step.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import omp_reference
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(40, 100, seed=0); w = sparse_signal(100, 4, seed=1)
    >>> coef = omp_reference(X, X @ w, 4)
    >>> bool(np.allclose(coef, w))
    True
    """
    X, y = check_Xy(X, y)
    n, p = X.shape
    k_max, tol = _omp_stopping(n_nonzero_coefs, tol, p, n)
    support: list[int] = []
    r = y.copy()
    coef_S = np.zeros(0)
    residuals = []
    while len(support) < k_max:
        if tol is not None and r @ r <= tol and support:
            break
        c = np.abs(X.T @ r)
        c[support] = -1.0  # never select an index twice
        j = int(np.argmax(c))
        if c[j] <= np.finfo(float).eps * np.linalg.norm(X[:, j]) * np.linalg.norm(y):
            warnings.warn(_PREMATURE, RuntimeWarning, stacklevel=2)
            break
        support.append(j)
        coef_S = np.linalg.lstsq(X[:, support], y, rcond=None)[0]
        r = y - X[:, support] @ coef_S
        residuals.append(float(r @ r))
        if tol is not None and r @ r <= tol:
            break
    coef = np.zeros(p)
    coef[support] = coef_S[: len(support)]
    info = {"support": np.array(support, dtype=np.int64), "n_iter": len(support),
            "residuals": residuals}
    return (coef, info) if return_info else coef


def omp(X, y, n_nonzero_coefs: int | None = None, *, tol: float | None = None,
        return_info: bool = False):
    r"""Orthogonal matching pursuit with an incremental Cholesky factorisation (fast version).

    Same selections and coefficients as :func:`omp_reference` (and
    :func:`sklearn.linear_model.orthogonal_mp`), computed faster: the Cholesky factor ``L`` of
    the Gram matrix ``X_S^T X_S`` grows by one row per step,

    .. math::

        L_{k+1} = \begin{pmatrix} L_k & 0 \\ v^\top & \sqrt{\|x_j\|^2 - \|v\|^2} \end{pmatrix},
        \qquad L_k v = X_S^\top x_j ,

    and the least-squares refit is two triangular solves with ``L`` (``O(k^2)``). The selected
    columns are gathered into a small buffer, so ``X`` is not reordered (scikit-learn copies it
    on every call to swap columns in place), and the whole loop is compiled (numba).

    What remains is one product ``X^T r`` per step, a memory-bound pass over ``X``. For a large
    ``X`` it reads a float32 copy instead, which halves the traffic, and keeps the selection
    *exact*: each float32 correlation is within ``B_j = (n + 4) u ||x_j|| ||r||`` of the exact
    one (``u = 2^-24``: rounding ``X`` and ``r`` to float32 and summing ``n`` products), so only
    the indices whose float32 value is within ``B`` of the best lower bound can be the maximum,
    and those few are recomputed in float64.

    Parameters
    ----------
    X, y, n_nonzero_coefs, tol, return_info
        As in :func:`omp_reference`.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``: ``support`` (in order of selection), ``n_iter``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import orthogonal_mp
    >>> from sparsecourse.regression import omp
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> rng = np.random.default_rng(0)
    >>> X = gaussian_matrix(50, 200, seed=0); y = rng.standard_normal(50)
    >>> bool(np.allclose(omp(X, y, 10), orthogonal_mp(X, y, n_nonzero_coefs=10)))
    True
    """
    X, y = check_Xy(X, y)
    n, p = X.shape
    k_max, tol = _omp_stopping(n_nonzero_coefs, tol, p, n)
    k_max = min(k_max, n, p) if tol is not None else k_max
    if k_max >= 4 and X.size >= 50_000:
        # float32 copy of X^T for the selection; entries beyond float32's range become inf,
        # which the kernel detects (it then computes in float64)
        with np.errstate(over="ignore"):
            X32t = np.ascontiguousarray(X.T, dtype=np.float32)
        u = np.finfo(np.float32).eps / 2
        coef_bound = (n + 4) * u * 1.01 * np.sqrt(np.einsum("ij,ij->j", X, X))
    else:
        X32t = np.empty((0, n), dtype=np.float32)
        coef_bound = np.zeros(p)
    abs_bound = 4 * n * float(np.finfo(np.float32).tiny)
    support, gamma, k, status = omp_kernel(X, X32t, y, k_max, -1.0 if tol is None else tol,
                                           coef_bound, abs_bound)
    if status:
        warnings.warn(_PREMATURE, RuntimeWarning, stacklevel=2)
    coef = np.zeros(p)
    coef[support] = gamma
    info = {"support": support, "n_iter": int(k)}
    return (coef, info) if return_info else coef


# ------------------------------------------------------------------------------------------
# Loss-based OMP ("The greedy side of the LASSO")
# ------------------------------------------------------------------------------------------

_LOSSES = ("lasso", "sqrt_lasso", "lad_lasso")
_PENALTIES = ("l1", "l0")


def _weighted_median_gain(R, A, extra_weight):
    """Per column j: ``min_t sum_i |R_i - t A_ij| + extra_weight_j |t|``.

    The minimiser is a weighted median of the points ``R_i / A_ij`` (weights ``|A_ij|``) and
    of ``0`` (weight ``extra_weight_j``). Returns the minimum value of each column.
    """
    n, p = A.shape
    absA = np.abs(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        pts = np.where(absA > 0, R[:, None] / np.where(absA > 0, A, 1.0), 0.0)
    pts = np.vstack([pts, np.zeros((1, p))])
    wts = np.vstack([absA, np.broadcast_to(extra_weight, (1, p))])
    order = np.argsort(pts, axis=0, kind="stable")
    pts_s = np.take_along_axis(pts, order, axis=0)
    wts_s = np.take_along_axis(wts, order, axis=0)
    cum = np.cumsum(wts_s, axis=0)
    half = cum[-1] / 2
    idx = np.argmax(cum >= half[None, :], axis=0)
    t = pts_s[idx, np.arange(p)]
    values = np.abs(R[:, None] - t[None, :] * A).sum(axis=0) + extra_weight * np.abs(t)
    return values


def loss_omp_gains(X, y, coef, *, loss: str = "lasso", penalty: str = "l1", lam: float = 0.0,
                   weights=None) -> np.ndarray:
    r"""Greedy gains ``Delta_j = G(z) - min_t G(z + t e_j)`` of every index outside the support.

    The losses (Mohammad-Taheri & Brugiapaglia 2023), with residual ``r = y - Xz``, weights
    ``omega`` and ``R(z) = sum_j omega_j |z_j|`` (``"l1"``) or ``sum_{j: z_j != 0} omega_j^2``
    (``"l0"``, the weighted l0 norm):

    * ``"lasso"``: ``G(z) = ||y - Xz||_2^2 + lam * R(z)``
    * ``"sqrt_lasso"``: ``G(z) = ||y - Xz||_2 + lam * R(z)``
    * ``"lad_lasso"``: ``G(z) = ||y - Xz||_1 + lam * R(z)``

    For ``j`` outside the support, with ``c_j = x_j^T r`` and ``a_j = ||x_j||``:

    * LASSO, l0: ``c_j^2 / a_j^2 - lam omega_j^2``; l1: ``(|c_j| - lam omega_j / 2)_+^2 / a_j^2``.
    * SR-LASSO, l0: ``||r|| - h_j - lam omega_j^2`` with ``h_j = sqrt(||r||^2 - c_j^2/a_j^2)`` (the
      residual norm after projecting out ``x_j``); l1, with ``kappa = lam omega_j / a_j``:
      ``||r|| - h_j sqrt(1 - kappa^2) - kappa |c_j| / a_j`` if ``kappa < 1`` and
      ``|c_j| / a_j sqrt(1 - kappa^2) > h_j kappa`` (the optimal move is not zero), else 0.
    * LAD-LASSO: the one-dimensional problem ``min_t ||r - t x_j||_1 + lam omega_j |t|`` is
      solved by a weighted median of the points ``r_i / x_ij`` (and ``0``); l0 subtracts
      ``lam omega_j^2`` from the l1-fit gain.

    Indices in the support get the gain ``-inf``: the algorithm never selects them twice.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    coef : array-like of shape (n_features,)
        Current iterate ``z``.
    loss : {"lasso", "sqrt_lasso", "lad_lasso"}, default "lasso"
    penalty : {"l1", "l0"}, default "l1"
    lam : float >= 0, default 0
    weights : array-like of shape (n_features,), optional
        ``omega_j > 0`` (ones by default).

    Returns
    -------
    ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import loss_omp_gains
    >>> X = np.eye(3); y = np.array([3.0, -1.0, 0.5])
    >>> loss_omp_gains(X, y, np.zeros(3), loss="lasso", penalty="l1", lam=1.0)
    array([6.25, 0.25, 0.  ])
    """
    X, y = check_Xy(X, y)
    loss, penalty, lam, om = _check_loss_args(loss, penalty, lam, weights, X.shape[1])
    z = np.asarray(coef, dtype=np.float64)
    if z.shape != (X.shape[1],):
        raise ValueError(f"coef must have shape ({X.shape[1]},), got {z.shape}")
    return _gains(X, y, z, loss, penalty, lam, om, np.sum(X * X, axis=0), z != 0)


def _check_loss_args(loss, penalty, lam, weights, p):
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    if penalty not in _PENALTIES:
        raise ValueError(f"penalty must be one of {_PENALTIES}, got {penalty!r}")
    lam = check_positive(lam, "lam", strict=False)
    return loss, penalty, lam, check_weights(weights, p)


def _gains(X, y, z, loss, penalty, lam, om, norms2, in_support):
    r = y - X @ z
    c = X.T @ r
    safe = np.where(norms2 > 0, norms2, 1.0)
    if loss == "lasso":
        if penalty == "l0":
            gain = c * c / safe - lam * om**2
        else:
            gain = np.maximum(np.abs(c) - lam * om / 2, 0.0) ** 2 / safe
    elif loss == "sqrt_lasso":
        rho = float(np.sqrt(r @ r))
        proj = c * c / safe  # squared length of the projection of r on x_j
        h = np.sqrt(np.maximum(rho * rho - proj, 0.0))
        if penalty == "l0":
            gain = rho - h - lam * om**2
        else:
            a = np.sqrt(safe)
            kappa = lam * om / a
            sq = np.sqrt(np.maximum(1 - kappa**2, 0.0))
            # the minimiser t* is non-zero iff kappa < 1 and |c|/a sqrt(1-kappa^2) > h kappa
            moves = (kappa < 1) & (np.abs(c) / a * sq > h * kappa)
            gain = np.where(moves, rho - h * sq - kappa * np.abs(c) / a, 0.0)
            gain = np.maximum(gain, 0.0)
    else:  # lad_lasso
        base = float(np.abs(r).sum())
        extra = lam * om if penalty == "l1" else np.zeros_like(om)
        gain = base - _weighted_median_gain(r, X, extra)
        if penalty == "l0":
            gain = gain - lam * om**2
    gain = np.where(norms2 > 0, gain, -np.inf)
    gain[in_support] = -np.inf
    return gain


def _lad_fit(XS, y):
    """min_b ||y - XS b||_1, as a linear program (HiGHS)."""
    from scipy.optimize import linprog

    n, k = XS.shape
    # variables: b (free, k), e+ (n), e- (n);  XS b + e+ - e- = y
    cost = np.concatenate([np.zeros(k), np.ones(2 * n)])
    A_eq = np.hstack([XS, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * k + [(0, None)] * (2 * n)
    res = linprog(cost, A_eq=A_eq, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:  # pragma: no cover - an LP with a feasible point and bounded cost
        raise RuntimeError(f"LAD fit failed: {res.message}")
    return res.x[:k]


def loss_omp(X, y, *, loss: str = "lasso", penalty: str = "l1", lam: float = 0.0,
             weights=None, n_nonzero_coefs: int | None = None, return_info: bool = False):
    r"""Loss-based OMP: greedy selection by the largest decrease of a LASSO-type loss.

    Algorithm (Mohammad-Taheri & Brugiapaglia 2023): start from ``z = 0``; repeat

    1. compute the gains ``Delta_j(z)`` of all indices outside the support
       (:func:`loss_omp_gains`);
    2. stop if the best gain is ``<= 0`` (no single index lowers the loss), else add
       ``j = argmax Delta_j`` to the support;
    3. refit on the support with the loss's data term alone: least squares for ``"lasso"``
       and ``"sqrt_lasso"``, least absolute deviations (a linear program) for ``"lad_lasso"``,
       which is what makes the LAD variant tolerant to a few grossly corrupted measurements.

    ``lam`` trades data fit for sparsity and acts as the stopping rule. For the SR-LASSO with
    ``penalty="l1"`` it can be set without knowing the noise level (``lam ~ sqrt(log p)``-type
    choices), as for the square-root LASSO itself; with ``penalty="l0"`` the gain is
    ``||r|| - h_j - lam w_j^2``, so ``lam`` is in units of the residual and scales with the noise.
    The losses are not divided by ``n_samples``: ``lam`` corresponds to ``2 n alpha`` (LASSO),
    ``sqrt(n) alpha`` (SR-LASSO) and ``n alpha`` (LAD-LASSO) in the units of :func:`lasso_cd`,
    :func:`sqrt_lasso` and :func:`lad_lasso`. With ``lam = 0``, ``loss="lasso"`` is OMP on
    normalised columns.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    loss : {"lasso", "sqrt_lasso", "lad_lasso"}, default "lasso"
    penalty : {"l1", "l0"}, default "l1"
    lam : float >= 0, default 0
    weights : array-like of shape (n_features,), optional
        Penalty weights ``omega_j > 0``: a smaller weight makes index ``j`` easier to select
        (prior knowledge of the support).
    n_nonzero_coefs : int, optional
        Upper bound on the number of selected indices (``min(n_samples, n_features)`` by
        default).
    return_info : bool, default False
        Also return a dict with the ``support`` (in order of selection), ``n_iter``, the
        ``gains`` of the selected indices and ``loss`` (the loss after each step).

    Returns
    -------
    coef : ndarray of shape (n_features,)
    info : dict, only if ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import loss_omp
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(40, 100, seed=0); w = sparse_signal(100, 4, seed=1)
    >>> y = X @ w
    >>> y[3] += 10.0                          # one grossly corrupted measurement
    >>> z = loss_omp(X, y, loss="lad_lasso", penalty="l0", lam=0.05)
    >>> np.flatnonzero(z).tolist() == np.flatnonzero(w).tolist(), bool(np.allclose(z, w))
    (True, True)
    """
    X, y = check_Xy(X, y)
    n, p = X.shape
    loss, penalty, lam, om = _check_loss_args(loss, penalty, lam, weights, p)
    k_max = min(n, p) if n_nonzero_coefs is None else check_n_nonzero(n_nonzero_coefs, p)
    norms2 = np.sum(X * X, axis=0)
    z = np.zeros(p)
    in_support = np.zeros(p, dtype=bool)
    support: list[int] = []
    gains: list[float] = []
    losses: list[float] = []
    while len(support) < k_max:
        g = _gains(X, y, z, loss, penalty, lam, om, norms2, in_support)
        j = int(np.argmax(g))
        if not g[j] > 1e-12 * max(1.0, _data_fit(loss, y - X @ z)):
            break
        support.append(j)
        in_support[j] = True
        gains.append(float(g[j]))
        XS = X[:, support]
        if loss == "lad_lasso":
            zS = _lad_fit(XS, y)
        else:
            zS = np.linalg.lstsq(XS, y, rcond=None)[0]
        z = np.zeros(p)
        z[support] = zS
        losses.append(_loss_value(loss, penalty, lam, om, y - X @ z, z))
    info = {"support": np.array(support, dtype=np.int64), "n_iter": len(support),
            "gains": gains, "loss": losses}
    return (z, info) if return_info else z


def _data_fit(loss, r):
    if loss == "lasso":
        return float(r @ r)
    if loss == "sqrt_lasso":
        return float(np.sqrt(r @ r))
    return float(np.abs(r).sum())


def _loss_value(loss, penalty, lam, om, r, z):
    pen = np.sum(om * np.abs(z)) if penalty == "l1" else np.sum(om[z != 0] ** 2)
    return _data_fit(loss, r) + lam * float(pen)


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------

class OMP(SparseLinearRegressor):
    """Orthogonal matching pursuit, a drop-in for
    :class:`sklearn.linear_model.OrthogonalMatchingPursuit` (dense input).

    Parameters
    ----------
    n_nonzero_coefs : int, optional
        Number of non-zero coefficients; 10% of the features by default. Ignored if ``tol``
        is set.
    tol : float, optional
        Stop when the squared residual norm is at most ``tol``.
    fit_intercept : bool, default True
        Fit an intercept (by centring ``X`` and ``y``).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
        Number of selected atoms.
    n_nonzero_coefs_ : int or None
        The number of atoms asked for (``None`` when ``tol`` was used).
    support_ : ndarray of int
        Selected features, in order of selection.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.regression import OMP
    >>> from sparsecourse.datasets import gaussian_matrix, sparse_signal
    >>> X = gaussian_matrix(50, 120, seed=0); w = sparse_signal(120, 5, seed=0)
    >>> reg = OMP(n_nonzero_coefs=5, fit_intercept=False).fit(X, X @ w)
    >>> bool(np.allclose(reg.coef_, w)), reg.support_.size
    (True, 5)
    """

    def __init__(self, n_nonzero_coefs=None, *, tol=None, fit_intercept=True):
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _fit(self, X, y):
        if self.tol is None:
            k = check_n_nonzero(self.n_nonzero_coefs, X.shape[1])
        else:
            k = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # early stop on exact fits
            coef, info = omp(X, y, k, tol=self.tol, return_info=True)
        self.coef_ = coef
        self.n_iter_ = info["n_iter"]
        self.support_ = info["support"]
        self.n_nonzero_coefs_ = k
