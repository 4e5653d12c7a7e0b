r"""Measurement models for phase retrieval: what is measured, and the operators that measure it.

A real signal :math:`x \in \mathbb{R}^n` is observed through ``m`` *intensities*

.. math::

    y_i = |a_i^* x|^2 , \qquad i = 1, \dots, m ,

the squared magnitudes of linear measurements; the phases (for real measurements, the signs) of
:math:`a_i^* x` are lost. Two families of measurement vectors are used in the book:

* **Gaussian**: the rows :math:`a_i` of a dense ``m x n`` matrix are i.i.d. :math:`N(0, I_n)`
  (the setting of the theory, :func:`gaussian_phase_retrieval`);
* **coded diffraction patterns** (CDP, optics): the object is illuminated through ``L`` random
  phase masks and the far field (a Fourier transform) is recorded,
  :math:`y = |F (d_\ell \odot x)|^2` for :math:`\ell = 1, \dots, L`. The operator
  :class:`CodedDiffraction` applies this with FFTs, in :math:`O(L n \log n)` time and without ever
  storing the ``L n x n`` matrix.

Solvers in :mod:`sparsecourse.phase_retrieval.solvers` accept either a dense real matrix or an
operator with the interface of :class:`CodedDiffraction` (``shape``, ``matvec``, ``rmatvec``,
``fro2`` and ``gram_scale``).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_int, check_positive, get_rng
from ..datasets import sparse_signal

__all__ = [
    "CodedDiffraction",
    "gaussian_phase_retrieval",
    "intensities",
    "relative_error",
]


def relative_error(x_hat, x_true) -> float:
    r"""Relative distance of ``x_hat`` to ``x_true`` up to the global sign.

    .. math::

        \operatorname{dist}(\hat x, x) / \|x\| , \qquad
        \operatorname{dist}(\hat x, x) = \min(\|\hat x - x\|_2, \|\hat x + x\|_2) .

    Intensities cannot tell ``x`` from ``-x`` (:math:`|a^\top x|^2 = |a^\top (-x)|^2`), so a
    solver is correct if it returns either of them.

    Parameters
    ----------
    x_hat, x_true : array_like of shape (n,)
        Estimate and truth; ``x_true`` must not be zero.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval import relative_error
    >>> x = np.array([1.0, -2.0, 0.0])
    >>> relative_error(-x, x), round(relative_error(x + 0.1, x), 4)
    (0.0, 0.0775)
    """
    x_hat = as_float_array(x_hat, "x_hat", ndim=1, dtype=np.float64)
    x_true = as_float_array(x_true, "x_true", ndim=1, dtype=np.float64)
    if x_hat.shape != x_true.shape:
        raise ValueError(f"x_hat has shape {x_hat.shape} but x_true has shape {x_true.shape}")
    nrm = float(np.linalg.norm(x_true))
    if nrm == 0.0:
        raise ValueError("x_true must not be the zero vector (the relative error is undefined)")
    d = min(float(np.linalg.norm(x_hat - x_true)), float(np.linalg.norm(x_hat + x_true)))
    return d / nrm


class CodedDiffraction:
    r"""Matrix-free coded-diffraction operator :math:`x \mapsto (F(d_\ell \odot x))_{\ell}`.

    ``L`` random masks :math:`d_\ell` with entries drawn uniformly from :math:`\{1, -1, i, -i\}`
    (unit modulus) multiply the real object, and an orthonormal FFT (1-D or 2-D) takes each
    masked copy to the far field. With unit-modulus masks and the orthonormal FFT the operator is
    a tight frame, :math:`A^* A = L\, I`, so its pseudo-inverse is :math:`A^*/L`
    (``gram_scale = L``).

    Parameters
    ----------
    shape : int or tuple of two ints
        Shape of the object: ``n`` for a 1-D signal, ``(n1, n2)`` for an image (flattened in C
        order when passed to ``matvec``).
    n_masks : int
        Number of masks ``L``; ``m = L * n`` measurements.
    seed : int, numpy.random.Generator or None

    Attributes
    ----------
    shape : tuple (m, n)
    masks : ndarray of shape (L, n) or (L, n1, n2), complex
    fro2 : float
        Squared Frobenius norm of the matrix it represents, ``m`` (used to normalise step sizes).
    gram_scale : float
        ``L``: :math:`A^* A = L I`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval import CodedDiffraction
    >>> op = CodedDiffraction((4, 4), n_masks=3, seed=0)
    >>> op.shape
    (48, 16)
    >>> x = np.arange(16.0)
    >>> bool(np.allclose(op.rmatvec(op.matvec(x)), 3 * x))
    True
    >>> bool(np.allclose(op.todense() @ x, op.matvec(x)))
    True
    """

    def __init__(self, shape, n_masks: int, *, seed=None):
        if isinstance(shape, int | np.integer):
            shape = (int(shape),)
        shape = tuple(shape)
        if len(shape) not in (1, 2):
            raise ValueError(f"shape must be an int or a pair of ints, got {shape!r}")
        self.object_shape = tuple(check_int(d, "shape", minimum=1) for d in shape)
        self.n_masks = check_int(n_masks, "n_masks", minimum=1)
        rng = get_rng(seed)
        alphabet = np.array([1.0, -1.0, 1j, -1j])
        self.masks = alphabet[rng.integers(0, 4, size=(self.n_masks, *self.object_shape))]
        n = int(np.prod(self.object_shape))
        self.shape = (self.n_masks * n, n)
        self.fro2 = float(self.shape[0])
        self.gram_scale = float(self.n_masks)
        self._axes = tuple(range(1, 1 + len(self.object_shape)))

    def matvec(self, x) -> np.ndarray:
        """Apply the operator: ``A @ x`` (complex, length ``m``) for ``x`` of length ``n``."""
        x = np.asarray(x)
        if x.shape != (self.shape[1],):
            raise ValueError(f"x must have shape ({self.shape[1]},), got {x.shape}")
        z = self.masks * x.reshape(self.object_shape)[None]
        return np.fft.fftn(z, axes=self._axes, norm="ortho").ravel()

    def rmatvec(self, r) -> np.ndarray:
        """Apply the adjoint and keep the real part: ``Re(A^* r)`` (the signal is real)."""
        r = np.asarray(r)
        if r.shape != (self.shape[0],):
            raise ValueError(f"r must have shape ({self.shape[0]},), got {r.shape}")
        z = np.fft.ifftn(r.reshape(self.n_masks, *self.object_shape), axes=self._axes,
                         norm="ortho")
        return np.real(np.sum(np.conj(self.masks) * z, axis=0)).ravel()

    def todense(self) -> np.ndarray:
        """The explicit ``m x n`` complex matrix (for tests and small examples only)."""
        n = self.shape[1]
        out = np.empty(self.shape, dtype=complex)
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            out[:, j] = self.matvec(e)
        return out

    def __repr__(self) -> str:
        return (f"CodedDiffraction(shape={self.object_shape}, n_masks={self.n_masks}, "
                f"m={self.shape[0]})")


def intensities(A, x) -> np.ndarray:
    """Noiseless intensities ``|A x|^2`` for a dense matrix or a :class:`CodedDiffraction`.

    Parameters
    ----------
    A : ndarray of shape (m, n) or CodedDiffraction
    x : array_like of shape (n,)

    Returns
    -------
    y : ndarray of shape (m,)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval import intensities
    >>> intensities(np.array([[1.0, 2.0], [0.0, -1.0]]), [1.0, 1.0]).tolist()
    [9.0, 1.0]
    """
    x = as_float_array(x, "x", ndim=1, dtype=np.float64)
    if isinstance(A, np.ndarray):
        if A.ndim != 2 or A.shape[1] != x.shape[0]:
            raise ValueError(f"A must have shape (m, {x.shape[0]}), got {A.shape}")
        return (A @ x) ** 2
    if not hasattr(A, "matvec"):
        raise TypeError(f"A must be an ndarray or an operator with matvec, got {type(A).__name__}")
    return np.abs(A.matvec(x)) ** 2


def gaussian_phase_retrieval(m: int, n: int, s: int, *, noise: float = 0.0, seed=None,
                             distribution: str = "gaussian"):
    r"""A planted sparse phase-retrieval instance with Gaussian measurements.

    ``A`` has i.i.d. :math:`N(0, 1)` entries (the normalisation of the theory: then
    :math:`E\,y_i = \|x\|^2`), ``x`` is ``s``-sparse with unit norm, and

    .. math::

        y = \max\big(|A x|^2 + \sigma\, \|x\|^2 \varepsilon,\; 0\big), \qquad
        \varepsilon \sim N(0, I_m),

    with ``sigma = noise`` (the clip keeps intensities non-negative).

    Parameters
    ----------
    m, n, s : int
        Measurements, signal length and number of non-zeros.
    noise : float, default 0
        Standard deviation of the additive noise relative to :math:`\|x\|^2`.
    seed : int, numpy.random.Generator or None
    distribution : str, default "gaussian"
        Law of the non-zeros, as in :func:`sparsecourse.datasets.sparse_signal`.

    Returns
    -------
    A : ndarray of shape (m, n)
    x : ndarray of shape (n,)
    y : ndarray of shape (m,)

    Examples
    --------
    >>> from sparsecourse.phase_retrieval import gaussian_phase_retrieval
    >>> A, x, y = gaussian_phase_retrieval(50, 100, 3, seed=0)
    >>> A.shape, int((x != 0).sum()), bool((y >= 0).all())
    ((50, 100), 3, True)
    """
    m = check_int(m, "m", minimum=1)
    n = check_int(n, "n", minimum=1)
    s = check_int(s, "s", minimum=1, maximum=n)
    noise = check_positive(noise, "noise", strict=False)
    rng = get_rng(seed)
    x = sparse_signal(n, s, seed=rng, distribution=distribution)
    x /= np.linalg.norm(x)
    A = rng.standard_normal((m, n))
    y = (A @ x) ** 2
    if noise > 0:
        y = np.maximum(y + noise * rng.standard_normal(m), 0.0)
    return A, x, y
