r"""Reference solvers for (sparse) phase retrieval, all with one signature.

Every solver is called as ``solver(A, y, s, *, x0=None, max_iter=..., tol=..., seed=None,
x_true=None, target_error=None, ...)`` and returns a :class:`PhaseRetrievalResult`. ``A`` is a
dense real ``m x n`` matrix or a matrix-free operator such as
:class:`~sparsecourse.phase_retrieval.CodedDiffraction`; ``y`` holds the intensities
:math:`y_i = |a_i^* x|^2`; ``s`` is the number of non-zeros (``None`` allowed for the classical,
non-sparse methods). Without ``x0`` each solver starts from the initialisation its paper uses;
pass the same ``x0`` to compare solvers from the same start.

Two losses appear, with :math:`b = \sqrt{y}` the amplitudes and ``c`` the mean squared entry of
``A`` (1 for :math:`N(0,1)` entries; it makes the step sizes scale-free):

.. math::

    f_{\rm int}(x) = \frac{1}{4m}\sum_i \big((a_i^\top x)^2 - y_i\big)^2 ,\qquad
    f_{\rm amp}(x) = \frac{1}{2m}\sum_i \big(|a_i^\top x| - b_i\big)^2 .

================== ============================================================================
solver             iteration
================== ============================================================================
error_reduction    Gerchberg-Saxton / Fienup: impose the measured magnitudes, project back onto
                   the signals (and onto ``s``-sparse vectors)
wirtinger_flow     gradient descent on :math:`f_{\rm int}` (Candès, Li, Soltanolkotabi 2015)
amplitude_flow     truncated amplitude flow, TAF (Wang, Giannakis, Eldar 2018)
sparta             TAF step + hard thresholding to ``s`` entries (Wang et al. 2018)
thwf               WF step + soft thresholding at a data-driven level (Cai, Li, Ma 2016)
copram             alternate signs and CoSaMP on the linearised problem (Jagatap, Hegde 2019)
htp                hard-thresholding pursuit on :math:`f_{\rm amp}` (Cai, Li, Lu, You 2022)
newton_ht          the seed paper: support from a thresholded gradient step on
                   :math:`f_{\rm amp}`, then a Newton step on :math:`f_{\rm int}` restricted to
                   it (Cai, Long, Wen, Ying 2023)
================== ============================================================================

Stopping rule (the same for all): stop when the relative change
:math:`\|x^{k+1} - x^k\| / \|x^{k+1}\|` is at most ``tol``, or, when ``x_true`` and
``target_error`` are given, as soon as the relative error up to sign is at most
``target_error``; ``converged`` says which happened before ``max_iter``.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from .._threads import blas_threads as _blas_threads
from .._validation import as_float_array, check_positive
from ..regression.thresholding import hard_threshold, top_k
from ..utils import llc_bytes
from . import _kernels
from ._op import prepare
from .init import sparse_spectral_init, spectral_init
from .models import relative_error

__all__ = [
    "PhaseRetrievalResult",
    "error_reduction",
    "wirtinger_flow",
    "amplitude_flow",
    "sparta",
    "thwf",
    "copram",
    "htp",
    "newton_ht",
    "hard_threshold",
    "SOLVERS",
    "SPARSE_SOLVERS",
]


@dataclass
class PhaseRetrievalResult:
    """What a phase-retrieval solver returns.

    Attributes
    ----------
    x : ndarray of shape (n,)
        The estimate (determined up to the global sign).
    n_iter : int
        Iterations run.
    converged : bool
        The stopping rule fired before ``max_iter``. A diverging run (NaN or infinity) stops,
        warns, returns its last finite iterate and has ``converged=False``.
    history : dict of lists
        One entry per iterate, starting with ``x0``: ``"seconds"`` since the start of the
        iterations, ``"step"`` (relative change) and, when ``x_true`` was given,
        ``"rel_error"``.
    x_init : ndarray of shape (n,)
        The starting point.
    init_seconds : float
        Time spent computing ``x_init`` (0 when ``x0`` was given).
    solver : str
    kernel : str
        How a dense ``A`` was read by :func:`newton_ht` and :func:`htp`: ``"fused"`` or
        ``"reference"`` (their ``kernel`` option, with ``"auto"`` resolved); ``""`` for the
        other solvers.
    """

    x: np.ndarray
    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)
    x_init: np.ndarray | None = None
    init_seconds: float = 0.0
    solver: str = ""
    kernel: str = ""

    def time_to(self, error: float) -> float:
        """Seconds (from the start of the iterations) until the relative error first fell to
        ``error``; ``inf`` if it never did or no ``x_true`` was given."""
        err = self.history.get("rel_error")
        if not err:
            return float("inf")
        for e, t in zip(err, self.history["seconds"], strict=True):
            if e <= error:
                return t
        return float("inf")

    def iters_to(self, error: float) -> int | None:
        """Iterations until the relative error first fell to ``error`` (``None`` if never)."""
        for k, e in enumerate(self.history.get("rel_error", [])):
            if e <= error:
                return k
        return None

    def __repr__(self) -> str:
        err = self.history.get("rel_error")
        tail = f", rel_error={err[-1]:.2e}" if err else ""
        return (f"PhaseRetrievalResult({self.solver}, n_iter={self.n_iter}, "
                f"converged={self.converged}{tail})")


# --------------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------------

class _Run:
    """Start point, clock, history and the common stopping rule."""

    def __init__(self, name, op, y, s, x0, x_true, target_error, tol, init):
        self.name, self.tol = name, tol
        n = op.shape[1]
        self.x_true = None
        if x_true is not None:
            self.x_true = as_float_array(x_true, "x_true", ndim=1, dtype=np.float64)
            if self.x_true.shape[0] != n:
                raise ValueError(f"x_true must have length n = {n}, got {self.x_true.shape[0]}")
        self.target = None
        if target_error is not None:
            self.target = check_positive(target_error, "target_error")
        t0 = time.perf_counter()
        self.x_init = init() if x0 is None else x0
        self.init_seconds = time.perf_counter() - t0 if x0 is None else 0.0
        self.history = {"seconds": [0.0], "step": [np.nan]}
        self.last_finite = self.x_init
        if self.x_true is not None:
            self.history["rel_error"] = [relative_error(self.x_init, self.x_true)]
        self.t0 = time.perf_counter()

    def record(self, x_new, x_old) -> bool:
        """Log ``x_new``; return True when the solver should stop (converged)."""
        t = time.perf_counter() - self.t0
        if not np.isfinite(x_new).all():  # diverged: stop, keep the last finite iterate
            self.history["seconds"].append(t)
            self.history["step"].append(np.inf)
            if self.x_true is not None:
                self.history["rel_error"].append(np.inf)
            self.last_finite = x_old
            return True
        nrm = np.linalg.norm(x_new)
        step = np.linalg.norm(x_new - x_old) / nrm if nrm > 0 else np.inf
        self.history["seconds"].append(t)
        self.history["step"].append(float(step))
        done = step <= self.tol
        if self.x_true is not None:
            err = relative_error(x_new, self.x_true) if np.isfinite(x_new).all() else np.inf
            self.history["rel_error"].append(err)
            if self.target is not None and err <= self.target:
                done = True
        return bool(done)

    def iterate(self, update, max_iter):
        """Run ``x <- update(x)`` from the start point until the stopping rule fires.

        Every solver is this loop around its own update; the result carries the iteration
        count, whether the rule fired on a finite iterate, and the history.
        """
        x = self.x_init.copy()
        converged, k = False, 0
        for k in range(1, max_iter + 1):  # noqa: B007 - k is the iteration count after the loop
            x_new = update(x)
            stop = self.record(x_new, x)
            x = x_new
            if stop:
                converged = bool(np.isfinite(x).all())
                break
        return self.result(x, k, converged)

    def result(self, x, n_iter, converged):
        if not np.isfinite(x).all():
            warnings.warn(f"{self.name} diverged (NaN or infinity) at iteration {n_iter}; "
                          "returning the last finite iterate with converged=False (try a "
                          "smaller step)", RuntimeWarning, stacklevel=3)
            x, converged = self.last_finite, False
        return PhaseRetrievalResult(x=x, n_iter=n_iter, converged=converged,
                                    history=self.history, x_init=self.x_init,
                                    init_seconds=self.init_seconds, solver=self.name)


def _default_init(op, y, s, seed, *, truncate=None):
    if s is None:
        return lambda: spectral_init(op.dense if op.dense is not None else op.op, y, seed=seed)
    A = op.dense if op.dense is not None else op.op
    method = "marginals" if op.dense is not None else "truncated_power"
    return lambda: sparse_spectral_init(A, y, s, method=method, truncate=truncate, seed=seed)


def _phase(z):
    """sign(z) for real z, z/|z| for complex (0 -> 1)."""
    if np.iscomplexobj(z):
        a = np.abs(z)
        return np.where(a > 0, z / np.where(a > 0, a, 1.0), 1.0)
    return np.where(z >= 0, 1.0, -1.0)


def _project(x, s):
    if s is None:
        return x
    out = np.zeros_like(x)
    S = top_k(x, s)
    out[S] = x[S]
    return out


def _spd_solve(G, c):
    """``G^{-1} c`` by Cholesky for a symmetric positive definite ``G``; None when ``G`` is not
    (numerically) positive definite or LAPACK warns that it is ill-conditioned."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", sla.LinAlgWarning)
        try:
            return sla.solve(G, c, assume_a="pos", check_finite=False)
        except (sla.LinAlgError, sla.LinAlgWarning, ValueError):
            return None


