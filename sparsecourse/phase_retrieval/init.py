r"""Spectral initialisation: a first estimate of ``x`` from the intensities alone.

Phase-retrieval losses are nonconvex; local methods succeed from a point close enough to
:math:`\pm x`. The spectral method finds one. For Gaussian :math:`a_i`,

.. math::

    E\Big[\frac1m \sum_i y_i\, a_i a_i^\top\Big] = \|x\|^2 I + 2\, x x^\top ,

whose top eigenvector is :math:`\pm x / \|x\|`, and :math:`E\, y_i = \|x\|^2` gives the scale.
With ``m < n`` the empirical matrix is far from its mean, but when ``x`` is ``s``-sparse the
diagonal already points at the support: the **marginals**
:math:`M_j = \frac1m \sum_i y_i a_{ij}^2` have mean :math:`\|x\|^2 + 2 x_j^2`, so the ``s``
largest of them estimate :math:`\operatorname{supp}(x)`, and the power method on the ``s x s``
restricted matrix (sparse spectral initialisation, Jagatap & Hegde's CoPRAM and Wang et al.'s
SPARTA) needs only :math:`O(s^2 \log n)` measurements.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_fraction, check_int, get_rng
from ..regression.thresholding import top_k
from . import _kernels
from ._op import prepare

__all__ = ["spectral_init", "sparse_spectral_init"]


def _power(apply, v, n_iter, project=None):
    for _ in range(n_iter):
        w = apply(v)
        if project is not None:
            w = project(w)
        nrm = np.linalg.norm(w)
        if nrm == 0:
            break
        v = w / nrm
    return v


def spectral_init(A, y, *, n_power: int = 100, truncate: float | None = 3.0, seed=None):
    r"""(Truncated) spectral initialisation of Candès, Li & Soltanolkotabi / Chen & Candès.

    Power method on :math:`Y = \frac1m \operatorname{Re} \sum_i y_i\,
    \mathbb{1}[y_i \le \alpha^2 \bar y]\, a_i a_i^*`, the top eigenvector scaled to the norm
    estimate :math:`\sqrt{\bar y / c}` (``c`` the mean squared entry of ``A``, 1 for
    :math:`N(0,1)` entries).

    Parameters
    ----------
    A : ndarray of shape (m, n) or operator (e.g. :class:`CodedDiffraction`)
    y : ndarray of shape (m,)
        Intensities.
    n_power : int, default 100
        Power iterations.
    truncate : float or None, default 3.0
        :math:`\alpha`: drop intensities above :math:`\alpha^2` times their mean (heavy tails
        spoil the estimate); ``None`` keeps all.
    seed : int, Generator or None
        Start vector of the power method.

    Returns
    -------
    x0 : ndarray of shape (n,)

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, spectral_init
    >>> from sparsecourse.phase_retrieval import relative_error
    >>> A, x, y = gaussian_phase_retrieval(2000, 50, 50, seed=0)
    >>> relative_error(spectral_init(A, y, seed=0), x) < 0.5
    True
    """
    op, y, _, _, _, _ = prepare(A, y, None, s_optional=True)
    n_power = check_int(n_power, "n_power", minimum=1)
    m, n = op.shape
    w = y.copy()
    if truncate is not None:
        w[y > truncate**2 * y.mean()] = 0.0
    v = get_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    v = _power(lambda u: op.rmv(w * op.mv(u)) / m, v, n_power)
    return np.sqrt(y.mean() / op.c) * v


def sparse_spectral_init(A, y, s: int, *, method: str = "marginals",
                         truncate: float | None = None, n_power: int = 100, n_starts: int = 4,
                         seed=None):
    r"""Sparse spectral initialisation: estimate the support, then a restricted power method.

    ``method="marginals"`` (dense ``A``; CoPRAM, SPARTA, HTP and the Newton method all start
    here): :math:`\hat S` = the ``s`` largest marginals :math:`M_j = \frac1m\sum_i y_i
    a_{ij}^2`, then the top eigenvector of :math:`\frac1m A_{\hat S}^\top \operatorname{diag}(y)
    A_{\hat S}` (an ``s x s`` eigenproblem), scaled to :math:`\sqrt{\bar y}`.

    ``method="truncated_power"`` (any operator; needed when all :math:`|a_{ij}|` are equal, as
    for coded diffraction, so the marginals carry no information): ten plain power iterations,
    then power iterations followed by hard thresholding to the ``s`` largest entries (the
    truncated power method), from ``n_starts`` random starts; the result with the largest
    Rayleigh quotient wins (a truncated power method can stall on a wrong support).

    Parameters
    ----------
    A : ndarray of shape (m, n) or operator
    y : ndarray of shape (m,)
    s : int
        Sparsity, ``1 <= s <= n``.
    method : {"marginals", "truncated_power"}
    truncate : float in (0, 1] or None
        For ``"marginals"``: keep only the ``ceil(truncate * m)`` measurements with the largest
        :math:`y_i / \|a_{i\hat S}\|^2` (SPARTA uses ``1/6``). ``None`` keeps all (CoPRAM).
    n_power : int, default 100
        Power iterations (``"truncated_power"`` only; the marginals method solves its small
        eigenproblem exactly).
    n_starts : int, default 4
        Random starts of the truncated power method.
    seed : int, Generator or None

    Returns
    -------
    x0 : ndarray of shape (n,)
        ``s``-sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval, sparse_spectral_init
    >>> from sparsecourse.phase_retrieval import relative_error
    >>> A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=0)
    >>> x0 = sparse_spectral_init(A, y, 5)
    >>> int(np.count_nonzero(x0)), relative_error(x0, x) < 0.5
    (5, True)
    """
    op, y, s, _, _, _ = prepare(A, y, s)
    m, n = op.shape
    if method == "marginals":
        if op.dense is None:
            raise ValueError("method='marginals' needs a dense matrix A; use "
                             "method='truncated_power' for an operator")
        S = top_k(_kernels.marginals(op.dense, y), s)
        AS = op.dense[:, S]
        w = y
        if truncate is not None:
            truncate = check_fraction(truncate, "truncate", closed="right")
            k = int(np.ceil(truncate * m))
            score = y / np.maximum(np.einsum("ij,ij->i", AS, AS), 1e-300)
            keep = np.argpartition(-score, k - 1)[:k]
            w = np.zeros(m)
            w[keep] = y[keep]
        Y = (AS * w[:, None]).T @ AS / m
        _, vecs = np.linalg.eigh(Y)
        x0 = np.zeros(n)
        x0[S] = vecs[:, -1]
    elif method == "truncated_power":
        n_power = check_int(n_power, "n_power", minimum=1)
        n_starts = check_int(n_starts, "n_starts", minimum=1)
        rng = get_rng(seed)

        def apply(u):
            return op.rmv(y * op.mv(u)) / m

        def project(u):
            out = np.zeros_like(u)
            S = top_k(u, s)
            out[S] = u[S]
            return out

        best, best_rq = None, -np.inf
        for _ in range(n_starts):
            v = rng.standard_normal(n)
            v = _power(apply, v / np.linalg.norm(v), 10)
            v = _power(apply, project(v), n_power, project)
            rq = float(v @ apply(v))
            if rq > best_rq:
                best, best_rq = v, rq
        x0 = best
    else:
        raise ValueError(f"method must be 'marginals' or 'truncated_power', got {method!r}")
    return np.sqrt(y.mean() / op.c) * x0 / np.linalg.norm(x0)
