"""Checks for Chapter 0 (the introduction): CSR SpMV, dense-to-CSR conversion, the crossover."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..datasets import random_csr
from ._core import CheckResult, fail, ok

__all__ = ["check_spmv", "check_dense_to_csr", "check_crossover_density"]


def _spmv_cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    yield "a 1x1 matrix", sp.csr_array(np.array([[2.0]])), np.array([3.0])
    yield "a 5x7 matrix with empty rows", random_csr(5, 7, 0.4, seed=rng, empty_rows=0.4,
                                                     dtype=np.float64), rng.standard_normal(7)
    yield "an all-zero 4x3 matrix", sp.csr_array((4, 3), dtype=np.float64), rng.standard_normal(3)
    yield "a fully dense 6x6 matrix", sp.csr_array(rng.standard_normal((6, 6))), \
        rng.standard_normal(6)
    yield "a random 50x80 matrix", random_csr(50, 80, 0.1, seed=rng, dtype=np.float64), \
        rng.standard_normal(80)


def check_spmv(fn: Callable) -> CheckResult:
    """Check a learner's CSR SpMV ``fn(indptr, indices, data, x) -> y``.

    Compared with scipy on small matrices: 1x1, empty rows, all zeros, fully dense, random.

    Examples
    --------
    >>> from sparsecourse.checks import check_spmv
    >>> import numpy as np
    >>> def spmv(indptr, indices, data, x):
    ...     y = np.zeros(len(indptr) - 1)
    ...     for i in range(len(y)):
    ...         for p in range(indptr[i], indptr[i + 1]):
    ...             y[i] += data[p] * x[indices[p]]
    ...     return y
    >>> bool(check_spmv(spmv))
    True
    """
    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    for desc, A, x in _spmv_cases():
        try:
            y = fn(A.indptr.copy(), A.indices.copy(), A.data.copy(), x.copy())
        except Exception as exc:  # noqa: BLE001 - report any learner error
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            return fail(f"your function should return an array of numbers on {desc}")
        want = A @ x
        if y.shape != want.shape:
            return fail(f"on {desc} the result has shape {y.shape}, expected {want.shape} "
                        "(one entry per row: len(indptr) - 1)")
        if not np.allclose(y, want, rtol=1e-10, atol=1e-12):
            rows = np.flatnonzero(~np.isclose(y, want, rtol=1e-10, atol=1e-12))
            got, exp = y[rows[:3]].round(4).tolist(), want[rows[:3]].round(4).tolist()
            return fail(f"on {desc} rows {rows[:5].tolist()} are wrong: got {got}, expected {exp}")
    return ok("your SpMV matches scipy.sparse on all test matrices, including empty rows.")


def check_dense_to_csr(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(M) -> (indptr, indices, data)`` converting a dense matrix to CSR.

    Column indices must be sorted within each row and only non-zeros stored (scipy's canonical
    form).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.checks import check_dense_to_csr
    >>> def to_csr(M):
    ...     A = sp.csr_array(M)
    ...     return A.indptr, A.indices, A.data
    >>> bool(check_dense_to_csr(to_csr))
    True
    """
    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(1)
    cases = [
        ("a 3x4 matrix with an empty row",
         np.array([[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4.0]])),
        ("an all-zero 2x5 matrix", np.zeros((2, 5))),
        ("a random 20x30 matrix", rng.standard_normal((20, 30)) * (rng.random((20, 30)) < 0.2)),
    ]
    for desc, M in cases:
        try:
            out = fn(M.copy())
            indptr, indices, data = (np.asarray(a) for a in out)
        except Exception as exc:  # noqa: BLE001
            return fail(f"on {desc} your function failed ({type(exc).__name__}: {exc}); "
                        "it should return the three arrays (indptr, indices, data)")
        ref = sp.csr_array(M)
        for nm, got, want in (("indptr", indptr, ref.indptr), ("indices", indices, ref.indices),
                              ("data", data, ref.data)):
            if got.shape != want.shape or not np.array_equal(got, want):
                hint = {"indptr": "indptr has n_rows + 1 entries: 0, then the running count of "
                                  "non-zeros at the end of each row",
                        "indices": "the column of each stored value, row by row, sorted",
                        "data": "the non-zero values, row by row, left to right"}[nm]
                return fail(f"on {desc} {nm} is {got.tolist()[:12]}, expected "
                            f"{want.tolist()[:12]}. Hint: {hint}.")
    return ok("your conversion produces scipy's canonical CSR arrays.")


def check_crossover_density(answer, *, value_bytes: int = 4, index_bytes: int = 4) -> CheckResult:
    """Check the bandwidth-model crossover density of CSR SpMV against dense GEMV.

    Model: a dense ``m x n`` GEMV reads ``value_bytes * m * n`` bytes of matrix; CSR SpMV with
    density ``d`` reads ``(value_bytes + index_bytes) * d * m * n`` bytes of values and column
    indices (``indptr`` and the vectors are lower order). Sparse wins when it moves fewer bytes.

    Examples
    --------
    >>> from sparsecourse.checks import check_crossover_density
    >>> bool(check_crossover_density(0.5))
    True
    """
    expected = value_bytes / (value_bytes + index_bytes)
    try:
        a = float(answer)
    except (TypeError, ValueError):
        return fail(f"the answer should be a density between 0 and 1, got {answer!r}")
    if 1 < a <= 100 and np.isclose(a / 100, expected, rtol=1e-3):
        return fail("give the density as a fraction between 0 and 1, not a percentage")
    if np.isclose(a, expected, rtol=1e-3):
        return ok(f"a density of {expected:.3g}: below it CSR moves fewer bytes than dense.")
    if np.isclose(a, 1 / (value_bytes + index_bytes)):
        return fail("count bytes, not entries: each stored value costs value + index bytes")
    return fail(f"{a:.3g} is not it. Write the bytes moved by each kernel as a function of the "
                "density d and solve for the d where they are equal.")
