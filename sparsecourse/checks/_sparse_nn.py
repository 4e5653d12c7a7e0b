"""Checks for Chapter 4, second part (truly sparse training with CSR kernels).

A learner writes the three products of a sparse linear layer on the raw CSR arrays of a weight
``W`` (``out x in``) and batch-major activations; each check compares the answer with the
package's reference on small cases: an empty row, a fully dense row, a single sample, a random
layer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..datasets import random_csr
from ._core import CheckResult, fail, ok

__all__ = ["check_sparse_forward", "check_sparse_input_grad", "check_sddmm"]


def _cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    W1 = sp.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, -3.0, 0.0]]))
    yield "a 3x3 weight with an empty row, one sample", W1, 1
    W2 = random_csr(6, 5, 0.4, seed=rng, dtype=np.float64, empty_rows=0.3)
    yield "a 6x5 weight with empty rows, batch 4", W2, 4
    yield "a fully dense 4x3 weight, batch 2", sp.csr_array(rng.standard_normal((4, 3))), 2
    yield "a random 20x30 weight, batch 7", random_csr(20, 30, 0.15, seed=rng,
                                                        dtype=np.float64), 7


def _as_result(out, desc: str, shape) -> tuple[np.ndarray | None, CheckResult | None]:
    try:
        arr = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        return None, fail(f"your function should return an array of numbers on {desc}")
    if arr.shape != shape:
        return None, fail(f"on {desc} the result has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        return None, fail(f"on {desc} the result contains NaN or infinity")
    return arr, None


def _reference(name: str):
    """The package's reference product, imported on first use (``sparse_nn`` loads torch)."""
    from .. import sparse_nn

    return getattr(sparse_nn, name)


def _run(fn: Callable, make_args, reference: str, what: str, hint: str) -> CheckResult:
    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(1)
    for desc, W, batch in _cases():
        args = make_args(W, batch, rng)
        want = _reference(reference)(W, *args[1])
        try:
            out = fn(*args[0])
        except Exception as exc:  # noqa: BLE001 - report any learner error
            return fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")
        got, bad = _as_result(out, desc, want.shape)
        if bad is not None:
            return bad
        if not np.allclose(got, want, rtol=1e-8, atol=1e-10):
            err = float(np.abs(got - want).max())
            return fail(f"on {desc} the {what} is wrong (max abs. error {err:.3g}); {hint}")
    return ok(f"your {what} matches the reference on all test layers, including empty rows.")


def check_sparse_forward(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(indptr, indices, data, X, b) -> Y`` computing ``Y = X W^T + b``.

    ``W`` (``out x in``) is given by its CSR arrays, ``X`` is ``batch x in``, ``b`` has length
    ``out = len(indptr) - 1``, and ``Y`` must be ``batch x out``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_sparse_forward
    >>> def forward(indptr, indices, data, X, b):
    ...     Y = np.tile(b, (X.shape[0], 1))
    ...     for i in range(len(indptr) - 1):
    ...         for p in range(indptr[i], indptr[i + 1]):
    ...             Y[:, i] += data[p] * X[:, indices[p]]
    ...     return Y
    >>> bool(check_sparse_forward(forward))
    True
    """
    def make(W, batch, rng):
        X = rng.standard_normal((batch, W.shape[1]))
        b = rng.standard_normal(W.shape[0])
        return ((W.indptr.copy(), W.indices.copy(), W.data.copy(), X.copy(), b.copy()), (X, b))

    return _run(fn, make, "sparse_linear_forward_reference", "forward product Y = X W^T + b",
                "row i of W gives column i of Y; do not forget the bias")


def check_sparse_input_grad(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(indptr, indices, data, dY, n_in) -> dX`` computing ``dX = dY W``.

    ``dY`` is ``batch x out`` and ``dX`` must be ``batch x n_in``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_sparse_input_grad
    >>> def input_grad(indptr, indices, data, dY, n_in):
    ...     dX = np.zeros((dY.shape[0], n_in))
    ...     for i in range(len(indptr) - 1):
    ...         for p in range(indptr[i], indptr[i + 1]):
    ...             dX[:, indices[p]] += data[p] * dY[:, i]
    ...     return dX
    >>> bool(check_sparse_input_grad(input_grad))
    True
    """
    def make(W, batch, rng):
        dY = rng.standard_normal((batch, W.shape[0]))
        return ((W.indptr.copy(), W.indices.copy(), W.data.copy(), dY.copy(), W.shape[1]),
                (dY,))

    return _run(fn, make, "sparse_linear_input_grad_reference", "input gradient dX = dY W",
                "stored w_ij sends dY[:, i] to column j of dX (scatter-add)")


def check_sddmm(fn: Callable) -> CheckResult:
    """Check a learner's SDDMM ``fn(indptr, indices, dY, X) -> g``, ``g[p] = <dY[:, i], X[:, j]>``.

    ``g`` has one entry per stored ``p = (i, j)``, in CSR order: the weight gradient restricted
    to the sparsity pattern.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.checks import check_sddmm
    >>> def sddmm(indptr, indices, dY, X):
    ...     g = np.zeros(len(indices))
    ...     for i in range(len(indptr) - 1):
    ...         for p in range(indptr[i], indptr[i + 1]):
    ...             g[p] = dY[:, i] @ X[:, indices[p]]
    ...     return g
    >>> bool(check_sddmm(sddmm))
    True
    """
    def make(W, batch, rng):
        dY = rng.standard_normal((batch, W.shape[0]))
        X = rng.standard_normal((batch, W.shape[1]))
        return ((W.indptr.copy(), W.indices.copy(), dY.copy(), X.copy()), (dY, X))

    return _run(fn, make, "sddmm_reference", "weight gradient on the pattern (SDDMM)",
                "entry p = (i, j) is the sum over the batch of dY[b, i] * X[b, j]")