def _lstsq_normal(AT, rhs):
    """argmin_z ||AT z - rhs|| from the normal equations, ``np.linalg.lstsq`` if they fail.

    For the tall, well-conditioned Gaussian blocks of the fused solvers the Cholesky solve is
    as accurate and much cheaper than NumPy's SVD-based ``lstsq``: 0.16 / 0.33 / 0.73 ms
    against 0.67 / 1.69 / 4.99 ms at s = 30 / 50 / 90, m = 3000, one BLAS thread (NumPy
    computes ``AT.T @ AT`` as a symmetric rank-k update). An ill-conditioned block (LAPACK's
    warning) takes the ``lstsq`` path.
    """
    z = _spd_solve(AT.T @ AT, AT.T @ rhs)
    return np.linalg.lstsq(AT, rhs, rcond=None)[0] if z is None else z


def _lstsq_cols(op, T, rhs):
    """argmin_z ||A_T z - rhs|| for real z (dense: NumPy's SVD-based ``lstsq`` on the
    m x |T| block)."""
    if op.dense is not None:
        return np.linalg.lstsq(op.dense[:, T], rhs, rcond=None)[0]
    # matrix-free: CG on the normal equations Re(A_T^* A_T) z = Re(A_T^* rhs)
    n = op.shape[1]

    def normal(v):
        full = np.zeros(n)
        full[T] = v
        return op.rmv(op.mv(full))[T]

    return _cg(normal, op.rmv(rhs)[T], np.zeros(len(T)), max_iter=50, tol=1e-12)


