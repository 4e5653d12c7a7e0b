"""The measurement operator seen by every solver: a dense real matrix or a matrix-free operator.

Private helper; the public entry points validate their input through :func:`prepare`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array, check_int, check_positive
from . import _kernels


class Operator:
    """Uniform access to ``A``: ``mv`` (``A x``), ``rmv`` (``Re A^* r``), columns if dense.

    A dense ``A`` is stored as float64, or, with ``dtype=np.float32`` (or ``dtype=None`` and a
    float32 input), as float32: half the bytes to read per product. Vectors stay float64, and
    products with a float32 ``A`` are computed in float64 on its float32 values.
    """

    def __init__(self, A, dtype=np.float64):
        if isinstance(A, np.ndarray) or (hasattr(A, "__array__") and not hasattr(A, "matvec")):
            dtype = _dense_dtype(A, dtype)
            A = as_float_array(A, "A", ndim=2, dtype=dtype, allow_empty=False,
                               check_finite=False)
            self.dense = A
            self.shape = A.shape
            self.is_complex = False
            # one parallel read of A: the squared norm, finite if and only if A is (or it
            # overflowed): 4.1 ms at 3000 x 5000 float64, np.isfinite(A).all() and einsum 18.2
            fro2 = _kernels.sum_squares(A)
            if not np.isfinite(fro2) and not np.isfinite(A).all():
                raise ValueError("A contains NaN or infinity")  # else: beyond float64's range
            self.gram_scale = None
        elif all(hasattr(A, k) for k in ("matvec", "rmatvec", "shape")):
            self.dense = None
            self.op = A
            self.shape = tuple(int(d) for d in A.shape)
            self.is_complex = True
            fro2 = getattr(A, "fro2", None)
            if fro2 is None:
                raise TypeError("an operator A must provide fro2 (its squared Frobenius norm)")
            self.gram_scale = getattr(A, "gram_scale", None)
        else:
            raise TypeError("A must be a 2-D ndarray or an operator with shape, matvec, rmatvec "
                            f"and fro2 (e.g. CodedDiffraction), got {type(A).__name__}")
        m, n = self.shape
        if fro2 <= 0:
            raise ValueError("A must not be the zero matrix")
        #: mean squared entry: 1 for N(0, 1) entries, 1/n for the orthonormal-FFT CDP operator
        self.c = fro2 / (m * n)

    def mv(self, x: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
        """``A x``; with ``support`` (the non-zeros of ``x``) only those columns are read."""
        if self.dense is None:
            return self.op.matvec(x)
        if support is not None and support.size < 0.25 * self.shape[1]:
            return _kernels.gather_matvec(self.dense, support, x[support])
        return self.dense @ x

    def rmv(self, r: np.ndarray) -> np.ndarray:
        """``Re(A^* r)``."""
        if self.dense is None:
            return self.op.rmatvec(r)
        return self.dense.T @ r


def _dense_dtype(A, dtype):
    """The storage dtype of a dense ``A``: float64 or float32 (``None``: keep float32 input)."""
    if dtype is None:
        return np.float32 if getattr(A, "dtype", None) == np.float32 else np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32, float64 or None, got {dtype!r}")
    return dt.type


def prepare(A, y, s, *, x0=None, max_iter=None, tol=None, s_optional=False,
            dtype=np.float64):
    """Validate the common arguments of the solvers; returns ``(op, y, s, x0, max_iter, tol)``."""
    op = Operator(A, dtype=dtype)
    m, n = op.shape
    y = as_float_array(y, "y", ndim=1, dtype=np.float64)
    if y.shape[0] != m:
        raise ValueError(f"y must hold one intensity per row of A: A has {m} rows, y has "
                         f"{y.shape[0]} entries")
    if (y < 0).any():
        raise ValueError("y must hold non-negative intensities |a_i^T x|^2; it has "
                         f"{int((y < 0).sum())} negative entries (pass y = b**2 for amplitudes b)")
    if not (y > 0).any():
        raise ValueError("y is all zeros: the signal cannot be recovered (only x = 0 fits)")
    if s is None:
        if not s_optional:
            raise TypeError("s (the number of non-zeros) is required for this solver")
    else:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"s must be an integer, got {type(s).__name__} {s!r}")
        s = check_int(s, "s", minimum=1)
        if s > n:
            raise ValueError(f"s must be <= n = {n} (the signal length), got s = {s}")
    if x0 is not None:
        x0 = as_float_array(x0, "x0", ndim=1, dtype=np.float64).copy()
        if x0.shape[0] != n:
            raise ValueError(f"x0 must have length n = {n}, got {x0.shape[0]}")
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", minimum=1)
    if tol is not None:
        tol = check_positive(tol, "tol", strict=False)
    return op, y, s, x0, max_iter, tol
