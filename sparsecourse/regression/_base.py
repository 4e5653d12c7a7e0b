"""Shared plumbing of :mod:`sparsecourse.regression`: input checks, results, estimator base.

Solver functions validate their input with :mod:`sparsecourse._validation` (errors name the
argument); estimators validate with scikit-learn's ``validate_data`` so that they behave like
every other scikit-learn estimator (``n_features_in_``, ``feature_names_in_``, the messages its
``estimator_checks`` expect).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import as_float_array, check_int, check_positive, validate_data

__all__: list[str] = []


def as_float64(x, name: str, ndim: int) -> np.ndarray:
    """A validated float64 array, accepting what the estimators accept.

    Boolean arrays and object arrays of numbers are converted to float64, as scikit-learn's
    ``check_array`` does for ``Lasso.fit``, so the solver functions and the estimators take the
    same inputs; complex, string and non-numeric object input raise :class:`TypeError`.
    """
    if not hasattr(x, "detach"):  # leave torch tensors (and their error paths) to as_float_array
        arr = np.asarray(x)
        if arr.dtype == bool:
            x = arr.astype(np.float64)
        elif arr.dtype == object:
            try:
                x = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be numeric, got an object array whose entries "
                                "are not all numbers") from None
    return as_float_array(x, name, ndim=ndim).astype(np.float64, copy=False)


def check_X(X, name: str = "X") -> np.ndarray:
    """A finite 2-D float64 array; a Fortran-ordered input keeps its order (no copy)."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.f_contiguous \
            and not X.flags.c_contiguous:
        # validate the C-ordered transpose: same checks, no copy of a column-major X
        return as_float64(X.T, name, 2).T
    return as_float64(X, name, 2)


def check_Xy(X, y, *, min_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate a design matrix and a target: 2-D and 1-D float64, finite, matching lengths.

    Returns ``X`` as a float64 array (C order, or F order if it came so) and ``y`` as a
    float64 vector.
    """
    X = check_X(X)
    y = as_float64(y, "y", 1)
    if X.shape[0] < min_samples or X.shape[1] == 0:
        raise ValueError(
            f"X must have at least {min_samples} sample(s) and one feature, got shape {X.shape}"
        )
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {X.shape[0]} rows, "
            f"y has length {y.shape[0]}"
        )
    return X, y


def check_alpha(alpha, name: str = "alpha") -> float:
    """A regularisation strength: a finite real number > 0."""
    return check_positive(alpha, name, strict=True)


def objective_args(X, y, coef, alpha, weights, intercept=0.0):
    """The checked arguments of an objective: ``(X, y, w, alpha, omega, r)``, ``r = y - Xw - b``."""
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    w = check_coef_init(coef, X.shape[1], "coef")
    om = check_weights(weights, X.shape[1])
    return X, y, w, alpha, om, y - X @ w - intercept


def check_weights(weights, n_features: int, name: str = "weights") -> np.ndarray:
    """Penalty weights: ``None`` (all ones) or a vector of ``n_features`` finite numbers > 0."""
    if weights is None:
        return np.ones(n_features)
    w = as_float64(weights, name, 1)
    if w.shape[0] != n_features:
        raise ValueError(f"{name} must have one entry per feature ({n_features}), "
                         f"got length {w.shape[0]}")
    if np.any(w <= 0):
        raise ValueError(f"{name} must be > 0 (an unpenalised feature has no dual constraint)")
    return w


def check_coef_init(coef_init, n_features: int, name: str = "coef_init") -> np.ndarray:
    """A warm start: ``None`` (zeros) or a finite vector of ``n_features`` entries (copied)."""
    if coef_init is None:
        return np.zeros(n_features)
    w = as_float64(coef_init, name, 1)
    if w.shape[0] != n_features:
        raise ValueError(f"{name} must have length n_features = {n_features}, "
                         f"got {w.shape[0]}")
    return w.copy()


def check_tol(tol, name: str = "tol") -> float:
    """A stopping tolerance: a finite real number >= 0."""
    return check_positive(tol, name, strict=False)


def check_n_nonzero(k, n_features: int, name: str = "n_nonzero_coefs") -> int:
    """A sparsity level ``1 <= k <= n_features``."""
    if k is None:
        return max(int(0.1 * n_features), 1)
    k = check_int(k, name, minimum=1)
    if k > n_features:
        raise ValueError(f"{name} must be <= n_features = {n_features}, got {k}")
    return k


def lipschitz_constant(X: np.ndarray) -> float:
    """Largest squared singular value of ``X``, ``||X||_2^2``: the Lipschitz constant of the
    gradient of ``0.5 ||y - X w||^2``."""
    if X.size == 0:
        return 0.0
    if min(X.shape) <= 500:
        return float(np.linalg.norm(X, ord=2) ** 2)
    from scipy.sparse.linalg import svds

    s = svds(X, k=1, return_singular_vectors=False, random_state=0)
    return float(s[0] ** 2) * (1 + 1e-6)


class SparseLinearRegressor(RegressorMixin, BaseEstimator):
    """Common part of the estimators: centring for the intercept, ``predict``, tags.

    Subclasses implement ``_fit(X, y)``, which checks their parameters, runs the solver and
    sets ``coef_`` and their other attributes. :meth:`fit` validates the data and, unless
    ``_center_data`` is false (a solver that fits the intercept itself and sets
    ``intercept_``), centres it when ``fit_intercept`` is true and sets ``intercept_`` after.
    """

    _order = "C"  # memory layout the solver wants
    _center_data = True

    def fit(self, X, y):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = self._validated_fit_data(X, y)
        if not self._center_data:
            self._fit(X, y)
            return self
        Xc, yc, X_offset, y_offset = self._center(X, y)
        self._fit(Xc, yc)
        self._set_intercept(X_offset, y_offset)
        return self

    def _validated_fit_data(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, order=self._order)
        y = np.asarray(y, dtype=np.float64)
        return X, y

    def _center(self, X, y):
        if getattr(self, "fit_intercept", True):
            X_offset = X.mean(axis=0)
            y_offset = float(y.mean())
            return X - X_offset, y - y_offset, X_offset, y_offset
        return X, y, np.zeros(X.shape[1]), 0.0

    def _set_intercept(self, X_offset, y_offset):
        if getattr(self, "fit_intercept", True):
            self.intercept_ = float(y_offset - X_offset @ self.coef_)
        else:
            self.intercept_ = 0.0

    def predict(self, X):
        """Predict with the fitted linear model: ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
