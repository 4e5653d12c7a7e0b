"""Checks for Chapter 3 (sparse coding and dictionary learning): an ISTA step, a MOD update,
PSNR."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = ["check_ista_step", "check_mod_update", "check_psnr"]


def _call(fn, args, desc):
    try:
        out = fn(*args)
    except Exception as exc:  # noqa: BLE001 - report any learner error
        return None, fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    try:
        return np.asarray(out, dtype=float), None
    except (TypeError, ValueError):
        return None, fail(f"on {desc} your function should return numbers, "
                          f"got {type(out).__name__}")


def check_ista_step(fn: Callable) -> CheckResult:
    """Check a learner's batched ISTA step ``fn(X, Y, A, lam, step) -> X_next``.

    ``X`` (batch, n) are the current codes, ``Y`` (batch, m) the signals, ``A`` (m, n) the
    dictionary with atoms as columns; the step is ``soft_threshold(X - step * (X A^T - Y) A,
    step * lam)``. NumPy arrays are passed in; NumPy or torch output is accepted. Compared with
    :func:`sparsecourse.coding.batch_ista` (one iteration from ``X``).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_ista_step
    >>> def step(X, Y, A, lam, t):
    ...     V = X - t * (X @ A.T - Y) @ A
    ...     return np.sign(V) * np.maximum(np.abs(V) - t * lam, 0)
    >>> bool(check_ista_step(step))
    True
    """
    from ..coding import batch_ista

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(5)
    A = rng.standard_normal((6, 10)) / np.sqrt(6)
    Y = rng.standard_normal((4, 6))
    X = rng.standard_normal((4, 10)) * (rng.random((4, 10)) < 0.3)
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    cases = [("codes starting at zero", np.zeros((4, 10)), 0.2, step),
             ("a sparse current code", X, 0.2, step),
             ("a smaller step", X, 0.5, 0.3 * step),
             ("lam = 0 (a plain gradient step)", X, 0.0, step)]
    for desc, X0, lam, t in cases:
        got, bad = _call(fn, (X0.copy(), Y.copy(), A.copy(), lam, t), desc)
        if bad is not None:
            return bad
        if lam > 0:
            want = batch_ista(Y, A, lam, n_iter=1, step=t, x0=X0).numpy()
        else:
            want = X0 - t * (X0 @ A.T - Y) @ A
        if got.shape != want.shape:
            return fail(f"on {desc} the result has shape {got.shape}, expected {want.shape} "
                        "(batch, n_atoms)")
        if np.allclose(got, want, atol=1e-10):
            continue
        V = X0 - t * (X0 @ A.T - Y) @ A
        if np.allclose(got, V, atol=1e-10):
            return fail(f"on {desc}: you took the gradient step but did not soft-threshold")
        wrong_sign = X0 - t * (Y - X0 @ A.T) @ A
        if np.allclose(got, np.sign(wrong_sign) * np.maximum(np.abs(wrong_sign) - t * lam, 0)):
            return fail(f"on {desc}: the gradient of 0.5||y - A x||^2 is A^T (A x - y); "
                        "you stepped uphill")
        if np.allclose(got, np.sign(V) * np.maximum(np.abs(V) - lam, 0), atol=1e-10):
            return fail(f"on {desc}: the threshold is step * lam, not lam")
        return fail(f"on {desc} the result differs from ISTA's step "
                    f"(max abs. error {np.max(np.abs(got - want)):.3g})")
    return ok("Correct! That is one ISTA iteration for the whole batch.")


def check_mod_update(fn: Callable) -> CheckResult:
    """Check a learner's MOD dictionary update ``fn(X, C) -> D`` (unit-norm rows).

    ``X`` (n_samples, n_features), codes ``C`` (n_samples, n_atoms); the answer is the
    least-squares dictionary ``(C^T C)^{-1} C^T X`` with every atom scaled to unit norm, as in
    :func:`sparsecourse.coding.mod_update`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_mod_update
    >>> def mod(X, C):
    ...     D = np.linalg.solve(C.T @ C, C.T @ X)
    ...     return D / np.linalg.norm(D, axis=1, keepdims=True)
    >>> bool(check_mod_update(mod))
    True
    """
    from ..coding import mod_update

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(7)
    C = rng.standard_normal((60, 5)) * (rng.random((60, 5)) < 0.5)
    X = C @ rng.standard_normal((5, 8)) + 0.1 * rng.standard_normal((60, 8))
    got, bad = _call(fn, (X.copy(), C.copy()), "a 60 x 8 problem with 5 atoms")
    if bad is not None:
        return bad
    want = mod_update(X, C)
    if got.shape != want.shape:
        return fail(f"the dictionary has shape {got.shape}, expected {want.shape} "
                    "(n_atoms, n_features): atoms are rows")
    if np.allclose(got, want, atol=1e-8):
        return ok("Correct! The least-squares dictionary, normalised atom by atom.")
    raw = np.linalg.lstsq(C, X, rcond=None)[0]
    if np.allclose(got, raw, atol=1e-8):
        return fail("that is the least-squares dictionary, but the atoms must be scaled to "
                    "unit norm")
    if np.allclose(np.abs(np.sum(got * want, axis=1)), 1, atol=1e-8):
        return fail("some atoms have the wrong sign: scale by the norm, not its negative")
    return fail(f"the dictionary differs from MOD's (max abs. error "
                f"{np.max(np.abs(got - want)):.3g})")


def check_psnr(fn: Callable) -> CheckResult:
    """Check a learner's PSNR ``fn(reference, estimate) -> dB`` for images in [0, 1].

    ``10 log10(1 / MSE)`` with peak 1 (images scaled to [0, 1]), compared with
    :func:`sparsecourse.coding.psnr` with ``peak=1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_psnr
    >>> bool(check_psnr(lambda a, b: 10 * np.log10(1 / np.mean((a - b) ** 2))))
    True
    """
    from ..coding import psnr

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(11)
    ref = rng.random((16, 16))
    for sigma in (0.01, 0.1):
        est = ref + sigma * rng.standard_normal(ref.shape)
        desc = f"noise of standard deviation {sigma}"
        got, bad = _call(fn, (ref.copy(), est.copy()), desc)
        if bad is not None:
            return bad
        want = psnr(ref, est, peak=1.0)
        if got.shape != ():
            return fail(f"on {desc} PSNR should be one number, got shape {got.shape}")
        if np.isclose(got, want, atol=1e-8):
            continue
        mse = np.mean((ref - est) ** 2)
        if np.isclose(got, 20 * np.log10(1 / mse)) or np.isclose(got, 5 * np.log10(1 / mse)):
            return fail(f"on {desc}: PSNR is 10 log10(peak^2 / MSE), with the MSE itself "
                        "(not its square or square root)")
        if np.isclose(got, -want):
            return fail(f"on {desc}: the ratio is peak^2 / MSE, not MSE / peak^2")
        return fail(f"on {desc} you got {float(got):.4g} dB, expected {want:.4g} dB")
    return ok("Correct! (About 40 dB for noise of 0.01, 20 dB for 0.1.)")
