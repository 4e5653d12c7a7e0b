"""Data for the book: synthetic sparse signals, sensing matrices and offline real data.

Nothing here touches the network. Real data comes from files that ship inside scikit-learn
(the digits, the diabetes data and two sample photographs) or from the repository's ``data/``
folder; everything else is generated from a seed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import as_float_array, check_fraction, check_int, get_rng

__all__ = [
    "sparse_signal",
    "gaussian_matrix",
    "partial_fourier_matrix",
    "correlated_design",
    "simulated_lasso_problem",
    "random_csr",
    "load_digits",
    "load_diabetes",
    "load_sample_image",
    "image_patches",
]


def sparse_signal(
    n: int,
    s: int,
    *,
    seed=None,
    distribution: str = "gaussian",
    return_support: bool = False,
):
    """A vector of length ``n`` with exactly ``s`` non-zeros at random positions.

    Parameters
    ----------
    n : int
        Length of the signal.
    s : int
        Number of non-zeros, ``0 <= s <= n``.
    seed : int, numpy.random.Generator or None
        Source of randomness.
    distribution : {"gaussian", "rademacher", "uniform"}
        Law of the non-zero values: standard normal, random signs (+-1), or uniform on
        ``[-1, -0.5] U [0.5, 1]`` (bounded away from zero, which makes support recovery easier).
    return_support : bool, default False
        Also return the sorted indices of the non-zeros.

    Returns
    -------
    x : ndarray of shape (n,)
    support : ndarray of int, only if ``return_support``

    Examples
    --------
    >>> from sparsecourse.datasets import sparse_signal
    >>> x = sparse_signal(10, 3, seed=0)
    >>> int((x != 0).sum())
    3
    """
    n = check_int(n, "n", minimum=1)
    s = check_int(s, "s", minimum=0, maximum=n)
    rng = get_rng(seed)
    support = np.sort(rng.choice(n, size=s, replace=False))
    if distribution == "gaussian":
        vals = rng.standard_normal(s)
        vals[vals == 0] = 1.0  # keep exactly s non-zeros
    elif distribution == "rademacher":
        vals = rng.choice([-1.0, 1.0], size=s)
    elif distribution == "uniform":
        vals = rng.uniform(0.5, 1.0, size=s) * rng.choice([-1.0, 1.0], size=s)
    else:
        raise ValueError(
            f"distribution must be 'gaussian', 'rademacher' or 'uniform', got {distribution!r}"
        )
    x = np.zeros(n)
    x[support] = vals
    return (x, support) if return_support else x


def gaussian_matrix(m: int, n: int, *, seed=None, normalize: str | None = "columns") -> np.ndarray:
    """An ``m x n`` matrix with i.i.d. standard normal entries, the standard sensing matrix.

    Parameters
    ----------
    m, n : int
        Number of measurements (rows) and signal length (columns).
    seed : int, numpy.random.Generator or None
    normalize : {"columns", "sqrt_m", None}, default "columns"
        ``"columns"`` scales each column to unit Euclidean norm; ``"sqrt_m"`` divides by
        ``sqrt(m)`` (columns have unit norm *in expectation*); ``None`` leaves N(0, 1) entries.

    Examples
    --------
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(20, 50, seed=0)
    >>> A.shape, bool(abs((A ** 2).sum(axis=0) - 1).max() < 1e-12)
    ((20, 50), True)
    """
    m = check_int(m, "m", minimum=1)
    n = check_int(n, "n", minimum=1)
    A = get_rng(seed).standard_normal((m, n))
    if normalize == "columns":
        A /= np.linalg.norm(A, axis=0, keepdims=True)
    elif normalize == "sqrt_m":
        A /= np.sqrt(m)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'columns', 'sqrt_m' or None, got {normalize!r}")
    return A


def correlated_design(
    n_samples: int, n_features: int, rho: float = 0.6, *, seed=None
) -> np.ndarray:
    """Gaussian design whose columns are correlated: ``corr(X_i, X_j) = rho ** |i - j|``.

    Rows are i.i.d. ``N(0, Sigma)`` with the Toeplitz covariance ``Sigma_ij = rho^|i-j|``, generated
    column by column by the AR(1) recursion ``x_j = rho x_{j-1} + sqrt(1 - rho^2) z_j`` (no
    ``p x p`` Cholesky factor). This is the design of benchopt's simulated LASSO benchmarks; large
    ``rho`` makes neighbouring features hard to tell apart.

    Parameters
    ----------
    n_samples, n_features : int
    rho : float in [0, 1), default 0.6
    seed : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of shape (n_samples, n_features), Fortran (column-major) order

    Examples
    --------
    >>> from sparsecourse.datasets import correlated_design
    >>> X = correlated_design(20000, 3, rho=0.6, seed=0)
    >>> bool(abs(np.corrcoef(X[:, 0], X[:, 1])[0, 1] - 0.6) < 0.02)
    True
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    rho = check_fraction(rho, "rho", closed="left")
    rng = get_rng(seed)
    X = np.empty((n_samples, n_features), order="F")
    u = rng.standard_normal(n_samples)
    X[:, 0] = u
    s = np.sqrt(1 - rho**2)
    for j in range(1, n_features):
        u = rho * u + s * rng.standard_normal(n_samples)
        X[:, j] = u
    return X


