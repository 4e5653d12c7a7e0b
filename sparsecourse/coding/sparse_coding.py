r"""Batched sparse coding: ISTA/FISTA in torch and a numba CPU path.

Sparse coding finds, for each signal ``y`` (a row of ``Y``), a code ``x`` that reconstructs it
from few atoms of a dictionary ``A`` (the atoms are its *columns*),

.. math::

    \hat x(y) = \arg\min_x \; \tfrac12 \|y - A x\|_2^2 + \lambda \|x\|_1 ,

a LASSO per signal with *no* ``1/n`` scaling (the convention of the sparse coding and LISTA
papers, and of :func:`sklearn.decomposition.sparse_encode`).

Two conventions for the dictionary meet in this chapter, and the functions say which they use:

* :func:`batch_ista` and :func:`batch_fista` (the references that LISTA unrolls) take ``A`` of shape
  ``(m, n)`` whose **columns** are atoms, so that a signal is ``y ~ A x``; a batch ``Y`` of shape
  ``(batch, m)`` is coded as ``X`` of shape ``(batch, n)`` with ``Y ~ X A^T``.
* :func:`sparse_encode`, :func:`sparse_coding_objective` and the dictionary learners of
  :mod:`sparsecourse.coding.dictionary` follow scikit-learn: ``dictionary`` of shape
  ``(n_atoms, n_features)`` whose **rows** are atoms, ``X ~ codes @ dictionary``. The two meet
  through ``A = dictionary.T``.

Reference implementations: :func:`soft_threshold`, :func:`batch_ista`, :func:`batch_fista` (torch,
batched, written the way the math reads). Fast CPU path: :func:`sparse_encode` follows the
LASSO path (homotopy with Cholesky updates) on the Gram matrix for every signal in compiled
loops (numba, optionally signals split between threads), finished where needed by working-set
coordinate descent with feature-sign steps, and reaches the optimum to machine precision; its
``"omp"`` mode is Batch-OMP, used by K-SVD.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from .._validation import as_float_array, check_int, check_positive, result_float_dtype
from ..regression import soft_threshold
from ._kernels import cd_batch, cd_batch_serial, omp_batch, omp_batch_serial

__all__ = [
    "soft_threshold",
    "batch_ista",
    "batch_fista",
    "sparse_coding_objective",
    "sparse_encode",
]


# ------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------

def _check_lam(lam, name: str = "lam", *, strict: bool = True) -> float:
    if isinstance(lam, torch.Tensor) and lam.numel() == 1:
        lam = float(lam)
    if isinstance(lam, np.ndarray) and lam.size == 1:
        lam = float(lam)
    return check_positive(lam, name, strict=strict)


def _to_tensor(x, name: str, dtype=None, device=None) -> torch.Tensor:
    """A float torch tensor from a tensor or an array-like, with a clear error otherwise."""
    if isinstance(x, torch.Tensor):
        t = x
        if not (t.is_floating_point()):
            if t.is_complex() or t.dtype == torch.bool:
                raise TypeError(f"{name} must be a real float tensor, got dtype {t.dtype}")
            t = t.to(torch.float64 if dtype is None else dtype)
    else:
        arr = as_float_array(x, name)
        t = torch.from_numpy(arr)
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype if dtype is not None else t.dtype,
                 device=device if device is not None else t.device)
    return t


def _check_problem(Y, A, lam, n_iter, step, x0):
    """Validate the arguments of :func:`batch_ista` / :func:`batch_fista`; torch versions."""
    Y = _to_tensor(Y, "Y")
    A = _to_tensor(A, "A", dtype=Y.dtype, device=Y.device)
    if A.ndim != 2:
        raise ValueError(f"A must be a 2-D dictionary of shape (m, n), got shape {tuple(A.shape)}")
    if Y.ndim not in (1, 2):
        raise ValueError(f"Y must have shape (batch, m) or (m,), got shape {tuple(Y.shape)}")
    m, n = A.shape
    if Y.shape[-1] != m:
        raise ValueError(
            f"shape mismatch: Y has {Y.shape[-1]} features per row but A has {m} rows; "
            f"A must have shape (m, n) = ({Y.shape[-1]}, n_atoms), with atoms as columns"
        )
    if not torch.isfinite(Y).all():
        raise ValueError("Y contains NaN or infinity")
    if not torch.isfinite(A).all():
        raise ValueError("A contains NaN or infinity")
    lam = _check_lam(lam)
    n_iter = check_int(n_iter, "n_iter", minimum=0)
    if step is None:
        L = float(torch.linalg.matrix_norm(A.detach(), ord=2)) ** 2
        step = 1.0 / L if L > 0 else 1.0
    else:
        step = check_positive(step, "step")
    squeeze = Y.ndim == 1
    Yb = Y.unsqueeze(0) if squeeze else Y
    if x0 is None:
        x = Yb.new_zeros((Yb.shape[0], n))
    else:
        x = _to_tensor(x0, "x0", dtype=Y.dtype, device=Y.device)
        x = x.unsqueeze(0) if x.ndim == 1 else x
        if tuple(x.shape) != (Yb.shape[0], n):
            raise ValueError(f"x0 must have shape {(Yb.shape[0], n)} (batch, n_atoms), "
                             f"got {tuple(x.shape)}")
    return Yb, A, lam, n_iter, step, x, squeeze


# ------------------------------------------------------------------------------------------
# Reference solvers (torch)
# ------------------------------------------------------------------------------------------

def batch_ista(Y, A, lam: float, *, n_iter: int = 100, step: float | None = None, x0=None,
               return_iterates: bool = False):
    r"""ISTA for a batch of sparse coding problems (torch reference implementation).

    Each row ``y`` of ``Y`` is coded by minimising ``0.5 ||y - A x||^2 + lam ||x||_1``
    (*unscaled*: no ``1/n``, the convention of the sparse coding and LISTA papers; for
    scikit-learn's ``1/(2n)`` scaling with ``alpha`` on one regression problem see
    :func:`sparsecourse.regression.ista`) with the iterative shrinkage-thresholding algorithm:
    a gradient step on the quadratic
    followed by soft thresholding,

    .. math::

        x^{k+1} = \mathrm{ST}_{\lambda/L}\!\left(x^k + \tfrac1L A^\top (y - A x^k)\right),
        \qquad L = \|A\|_2^2 .

    Written for rows, ``X <- ST(X - (X A^T - Y) A / L, lam / L)``: one matrix product per
    iteration for the whole batch. Runs exactly ``n_iter`` iterations (no stopping rule), which
    makes it the natural baseline for the unrolled networks (:class:`~sparsecourse.coding.LISTA`
    and its successors). The objective decreases as ``O(1/k)``.

    Parameters
    ----------
    Y : torch.Tensor or array-like of shape (batch, m) or (m,)
        Signals, one per row. NumPy input is converted to a torch tensor (float64 stays
        float64); the computation runs in ``Y``'s dtype and on its device.
    A : torch.Tensor or array-like of shape (m, n)
        Dictionary, atoms as **columns**.
    lam : float > 0
        Weight of the ``l1`` penalty.
    n_iter : int, default 100
        Number of iterations.
    step : float > 0, optional
        Step size; ``1 / ||A||_2^2`` by default (the largest with guaranteed descent).
    x0 : torch.Tensor or array-like of shape (batch, n), optional
        Starting codes (zeros by default).
    return_iterates : bool, default False
        Also return the list of the ``n_iter`` iterates (the codes after each iteration).

    Returns
    -------
    codes : torch.Tensor of shape (batch, n) (or (n,) for a single signal)
    iterates : list of torch.Tensor, only if ``return_iterates``

    See Also
    --------
    batch_fista : the accelerated version.
    sparse_encode : the fast CPU solver (NumPy in and out, scikit-learn's dictionary layout).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import batch_ista
    >>> A = torch.eye(3, dtype=torch.float64)
    >>> Y = torch.tensor([[2.0, -0.5, 1.0]], dtype=torch.float64)
    >>> batch_ista(Y, A, 0.75, n_iter=10).tolist()
    [[1.25, -0.0, 0.25]]
    >>> codes, its = batch_ista(torch.randn(5, 3), A.float(), 0.1, n_iter=4, return_iterates=True)
    >>> codes.shape, len(its)
    (torch.Size([5, 3]), 4)
    """
    Y, A, lam, n_iter, step, x, squeeze = _check_problem(Y, A, lam, n_iter, step, x0)
    iterates = []
    for _ in range(n_iter):
        residual = x @ A.T - Y  # (batch, m): A x - y for every row
        x = soft_threshold(x - step * (residual @ A), step * lam)
        if return_iterates:
            iterates.append(x.squeeze(0) if squeeze else x)
    x = x.squeeze(0) if squeeze else x
    return (x, iterates) if return_iterates else x


def batch_fista(Y, A, lam: float, *, n_iter: int = 100, step: float | None = None, x0=None,
                return_iterates: bool = False):
    r"""FISTA for a batch of sparse coding problems (torch reference implementation).

    The objective is :func:`batch_ista`'s, ``0.5 ||y - A x||^2 + lam ||x||_1`` per row,
    unscaled (:func:`sparsecourse.regression.fista` is the ``1/(2n)``-scaled regression one).

    Beck & Teboulle's accelerated ISTA takes the ISTA step from an extrapolated point ``z``:

    .. math::

        x^{k+1} = \mathrm{ST}_{\lambda/L}\!\left(z^k + \tfrac1L A^\top (y - A z^k)\right),\quad
        t_{k+1} = \tfrac{1 + \sqrt{1 + 4 t_k^2}}{2},\quad
        z^{k+1} = x^{k+1} + \tfrac{t_k - 1}{t_{k+1}} (x^{k+1} - x^k),

    with ``t_0 = 1`` and ``z^0 = x^0``; the objective decreases as ``O(1/k^2)``. The momentum
    sequence is the same for every row, so the batch stays one matrix product per iteration.
    No restart, no stopping rule: exactly ``n_iter`` iterations (the textbook algorithm).

    Parameters
    ----------
    Y, A, lam, n_iter, step, x0, return_iterates
        As in :func:`batch_ista`.

    Returns
    -------
    codes : torch.Tensor of shape (batch, n) (or (n,) for a single signal)
    iterates : list of torch.Tensor, only if ``return_iterates`` (the ``x^k``, not the ``z^k``)

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import batch_fista, batch_ista, sparse_coding_objective
    >>> g = torch.Generator().manual_seed(0)
    >>> A = torch.randn(20, 50, generator=g, dtype=torch.float64)
    >>> Y = torch.randn(8, 20, generator=g, dtype=torch.float64)
    >>> f = sparse_coding_objective(Y, A.T, batch_fista(Y, A, 0.5, n_iter=50), 0.5)
    >>> i = sparse_coding_objective(Y, A.T, batch_ista(Y, A, 0.5, n_iter=50), 0.5)
    >>> bool(f < i)
    True
    """
    Y, A, lam, n_iter, step, x, squeeze = _check_problem(Y, A, lam, n_iter, step, x0)
    z = x
    t = 1.0
    iterates = []
    for _ in range(n_iter):
        x_new = soft_threshold(z - step * ((z @ A.T - Y) @ A), step * lam)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        z = x_new + ((t - 1.0) / t_new) * (x_new - x)
        x, t = x_new, t_new
        if return_iterates:
            iterates.append(x.squeeze(0) if squeeze else x)
    x = x.squeeze(0) if squeeze else x
    return (x, iterates) if return_iterates else x


# ------------------------------------------------------------------------------------------
# Objective
# ------------------------------------------------------------------------------------------

def sparse_coding_objective(X, dictionary, codes, lam: float, *, reduce: str = "mean"):
    r"""The sparse coding objective ``0.5 ||x - c D||^2 + lam ||c||_1`` of each row.

    Unscaled, unlike :func:`sparsecourse.regression.lasso_objective`, which is scikit-learn's
    ``1/(2n) ||y - X w||^2 + alpha ||w||_1`` of one regression problem.

    Uses scikit-learn's layout: ``X ~ codes @ dictionary`` with atoms as rows of
    ``dictionary``. (For :func:`batch_ista`'s ``A``, whose columns are atoms, pass ``A.T``.)

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
    dictionary : array-like or torch.Tensor of shape (n_atoms, n_features)
    codes : array-like or torch.Tensor of shape (n_samples, n_atoms)
    lam : float >= 0
    reduce : {"mean", "sum", "none"}, default "mean"
        Average over the rows, sum them, or return one value per row.

    Returns
    -------
    float, or an ndarray of shape (n_samples,) for ``reduce="none"``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import sparse_coding_objective
    >>> X = np.array([[1.0, 2.0]]); D = np.eye(2)
    >>> sparse_coding_objective(X, D, np.zeros((1, 2)), 0.5)   # 0.5 * ||x||^2
    2.5
    >>> sparse_coding_objective(X, D, X, 0.5)                  # 0.5 * ||x||_1
    1.5
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    D = as_float_array(dictionary, "dictionary", ndim=2, dtype=np.float64)
    C = as_float_array(codes, "codes", ndim=2, dtype=np.float64)
    check_layout(X, D, C)
    lam = _check_lam(lam, strict=False)
    if reduce not in ("mean", "sum", "none"):
        raise ValueError(f"reduce must be 'mean', 'sum' or 'none', got {reduce!r}")
    R = X - C @ D
    per_row = 0.5 * np.einsum("ij,ij->i", R, R) + lam * np.abs(C).sum(axis=1)
    if reduce == "none":
        return per_row
    return float(per_row.mean() if reduce == "mean" else per_row.sum())


def check_layout(X, D, C=None):
    """Shapes in scikit-learn's layout: X (n, p), dictionary (k, p), codes (n, k)."""
    if D.shape[1] != X.shape[1]:
        raise ValueError(
            f"shape mismatch: X has {X.shape[1]} features but dictionary has {D.shape[1]} "
            f"columns; dictionary must have shape (n_atoms, n_features) = (n_atoms, {X.shape[1]})"
        )
    if C is not None and C.shape != (X.shape[0], D.shape[0]):
        raise ValueError(f"codes must have shape (n_samples, n_atoms) = "
                         f"{(X.shape[0], D.shape[0])}, got {C.shape}")


# ------------------------------------------------------------------------------------------
# User-facing sparse coding (NumPy in and out, scikit-learn's layout)
# ------------------------------------------------------------------------------------------

_ALGORITHMS = ("cd", "fista", "omp")
#: scikit-learn's names, accepted as aliases: both LASSO solvers of scikit-learn are answered by
#: the exact working-set solver ("lasso_lars" is exact too; same objective, same optimum).
_ALIASES = {"lasso_cd": "cd", "lasso_lars": "cd"}


def sparse_encode(X, dictionary, lam: float | None = None, *, alpha: float | None = None,
                  algorithm: str = "cd", n_nonzero_coefs: int | None = None,
                  max_iter: int = 1000, tol: float | None = None, init=None,
                  n_threads: int = 1) -> np.ndarray:
    r"""Sparse codes of many signals over one dictionary (fast CPU path).

    Solves, for every row ``x`` of ``X``, the LASSO ``min_c 0.5 ||x - c D||^2 + lam ||c||_1``
    (``algorithm="cd"`` or ``"fista"``), or the ``l0``-constrained problem
    ``min ||x - c D||^2  s.t.  ||c||_0 <= n_nonzero_coefs`` greedily (``"omp"``). Same layout
    and same LASSO objective as :func:`sklearn.decomposition.sparse_encode` with
    ``alpha=lam``: atoms are the rows of ``dictionary``. scikit-learn's names work too:
    ``alpha=`` for ``lam`` and ``algorithm="lasso_cd"`` (or ``"lasso_lars"``) for ``"cd"``, and a
    float32 ``X`` with a float32 ``dictionary`` gives float32 codes, as in scikit-learn.

    How ``"cd"`` is fast: both products with the data, ``G = D D^T`` and ``B = X D^T``, are done
    once by BLAS; after that each signal is an ``n_atoms``-dimensional problem
    ``0.5 c^T G c - b^T c + lam ||c||_1`` solved in a compiled loop. Each signal follows the
    LASSO path from ``c = 0`` down to ``lam`` (homotopy, Osborne et al., 2000; LARS-LASSO,
    Efron et al., 2004): the active atoms move along ``G_AA^{-1} sign(c_A)`` until an atom
    joins or a code reaches zero, and the Cholesky factor of ``G_AA`` is *updated* at each such
    event (a new row, or Givens rotations), never refactorised, so a code with ``s`` non-zeros
    costs about ``s`` steps of ``O(n_atoms s)``. The codes are then recomputed from the factor
    and the duality gap is checked. Where the path has to stop early (an atom numerically in
    the span of the active ones), a working-set solver finishes: coordinate-descent sweeps
    and feature-sign steps (Lee et al., 2006) on the Gram matrix of the current support plus
    the worst violators of ``|g_j| <= lam`` (``g = G c - b``). Either way it stops when the
    duality gap of the signal is at most ``tol * ||x||^2``: the optimum to machine precision.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals, one per row.
    dictionary : array-like of shape (n_atoms, n_features)
        Atoms as **rows** (scikit-learn's ``components_``). They need not be normalised.
    lam : float >= 0
        Weight of the ``l1`` penalty (``"cd"`` and ``"fista"``). ``lam = 0`` is accepted, as
        scikit-learn accepts ``alpha=0``: the codes are then least-squares coefficients,
        computed directly (``np.linalg.lstsq``); where the atoms are linearly dependent (more
        atoms than features) the least-squares codes are not unique and this is the one of
        smallest ``l2`` norm (scikit-learn's ``lasso_lars`` returns the one of smallest ``l1``
        norm, its ``lasso_cd`` wherever its iterations stop).
    alpha : float >= 0, optional
        scikit-learn's name for ``lam`` (the same objective, no rescaling); pass one of the two.
    algorithm : {"cd", "fista", "omp", "lasso_cd", "lasso_lars"}, default "cd"
        ``"cd"``: the numba coordinate descent above. ``"fista"``: :func:`batch_fista` in torch,
        ``max_iter`` iterations, no stopping rule. ``"omp"``: Batch-OMP through the Gram matrix
        (Rubinstein, Zibulevsky & Elad, 2008), the same selections as
        :func:`sparsecourse.regression.omp` for each row. ``"lasso_cd"`` and ``"lasso_lars"``
        (scikit-learn's names) are aliases of ``"cd"``, which solves the same LASSO exactly.
    n_nonzero_coefs : int, optional
        Maximum number of atoms per signal for ``"omp"`` (between 1 and ``n_atoms``);
        ``max(1, n_features // 10)`` if ``None``.
    max_iter : int, default 1000
        Epochs of ``"cd"`` per signal, iterations of ``"fista"``.
    tol : float, optional
        ``"cd"``: relative duality gap target, ``gap <= tol * ||x||^2`` (default ``1e-10``).
        ``"omp"``: squared residual norm at which to stop early (scikit-learn's convention;
        default: no early stop).
    init : array-like of shape (n_samples, n_atoms), optional
        Warm start for ``"fista"`` (zeros by default). ``"cd"`` follows the path from zero,
        which is faster than any warm start, and starts from ``init`` only for a signal where
        the path stops early and ``init`` has the lower objective.
    n_threads : int, default 1
        Threads for ``"cd"`` and ``"omp"``. With 1 a serial compiled loop runs (no thread
        pool: a numba/OpenMP pool that has just finished keeps its threads spinning, which
        slows the BLAS calls that come next on a machine with few cores); with more, the
        signals are split between threads (``numba.prange``).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_atoms)
        float32 if ``X`` and ``dictionary`` are both float32 (computed in float64, then
        rounded), float64 otherwise.

    See Also
    --------
    batch_ista, batch_fista : the torch references.
    sparse_coding_objective : the objective these codes minimise.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import sparse_encode as sk_encode
    >>> from sparsecourse.coding import sparse_encode, sparse_coding_objective
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((30, 16)); X = rng.standard_normal((100, 16))
    >>> C = sparse_encode(X, D, 0.5)
    >>> C.shape
    (100, 30)
    >>> S = sk_encode(X, D, algorithm="lasso_lars", alpha=0.5)
    >>> bool(sparse_coding_objective(X, D, C, 0.5) <= sparse_coding_objective(X, D, S, 0.5) + 1e-10)
    True
    >>> C32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.5,
    ...                     algorithm="lasso_cd")          # scikit-learn's spelling
    >>> C32.dtype, bool(np.allclose(C32, C, atol=1e-5))
    (dtype('float32'), True)
    >>> (sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3) != 0).sum(axis=1).max()
    np.int64(3)
    """
    X = as_float_array(X, "X", ndim=2)
    D = as_float_array(dictionary, "dictionary", ndim=2)
    out_dtype = result_float_dtype(X.dtype, D.dtype, name="X and dictionary")
    X = X.astype(np.float64, copy=False)
    D = D.astype(np.float64, copy=False)
    check_layout(X, D)
    n, k = X.shape[0], D.shape[0]
    if algorithm not in _ALGORITHMS and algorithm not in _ALIASES:
        raise ValueError(f"algorithm must be one of {_ALGORITHMS + tuple(_ALIASES)}, "
                         f"got {algorithm!r}")
    algorithm = _ALIASES.get(algorithm, algorithm)
    if alpha is not None:
        if lam is not None:
            raise ValueError("pass the penalty as lam or as alpha (scikit-learn's name), "
                             "not both")
        lam, lam_name = alpha, "alpha"
    else:
        lam_name = "lam"
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    if tol is not None:
        tol = check_positive(tol, "tol", strict=False)
    n_threads = check_int(n_threads, "n_threads", minimum=1, maximum=nb.config.NUMBA_NUM_THREADS)
    C = np.zeros((n, k))
    if init is not None:
        if algorithm == "omp":
            raise ValueError("init is not used by algorithm='omp'")
        C = as_float_array(init, "init", ndim=2, dtype=np.float64).copy()
        if C.shape != (n, k):
            raise ValueError(f"init must have shape (n_samples, n_atoms) = {(n, k)}, got {C.shape}")
    if algorithm == "omp":
        if lam is not None:
            raise ValueError(f"{lam_name} is not used by algorithm='omp'; pass n_nonzero_coefs")
        if n_nonzero_coefs is None:
            n_nonzero_coefs = max(1, X.shape[1] // 10)
        k_max = check_int(n_nonzero_coefs, "n_nonzero_coefs", minimum=1, maximum=k)
        omp_tol = -1.0 if tol is None else tol
    else:
        if lam is None:
            raise ValueError(f"lam (or alpha) is required for algorithm={algorithm!r}")
        lam = _check_lam(lam, lam_name, strict=False)
        if n_nonzero_coefs is not None:
            raise ValueError("n_nonzero_coefs is only used by algorithm='omp'")
    if n == 0:
        return C.astype(out_dtype, copy=False)
    if algorithm != "omp" and lam == 0.0:
        # no penalty: least squares, min ||x - c D||^2 for every row at once
        C = np.linalg.lstsq(D.T, X.T, rcond=None)[0].T
        return np.ascontiguousarray(C, dtype=out_dtype)
    if algorithm == "fista":
        return batch_fista(X, D.T, lam, n_iter=max_iter, x0=C).numpy().astype(out_dtype,
                                                                             copy=False)
    G = D @ D.T
    B = X @ D.T
    xx = np.einsum("ij,ij->i", X, X)
    if n_threads == 1:
        if algorithm == "cd":
            cd_batch_serial(G, B, xx, lam, C, 1e-10 if tol is None else tol, max_iter)
        else:
            omp_batch_serial(G, B, xx, k_max, omp_tol, C)
        return C.astype(out_dtype, copy=False)
    previous = nb.get_num_threads()
    nb.set_num_threads(n_threads)
    try:
        if algorithm == "cd":
            cd_batch(G, B, xx, lam, C, 1e-10 if tol is None else tol, max_iter)
        else:
            omp_batch(G, B, xx, k_max, omp_tol, C)
    finally:
        nb.set_num_threads(previous)
    return C.astype(out_dtype, copy=False)
