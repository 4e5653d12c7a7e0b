"""Checks for Chapter 1 (sparse regression): soft thresholding, a CD sweep, an OMP step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = ["check_soft_threshold", "check_cd_sweep", "check_omp_step"]


def _as_result_array(out, desc: str, what: str):
    """Turn a learner's output into a float array, or return a failing CheckResult."""
    try:
        return np.asarray(out, dtype=float), None
    except (TypeError, ValueError):
        return None, fail(f"on {desc} your function should return {what}, "
                          f"got {type(out).__name__}")


def check_soft_threshold(fn: Callable) -> CheckResult:
    """Check a learner's soft-thresholding operator ``fn(x, tau)``.

    ``fn`` must return ``sign(x) * max(|x| - tau, 0)`` elementwise, for a scalar or an array
    ``x`` and a scalar ``tau`` or one threshold per entry. It is compared with
    :func:`sparsecourse.regression.soft_threshold` on values above, below and inside the
    threshold, exactly at it, a zero threshold, a vector and per-entry thresholds.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_soft_threshold
    >>> def soft(x, tau):
    ...     return np.sign(x) * np.maximum(np.abs(x) - tau, 0.0)
    >>> bool(check_soft_threshold(soft))
    True
    """
    from ..regression import soft_threshold

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(3)
    v = rng.standard_normal(12) * 2
    cases = [
        ("x = 3 with tau = 1 (above the threshold)", 3.0, 1.0),
        ("x = -2.5 with tau = 1 (below minus the threshold)", -2.5, 1.0),
        ("x = 0.4 with tau = 1 (inside [-tau, tau])", 0.4, 1.0),
        ("x = 1 with tau = 1 (exactly at the threshold)", 1.0, 1.0),
        ("a vector with tau = 0 (nothing to shrink)", v.copy(), 0.0),
        ("a vector with tau = 0.7", v.copy(), 0.7),
        ("a vector with one threshold per entry", v.copy(), np.linspace(0.0, 3.0, v.size)),
    ]
    for desc, x, tau in cases:
        try:
            out = fn(np.copy(x) if np.ndim(x) else x, np.copy(tau) if np.ndim(tau) else tau)
        except Exception as exc:  # noqa: BLE001 - report any learner error
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        got, bad = _as_result_array(out, desc, "a number or an array of numbers")
        if bad is not None:
            return bad
        want = np.asarray(soft_threshold(x, tau), dtype=float)
        if got.shape != want.shape:
            return fail(f"on {desc} the result has shape {got.shape}, expected {want.shape} "
                        "(one output per entry of x)")
        if not np.all(np.isfinite(got)):
            return fail(f"on {desc} the result contains NaN or infinity")
        if np.allclose(got, want, rtol=1e-12, atol=1e-12):
            continue
        xs, ts = np.asarray(x, dtype=float), np.asarray(tau, dtype=float)
        hard = np.where(np.abs(xs) > ts, xs, 0.0)
        if np.allclose(got, hard, atol=1e-12):
            hint = ("that is *hard* thresholding: the entries that survive must also move "
                    "towards zero by tau")
        elif np.allclose(got, xs - ts * np.sign(xs), atol=1e-12):
            hint = "entries inside [-tau, tau] must become exactly 0, not change sign"
        elif np.allclose(got, np.abs(want), atol=1e-12):
            hint = "keep the sign of x: the result is sign(x) * max(|x| - tau, 0)"
        else:
            hint = "soft thresholding is sign(x) * max(|x| - tau, 0)"
        return fail(f"on {desc} you returned {np.round(got, 4).tolist()}, expected "
                    f"{np.round(want, 4).tolist()}. Hint: {hint}.")
    return ok("your soft thresholding matches sparsecourse.regression.soft_threshold, "
              "including at the threshold and with per-entry thresholds.")


def _cd_cases():
    rng = np.random.default_rng(11)
    X1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y1 = np.array([1.0, 0.0, 1.0])
    X2 = rng.standard_normal((20, 10))
    y2 = X2[:, :3] @ np.array([1.5, -2.0, 1.0]) + 0.1 * rng.standard_normal(20)
    X3 = rng.standard_normal((15, 40))
    y3 = rng.standard_normal(15)
    X4 = rng.standard_normal((12, 5))
    X4[:, 2] = 0.0
    y4 = rng.standard_normal(12)
    a_max2 = np.max(np.abs(X2.T @ y2)) / 20
    yield "a 3x2 problem from w = 0", X1, y1, np.zeros(2), 0.1
    yield "a 20x10 problem from w = 0", X2, y2, np.zeros(10), 0.05 * a_max2
    yield ("a 20x10 problem from a non-zero w (warm start)", X2, y2,
           rng.standard_normal(10), 0.05 * a_max2)
    yield "alpha above alpha_max (w = 0 must stay 0)", X2, y2, np.zeros(10), 1.5 * a_max2
    yield ("a 15x40 problem, more features than samples", X3, y3,
           np.zeros(40), 0.1 * np.max(np.abs(X3.T @ y3)) / 15)
    yield "a 12x5 problem whose column 2 is all zeros", X4, y4, np.zeros(5), 0.01


