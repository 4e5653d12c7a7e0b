"""Sparse phase retrieval: recover a sparse signal from the magnitudes of linear measurements.

Chapter 2. The measurement models (Gaussian, and a matrix-free coded-diffraction FFT operator),
:func:`relative_error` up to the global sign, spectral and sparse spectral initialisation, and
the solvers: error reduction, Wirtinger flow, truncated amplitude flow, and the sparse solvers
SPARTA, ThWF, CoPRAM, HTP and the Newton hard-thresholding method of Cai, Long, Wen & Ying,
"A Fast and Provable Algorithm for Sparse Phase Retrieval" (ICLR 2024).

**The shared signature.** Every solver is called as ``solver(A, y, s, *, x0=None, max_iter,
tol, seed=None, x_true=None, target_error=None, **method_parameters)`` and returns a
:class:`PhaseRetrievalResult` (``x``, ``n_iter``, ``converged``, ``history``):

* ``A``: a dense real ``m x n`` matrix, or an operator with ``shape``, ``matvec``, ``rmatvec``
  (real part of the adjoint), ``fro2`` and ``gram_scale``, such as :class:`CodedDiffraction`;
* ``y``: the ``m`` intensities ``|a_i^* x|^2`` (non-negative; pass ``b**2`` for amplitudes);
* ``s``: the number of non-zeros, ``1 <= s <= n`` (``None`` for the non-sparse methods);
* ``x0``: the start; by default each solver computes the initialisation of its paper (pass the
  same ``x0`` to compare solvers from the same start);
* ``seed``: randomness of the initialisation (power-method starts);
* ``x_true``: the planted signal, if known: the history then records the relative error up to
  sign at every iterate, besides the elapsed seconds and the relative step;
* stopping rule (the same for all): the relative step ``||x_{k+1} - x_k|| / ||x_{k+1}||`` is at
  most ``tol``, or, with ``x_true`` and ``target_error``, the relative error is at most
  ``target_error``; otherwise ``max_iter`` iterations.
"""

from . import init, models, solvers
from .init import *  # noqa: F403
from .models import *  # noqa: F403
from .solvers import *  # noqa: F403

__all__ = [*models.__all__, *init.__all__, *solvers.__all__]
