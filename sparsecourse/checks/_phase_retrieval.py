"""Checks for Chapter 2 (sparse phase retrieval): the error up to sign, a sparse spectral
initialisation, and one Newton hard-thresholding step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = ["check_relative_error", "check_sparse_spectral_init", "check_newton_ht_step"]


def _call(fn, desc, *args):
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - report any learner error
        return None, fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")


def check_relative_error(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(x_hat, x_true)``: relative distance up to the global sign.

    Expected: ``min(||x_hat - x_true||, ||x_hat + x_true||) / ||x_true||``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_relative_error
    >>> def rel(xh, x):
    ...     return min(np.linalg.norm(xh - x), np.linalg.norm(xh + x)) / np.linalg.norm(x)
    >>> bool(check_relative_error(rel))
    True
    """
    from ..phase_retrieval import relative_error

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(5)
    x = rng.standard_normal(8)
    cases = [
        ("x_hat = x_true", x, x),
        ("x_hat = -x_true (the sign ambiguity: the error must be 0)", -x, x),
        ("x_hat = x_true + noise", x + 0.1 * rng.standard_normal(8), x),
        ("x_hat = -x_true + noise", -x + 0.1 * rng.standard_normal(8), x),
        ("x_true scaled by 10 (the error is relative)", 10 * x + rng.standard_normal(8), 10 * x),
        ("x_hat = 0", np.zeros(8), x),
    ]
    for desc, xh, xt in cases:
        out, bad = _call(fn, desc, xh.copy(), xt.copy())
        if bad is not None:
            return bad
        try:
            got = float(out)
        except (TypeError, ValueError):
            return fail(f"on {desc} your function should return a number, "
                        f"got {type(out).__name__}")
        want = relative_error(xh, xt)
        if not np.isclose(got, want, rtol=1e-9, atol=1e-12):
            plain = np.linalg.norm(xh - xt) / np.linalg.norm(xt)
            if np.isclose(got, plain):
                hint = "compare with -x_true as well: intensities cannot tell x from -x"
            elif np.isclose(got, want * np.linalg.norm(xt)):
                hint = "divide by ||x_true|| to make the error relative"
            else:
                hint = "min(||x_hat - x||, ||x_hat + x||) / ||x||"
            return fail(f"on {desc} you returned {got:.6g}, expected {want:.6g}. Hint: {hint}.")
    return ok("your relative error handles the global sign and matches "
              "sparsecourse.phase_retrieval.relative_error.")


def check_sparse_spectral_init(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(A, y, s)``: sparse spectral initialisation (dense ``A``).

    The support must be the ``s`` largest marginals ``(1/m) sum_i y_i A_ij^2``, the values the
    top eigenvector of the restricted matrix ``(1/m) A_S^T diag(y) A_S`` (up to sign), scaled to
    norm ``sqrt(mean(y))``.

    Examples
    --------
    >>> from sparsecourse.checks import check_sparse_spectral_init
    >>> from sparsecourse.phase_retrieval import sparse_spectral_init
    >>> bool(check_sparse_spectral_init(sparse_spectral_init))
    True
    """
    from ..phase_retrieval import gaussian_phase_retrieval, sparse_spectral_init

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    for seed, (m, n, s) in enumerate([(200, 60, 3), (300, 400, 5), (150, 30, 1)]):
        A, _, y = gaussian_phase_retrieval(m, n, s, seed=seed)
        desc = f"an instance with m={m}, n={n}, s={s}"
        out, bad = _call(fn, desc, A.copy(), y.copy(), s)
        if bad is not None:
            return bad
        got = np.asarray(out, dtype=float)
        want = sparse_spectral_init(A, y, s)
        if got.shape != want.shape:
            return fail(f"on {desc} the result has shape {got.shape}, expected {want.shape}")
        S_got, S_want = set(np.flatnonzero(got)), set(np.flatnonzero(want))
        if S_got != S_want:
            return fail(f"on {desc} your support is {sorted(S_got)[:10]}, expected "
                        f"{sorted(S_want)[:10]}: keep the s largest marginals "
                        "(1/m) sum_i y_i A_ij^2")
        if np.isclose(np.linalg.norm(got), 1.0) and not np.isclose(np.linalg.norm(want), 1.0):
            return fail(f"on {desc} your estimate has unit norm: scale it by sqrt(mean(y)), "
                        "the estimate of ||x||")
        u, v = got / max(np.linalg.norm(got), 1e-300), want / np.linalg.norm(want)
        if min(np.linalg.norm(u - v), np.linalg.norm(u + v)) > 1e-6:
            return fail(f"on {desc} the direction differs from the top eigenvector of "
                        "(1/m) A_S^T diag(y) A_S")
        # the package divides mean(y) by the mean squared entry of A (about 1 here)
        if not np.isclose(np.linalg.norm(got), np.linalg.norm(want), rtol=0.05):
            return fail(f"on {desc} your estimate has norm {np.linalg.norm(got):.4g}; scale "
                        f"it to sqrt(mean(y)) = {np.sqrt(y.mean()):.4g}")
    return ok("your sparse spectral initialisation matches the package's (support, direction "
              "and scale).")


def check_newton_ht_step(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(A, y, x, s)``: one Newton hard-thresholding iteration.

    Expected: ``T`` = the ``s`` largest entries of ``x - 0.95 * grad f_amp(x)``; then the
    Newton step on ``f_int`` restricted to ``T`` (see
    :func:`sparsecourse.phase_retrieval.newton_ht`, which is run for one iteration).

    Examples
    --------
    >>> from sparsecourse.checks import check_newton_ht_step
    >>> from sparsecourse.phase_retrieval import newton_ht
    >>> step = lambda A, y, x, s: newton_ht(A, y, s, x0=x, max_iter=1, tol=0.0).x
    >>> bool(check_newton_ht_step(step))
    True
    """
    from ..phase_retrieval import gaussian_phase_retrieval, newton_ht, sparse_spectral_init

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    for seed, (m, n, s) in enumerate([(300, 200, 4), (400, 500, 6)]):
        A, x_true, y = gaussian_phase_retrieval(m, n, s, seed=10 + seed)
        starts = [("the sparse spectral initialisation", sparse_spectral_init(A, y, s)),
                  ("a point whose support differs from the new one",
                   x_true + 0.3 * np.eye(n)[(np.flatnonzero(x_true)[0] + 1) % n])]
        for what, x in starts:
            desc = f"m={m}, n={n}, s={s}, starting from {what}"
            out, bad = _call(fn, desc, A.copy(), y.copy(), x.copy(), s)
            if bad is not None:
                return bad
            got = np.asarray(out, dtype=float)
            want = newton_ht(A, y, s, x0=x, max_iter=1, tol=0.0).x
            if got.shape != want.shape:
                return fail(f"on {desc} the result has shape {got.shape}, expected "
                            f"{want.shape}")
            if set(np.flatnonzero(got)) != set(np.flatnonzero(want)):
                return fail(f"on {desc} your new support differs: take the s largest "
                            "entries of x - 0.95 * (1/m) A^T (Ax - sqrt(y) sign(Ax))")
            if not np.allclose(got, want, rtol=1e-6, atol=1e-9):
                return fail(f"on {desc} the values on the support differ: solve "
                            "H_TT d = H_TR x_R - g_T with H = (1/m) A^T diag(3(Ax)^2 - y) A "
                            "and g = (1/m) A^T(((Ax)^2 - y) Ax), R the dropped indices")
    return ok("your Newton hard-thresholding step matches the package's, including the "
              "correction for dropped indices.")