def _cd_sweep_variant(X, y, w, alpha, *, jacobi=False, scale=None):
    """One sweep written differently, to recognise two common mistakes."""
    from ..regression import soft_threshold

    n = X.shape[0]
    w = w.astype(float).copy()
    r = y - X @ w
    r0 = r.copy()
    norms2 = np.sum(X * X, axis=0)
    lam = n * alpha if scale is None else scale * alpha
    for j in range(X.shape[1]):
        if norms2[j] == 0:
            continue
        rr = r0 if jacobi else r
        new = soft_threshold(w[j] + X[:, j] @ rr / norms2[j], lam / norms2[j])
        r -= (new - w[j]) * X[:, j]
        w[j] = new
    return w


def check_cd_sweep(fn: Callable) -> CheckResult:
    """Check one epoch of cyclic coordinate descent for the LASSO, ``fn(X, y, w, alpha)``.

    The objective is scikit-learn's ``1/(2n) ||y - Xw||^2 + alpha ||w||_1`` (``n`` samples).
    ``fn`` must update the coordinates ``j = 0, 1, ..., p - 1`` in turn, each to its exact
    minimiser with the others fixed, using the coordinates already updated in this sweep, and
    return the new ``w`` (a column of zeros leaves its coefficient unchanged). It is compared
    with one epoch of :func:`sparsecourse.regression.lasso_cd_reference`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_cd_sweep
    >>> from sparsecourse.regression import soft_threshold
    >>> def sweep(X, y, w, alpha):
    ...     w = w.copy(); r = y - X @ w; n = len(y)
    ...     for j in range(X.shape[1]):
    ...         nj = X[:, j] @ X[:, j]
    ...         if nj == 0:
    ...             continue
    ...         new = soft_threshold(w[j] + X[:, j] @ r / nj, n * alpha / nj)
    ...         r -= (new - w[j]) * X[:, j]
    ...         w[j] = new
    ...     return w
    >>> bool(check_cd_sweep(sweep))
    True
    """
    from ..regression import lasso_cd_reference

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    for desc, X, y, w0, alpha in _cd_cases():
        try:
            out = fn(X.copy(), y.copy(), w0.copy(), float(alpha))
        except Exception as exc:  # noqa: BLE001
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        got, bad = _as_result_array(out, desc, "the updated coefficient vector w")
        if bad is not None:
            return bad
        want = lasso_cd_reference(X, y, alpha, coef_init=w0, max_iter=1, tol=0.0)
        if got.shape != want.shape:
            return fail(f"on {desc} the result has shape {got.shape}, expected {want.shape} "
                        "(one coefficient per column of X)")
        if not np.all(np.isfinite(got)):
            hint = (" A column of zeros has ||x_j||^2 = 0: skip it (its coefficient stays "
                    "where it is)." if "zeros" in desc else "")
            return fail(f"on {desc} the result contains NaN or infinity.{hint}")
        if np.allclose(got, want, rtol=1e-9, atol=1e-12):
            continue
        if np.allclose(got, _cd_sweep_variant(X, y, w0, alpha, jacobi=True), atol=1e-10):
            hint = ("you used the residual of the start of the sweep for every coordinate; "
                    "update r after each coordinate, so that coordinate j sees the new values "
                    "of 0, ..., j - 1")
        elif np.allclose(got, _cd_sweep_variant(X, y, w0, alpha, scale=1.0), atol=1e-10):
            hint = ("the objective has a factor 1/(2n): the threshold of coordinate j is "
                    "n * alpha / ||x_j||^2, not alpha / ||x_j||^2")
        else:
            hint = ("coordinate j becomes soft_threshold(w_j + x_j^T r / ||x_j||^2, "
                    "n alpha / ||x_j||^2), with r = y - X w kept up to date")
        err = np.max(np.abs(got - want))
        return fail(f"on {desc} your w differs from one epoch of lasso_cd_reference "
                    f"(max abs. error {err:.3g}). Hint: {hint}.")
    return ok("your sweep matches one epoch of lasso_cd_reference, including a warm start, "
              "alpha above alpha_max and a column of zeros.")