def simulated_lasso_problem(
    n_samples: int,
    n_features: int,
    *,
    rho: float = 0.6,
    density: float = 0.2,
    snr: float = 3.0,
    seed=None,
):
    """benchopt's simulated LASSO problem: a correlated design, a sparse truth and noisy targets.

    ``X`` comes from :func:`correlated_design`; the true coefficients have
    ``int(density * n_features)`` standard normal non-zeros at random positions; ``y = X w + e``
    with Gaussian noise scaled so that ``||X w|| / ||e|| = snr``.

    Parameters
    ----------
    n_samples, n_features : int
    rho : float in [0, 1), default 0.6
    density : float in [0, 1], default 0.2
    snr : float > 0, default 3
    seed : int, numpy.random.Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), column-major
    y : ndarray of shape (n_samples,)
    w : ndarray of shape (n_features,), the true coefficients

    Examples
    --------
    >>> from sparsecourse.datasets import simulated_lasso_problem
    >>> X, y, w = simulated_lasso_problem(50, 200, seed=0)
    >>> X.shape, y.shape, int((w != 0).sum())
    ((50, 200), (50,), 40)
    """
    density = check_fraction(density, "density")
    if not (np.isfinite(snr) and snr > 0):
        raise ValueError(f"snr must be a positive number, got {snr}")
    rng = get_rng(seed)
    X = correlated_design(n_samples, n_features, rho, seed=rng)
    w = np.zeros(n_features)
    support = rng.choice(n_features, int(density * n_features), replace=False)
    w[support] = rng.standard_normal(support.size)
    y = X @ w
    noise = rng.standard_normal(n_samples)
    y += noise * np.linalg.norm(y) / (snr * np.linalg.norm(noise))
    return X, y, w


def partial_fourier_matrix(m: int, n: int, *, seed=None, real: bool = False) -> np.ndarray:
    """``m`` rows of the unitary ``n x n`` DFT matrix, chosen at random without replacement.

    The rows are scaled by ``sqrt(n / m)`` so that the columns have unit norm, as for
    :func:`gaussian_matrix` with ``normalize="columns"``.

    Parameters
    ----------
    m, n : int
        Number of rows kept (``1 <= m <= n``) and signal length.
    seed : int, numpy.random.Generator or None
    real : bool, default False
        Return the real ``2m x n`` matrix ``[Re F; Im F]`` scaled to unit-norm columns, for
        solvers that work over the reals.

    Examples
    --------
    >>> from sparsecourse.datasets import partial_fourier_matrix
    >>> F = partial_fourier_matrix(8, 32, seed=0)
    >>> F.shape, F.dtype.kind
    ((8, 32), 'c')
    """
    n = check_int(n, "n", minimum=1)
    m = check_int(m, "m", minimum=1, maximum=n)
    rows = np.sort(get_rng(seed).choice(n, size=m, replace=False))
    k = np.arange(n)
    F = np.exp(-2j * np.pi * np.outer(rows, k) / n) / np.sqrt(m)
    if real:
        R = np.vstack([F.real, F.imag])
        norms = np.linalg.norm(R, axis=0, keepdims=True)
        return R / np.where(norms > 0, norms, 1.0)
    return F


