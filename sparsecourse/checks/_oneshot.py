"""Checks for Chapter 7 (one-shot pruning and N:M sparsity): the OBS update and a 2:4 mask."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = ["check_obs_update", "check_nm_mask"]


def _cases(seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n, tokens in ((3, 10), (6, 40), (8, 8)):
        X = rng.normal(size=(n, tokens)) * rng.uniform(0.3, 3, size=(n, 1))
        H = X @ X.T + 1e-3 * np.eye(n)
        out.append((rng.normal(size=n), H, int(rng.integers(n))))
    return out


def check_obs_update(fn: Callable) -> CheckResult:
    """Check ``fn(w, H, j)``: the row ``w`` after pruning weight ``j`` with the OBS update.

    The answer must set ``w[j]`` to zero and change the other weights so that the output error
    ``(w − ŵ)ᵀ H (w − ŵ)`` is minimal: ``ŵ = w − (w_j / [H⁻¹]_jj) H⁻¹ e_j``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_obs_update
    >>> def obs(w, H, j):
    ...     Hinv = np.linalg.inv(H)
    ...     return w - w[j] / Hinv[j, j] * Hinv[:, j]
    >>> bool(check_obs_update(obs))
    True
    """
    for w, H, j in _cases():
        desc = f"a row of {w.size} weights, pruning j={j}"
        try:
            got = np.asarray(fn(w.copy(), H.copy(), j), dtype=float)
        except Exception as exc:  # noqa: BLE001 - report any learner error
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        if got.shape != w.shape:
            return fail(f"on {desc} the result has shape {got.shape}, expected {w.shape}")
        Hinv = np.linalg.inv(H)
        want = w - w[j] / Hinv[j, j] * Hinv[:, j]
        if abs(got[j]) > 1e-8:
            return fail(f"on {desc} the pruned weight w[{j}] is {got[j]:.3g}, not 0")
        if not np.allclose(got, want, rtol=1e-6, atol=1e-8):
            d = got - w
            return fail(f"on {desc} the other weights are not the OBS optimum: output error "
                        f"{d @ H @ d:.4g} against the optimum {(want - w) @ H @ (want - w):.4g}")
    return ok("Correct! Pruning w_j and correcting the rest along H⁻¹ e_j is the OBS update.")


def check_nm_mask(fn: Callable) -> CheckResult:
    """Check ``fn(W, n, m)``: a boolean mask keeping the ``n`` largest ``|W|`` of every ``m``
    consecutive entries of each row (compared with :func:`sparsecourse.kernels.nm_mask`).

    Examples
    --------
    >>> from sparsecourse.checks import check_nm_mask
    >>> from sparsecourse.kernels import nm_mask
    >>> bool(check_nm_mask(nm_mask))
    True
    """
    from ..kernels import nm_mask

    rng = np.random.default_rng(1)
    for n, m, shape in ((2, 4, (3, 8)), (1, 4, (5, 16)), (2, 8, (2, 32))):
        W = rng.normal(size=shape)
        desc = f"a {shape[0]}x{shape[1]} matrix with n={n}, m={m}"
        try:
            got = np.asarray(fn(W.copy(), n, m))
        except Exception as exc:  # noqa: BLE001 - report any learner error
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        if got.shape != W.shape:
            return fail(f"on {desc} the mask has shape {got.shape}, expected {W.shape}")
        got = got.astype(bool)
        counts = got.reshape(shape[0], -1, m).sum(-1)
        if not (counts == n).all():
            return fail(f"on {desc} some group of {m} keeps {int(counts.min())}-"
                        f"{int(counts.max())} entries instead of {n} (groups run along rows)")
        if not np.array_equal(got, nm_mask(W, n, m)):
            return fail(f"on {desc} the mask keeps the right number per group but not the "
                        "largest |W| of each group")
    return ok("Correct! Exactly n of every m, the largest in magnitude.")