def check_omp_step(fn: Callable) -> CheckResult:
    """Check one step of orthogonal matching pursuit, ``fn(X, y, support) -> (j, coef)``.

    Given the indices already selected (``support``, a list in order of selection, possibly
    empty), ``fn`` must return the next index ``j`` (the column most correlated with the
    residual of the least-squares fit on ``support``, in absolute value) and ``coef``, the
    length-``p`` vector of least-squares coefficients on ``support + [j]`` (zeros elsewhere).
    Compared with :func:`sparsecourse.regression.omp_reference` step by step, on matrices with
    unit-norm columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_omp_step
    >>> def step(X, y, support):
    ...     r = y.copy()
    ...     if support:
    ...         r = y - X[:, support] @ np.linalg.lstsq(X[:, support], y, rcond=None)[0]
    ...     c = np.abs(X.T @ r)
    ...     c[support] = -1
    ...     S = list(support) + [int(np.argmax(c))]
    ...     coef = np.zeros(X.shape[1])
    ...     coef[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
    ...     return S[-1], coef
    >>> bool(check_omp_step(step))
    True
    """
    from ..datasets import gaussian_matrix, sparse_signal
    from ..regression import omp_reference

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(5)
    X1 = gaussian_matrix(30, 60, seed=1)
    y1 = X1 @ sparse_signal(60, 4, seed=2) + 0.01 * rng.standard_normal(30)
    X2 = gaussian_matrix(12, 25, seed=3)
    y2 = rng.standard_normal(12)
    # the largest correlation is negative: the rule must look at absolute values
    X3 = np.eye(4)
    y3 = np.array([0.5, -3.0, 1.0, 0.2])
    problems = [("a 30x60 problem with a 4-sparse signal", X1, y1, 5),
                ("a 12x25 problem with a random target", X2, y2, 4),
                ("X = identity, y = [0.5, -3, 1, 0.2]", X3, y3, 2)]
    for name, X, y, k_max in problems:
        _, info = omp_reference(X, y, k_max, return_info=True)
        order = [int(j) for j in info["support"]]
        for k in range(len(order)):
            support = order[:k]
            desc = f"{name}, support = {support}"
            try:
                out = fn(X.copy(), y.copy(), list(support))
                j, coef = out
                j = int(j)
            except Exception as exc:  # noqa: BLE001
                return fail(f"on {desc} your function failed ({type(exc).__name__}: {exc}); "
                            "it should return the pair (j, coef)")
            got, bad = _as_result_array(coef, desc, "coef, a vector of length p")
            if bad is not None:
                return bad
            want_j = order[k]
            if j != want_j:
                r = (y - X @ omp_reference(X, y, k)) if k else y
                c = X.T @ r
                if k and j in support:
                    hint = "an index already in the support must not be selected again"
                elif j == int(np.argmax(c)):
                    hint = ("select by the *absolute* correlation |x_j^T r|: a large negative "
                            "correlation counts as much as a large positive one")
                elif k and j == int(np.argmax(np.where(np.isin(np.arange(X.shape[1]),
                                                               support), -1.0,
                                                       np.abs(X.T @ y)))):
                    hint = ("correlate with the residual r = y - X_S w_S of the current fit, "
                            "not with y")
                else:
                    hint = "pick argmax_j |x_j^T r| with r the residual of the current fit"
                return fail(f"on {desc} you selected j = {j}, expected {want_j}. Hint: {hint}.")
            want = omp_reference(X, y, k + 1)
            if got.shape != want.shape:
                return fail(f"on {desc} coef has shape {got.shape}, expected {want.shape} "
                            "(the full coefficient vector, zeros off the support)")
            if not np.allclose(got, want, rtol=1e-8, atol=1e-10):
                prev = omp_reference(X, y, k) if k else np.zeros(X.shape[1])
                mp = prev.copy()
                mp[j] = X[:, j] @ (y - X @ prev) / (X[:, j] @ X[:, j])
                if k and np.allclose(got, mp, rtol=1e-8, atol=1e-10):
                    hint = ("you only fitted the new coefficient; OMP refits *all* the "
                            "coefficients on the support by least squares (updating only the "
                            "new one is plain matching pursuit)")
                else:
                    hint = ("coef is the least-squares solution on support + [j], zeros "
                            "elsewhere")
                err = np.max(np.abs(got - want))
                return fail(f"on {desc} the selection is right but coef is off (max abs. "
                            f"error {err:.3g}). Hint: {hint}.")
    return ok("your OMP step selects the same indices as omp_reference and refits the same "
              "least-squares coefficients, from an empty support onwards.")