def _cg(apply, b, x, *, max_iter, tol):
    """Conjugate gradients for a symmetric system given by ``apply`` (stops on breakdown)."""
    r = b - apply(x)
    p = r.copy()
    rr = r @ r
    b2 = max(b @ b, 1e-300)
    for _ in range(max_iter):
        if rr <= tol**2 * b2:
            break
        Ap = apply(p)
        pAp = p @ Ap
        if pAp <= 0:  # not positive definite along p: stop with what we have
            break
        a = rr / pAp
        x = x + a * p
        r = r - a * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


#: The most of the last-level cache that ``kernel="auto"`` counts on. A virtual machine reports
#: its socket's whole shared cache (480 MB on one of this book's 2-core machines, an Intel Xeon)
#: but holds a fraction of it: there the reads of A slowed from the 45-50 GB/s of a 64 MB probe
#: to the 35-38 GB/s of memory beyond it, and the fused pass overtook the reference between
#: 18 and 41 MB (Newton-HT 1.24 / 1.06 ms and 2.01 / 2.11 ms per iteration, fused / reference).
_LLC_CAP = 32 * 2**20


@functools.lru_cache(maxsize=1)
def _llc() -> int:
    return min(llc_bytes(), _LLC_CAP)


def _use_fused(kernel, op):
    """Resolve ``kernel="auto" | "fused" | "reference"``: the fused pass needs a dense ``A``.

    ``"auto"`` takes it when ``A`` is larger than the last-level cache (counted as at most
    ``_LLC_CAP``): there every pass over ``A`` comes from memory and the passes are the cost.
    A matrix that fits in the cache is read from it again at little cost, and BLAS's products
    are faster than the numba loops.
    """
    if kernel not in ("auto", "fused", "reference"):
        raise ValueError(f"kernel must be 'auto', 'fused' or 'reference', got {kernel!r}")
    if kernel == "fused" and op.dense is None:
        raise ValueError("kernel='fused' needs a dense matrix A (an operator has no rows to "
                         "stream); use kernel='auto' or 'reference'")
    if op.dense is None or kernel == "reference":
        return False
    return kernel == "fused" or op.dense.nbytes > _llc()


# --------------------------------------------------------------------------------------------
# Classical (non-sparse or projected) methods
# --------------------------------------------------------------------------------------------

