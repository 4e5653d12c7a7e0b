"""Input validation shared by every module.

Each helper raises :class:`ValueError` or :class:`TypeError` with a message that names the
argument and says what was expected, so that a learner sees *what* to fix, not a traceback
from deep inside numba or BLAS.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_float_array",
    "as_csr",
    "check_int",
    "check_fraction",
    "check_positive",
    "get_rng",
    "result_float_dtype",
    "validate_data",
]

_FLOAT_DTYPES = (np.float32, np.float64)


def result_float_dtype(*dtypes: np.dtype, name: str) -> np.dtype:
    """float32 if every input is float32, otherwise float64; complex/object/bool raise.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse._validation import result_float_dtype
    >>> result_float_dtype(np.float32, np.int64, name="A and x")
    dtype('float64')
    """
    for dt in dtypes:
        dt = np.dtype(dt)
        if dt.kind == "c":
            raise TypeError(f"{name} must be real-valued, got complex dtype {dt}")
        if dt.kind not in "fiu":
            raise TypeError(f"{name} must have a numeric real dtype, got {dt}")
    if all(np.dtype(dt) == np.float32 for dt in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_float_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype=None,
    check_finite: bool = True,
    allow_empty: bool = True,
) -> np.ndarray:
    """Convert ``x`` to a C-contiguous float32/float64 array and validate it.

    Integer input is converted to float64; float32 and float64 are kept; complex, boolean,
    string or object input raises :class:`TypeError`.
    """
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense array, got a scipy.sparse {type(x).__name__}")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind in "bUS":
        raise TypeError(f"{name} must be numeric (float32 or float64), got dtype {arr.dtype}")
    if dtype is None:
        dtype = result_float_dtype(arr.dtype, name=name)
    elif arr.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if check_finite and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def as_csr(A, name: str = "A", *, dtype=None, check_finite: bool = True) -> sp.csr_array:
    """Validate a scipy CSR matrix/array and return it with float32/float64 values.

    Accepts :class:`scipy.sparse.csr_array` and :class:`scipy.sparse.csr_matrix`. Other sparse
    formats raise :class:`TypeError` (convert with ``A.tocsr()`` first: a silent conversion would
    hide a copy from a benchmark). Integer values are converted to float64.
    """
    if not sp.issparse(A):
        raise TypeError(
            f"{name} must be a scipy.sparse CSR array or matrix, got {type(A).__name__}; "
            "build one with scipy.sparse.csr_array(dense)"
        )
    if A.format != "csr":
        raise TypeError(
            f"{name} must be in CSR format, got {A.format!r}; call {name}.tocsr() first"
        )
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got ndim={A.ndim}")
    if dtype is None:
        dtype = result_float_dtype(A.dtype, name=name)
    if A.dtype != dtype:
        A = A.astype(dtype)
    if check_finite and A.data.size and not np.isfinite(A.data).all():
        raise ValueError(f"{name} contains NaN or infinity in its stored values")
    return A


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[minimum, maximum]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_fraction(
    value, name: str, *, low: float = 0.0, high: float = 1.0, closed: str = "both"
) -> float:
    """Check that ``value`` is a real number in an interval.

    ``closed`` is ``"both"`` for ``[low, high]``, ``"left"`` for ``[low, high)``, ``"right"`` for
    ``(low, high]`` and ``"neither"`` for ``(low, high)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    lo_ok = value >= low if closed in ("both", "left") else value > low
    hi_ok = value <= high if closed in ("both", "right") else value < high
    if not (np.isfinite(value) and lo_ok and hi_ok):
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{rb}, got {value}")
    return value


def check_positive(value, name: str, *, strict: bool = True) -> float:
    """Check that ``value`` is a finite real number, > 0 (or >= 0 if ``strict=False``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} and finite, got {value}")
    return value


def get_rng(seed) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from an int seed, a Generator or ``None``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}"
    )


def validate_data(estimator, X, y="no_validation", **kwargs):
    """scikit-learn's ``validate_data`` on any version (a method before 1.6).

    The estimators of :mod:`sparsecourse.regression` and :mod:`sparsecourse.coding` validate
    with it so that they behave like every other scikit-learn estimator (``n_features_in_``,
    ``feature_names_in_``, the messages its ``estimator_checks`` expect); the solver functions
    use the helpers above instead.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sparsecourse._validation import validate_data
    >>> est = BaseEstimator()
    >>> validate_data(est, np.ones((3, 2))).shape, est.n_features_in_
    ((3, 2), 2)
    """
    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data as sk_validate_data
    except ImportError:  # pragma: no cover - older scikit-learn
        return estimator._validate_data(X, y, **kwargs)
    return sk_validate_data(estimator, X, y, **kwargs)