def random_csr(
    n_rows: int,
    n_cols: int,
    density: float,
    *,
    seed=None,
    dtype=np.float32,
    empty_rows: float = 0.0,
) -> sp.csr_array:
    """A random sparse matrix in CSR format with i.i.d. Bernoulli(``density``) pattern.

    Values are standard normal. Each entry is stored with probability ``density`` (so row
    lengths vary like real data), and optionally a fraction ``empty_rows`` of the rows is
    emptied to exercise that edge case of CSR kernels.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape; zero is allowed.
    density : float in [0, 1]
    seed : int, numpy.random.Generator or None
    dtype : numpy dtype, default float32
    empty_rows : float in [0, 1], default 0
        Fraction of rows forced to be empty.

    Returns
    -------
    scipy.sparse.csr_array
        With sorted column indices and 32-bit indices when they fit.

    Examples
    --------
    >>> from sparsecourse.datasets import random_csr
    >>> A = random_csr(100, 200, 0.05, seed=0)
    >>> A.shape, A.format
    ((100, 200), 'csr')
    """
    n_rows = check_int(n_rows, "n_rows", minimum=0)
    n_cols = check_int(n_cols, "n_cols", minimum=0)
    density = check_fraction(density, "density")
    empty_rows = check_fraction(empty_rows, "empty_rows")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    rng = get_rng(seed)
    drop = rng.random(n_rows) < empty_rows if empty_rows > 0 else np.zeros(n_rows, bool)
    index_dtype = np.int32 if max(n_rows * n_cols, n_cols) < 2**31 - 1 else np.int64
    if density >= 0.05:
        # i.i.d. Bernoulli mask, in blocks of about 4M entries to bound the temporary memory
        block = max(1, 2**22 // max(n_cols, 1))
        cols, counts = [], np.zeros(n_rows, dtype=np.int64)
        for r0 in range(0, n_rows, block):
            r1 = min(n_rows, r0 + block)
            mask = rng.random((r1 - r0, n_cols), dtype=np.float32) < density
            mask[drop[r0:r1]] = False
            counts[r0:r1] = mask.sum(axis=1)
            cols.append(np.nonzero(mask)[1].astype(index_dtype))
        cols = np.concatenate(cols) if cols else np.zeros(0, index_dtype)
    else:
        # binomial row lengths, then distinct uniform columns: the same law as the mask above
        counts = rng.binomial(n_cols, density, size=n_rows) if n_cols else np.zeros(n_rows, int)
        counts[drop] = 0
        cols = np.empty(int(counts.sum()), dtype=index_dtype)
        pos = 0
        for i in np.flatnonzero(counts):
            c = counts[i]
            picked = np.unique(rng.integers(0, n_cols, size=c + c // 4 + 8))
            while picked.size < c:
                picked = np.unique(np.concatenate([picked, rng.integers(0, n_cols, size=c)]))
            cols[pos : pos + c] = np.sort(rng.permutation(picked)[:c])
            pos += c
    nnz = int(counts.sum())
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices = cols
    data = rng.standard_normal(nnz, dtype=np.float32 if dtype == np.float32 else np.float64)
    data = data.astype(dtype, copy=False)
    return sp.csr_array((data, indices, indptr), shape=(n_rows, n_cols))


def load_digits(*, scale: bool = True):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), offline.

    Parameters
    ----------
    scale : bool, default True
        Divide the pixel values (0..16) by 16 so they lie in [0, 1].

    Returns
    -------
    X : ndarray of shape (1797, 64), float32
    y : ndarray of shape (1797,), int64

    Examples
    --------
    >>> from sparsecourse.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, int(y.max())
    ((1797, 64), 9)
    """
    from sklearn.datasets import load_digits as _load

    X, y = _load(return_X_y=True)
    X = X.astype(np.float32)
    if scale:
        X /= 16.0
    return X, y.astype(np.int64)


def load_diabetes(*, standardize: bool = True):
    """scikit-learn's bundled diabetes regression data (442 patients, 10 features), offline.

    Parameters
    ----------
    standardize : bool, default True
        Centre the target and scale each feature column to unit Euclidean norm, the convention of
        the LARS paper and of most LASSO-path figures.

    Returns
    -------
    X : ndarray of shape (442, 10)
    y : ndarray of shape (442,)
    feature_names : list of str

    Examples
    --------
    >>> from sparsecourse.datasets import load_diabetes
    >>> X, y, names = load_diabetes()
    >>> X.shape, names[2]
    ((442, 10), 'bmi')
    """
    from sklearn.datasets import load_diabetes as _load

    bunch = _load(scaled=True)
    X, y = bunch.data.astype(np.float64), bunch.target.astype(np.float64)
    if standardize:
        X = X - X.mean(axis=0)
        X /= np.linalg.norm(X, axis=0)
        y = y - y.mean()
    return X, y, list(bunch.feature_names)


def load_sample_image(name: str = "china.jpg", *, gray: bool = True) -> np.ndarray:
    """One of scikit-learn's two bundled photographs, as floats in [0, 1], offline.

    Parameters
    ----------
    name : {"china.jpg", "flower.jpg"}
    gray : bool, default True
        Convert to grayscale with ITU-R 601 luma weights.

    Returns
    -------
    ndarray of shape (427, 640) if ``gray`` else (427, 640, 3)

    Examples
    --------
    >>> from sparsecourse.datasets import load_sample_image
    >>> load_sample_image("flower.jpg").shape
    (427, 640)
    """
    from sklearn.datasets import load_sample_image as _load

    if name not in ("china.jpg", "flower.jpg"):
        raise ValueError(f"name must be 'china.jpg' or 'flower.jpg', got {name!r}")
    img = _load(name).astype(np.float64) / 255.0
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114])
    return img


def image_patches(
    image,
    patch_size: int = 8,
    n_patches: int | None = 10_000,
    *,
    seed=None,
    center: bool = True,
) -> np.ndarray:
    """Square patches of a grayscale image, flattened to rows, for dictionary learning.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        A grayscale image (see :func:`load_sample_image`).
    patch_size : int, default 8
    n_patches : int or None, default 10000
        Number of patches drawn at random positions; ``None`` extracts all of them.
    seed : int, numpy.random.Generator or None
    center : bool, default True
        Subtract each patch's mean (its DC component), as is usual before learning a dictionary.

    Returns
    -------
    ndarray of shape (n_patches, patch_size ** 2)

    Examples
    --------
    >>> from sparsecourse.datasets import load_sample_image, image_patches
    >>> P = image_patches(load_sample_image(), 8, 100, seed=0)
    >>> P.shape
    (100, 64)
    """
    from sklearn.feature_extraction.image import extract_patches_2d

    image = as_float_array(image, "image", ndim=2, allow_empty=False)
    H, W = image.shape
    patch_size = check_int(patch_size, "patch_size", minimum=1, maximum=min(H, W))
    if n_patches is not None:
        n_patches = check_int(n_patches, "n_patches", minimum=1)
    rs = int(get_rng(seed).integers(2**31 - 1))
    P = extract_patches_2d(image, (patch_size, patch_size), max_patches=n_patches, random_state=rs)
    P = P.reshape(P.shape[0], -1)
    if center:
        P = P - P.mean(axis=1, keepdims=True)
    return P
