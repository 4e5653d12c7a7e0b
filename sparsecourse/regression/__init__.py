r"""Sparse regression (chapter 1): the LASSO and its relatives, greedy pursuit, hard thresholding.

Every algorithm comes as a short *reference* function, written the way the math reads, and,
where speed matters, a *fast* version that the tests pin to it:

=====================  ================================  =====================================
problem                reference                         fast / estimator
=====================  ================================  =====================================
LASSO                  :func:`ista`, :func:`fista`,      :func:`lasso_cd` (numba: working sets,
                       :func:`lasso_cd_reference`        screening, extrapolation),
                                                         :func:`lasso_path`, :class:`Lasso`
OMP                    :func:`omp_reference`             :func:`omp` (incremental Cholesky),
                                                         :class:`OMP`
loss-based OMP         :func:`loss_omp_gains`,           (same)
(weighted / SR / LAD)  :func:`loss_omp`
hard thresholding      :func:`iht`, :func:`niht`,        :class:`IHT`
                       :func:`htp`
square-root LASSO      :func:`sqrt_lasso`                :class:`SqrtLasso`
LAD-LASSO              :func:`lad_lasso` (an LP)         :class:`LADLasso`
=====================  ================================  =====================================

Conventions: ``X`` has shape ``(n_samples, n_features)``; the LASSO objective is
scikit-learn's, ``1/(2n) ||y - Xw||^2 + alpha ||w||_1`` (optionally with penalty ``weights``),
and its solvers stop on the duality gap with scikit-learn's ``tol`` convention; estimators
follow the scikit-learn API (``fit``, ``predict``, ``score``, ``coef_``, ``intercept_``).
"""

from .greedy import OMP, loss_omp, loss_omp_gains, omp, omp_reference
from .lasso import (
    Lasso,
    alpha_max,
    fista,
    ista,
    lasso_cd,
    lasso_cd_reference,
    lasso_dual_gap,
    lasso_objective,
    lasso_path,
    soft_threshold,
)
from .robust import (
    LADLasso,
    SqrtLasso,
    lad_lasso,
    lad_lasso_objective,
    sqrt_lasso,
    sqrt_lasso_objective,
)
from .thresholding import IHT, hard_threshold, htp, iht, niht

__all__ = [
    # LASSO
    "soft_threshold",
    "lasso_objective",
    "lasso_dual_gap",
    "alpha_max",
    "ista",
    "fista",
    "lasso_cd_reference",
    "lasso_cd",
    "lasso_path",
    "Lasso",
    # greedy pursuit
    "omp_reference",
    "omp",
    "loss_omp_gains",
    "loss_omp",
    "OMP",
    # hard thresholding
    "hard_threshold",
    "iht",
    "niht",
    "htp",
    "IHT",
    # square-root and LAD LASSO
    "sqrt_lasso_objective",
    "sqrt_lasso",
    "lad_lasso_objective",
    "lad_lasso",
    "SqrtLasso",
    "LADLasso",
]