def error_reduction(A, y, s: int | None = None, *, x0=None, max_iter: int = 500,
                    tol: float = 1e-10, seed=None, x_true=None, target_error=None):
    r"""Error reduction (Gerchberg-Saxton / Fienup), optionally with a sparsity projection.

    Alternating projections between the signals consistent with the measured magnitudes and
    the (``s``-sparse) signals:

    .. math::

        z = b \odot \operatorname{phase}(A x^k), \qquad
        x^{k+1} = H_s\big(x^k + A^+ (z - A x^k)\big) ,

    the closest point to :math:`x^k` with :math:`A x = z` (for :math:`m \ge n`, simply
    :math:`A^+ z`), then the ``s`` largest entries. For the coded-diffraction operator
    :math:`A^+ = A^*/L`, the classical optics algorithm.

    Parameters
    ----------
    A : ndarray of shape (m, n) or operator
    y : ndarray of shape (m,)
        Intensities.
    s : int or None
        Sparsity; ``None`` for classical error reduction.
    x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, error_reduction
    >>> A, x, y = gaussian_phase_retrieval(400, 40, 40, seed=0)
    >>> res = error_reduction(A, y, None, x_true=x, target_error=1e-8, max_iter=2000)
    >>> res.converged, res.history["rel_error"][-1] < 1e-8
    (True, True)
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          s_optional=True)
    run = _Run("error_reduction", op, y, s, x0, x_true, target_error, tol,
               _default_init(op, y, s, seed))
    b = np.sqrt(y)
    m, n = op.shape
    if op.dense is None:
        if op.gram_scale is None:
            raise ValueError("error_reduction needs a dense A or an operator with gram_scale "
                             "(A^* A = gram_scale * I)")

        def pinv_apply(r):
            return op.rmv(r) / op.gram_scale
    elif m >= n:
        fac = sla.cho_factor(op.dense.T @ op.dense)

        def pinv_apply(r):
            return sla.cho_solve(fac, op.dense.T @ r)
    else:
        fac = sla.cho_factor(op.dense @ op.dense.T)

        def pinv_apply(r):
            return op.dense.T @ sla.cho_solve(fac, r)

    def update(x):
        z = op.mv(x)
        x_new = _project(x + pinv_apply(b * _phase(z) - z), s)
        return x_new

    return run.iterate(update, max_iter)


def wirtinger_flow(A, y, s: int | None = None, *, x0=None, max_iter: int = 2000,
                   tol: float = 1e-10, seed=None, x_true=None, target_error=None,
                   step: float = 0.2):
    r"""Wirtinger flow: gradient descent on the intensity loss (Candès, Li, Soltanolkotabi).

    .. math::

        x^{k+1} = x^k - \frac{\mu}{c\,\bar y}\, \nabla f_{\rm int}(x^k), \qquad
        \nabla f_{\rm int}(x) = \frac1m \operatorname{Re} A^*\big((|Ax|^2 - y)\odot Ax\big),

    :math:`\bar y \approx c\|x\|^2` normalises the step (the paper's :math:`\mu/\|x_0\|^2`).
    With ``s`` given, each iterate is hard-thresholded to ``s`` entries.

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 0.2
        :math:`\mu` (the paper's long-run value).

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, wirtinger_flow
    >>> A, x, y = gaussian_phase_retrieval(400, 40, 40, seed=0)
    >>> wirtinger_flow(A, y, None, x_true=x, target_error=1e-6).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          s_optional=True)
    mu = check_positive(step, "step")
    run = _Run("wirtinger_flow", op, y, s, x0, x_true, target_error, tol,
               _default_init(op, y, s, seed))
    m = op.shape[0]
    lr = mu / (op.c * y.mean())
    def update(x):
        z = op.mv(x)
        grad = op.rmv((np.abs(z) ** 2 - y) * z) / m
        x_new = _project(x - lr * grad, s)
        return x_new

    return run.iterate(update, max_iter)


def _taf_gradient(op, x, b, gamma, support=None):
    """Truncated amplitude-flow gradient (1/m) sum_{i in I} (a_i x - b_i phase) a_i."""
    z = op.mv(x, support)
    keep = np.abs(z) >= b / (1.0 + gamma)
    r = np.where(keep, z - b * _phase(z), 0.0)
    return op.rmv(r) / op.shape[0]


def amplitude_flow(A, y, s: int | None = None, *, x0=None, max_iter: int = 2000,
                   tol: float = 1e-10, seed=None, x_true=None, target_error=None,
                   step: float = 0.6, gamma: float = 0.7):
    r"""Truncated amplitude flow, TAF (Wang, Giannakis, Eldar 2018).

    Gradient descent on the amplitude loss, keeping only the measurements whose current phase
    is trustworthy, :math:`|a_i^\top x| \ge b_i/(1+\gamma)`:

    .. math::

        x^{k+1} = x^k - \frac{\mu}{c\,m} \sum_{i \in I_k} \big(a_i^\top x^k - b_i
        \operatorname{sign}(a_i^\top x^k)\big) a_i .

    With ``s`` given, each iterate is hard-thresholded (that is :func:`sparta` without its
    initialisation).

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 0.6
        :math:`\mu` (the paper's value for real data).
    gamma : float, default 0.7
        Truncation parameter (the paper's value).

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, amplitude_flow
    >>> A, x, y = gaussian_phase_retrieval(300, 40, 40, seed=0)
    >>> amplitude_flow(A, y, None, x_true=x, target_error=1e-8).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          s_optional=True)
    mu = check_positive(step, "step")
    gamma = check_positive(gamma, "gamma")
    run = _Run("amplitude_flow", op, y, s, x0, x_true, target_error, tol,
               _default_init(op, y, s, seed))
    b = np.sqrt(y)
    lr = mu / op.c
    def update(x):
        supp = np.flatnonzero(x) if s is not None else None
        x_new = _project(x - lr * _taf_gradient(op, x, b, gamma, supp), s)
        return x_new

    return run.iterate(update, max_iter)


# --------------------------------------------------------------------------------------------
# Sparse methods
# --------------------------------------------------------------------------------------------

def sparta(A, y, s: int, *, x0=None, max_iter: int = 2000, tol: float = 1e-10, seed=None,
           x_true=None, target_error=None, step: float = 1.0, gamma: float = 0.7):
    r"""SPARTA: sparse truncated amplitude flow (Wang, Zhang, Giannakis, Akçakaya, Chen).

    .. math::

        x^{k+1} = H_s\Big(x^k - \frac{\mu}{c\,m} \sum_{i \in I_k} \big(a_i^\top x^k - b_i
        \operatorname{sign}(a_i^\top x^k)\big) a_i\Big),
        \quad I_k = \{i : |a_i^\top x^k| \ge b_i / (1+\gamma)\} .

    Default start: the sparse spectral initialisation restricted to the ``m/6`` measurements
    with the largest :math:`y_i / \|a_{i\hat S}\|^2`, as in the paper.

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 1.0
        :math:`\mu` (the paper's value).
    gamma : float, default 0.7
        Truncation (the paper's value).

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, sparta
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=1)
    >>> sparta(A, y, 5, x_true=x, target_error=1e-8).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol)
    mu = check_positive(step, "step")
    gamma = check_positive(gamma, "gamma")
    run = _Run("sparta", op, y, s, x0, x_true, target_error, tol,
               _default_init(op, y, s, seed, truncate=1 / 6 if op.dense is not None else None))
    b = np.sqrt(y)
    lr = mu / op.c
    def update(x):
        x_new = _project(x - lr * _taf_gradient(op, x, b, gamma, np.flatnonzero(x)), s)
        return x_new

    return run.iterate(update, max_iter)


def thwf(A, y, s: int | None = None, *, x0=None, max_iter: int = 2000, tol: float = 1e-10,
         seed=None, x_true=None, target_error=None, step: float = 0.3, beta: float = 1.0):
    r"""Thresholded Wirtinger flow, ThWF (Cai, Li, Ma 2016).

    A Wirtinger-flow step followed by soft thresholding at a level that shrinks with the
    residual, so that in the noiseless case it vanishes at the solution:

    .. math::

        x^{k+1} = \operatorname{ST}_{\tau_k}\Big(x^k - \frac{\mu}{c\,\bar y}
        \nabla f_{\rm int}(x^k)\Big), \qquad
        \tau_k = \frac{\mu}{c\,\bar y} \sqrt{\frac{\beta \log(mn)}{m^2} \sum_i
        \big(|a_i^\top x^k|^2 - y_i\big)^2 |a_i^\top x^k|^2 } .

    ``s`` is used only by the default initialisation (ThWF's own support estimate needs a
    tuned constant; all sparse methods here share the sparse spectral start).

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 0.3
        :math:`\mu`; the fastest stable value on the book's Gaussian instances (tuned over
        0.05 to 0.3 with ``beta``).
    beta : float, default 1.0
        Threshold constant :math:`\beta` (smaller values leave off-support noise alive and
        converge far more slowly).

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, thwf
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=1)
    >>> thwf(A, y, 5, x_true=x, target_error=1e-6).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          s_optional=True)
    mu = check_positive(step, "step")
    beta = check_positive(beta, "beta", strict=False)
    run = _Run("thwf", op, y, s, x0, x_true, target_error, tol, _default_init(op, y, s, seed))
    m, n = op.shape
    lr = mu / (op.c * y.mean())
    def update(x):
        z = op.mv(x, np.flatnonzero(x))
        a2 = np.abs(z) ** 2
        r = (a2 - y) * z
        tau = lr * np.sqrt(beta * np.log(m * n) * np.sum((a2 - y) ** 2 * a2)) / m
        v = x - lr * op.rmv(r) / m
        x_new = np.sign(v) * np.maximum(np.abs(v) - tau, 0.0)
        return x_new

    return run.iterate(update, max_iter)


def copram(A, y, s: int, *, x0=None, max_iter: int = 100, tol: float = 1e-10, seed=None,
           x_true=None, target_error=None, inner_iter: int = 1):
    r"""CoPRAM: compressive phase retrieval with alternating minimisation (Jagatap, Hegde).

    Fix the signs, :math:`p = \operatorname{sign}(A x^k)`; then the problem is linear,
    :math:`A x \approx p \odot b`, and a few CoSaMP iterations (warm-started at :math:`x^k`)
    solve it over ``s``-sparse vectors. A CoSaMP iteration: merge the ``2s`` largest entries
    of :math:`A^\top(p\odot b - Ax)` with the current support, least squares on the merged
    support (at most ``3s`` columns), keep the ``s`` largest.

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`
        (``max_iter`` counts sign updates).
    inner_iter : int, default 1
        CoSaMP iterations per sign update. With a warm start one is enough and fastest in
        wall time (measured in ``benchmarks/phase_retrieval.py``).

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, copram
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=1)
    >>> copram(A, y, 5, x_true=x, target_error=1e-8).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol)
    if isinstance(inner_iter, bool) or not isinstance(inner_iter, int) or inner_iter < 1:
        raise ValueError(f"inner_iter must be a positive integer, got {inner_iter!r}")
    run = _Run("copram", op, y, s, x0, x_true, target_error, tol, _default_init(op, y, s, seed))
    b = np.sqrt(y)
    n = op.shape[1]
    def update(x):
        target = b * _phase(op.mv(x, np.flatnonzero(x)))
        x_new = x
        for _ in range(inner_iter):
            proxy = op.rmv(target - op.mv(x_new, np.flatnonzero(x_new)))
            T = np.union1d(top_k(proxy, min(2 * s, n)), np.flatnonzero(x_new))
            v = np.zeros(n)
            v[T] = _lstsq_cols(op, T, target)
            x_new = _project(v, s)
        return x_new

    return run.iterate(update, max_iter)


def htp(A, y, s: int, *, x0=None, max_iter: int = 100, tol: float = 1e-10, seed=None,
        x_true=None, target_error=None, step: float = 0.95, kernel: str = "auto",
        dtype=None):
    r"""Hard-thresholding pursuit for phase retrieval (Cai, Li, Lu, You 2022).

    .. math::

        p = \operatorname{sign}(A x^k), \quad
        S_{k+1} = \operatorname{supp} H_s\Big(x^k + \frac{\eta}{c\,m} A^\top (p\odot b - A
        x^k)\Big), \quad
        x^{k+1} = \arg\min_{\operatorname{supp}(x)\subseteq S_{k+1}} \|A x - p \odot b\|_2 .

    Once support and signs are right, the least-squares step lands exactly on the solution.

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 0.95
        :math:`\eta` (the paper's value).
    kernel : {"auto", "fused", "reference"}, default "auto"
        How a dense ``A`` is read; as in :func:`newton_ht` (the Gram matrix
        :math:`A_S^\top A_S` takes the place of the Hessian block, and the least-squares step
        is solved by its normal equations: from the block of the pass when the support did
        not change, else from the gathered columns; NumPy's SVD-based ``lstsq`` if they are
        ill-conditioned. ``"reference"`` solves with ``lstsq`` every time).
    dtype : {None, numpy.float32, numpy.float64}, default None
        Storage of a dense ``A``, as in :func:`newton_ht`.

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, htp
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=1)
    >>> htp(A, y, 5, x_true=x, target_error=1e-8).converged
    True
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          dtype=dtype)
    eta = check_positive(step, "step")
    fused = _use_fused(kernel, op)
    # the fused pass runs on all of numba's threads, the start and the small systems on one
    # BLAS thread: OpenBLAS's idle threads busy-wait (by default for about 0.1 s) and take a
    # core from the next pass (Newton-HT's iterations were 1.6x slower on 2 cores)
    with _blas_threads(1) if fused else contextlib.nullcontext():
        run = _Run("htp", op, y, s, x0, x_true, target_error, tol,
                   _default_init(op, y, s, seed))
        b = np.sqrt(y)
        m, n = op.shape
        # whether the last step kept the support (see newton_ht); the columns of A copied
        # last, and their indices
        state = {"settled": False, "cols": np.zeros(0, dtype=np.int64),
                 "A_cols": np.zeros((m, 0))}

        def update(x):
            supp = np.flatnonzero(x)
            x_new = np.zeros(n)
            if fused:  # one pass: A^T(p b - z) and the Gram block on the current support
                A_supp = _kernels.take_columns(op.dense, supp, state["A_cols"], state["cols"])
                gram = state["settled"] and supp.size == s
                z, g, G, c = _kernels.fused_pass(op.dense, A_supp, x[supp], b, y, 1, gram)
                T = top_k(x + (eta / (op.c * m)) * g, s)
                state["settled"] = np.array_equal(T, supp)
                if gram and state["settled"]:  # same support: the normal equations
                    u = _spd_solve(G, c)
                    if u is not None:
                        x_new[T] = u
                        state["cols"], state["A_cols"] = supp, A_supp
                        return x_new
                target = b * _phase(z)  # least squares on the (gathered) columns of T
                AT = _kernels.take_columns(op.dense, T, A_supp, supp)
                x_new[T] = _lstsq_normal(AT, target)
                state["cols"], state["A_cols"] = T, AT
            else:  # the reference: NumPy / BLAS products, an SVD-based least-squares solve
                z = op.mv(x, supp)
                target = b * _phase(z)
                u = x + (eta / (op.c * m)) * op.rmv(target - z)
                T = top_k(u, s)
                x_new[T] = _lstsq_cols(op, T, target)
            return x_new

        res = run.iterate(update, max_iter)
    res.kernel = "fused" if fused else "reference"
    return res


def _newton_direction_matrix_free(op, x, z, y, T, R, cg_iter):
    """Newton direction on T for complex measurements of a real signal, by CG.

    Hessian of f_int at real x: H v = (1/m) Re A^*[(2|z|^2 - y) (A v) + z^2 conj(A v)],
    which for real z is (1/m) A^T diag(3 z^2 - y) A v.
    """
    m, n = op.shape
    a2 = np.abs(z) ** 2
    w2 = 2.0 * a2 - y
    z2 = z * z

    def hess(v_full):
        Av = op.mv(v_full)
        return op.rmv(w2 * Av + z2 * np.conj(Av)) / m

    rhs = -(op.rmv((a2 - y) * z) / m)[T]
    if R.size:
        u = np.zeros(n)
        u[R] = x[R]
        rhs = rhs + hess(u)[T]

    def hess_T(v):
        full = np.zeros(n)
        full[T] = v
        return hess(full)[T]

    return _cg(hess_T, rhs, np.zeros(T.size), max_iter=cg_iter, tol=1e-12)


#: support size from which Newton-HT's fused path builds the Hessian block on a new support
#: with ``_kernels.weighted_gram`` (m = 3000, two threads, against NumPy's scaled copy and GEMM
#: on one BLAS thread: 0.43x at s = 10, 1.05x at 30, 1.53x at 50, 1.99x at 90)
_WEIGHTED_GRAM_MIN_S = 32


def newton_ht(A, y, s: int, *, x0=None, max_iter: int = 100, tol: float = 1e-10, seed=None,
              x_true=None, target_error=None, step: float = 0.95, newton_step: float = 1.0,
              cg_iter: int = 50, kernel: str = "auto", dtype=None):
    r"""Newton hard thresholding, the seed paper's method (Cai, Long, Wen, Ying 2023).

    Each iteration (1) picks the support with one hard-thresholded gradient step on the
    *amplitude* loss, and (2) takes a Newton step on the *intensity* loss restricted to that
    support:

    .. math::

        S_{k+1} &= \operatorname{supp} H_s\big(x^k - \eta\, \nabla f_{\rm amp}(x^k)\big), \\
        x^{k+1}_{S_{k+1}} &= x^k_{S_{k+1}} - \big[\nabla^2 f_{\rm int}(x^k)\big]_{S_{k+1},
        S_{k+1}}^{-1} \Big( \big[\nabla f_{\rm int}(x^k)\big]_{S_{k+1}} -
        \big[\nabla^2 f_{\rm int}(x^k)\big]_{S_{k+1}, R_k}\, x^k_{R_k}\Big),

    :math:`x^{k+1}` zero off :math:`S_{k+1}`, where :math:`R_k = S_k \setminus S_{k+1}` are
    the indices dropped from the support (the Newton step minimises the local quadratic model
    of :math:`f_{\rm int}` over vectors supported on :math:`S_{k+1}`). For real Gaussian data
    :math:`\nabla^2 f_{\rm int}(x) = \frac1m A^\top \operatorname{diag}(3(Ax)^2 - y) A`; its
    ``s x s`` block costs :math:`O(m s^2)`, about as much as the gradient's :math:`O(mn)`
    for :math:`s^2 \lesssim n`. Near the solution the support is fixed and the iteration is
    Newton's method, hence quadratic convergence. For an operator the Newton system is solved
    matrix-free by conjugate gradients.

    Parameters
    ----------
    A, y, s, x0, max_iter, tol, seed, x_true, target_error
        The shared signature, see :mod:`sparsecourse.phase_retrieval`.
    step : float, default 0.95
        :math:`\eta` of the support-selection step (the authors' code).
    newton_step : float, default 1.0
        Multiplier of the Newton direction (1 gives quadratic convergence).
    cg_iter : int, default 50
        Conjugate-gradient iterations (operator ``A`` only).
    kernel : {"auto", "fused", "reference"}, default "auto"
        How a dense ``A`` is read. ``"reference"``: the NumPy / BLAS products written as the
        math reads (``A^T r``, then the columns of the new support gathered for the Hessian
        block: more than one pass over ``A``). ``"fused"``: one numba pass over the rows of
        ``A`` per iteration (the private kernel ``_kernels.fused_pass``, on all of numba's
        threads) that computes ``A^T r`` and, once the support has settled (the last step kept
        it), the Hessian block on it, used as is when the support does not change. The
        columns of the support are kept from one iteration to the next: ``A x`` comes from
        them, and a new support reads from ``A`` only the columns that enter it (gathered on
        all threads), from which, with the kept ones, the block is built (from s = 32 its
        lower triangle only, on all threads: ``_kernels.weighted_gram``). ``"auto"``:
        fused for a dense ``A`` larger than the last-level cache, counted as at most 32 MiB
        (memory-bound: the passes are the cost), else the reference (a cached ``A`` is cheap
        to read again, and BLAS is faster than the numba loops). Both give the same iterates
        up to rounding.
    dtype : {None, numpy.float32, numpy.float64}, default None
        Storage of a dense ``A``: ``numpy.float32`` halves the bytes read per iteration (a
        float64 ``A`` is rounded once); ``None`` keeps a float32 input in float32 and stores
        anything else as float64. The arithmetic is float64 either way.

    Returns
    -------
    PhaseRetrievalResult

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, newton_ht
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=1)
    >>> res = newton_ht(A, y, 5, x_true=x, target_error=1e-12)
    >>> res.converged, res.n_iter < 15
    (True, True)
    """
    op, y, s, x0, max_iter, tol = prepare(A, y, s, x0=x0, max_iter=max_iter, tol=tol,
                                          dtype=dtype)
    eta = check_positive(step, "step")
    tau = check_positive(newton_step, "newton_step")
    fused = _use_fused(kernel, op)
    # the init and the iterations on one BLAS thread: see htp
    with _blas_threads(1) if fused else contextlib.nullcontext():
        run = _Run("newton_ht", op, y, s, x0, x_true, target_error, tol,
                   _default_init(op, y, s, seed))
        b = np.sqrt(y)
        m, n = op.shape
        x = run.x_init.copy()
        supp = np.flatnonzero(x)
        if fused:  # the columns of the support, kept from one iteration to the next
            A_supp = _kernels.take_columns(op.dense, supp, np.zeros((m, 0)), supp[:0])
        settled = False  # the last step kept the support: expect this one to keep it too
        converged, k = False, 0
        for k in range(1, max_iter + 1):  # noqa: B007
            H = None
            if fused:  # one pass over A: the amplitude gradient, the Hessian block on supp
                # the block is only accumulated once the support has settled: while it still
                # changes, the block on the old support would be thrown away
                gram = settled and supp.size == s
                z, g, H_supp, c_supp = _kernels.fused_pass(op.dense, A_supp, x[supp], b, y, 0,
                                                           gram)
                g_amp = g / (op.c * m)
            else:
                z = op.mv(x, supp)
                # (1) support from a thresholded amplitude-gradient step
                g_amp = op.rmv(z - b * _phase(z)) / (op.c * m)
            T = top_k(x - eta * g_amp, s)
            kept = _kernels._positions(T, supp) >= 0  # which of supp stay in the support
            R = supp[~kept]
            a2 = np.abs(z) ** 2
            settled = np.array_equal(T, supp)
            if fused and gram and settled:  # support unchanged: block computed
                H, rhs = H_supp / m, -c_supp / m
                AT = A_supp
            elif op.dense is not None:
                # (2) Newton step on the intensity loss restricted to T (real data):
                # rhs = -A_T^T ((|z|^2 - y) z) + A_T^T (w * A_R x_R), one product with A_T^T
                w = 3.0 * a2 - y
                q = -(a2 - y) * z
                if fused:  # A[:, supp] was kept: gather only the columns entering the support
                    AT = _kernels.take_columns(op.dense, T, A_supp, supp)
                    if R.size:  # A_R x_R from the kept columns, x zeroed on those that stay
                        q += w * (A_supp @ np.where(kept, 0.0, x[supp]))
                else:
                    AT = op.dense[:, T]
                    if R.size:
                        q += w * (op.dense[:, R] @ x[R])
                # H = A_T^T diag(w) A_T, rhs = A_T^T q: the kernel builds the lower triangle on
                # all threads, from s = 32 on (its thread wake-up loses to BLAS below)
                gram_fn = (_kernels.weighted_gram if fused and T.size >= _WEIGHTED_GRAM_MIN_S
                           else _kernels.weighted_gram_reference)
                H, rhs = gram_fn(AT, w, q)
                H, rhs = H / m, rhs / m
            if H is not None:
                try:  # LU: as fast as a symmetric solver at these sizes, with less overhead
                    d = np.linalg.solve(H, rhs)
                except np.linalg.LinAlgError:
                    d = np.linalg.lstsq(H, rhs, rcond=None)[0]
            else:
                d = _newton_direction_matrix_free(op, x, z, y, T, R, cg_iter)
            x_new = np.zeros(n)
            x_new[T] = x[T] + tau * d
            stop = run.record(x_new, x)
            x, supp = x_new, T
            if fused:
                A_supp = AT
            if stop or not np.isfinite(x).all():
                converged = bool(stop and np.isfinite(x).all())
                break
    res = run.result(x, k, converged)
    res.kernel = "fused" if fused else "reference"
    return res


#: every solver by name
SOLVERS = {f.__name__: f for f in (error_reduction, wirtinger_flow, amplitude_flow, sparta,
                                    thwf, copram, htp, newton_ht)}
#: the sparse methods compared in the benchmark
SPARSE_SOLVERS = {f.__name__: f for f in (sparta, copram, thwf, htp, newton_ht)}



