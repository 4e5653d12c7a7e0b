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

from . import greedy, lasso, recovery, robust, thresholding
from .greedy import *  # noqa: F403
from .lasso import *  # noqa: F403
from .recovery import *  # noqa: F403
from .robust import *  # noqa: F403
from .thresholding import *  # noqa: F403

# LASSO, greedy pursuit, hard thresholding, square-root and LAD LASSO
__all__ = [*lasso.__all__, *greedy.__all__, *thresholding.__all__, *robust.__all__,
           *recovery.__all__]
